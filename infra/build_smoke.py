"""Import every function ``sam build`` produced, the way Lambda's Python runtime would.

For each function in ``.aws-sam/build/template.yaml`` this starts a fresh interpreter of the function's
runtime (Python 3.12) that sees only the standard library, the function's build directory and its
layers' ``python/`` directories -- not this checkout, not a virtualenv -- then imports the handler
module and checks the handler is callable. The process gets dummy AWS settings, the function's
environment variables with placeholder values, and no network, so a handler that calls AWS at import
time fails here instead of on its first cold start.

Run it after ``sam build``: ``make smoke`` does both. ``python -m infra.build_smoke --help`` for options.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess  # runs only our own interpreters with fixed arguments  # nosec B404
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.cfn_yaml import load_template

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BUILD_DIR = REPO / ".aws-sam" / "build"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
REGION = "us-east-1"
ACCOUNT = "123456789012"
IMPORT_TIMEOUT_SECONDS = 120
RESULT_MARKER = "BUILD-SMOKE-RESULT "
NETWORK_MARKER = "BUILD-SMOKE-NETWORK"

# Runs inside the Lambda-like interpreter. argv[1] is a JSON object: path, module, attribute.
_CHILD = r"""
import importlib, json, socket, sys, time

spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]

def _no_network(*args, **kwargs):
    print(__NETWORK__, file=sys.stderr, flush=True)
    raise OSError("network access while importing the handler: create clients and read settings "
                  "lazily, on the first invocation, never at import time")

socket.socket.connect = socket.socket.connect_ex = socket.socket.sendto = _no_network
socket.create_connection = socket.getaddrinfo = _no_network

started = time.perf_counter()
module = importlib.import_module(spec["module"])
seconds = time.perf_counter() - started
handler = getattr(module, spec["attribute"], None)
print(__MARKER__ + json.dumps({
    "file": getattr(module, "__file__", None) or "",
    "callable": callable(handler),
    "found": hasattr(module, spec["attribute"]),
    "seconds": seconds,
}))
""".replace("__MARKER__", repr(RESULT_MARKER)).replace("__NETWORK__", repr(NETWORK_MARKER))


class SmokeError(Exception):
    """The smoke test could not run at all (no build, no interpreter); not a function failure."""


@dataclass
class BuiltFunction:
    logical_id: str
    handler: str
    runtime: str
    code_dir: Path
    layer_dirs: list[Path]
    environment: dict[str, str]
    notes: list[str] = field(default_factory=list)


@dataclass
class Result:
    function: BuiltFunction
    ok: bool
    summary: str
    details: str = ""


# -- reading the built template --------------------------------------------------------------------------


def _merged_properties(template: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """Function properties with SAM Globals applied (function values win; env variables merge)."""
    props: dict[str, Any] = dict(resource.get("Properties") or {})
    if resource["Type"] != "AWS::Serverless::Function":
        return props
    defaults: dict[str, Any] = (template.get("Globals") or {}).get("Function") or {}
    merged = {**defaults, **props}
    variables = {
        **((defaults.get("Environment") or {}).get("Variables") or {}),
        **((props.get("Environment") or {}).get("Variables") or {}),
    }
    if variables:
        merged["Environment"] = {"Variables": variables}
    return merged


def _fake_value(name: str, value: Any, template: dict[str, Any]) -> str:
    """A plausible stand-in for an environment variable's value: literals as written, parameters by
    their default, references to resources by a fake name, URL or ARN of the right shape."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    resources: dict[str, Any] = template.get("Resources") or {}
    if isinstance(value, dict) and "Ref" in value:
        target = value["Ref"]
        parameter = (template.get("Parameters") or {}).get(target)
        if parameter is not None:
            return str(parameter.get("Default", f"smoke-{target}"))
        kind = (resources.get(target) or {}).get("Type", "")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/smoke-{target}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:smoke-{target}"
        if kind == "AWS::KMS::Key":
            return "00000000-0000-0000-0000-000000000000"
        return f"smoke-{target}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target, _attribute = value["Fn::GetAtt"]
        kind = (resources.get(target) or {}).get("Type", "")
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "smoke"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/smoke-{target}"
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:smoke-{target}"
    return f"smoke-{name.lower()}"


