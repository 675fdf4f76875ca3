"""``clinictext staff`` and ``clinictext inbox``: staff sign-in against the sandbox's Cognito pool, and the
staff inbox API with the stored token.

Tokens are kept in ``.sandbox/staff-tokens.json``, created readable and writable by its owner only (0600)
and re-checked before every read; a token file anyone else can read is refused.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from infra.client import request as call_api
from infra.terminal import printable

TOKEN_FILE = "staff-tokens.json"  # noqa: S105  # a file name, not a secret  # nosec B105


def token_path(sandbox_dir: Path) -> Path:
    return sandbox_dir / TOKEN_FILE


def write_tokens(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the start (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps(data).encode())
    finally:
        os.close(fd)
    os.replace(temporary, path)


def read_tokens(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SystemExit("not logged in: run `clinictext staff login --user NAME` first")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SystemExit(f"{path} is readable by others (mode {mode:o}): delete it and log in again")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SystemExit(f"{path} is not a token file: delete it and log in again")
    return data


def _pool(api: str) -> dict[str, str]:
    status, body = call_api("GET", f"{api}/_sandbox/staff-pool")
    if status != 200:
        raise SystemExit(f"the sandbox at {api} has no staff pool ({status})")
    return dict(json.loads(body))


def _idp(pool: dict[str, str]) -> Any:
    import boto3

    # The sandbox's emulated Cognito; InitiateAuth itself needs no AWS credentials.
    return boto3.client(
        "cognito-idp",
        endpoint_url=pool["aws_endpoint"],
        region_name=pool["region"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",  # noqa: S106  # nosec B106  # moto accepts any key
    )


def _password(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


def cmd_login(args: argparse.Namespace, sandbox_dir: Path) -> int:
    pool = _pool(args.api)
    idp = _idp(pool)
    password = _password(f"password for {args.user}: ", args.password_stdin)
    try:
        answer = idp.initiate_auth(
            ClientId=pool["client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": args.user, "PASSWORD": password},
        )
        if answer.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            print("first sign-in: choose a new password (14+ characters, upper, lower, digit, symbol)")
            new = _password("new password: ", args.password_stdin)
            answer = idp.respond_to_auth_challenge(
                ClientId=pool["client_id"],
                ChallengeName="NEW_PASSWORD_REQUIRED",
                Session=answer["Session"],
                ChallengeResponses={"USERNAME": args.user, "NEW_PASSWORD": new},
            )
        elif answer.get("ChallengeName"):
            print(f"sign-in needs {answer['ChallengeName']}, which this command does not handle")
            return 1
    except idp.exceptions.NotAuthorizedException:
        print("sign-in refused: wrong user name or password")
        return 1
    except idp.exceptions.InvalidPasswordException as exc:
        print(f"new password refused: {printable(str(exc.response['Error'].get('Message', '')))}")
        return 1
    result = answer["AuthenticationResult"]
    stored = {
        "user": args.user,
        "api": args.api,
        "access_token": result["AccessToken"],
        "id_token": result.get("IdToken", ""),
        "refresh_token": result.get("RefreshToken", ""),
        "expires_at": int(time.time()) + int(result.get("ExpiresIn", 0)),
    }
    write_tokens(token_path(sandbox_dir), stored)
    print(f"logged in as {printable(args.user)}; token kept in {token_path(sandbox_dir)} (mode 0600)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Create a staff member (an administrator's act: AdminCreateUser with the operator's AWS access)."""
    import secrets

    pool = _pool(args.api)
    idp = _idp(pool)
    temporary = "Tmp-" + secrets.token_urlsafe(12) + "7a!"
    groups = [*args.department, *(["admin"] if args.admin else [])]
    if not groups:
        print("give --department (repeatable) or --admin: a user in no department can see nothing")
        return 1
    try:
        idp.admin_create_user(
            UserPoolId=pool["user_pool_id"],
            Username=args.user,
            TemporaryPassword=temporary,
            MessageAction="SUPPRESS",
        )
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool["user_pool_id"], Username=args.user, GroupName=group)
    except idp.exceptions.UsernameExistsException:
        print(f"{printable(args.user)} exists already")
        return 1
    except idp.exceptions.ResourceNotFoundException:
        print("no such group: create the department first (`clinictext staff add-department NAME`)")
        return 1
    print(f"created {printable(args.user)} in {', '.join(groups)}")
    print(f"temporary password (shown once; a new one is chosen at first login): {temporary}")
    return 0


def cmd_add_department(args: argparse.Namespace) -> int:
    from shared.inbox.departments import check_department

    try:
        check_department(args.name)
    except ValueError as exc:
        print(str(exc))
        return 1
    pool = _pool(args.api)
    idp = _idp(pool)
    try:
        idp.create_group(UserPoolId=pool["user_pool_id"], GroupName=args.name)
    except idp.exceptions.GroupExistsException:
        print(f"{args.name} exists already")
        return 0
    print(f"group {args.name} created; add it to the stack's Departments parameter so it counts")
    return 0


