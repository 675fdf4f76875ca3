"""Issue 12: a hostile-input sweep of every staff inbox route, through template.yaml with real-shaped JWT
authorizer events. Each case below must be a clear 4xx (an error object naming the problem), change
nothing (every table scanned before and after is equal), echo nothing it was sent, and log no PHI; after
each group of cases the patient texts STOP and is opted out (an opt-out is never lost).

Cases: control characters, NUL, RTL override, 10,000-character notes/labels/replies/reasons, invalid
UTF-8 and JSON, wrong JSON types, negative and huge versions, unknown fields, impossible dates in audit
filters and department holidays and hours (Feb 29 of a non-leap year, 24:00, reversed spans), other
departments' ids and ids shaped like DynamoDB keys."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from infra.local.events import jwt_http_api_event
from tests.integration.harness import all_items
from tests.integration.inbox_helpers import (
    PATIENT,
    Clock,
    clinic_departments,
    conversation_in,
    frozen_clock,
    text,
)
from tests.integration.test_inbox_conversations_api import MONDAY_OPEN, STAFF

PATIENT_TEXT = "My incision is a bit red, is that normal?"
LONG = "x" * 10_000
NASTY = ["\x00", "bad\x00nul", "\x07bell", "\u202eevil", "a\u2066isolate", "del\x7f", "c1\x85"]


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


@pytest.fixture
def clinic(stack, clock):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    text(stack, clock, MONDAY_OPEN, "START")
    text(stack, clock, MONDAY_OPEN, PATIENT_TEXT)
    text(stack, clock, MONDAY_OPEN, "question about my bill")
    return stack


def send(
    stack: Any,
    who: str,
    method: str,
    path: str,
    *,
    raw: str | bytes | None = None,
    body: Any = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], str]:
    sub, username, groups = STAFF[who]
    now = int(MONDAY_OPEN.timestamp())
    claims = {
        "sub": sub,
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{stack.ref('StaffUserPool')}",
        "client_id": stack.ref("StaffAppClient"),
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "username": username,
        "cognito:groups": groups,
        "iat": now,
        "exp": now + 1800,
    }
    parts = path.split("/")
    route = path
    if parts[2] == "conversations" and len(parts) >= 4:
        path_parameters = {"conversation_id": parts[3]}
        route = "/".join([*parts[:3], "{conversation_id}", *parts[4:]])
    elif parts[2] == "departments" and len(parts) == 4:
        path_parameters = {"department": parts[3]}
        route = "/inbox/departments/{department}"
    payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
    event = jwt_http_api_event(
        method,
        path,
        claims=claims,
        route_key=f"{method} {route}",
        path_parameters=path_parameters,
        body=payload,
        headers={"content-type": "application/json", **(headers or {})},
        query=query,
    )
    answer = stack.functions["InboxApiFunction"].invoke(event)
    return answer["statusCode"], answer.get("headers") or {}, answer["body"]


def snapshot(stack: Any) -> list[tuple[str, str]]:
    return sorted((table, json.dumps(item, sort_keys=True, default=repr)) for table, item in all_items(stack))


def looks(stack: Any) -> list[str]:
    return sorted(str(i["sk"]) for i in stack.table("AuditTable").scan()["Items"])


def refused(stack: Any, capsys: Any, cases: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    """Every case is a 4xx with an error object, changes no table and echoes and logs none of its input."""
    capsys.readouterr()
    for label, who, method_path, given in cases:
        request = dict(given)
        # A list, thread or audit read refused for its cursor is on the record as an attempted look (a
        # look is recorded before the lookup, so one that fails half way is there too): that record only.
        look = request.pop("look", False)
        method, path = method_path.split(" ", 1)
        before, trail = snapshot(stack), looks(stack)
        status, _headers, body = send(stack, who, method, path, **request)
        assert 400 <= status < 500, (label, status, body)
        answer = json.loads(body)
        assert isinstance(answer.get("error"), dict) and answer["error"].get("message"), (label, body)
        after = snapshot(stack)
        if look:
            added = [i for i in stack.table("AuditTable").scan()["Items"] if str(i["sk"]) not in trail]
            records = [i for i in added if i["sk"] != 0]  # sk=0 is the chain head, moved on by it
            assert [i["action"] for i in records] in (["list"], ["audit_read"], ["read"]), label
            after = [row for row in after if row[0] != "AuditTable"]
            before = [row for row in before if row[0] != "AuditTable"]
        assert after == before, f"{label}: a refused request changed a table"
        raw = request.get("raw")
        sent = raw.decode("latin-1") if isinstance(raw, bytes) else raw or json.dumps(request.get("body", ""))
        for fragment in ("x" * 40, "evil", "bad\\u0000nul", "Patient Jane"):
            if fragment in sent:
                assert fragment not in body, f"{label}: the answer echoes its input"
    logs = capsys.readouterr()
    for secret in (PATIENT, PATIENT[-10:], PATIENT_TEXT, "question about my bill", "x" * 40, "Patient Jane"):
        assert secret not in logs.out and secret not in logs.err, f"PHI or input in the logs: {secret[:12]!r}"


def still_opts_out(stack: Any, clock: Clock) -> None:
    """The patient texts STOP after the sweep: opted out, and told so."""
    from tests.integration.inbox_helpers import replies_to

    before = len(replies_to(PATIENT))
    text(stack, clock, clock.now + timedelta(minutes=1), "STOP")
    [state] = [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"] == "STATE"]
    assert state["status"] == "opted_out"
    assert len(replies_to(PATIENT)) == before + 1  # the opt-out confirmation


def ids(stack: Any) -> tuple[str, str, int]:
    nursing = conversation_in(stack, "nursing")
    return (
        nursing["conversation_id"],
        conversation_in(stack, "billing")["conversation_id"],
        int(nursing["version"]),
    )


def test_hostile_bodies_on_every_conversation_write(clinic, clock, capsys):
    cid, _billing, v = ids(clinic)
    base = f"POST /inbox/conversations/{cid}"
    cases: list[tuple[str, str, str, dict[str, Any]]] = []
    for route, field in (("notes", "body"), ("messages", "body")):
        for value in [*NASTY, LONG, "", "   ", 5, None, ["a"], {"a": 1}, True]:
            cases.append(
                (
                    f"{route} {field}={value!r:.20}",
                    "nurse",
                    f"{base}/{route}",
                    {"body": {"version": v, field: value}},
                )
            )
    for value in [*NASTY, LONG, "", 5, None, {"a": 1}]:
        cases.append(
            (f"labels [{value!r:.20}]", "nurse", f"{base}/labels", {"body": {"version": v, "add": [value]}})
        )
    cases += [
        ("labels not a list", "nurse", f"{base}/labels", {"body": {"version": v, "add": "urgent"}}),
        (
            "labels 10k of them",
            "nurse",
            f"{base}/labels",
            {"body": {"version": v, "add": [f"l{n}" for n in range(10_000)]}},
        ),
        ("labels remove NUL", "nurse", f"{base}/labels", {"body": {"version": v, "remove": ["\x00"]}}),
    ]
    for value in [*NASTY, LONG, "", 5, None, "../billing", "billing#x", "CHAIN"]:
        cases.append(
            (
                f"assign {value!r:.20}",
                "nurse",
                f"{base}/assign",
                {"body": {"version": v, "department": value}},
            )
        )
    for value in [*NASTY, "nina nurse", " ", "\u200bnina", "n" * 129, LONG, "", 5, ["nina.nurse"]]:
        cases.append(
            (f"assign user {value!r:.20}", "nurse", f"{base}/assign", {"body": {"version": v, "user": value}})
        )
    cases.append(
        (
            "assign both",
            "nurse",
            f"{base}/assign",
            {"body": {"version": v, "department": "billing", "user": "u"}},
        )
    )
    for value in [*NASTY, LONG, "", 5, None]:
        cases.append(
            (f"break-glass {value!r:.20}", "billing", f"{base}/break-glass", {"body": {"reason": value}})
        )
    for route in ("close", "notes", "messages", "labels", "assign"):
        for version in (-1, 0, 10**30, 2**63, "1", True, 1.5, None, [1]):
            fields = {"notes": {"body": "ok"}, "messages": {"body": "ok"}, "labels": {"add": ["ok"]}}
            extra = fields.get(route, {"department": "billing"} if route == "assign" else {})
            cases.append(
                (
                    f"{route} version={version!r}",
                    "nurse",
                    f"{base}/{route}",
                    {"body": {"version": version, **extra}},
                )
            )
        for raw in (
            "{",
            "[]",
            "null",
            '"text"',
            '{"version": 1,}',
            "\ufeff{}",
            '{"a":' * 200 + "1" + "}" * 200,
        ):
            cases.append((f"{route} raw={raw[:12]!r}", "nurse", f"{base}/{route}", {"raw": raw}))
        cases.append(
            (
                f"{route} invalid utf-8",
                "nurse",
                f"{base}/{route}",
                {"raw": b'{"version": 1, "body": "\xff\xfe"}'},
            )
        )
        cases.append(
            (
                f"{route} If-Match forged",
                "nurse",
                f"{base}/{route}",
                {"body": {}, "headers": {"if-match": '"1 OR 1=1"'}},
            )
        )
        cases.append(
            (
                f"{route} If-Match huge",
                "nurse",
                f"{base}/{route}",
                {"body": {}, "headers": {"if-match": '"' + "9" * 40 + '"'}},
            )
        )
    cases.append(("stale close", "nurse", f"{base}/close", {"body": {"version": v + 5}}))
    cases.append(("reopen an open one", "nurse", f"{base}/reopen", {"body": {"version": v}}))
    refused(clinic, capsys, cases)
    still_opts_out(clinic, clock)


def test_hostile_first_texts_when_starting_a_conversation(clinic, clock, capsys):
    """POST /inbox/conversations checks the first text as a reply is checked: a NUL, a bidi override or
    another control character is 400 and nothing is stored or sent (it was stored and sent)."""
    from tests.integration.harness import outbox

    route = "POST /inbox/conversations"
    fresh = "+12065550166"  # no conversation yet: a first text would be sent
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            f"start body={value!r:.20}",
            "nurse",
            route,
            {"body": {"phone": fresh, "department": "nursing", "body": value}},
        )
        for value in [*NASTY, LONG, "", "   ", 5, None, ["a"], {"a": 1}, True]
    ]
    for value in [*NASTY, LONG, "", 5, None, "../billing", "billing#x"]:
        cases.append(
            (
                f"start department={value!r:.20}",
                "nurse",
                route,
                {"body": {"phone": fresh, "department": value, "body": "Hello from the clinic"}},
            )
        )
    for value in [*NASTY, LONG, "", 5, None, "+1206555", "CHAIN"]:
        cases.append(
            (
                f"start phone={value!r:.20}",
                "nurse",
                route,
                {"body": {"phone": value, "department": "nursing", "body": "Hello from the clinic"}},
            )
        )
    before = len(outbox())
    refused(clinic, capsys, cases)
    assert len(outbox()) == before
    still_opts_out(clinic, clock)


def test_unknown_fields_are_refused_naming_nothing_they_carry(clinic, clock, capsys):
    cid, _billing, v = ids(clinic)
    base = f"POST /inbox/conversations/{cid}"
    cases = [
        ("close extra", "nurse", f"{base}/close", {"body": {"version": v, "status": "open"}}),
        ("note extra", "nurse", f"{base}/notes", {"body": {"version": v, "body": "ok", "author": "admin"}}),
        (
            "labels extra",
            "nurse",
            f"{base}/labels",
            {"body": {"version": v, "labels": ["a"], "department": "billing"}},
        ),
        (
            "reply extra",
            "nurse",
            f"{base}/messages",
            {"body": {"version": v, "body": "ok", "to": "+12065550999"}},
        ),
        (
            "break-glass extra",
            "billing",
            f"{base}/break-glass",
            {"body": {"reason": "on the phone", "via": "admin"}},
        ),
        ("key is PHI", "nurse", f"{base}/notes", {"body": {"version": v, "body": "ok", "Patient Jane": 1}}),
    ]
    refused(clinic, capsys, cases)
    still_opts_out(clinic, clock)


def test_other_departments_ids_and_key_shaped_ids_are_404(clinic, clock, capsys):
    _cid, billing_cid, _v = ids(clinic)
    cases = []
    for wanted in (
        billing_cid,
        "CHAIN",
        "c_AAAAAAAAAAAAAAAAAAAAAA",
        "settings#departments",
        "inbound#x",
        "c_" + "A" * 22 + "#conversation",
        "c_" + "A" * 500,
        "%00",
        "..",
        "c_\u202eAAAAAAAAAAAAAAAAAAAA",
    ):
        cases.append((f"show {wanted[:16]!r}", "nurse", f"GET /inbox/conversations/{wanted}", {}))
        cases.append(
            (
                f"export {wanted[:16]!r}",
                "nurse",
                f"GET /inbox/conversations/{wanted}/export",
                {"query": "format=text"},
            )
        )
        cases.append(
            (
                f"close {wanted[:16]!r}",
                "nurse",
                f"POST /inbox/conversations/{wanted}/close",
                {"body": {"version": 1}},
            )
        )
        cases.append(
            (
                f"note {wanted[:16]!r}",
                "nurse",
                f"POST /inbox/conversations/{wanted}/notes",
                {"body": {"version": 1, "body": "x"}},
            )
        )
    refused(clinic, capsys, cases)
    still_opts_out(clinic, clock)


def test_hostile_queries_on_the_lists_and_the_audit_trail(clinic, clock, capsys):
    cid, _billing, _v = ids(clinic)
    forged = base64.urlsafe_b64encode(json.dumps({"pk": "CHAIN", "sk": 0}).encode()).decode()
    cases = []
    for query in (
        "status=bogus",
        "limit=-1",
        "limit=0",
        "limit=99999",
        "limit=\u00b2",
        "limit=1e3",
        "urgent=yes",
        "cursor=%%%",
        f"cursor={forged}",
        "department=\u202enursing",
        "assignee=\x00",
        "assignee=nina%20nurse",  # not a Cognito username ([\p{L}\p{M}\p{S}\p{N}\p{P}]+): no space
        "assignee=nina+nurse",
        f"assignee={'n' * 129}",
    ):
        look = query.startswith("cursor=")
        cases.append((f"list {query}", "nurse", "GET /inbox/conversations", {"query": query, "look": look}))
    audit = "GET /inbox/audit"
    for query in (
        "from=2027-02-29T00:00:00Z&to=2027-03-02T00:00:00Z",  # Feb 29 of a non-leap year
        "from=2026-11-01T24:00:00Z&to=2026-11-02T00:00:00Z",  # 24:00
        "from=2026-11-03T00:00:00Z&to=2026-11-01T00:00:00Z",  # reversed
        "from=2026-11-01T00:00:00&to=2026-11-02T00:00:00",  # no offset
        "from=2026-13-01T00:00:00Z&to=2026-11-02T00:00:00Z",
        "from=0000-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
        "from=yesterday&to=today",
        "from=2026-11-01T00:00:00Z",  # a period needs both ends
        f"conversation_id={cid}&user=sub-1",
        "conversation_id=CHAIN",
        f"conversation_id={'c' * 300}",
        "user=\u202eadmin",
        f"conversation_id={cid}&cursor={forged}",
        f"conversation_id={cid}&limit=\u00b2",
    ):
        cases.append((f"audit {query[:40]}", "admin", audit, {"query": query, "look": "cursor=" in query}))
    cases.append(("audit by a nurse", "nurse", audit, {"query": f"conversation_id={cid}"}))
    cases += [
        (f"thread {q}", "nurse", f"GET /inbox/conversations/{cid}", {"query": q, "look": "cursor=" in q})
        for q in ("limit=0", "limit=\u00b2", "cursor=%%%", f"cursor={forged}")
    ]
    cases += [
        (f"export {q[:20]}", "nurse", f"GET /inbox/conversations/{cid}/export", {"query": q})
        for q in ("format=pdf", "format=\u202etext", "format=text\x00", f"format={'t' * 600}", "format=TEXT")
    ]
    refused(clinic, capsys, cases)
    still_opts_out(clinic, clock)


def test_hostile_department_settings_and_canned_responses(clinic, clock, capsys):
    put = "PUT /inbox/departments/nursing"
    good = {"time_zone": "America/Los_Angeles", "hours": {"mon": [["08:00", "17:00"]]}}
    cases = []
    for label, change in (
        ("Feb 29 non-leap", {"holidays": ["2027-02-29"]}),
        ("bad month", {"holidays": ["2027-13-01"]}),
        ("holiday not a date", {"holidays": ["next tuesday"]}),
        ("10k holidays", {"holidays": [f"2027-01-{(n % 28) + 1:02d}" for n in range(10_000)]}),
        ("24:00 as a start", {"hours": {"mon": [["24:00", "08:00"]]}}),  # "24:00" ends a day only
        ("25:00", {"hours": {"mon": [["25:00", "26:00"]]}}),
        ("empty span", {"hours": {"mon": [["08:00", "08:00"]]}}),
        ("three-part span", {"hours": {"mon": [["08:00", "12:00", "13:00"]]}}),
        ("bad weekday", {"hours": {"funday": [["08:00", "12:00"]]}}),
        ("hours wrong type", {"hours": "always"}),
        ("zone unknown", {"time_zone": "Mars/Olympus"}),
        ("zone NUL", {"time_zone": "America/Los_Angeles\x00"}),
        ("keyword NUL", {"keywords": ["re\x00fill"]}),
        ("keyword RTL", {"keywords": ["\u202eevil"]}),
        ("keyword 10k", {"keywords": [LONG]}),
        ("number not E.164", {"numbers": ["call me maybe"]}),
        ("target negative", {"first_response_minutes": -5}),
        ("target huge", {"first_response_minutes": 10**12}),
        ("target text", {"first_response_minutes": "60"}),
        ("unknown field", {"escalate_to": "everyone"}),
    ):
        cases.append((f"department {label}", "admin", put, {"body": {**good, **change}}))
    cases.append(("department by a nurse", "nurse", put, {"body": good}))
    cases.append(("department name hostile", "admin", "PUT /inbox/departments/CHAIN", {"body": good}))
    cases.append(("department invalid utf-8", "admin", put, {"raw": b'{"time_zone": "\xff"}'}))
    post = "POST /inbox/canned-responses"
    fine = {"department": "nursing", "name": "redness", "body": "Some redness is normal."}
    for label, change in (
        ("body 10k", {"body": LONG}),
        ("body NUL", {"body": "bad\x00nul"}),
        ("body RTL", {"body": "\u202eevil"}),
        ("name control", {"name": "\x07bell"}),
        ("unknown placeholder", {"body": "Hi {last_name}"}),
        ("department unknown", {"department": "CHAIN"}),
        ("wrong type", {"body": 5}),
        ("unknown field", {"created_by": "admin"}),
    ):
        cases.append((f"canned {label}", "admin", post, {"body": {**fine, **change}}))
    refused(clinic, capsys, cases)
    still_opts_out(clinic, clock)