def _layer_dirs(
    template: dict[str, Any], layers: Sequence[Any], build_dir: Path, runtime: str
) -> tuple[list[Path], list[str]]:
    """The directories Lambda puts on sys.path for these layers (/opt/python and its site-packages)."""
    resources: dict[str, Any] = template.get("Resources") or {}
    dirs: list[Path] = []
    notes: list[str] = []
    for layer in layers:
        logical = layer.get("Ref") if isinstance(layer, dict) else None
        spec = resources.get(logical) if isinstance(logical, str) else None
        if spec is None or spec.get("Type") not in LAYER_TYPES:
            notes.append(f"layer {json.dumps(layer)} is not built here and was not loaded")
            continue
        props = spec.get("Properties") or {}
        content = props.get("ContentUri") or props.get("Content")
        if not isinstance(content, str):
            notes.append(f"layer {logical} has no local build directory and was not loaded")
            continue
        python = build_dir / content / "python"
        dirs += [python / "lib" / runtime / "site-packages", python]
    return [d for d in dirs if d.is_dir()], notes


def read_functions(build_dir: Path) -> list[BuiltFunction]:
    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        raise SmokeError(f"{template_path} does not exist: run `make build` (sam build) first")
    template = load_template(template_path)
    functions = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") not in FUNCTION_TYPES:
            continue
        props = _merged_properties(template, resource)
        code = props.get("CodeUri") or props.get("Code")
        runtime = str(props.get("Runtime", ""))
        layer_dirs, notes = _layer_dirs(template, props.get("Layers") or [], build_dir, runtime)
        variables = (props.get("Environment") or {}).get("Variables") or {}
        functions.append(
            BuiltFunction(
                logical_id=logical_id,
                handler=str(props.get("Handler", "")),
                runtime=runtime,
                code_dir=build_dir / code if isinstance(code, str) else build_dir / logical_id,
                layer_dirs=layer_dirs,
                environment={name: _fake_value(name, value, template) for name, value in variables.items()},
                notes=notes,
            )
        )
    if not functions:
        raise SmokeError(f"{template_path} declares no Lambda functions")
    return functions


# -- finding the runtime's interpreter -------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    # .../versions/3.12.10/bin/python -> (3, 12, 10); unparsable names sort first.
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))