def _staff_call(
    sandbox_dir: Path, method: str, path: str, body: Any = None, *, api: str | None = None
) -> tuple[int, Any]:
    """Call the inbox API as the logged-in staff member (at ``api``, default the one logged in to)."""
    tokens = read_tokens(token_path(sandbox_dir))
    if int(tokens.get("expires_at", 0)) <= time.time():
        raise SystemExit("the staff token has expired: log in again (`clinictext staff login`)")
    status, text = call_api(
        method,
        f"{api or tokens['api']}{path}",
        body,
        extra_headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def _show(status: int, answer: Any) -> int:
    for line in json.dumps(answer, indent=2, ensure_ascii=False).splitlines():
        print(printable(line))  # each line: printable() shows a newline inside a value as an escape
    return 0 if status < 400 else 1


def cmd_inbox(args: argparse.Namespace, sandbox_dir: Path) -> int:
    command = args.inbox_command

    def staff_call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return _staff_call(sandbox_dir, method, path, body, api=args.api)

    if command == "me":
        return _show(*staff_call("GET", "/inbox/me"))
    if command == "department":
        path = f"/inbox/departments/{quote(args.name, safe='')}"
        if args.set:
            settings = json.loads(Path(args.set).read_text(encoding="utf-8"))
            return _show(*staff_call("PUT", path, settings))
        return _show(*staff_call("GET", path))
    if command == "canned":
        if args.add:
            body = {"department": args.department, "name": args.add[0], "body": args.add[1]}
            return _show(*staff_call("POST", "/inbox/canned-responses", body))
        query = f"?{urlencode({'department': args.department})}" if args.department else ""
        return _show(*staff_call("GET", f"/inbox/canned-responses{query}"))
    if command == "audit":
        filters = {
            key: value
            for key, value in (
                ("conversation_id", args.conversation),
                ("user", args.user),
                ("from", args.start),
                ("to", args.end),
            )
            if value
        }
        return _show(*staff_call("GET", f"/inbox/audit?{urlencode(filters)}"))
    if command == "list":
        filters = {
            key: value
            for key, value in (
                ("department", args.department),
                ("status", args.status),
                ("assignee", args.assignee),
                ("urgent", "true" if args.urgent else None),
                ("overdue", "true" if args.overdue else None),
                ("unread", "true" if args.unread else None),
                ("cursor", args.cursor),
            )
            if value
        }
        query = f"?{urlencode(filters)}" if filters else ""
        return _show(*staff_call("GET", f"/inbox/conversations{query}"))
    if command == "start":
        started: dict[str, Any] = {"phone": args.phone, "department": args.department}
        if args.canned:
            started["canned_response_id"] = args.canned
        else:
            started["body"] = args.body
        return _show(*staff_call("POST", "/inbox/conversations", started))
    if command == "metrics":
        filters = {
            key: value
            for key, value in (
                ("department", args.department),
                ("from", args.start),
                ("to", args.end),
                ("granularity", args.granularity),
            )
            if value
        }
        query = f"?{urlencode(filters)}" if filters else ""
        return _show(*staff_call("GET", f"/inbox/metrics{query}"))
    if command == "staff":
        return _show(*staff_call("GET", f"/inbox/staff?{urlencode({'department': args.department})}"))
    conversation = f"/inbox/conversations/{quote(args.conversation_id, safe='')}"
    if command == "show":
        return _show(*staff_call("GET", conversation))
    if command == "export":
        status, answer = staff_call("GET", f"{conversation}/export?{urlencode({'format': args.format})}")
        if status >= 400 or not isinstance(answer, str):
            return _show(status, answer)
        for line in answer.splitlines():  # the transcript (text/plain): each line escaped for the terminal
            print(printable(line))
        return 0
    if command in {"close", "reopen"}:
        return _show(*staff_call("POST", f"{conversation}/{command}", {"version": args.version}))
    if command == "reply":
        reply: dict[str, Any] = {"version": args.version}
        if args.canned:
            reply["canned_response_id"] = args.canned
        else:
            reply["body"] = args.body
        return _show(*staff_call("POST", f"{conversation}/messages", reply))
    if command == "assign":
        body = {"version": args.version}
        body.update({"user": args.user} if args.user else {"department": args.department})
        return _show(*staff_call("POST", f"{conversation}/assign", body))
    if command == "note":
        body = {"version": args.version, "body": args.body}
        return _show(*staff_call("POST", f"{conversation}/notes", body))
    raise SystemExit(f"unknown inbox command {command}")


def add_parsers(sub: Any, default_api: str) -> None:
    staff = sub.add_parser("staff", help="staff accounts of the sandbox's Cognito pool")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    login = staff_sub.add_parser("login", help="sign in (USER_PASSWORD_AUTH) and keep the tokens (0600)")
    login.add_argument("--user", required=True)
    login.add_argument("--password-stdin", action="store_true", help="read the password(s) from stdin")
    login.add_argument("--api", default=default_api)
    add = staff_sub.add_parser("add", help="create a staff member in departments (admin)")
    add.add_argument("--user", required=True)
    add.add_argument("--department", action="append", default=[], help="a department group (repeatable)")
    add.add_argument("--admin", action="store_true", help="also make them an admin")
    add.add_argument("--api", default=default_api)
    dept = staff_sub.add_parser("add-department", help="create the Cognito group of a new department")
    dept.add_argument("name")
    dept.add_argument("--api", default=default_api)

    inbox = sub.add_parser("inbox", help="the staff inbox API, as the logged-in staff member")
    inbox_sub = inbox.add_subparsers(dest="inbox_command", required=True)
    me = inbox_sub.add_parser("me", help="who you are and what you may see")
    department = inbox_sub.add_parser("department", help="a department's settings (--set FILE: admins)")
    department.add_argument("name")
    department.add_argument("--set", metavar="FILE", help="JSON settings to store")
    canned = inbox_sub.add_parser("canned", help="canned responses (--add NAME BODY: admins)")
    canned.add_argument("--department")
    canned.add_argument("--add", nargs=2, metavar=("NAME", "BODY"))
    audit = inbox_sub.add_parser("audit", help="the audit trail (admins): one filter, or a period")
    audit.add_argument("--conversation")
    audit.add_argument("--user", help="a staff member's user id (Cognito sub)")
    audit.add_argument("--from", dest="start")
    audit.add_argument("--to", dest="end")
    listing = inbox_sub.add_parser("list", help="your departments' conversations, newest activity first")
    listing.add_argument("--department")
    listing.add_argument("--status", choices=["open", "closed"])
    listing.add_argument("--assignee", help="me, unassigned, a username or a user id")
    listing.add_argument("--urgent", action="store_true")
    listing.add_argument("--overdue", action="store_true")
    listing.add_argument("--unread", action="store_true")
    listing.add_argument("--cursor")
    show = inbox_sub.add_parser("show", help="one conversation: notes, labels, assignments, version")
    show.add_argument("conversation_id")
    export = inbox_sub.add_parser(
        "export", help="the whole conversation for the medical record, to stdout (recorded as export)"
    )
    export.add_argument("conversation_id")
    export.add_argument("--format", choices=["text", "json"], default="text")
    writes = [export]
    for name in ("close", "reopen"):
        write = inbox_sub.add_parser(name, help=f"{name} a conversation (at the version you saw)")
        write.add_argument("conversation_id")
        write.add_argument("--version", type=int, required=True)
        writes.append(write)
    reply = inbox_sub.add_parser(
        "reply", help="text the patient (at the version you saw): --body or --canned"
    )
    reply.add_argument("conversation_id")
    reply.add_argument("--version", type=int, required=True)
    what = reply.add_mutually_exclusive_group(required=True)
    what.add_argument("--body")
    what.add_argument("--canned", metavar="ID", help="a canned response id (clinictext inbox canned)")
    assign = inbox_sub.add_parser(
        "assign", help="assign to a staff member (--user) or a department's queue (--department)"
    )
    assign.add_argument("conversation_id")
    assign.add_argument("--version", type=int, required=True)
    whom = assign.add_mutually_exclusive_group(required=True)
    whom.add_argument("--user", help="a username of the conversation's department (clinictext inbox staff)")
    whom.add_argument("--department")
    writes.extend([reply, assign])
    start = inbox_sub.add_parser(
        "start", help="start a conversation with a number (consent required) and send the first text"
    )
    start.add_argument("--phone", required=True, help="the patient's number, e.g. +12065550123")
    start.add_argument("--department", required=True, help="one of your departments")
    first = start.add_mutually_exclusive_group(required=True)
    first.add_argument("--body")
    first.add_argument("--canned", metavar="ID", help="a canned response id (clinictext inbox canned)")
    metrics = inbox_sub.add_parser(
        "metrics", help="response times in business minutes per department and period"
    )
    metrics.add_argument("--department")
    metrics.add_argument("--from", dest="start", help="first local date, YYYY-MM-DD (default: 6 days ago)")
    metrics.add_argument("--to", dest="end", help="last local date, YYYY-MM-DD (default: today)")
    metrics.add_argument("--granularity", choices=["day", "week", "month"])
    people = inbox_sub.add_parser("staff", help="who a department's conversations may be assigned to")
    people.add_argument("--department", required=True)
    writes.extend([start, metrics, people])
    note = inbox_sub.add_parser("note", help="add a private note (at the version you saw)")
    note.add_argument("conversation_id")
    note.add_argument("--version", type=int, required=True)
    note.add_argument("--body", required=True)
    for command in (me, department, canned, audit, listing, show, note, *writes):
        command.add_argument("--api", default=None, help="the API (default: the one you logged in to)")


def run(args: argparse.Namespace, sandbox_dir: Path) -> int:
    if args.command == "inbox":
        return cmd_inbox(args, sandbox_dir)
    if args.staff_command == "login":
        return cmd_login(args, sandbox_dir)
    if args.staff_command == "add":
        return cmd_add(args)
    return cmd_add_department(args)