def _is_python(candidate: Path | str, version: str) -> bool:
    try:
        completed = subprocess.run(  # noqa: S603  # a local interpreter we probe, fixed args  # nosec B603
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0 and completed.stdout.strip() == version


def find_python(version: str, override: str | None = None) -> Path:
    """The interpreter for ``pythonX.Y``: an explicit override (--python or $LAMBDA_PYTHON), the
    newest pyenv ``X.Y.*`` install, else ``pythonX.Y`` on PATH."""
    override = override or os.environ.get("LAMBDA_PYTHON")
    if override:
        if not _is_python(override, version):
            raise SmokeError(f"{override} (from --python / LAMBDA_PYTHON) is not a working Python {version}")
        return Path(override)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates: list[Path] = sorted(
        pyenv_root.glob(f"versions/{version}.*/bin/python"), key=_version_key, reverse=True
    )
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if _is_python(candidate, version):
            return candidate
    raise SmokeError(
        f"no Python {version} found (looked in {pyenv_root}/versions/{version}.*/bin/python and for "
        f"python{version} on PATH). Install it, e.g. `pyenv install {version}`, or point "
        f"LAMBDA_PYTHON at a python{version} binary."
    )


# -- importing one function -------------------------------------------------------------------------------


def _lambda_environment(function: BuiltFunction, home: str) -> dict[str, str]:
    """What the child process sees: the function's variables plus Lambda's own, with fake credentials
    and every route to a real AWS account or the developer's config closed."""
    return {
        **function.environment,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "smoke-test-access-key",
        "AWS_SECRET_ACCESS_KEY": "smoke-test-secret-key",  # fake, no AWS is reached  # nosec B105
        "AWS_SESSION_TOKEN": "smoke-test-session-token",  # fake, no AWS is reached  # nosec B105
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.logical_id}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "build-smoke",
        "LAMBDA_TASK_ROOT": str(function.code_dir),
        "_HANDLER": function.handler,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def _last_lines(text: str, count: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def smoke_one(function: BuiltFunction, python: Path) -> Result:
    module, _, attribute = function.handler.rpartition(".")
    if not module:
        return Result(function, False, f"handler {function.handler!r} is not module.function")
    if not function.code_dir.is_dir():
        return Result(function, False, f"build directory {function.code_dir} is missing")
    spec = {
        "path": [str(function.code_dir), *(str(d) for d in function.layer_dirs)],
        "module": module,
        "attribute": attribute,
    }
    with tempfile.TemporaryDirectory(prefix="build-smoke-") as home:
        # -I: ignore PYTHON* variables and user site; -S: no site-packages; -B: leave no .pyc files
        # in the build directories that get deployed.
        command = [str(python), "-I", "-S", "-B", "-c", _CHILD, json.dumps(spec)]
        try:
            completed = subprocess.run(  # noqa: S603  # our interpreter, our fixed child  # nosec B603
                command,
                cwd=home,
                env=_lambda_environment(function, home),
                capture_output=True,
                text=True,
                timeout=IMPORT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Result(function, False, f"import took longer than {IMPORT_TIMEOUT_SECONDS}s")
    report = next(
        (
            json.loads(line.removeprefix(RESULT_MARKER))
            for line in reversed(completed.stdout.splitlines())
            if line.startswith(RESULT_MARKER)
        ),
        None,
    )
    if NETWORK_MARKER in completed.stderr:
        # Fails even if the handler swallowed the error: a cold start must not depend on the network.
        return Result(
            function,
            False,
            "tried to open a network connection at import time; create AWS clients lazily",
            _last_lines(completed.stderr.replace(NETWORK_MARKER, "")),
        )
    if completed.returncode != 0 or report is None:
        last = completed.stderr.strip().splitlines()[-1:] or [f"exit status {completed.returncode}"]
        return Result(function, False, last[0], _last_lines(completed.stderr))
    if not str(report["file"]).startswith(str(function.code_dir)):
        return Result(function, False, f"{module} was imported from {report['file']}, not the build")
    if not report["found"]:
        return Result(function, False, f"{module} has no attribute {attribute!r}")
    if not report["callable"]:
        return Result(function, False, f"{module}.{attribute} is not callable")
    return Result(function, True, f"{report['seconds']:.2f}s")


# -- command line -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build_smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, help="sam build output")
    parser.add_argument("--python", help="interpreter to use instead of searching (also $LAMBDA_PYTHON)")
    args = parser.parse_args(argv)

    try:
        functions = read_functions(args.build_dir)
        pythons: dict[str, Path] = {}
        for runtime in sorted({f.runtime for f in functions if f.runtime.startswith("python")}):
            pythons[runtime] = find_python(runtime.removeprefix("python"), args.python)
    except SmokeError as exc:
        print(f"build smoke: {exc}", file=sys.stderr)
        return 2

    def run(function: BuiltFunction) -> Result:
        python = pythons.get(function.runtime)
        if python is None:
            return Result(function, False, f"runtime {function.runtime!r} is not a Python runtime")
        return smoke_one(function, python)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        results = list(pool.map(run, functions))

    width = max(len(f.logical_id) for f in functions)
    for result in results:
        function = result.function
        status = "ok  " if result.ok else "FAIL"
        notes = "".join(f"  [{note}]" for note in function.notes)
        print(f"{status} {function.logical_id:<{width}}  {function.handler}  {result.summary}{notes}")
    failed = [r for r in results if not r.ok]
    for result in failed:
        if result.details:
            print(f"\n--- {result.function.logical_id}\n{result.details}\n")
    interpreters = ", ".join(str(p) for p in pythons.values())
    elapsed = time.perf_counter() - started
    if failed:
        print(f"{len(failed)} of {len(results)} functions failed to import ({interpreters}, {elapsed:.1f}s)")
        return 1
    print(f"all {len(results)} functions import ({interpreters}, {elapsed:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
