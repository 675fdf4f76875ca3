"""infra.build_smoke imports built functions in an isolated Python 3.12, as Lambda would.

Runs against a small fake `sam build` output, so it needs Python 3.12 but not a real build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import build_smoke

BUILT_TEMPLATE = """
Globals:
  Function:
    Runtime: python3.12
    Layers: [!Ref Deps]
    Environment:
      Variables:
        TABLE: !Ref Table
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: Deps}
  GoodFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: GoodFunction, Handler: app.handler.lambda_handler}
  DevOnlyImportFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: DevOnlyImportFunction, Handler: app.handler.lambda_handler}
  NetworkAtImportFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: NetworkAtImportFunction, Handler: app.handler.lambda_handler}
  NotCallableFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: NotCallableFunction, Handler: app.handler.lambda_handler}
"""

HANDLERS = {
    # Imports from the layer and reads its environment at import time: both must be there.
    "GoodFunction": (
        "import helper, os\nTABLE = os.environ['TABLE']\ndef lambda_handler(event, context): ...\n"
    ),
    # yaml is in the development venv but not in the layer: the build would break in Lambda.
    "DevOnlyImportFunction": "import yaml\ndef lambda_handler(event, context): ...\n",
    # Swallowing the error does not help: a cold start must not touch the network.
    "NetworkAtImportFunction": (
        "import socket\ntry:\n    socket.create_connection(('dynamodb.us-east-1.amazonaws.com', 443))\n"
        "except OSError:\n    pass\ndef lambda_handler(event, context): ...\n"
    ),
    "NotCallableFunction": "lambda_handler = None\n",
}


@pytest.fixture(scope="module")
def python312() -> Path:
    try:
        return build_smoke.find_python("3.12")
    except build_smoke.SmokeError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(BUILT_TEMPLATE, encoding="utf-8")
    (tmp_path / "Deps" / "python").mkdir(parents=True)
    (tmp_path / "Deps" / "python" / "helper.py").write_text("", encoding="utf-8")
    for function, source in HANDLERS.items():
        package = tmp_path / function / "app"
        package.mkdir(parents=True)
        (package / "handler.py").write_text(source, encoding="utf-8")
    return tmp_path


def test_each_function_gets_one_line_and_failures_fail_the_run(
    build_dir: Path, python312: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_smoke.main(["--build-dir", str(build_dir), "--python", str(python312)]) == 1
    lines = {
        line.split()[1]: line for line in capsys.readouterr().out.splitlines() if line[:4] in {"ok  ", "FAIL"}
    }
    assert lines["GoodFunction"].startswith("ok")
    assert lines["DevOnlyImportFunction"].startswith("FAIL")
    assert "No module named 'yaml'" in lines["DevOnlyImportFunction"]
    assert lines["NetworkAtImportFunction"].startswith("FAIL")
    assert "network" in lines["NetworkAtImportFunction"]
    assert lines["NotCallableFunction"].startswith("FAIL")
    assert "not callable" in lines["NotCallableFunction"]
    assert not list(build_dir.rglob("__pycache__")), "the smoke run must not add .pyc files to the build"


def test_a_clean_build_passes(build_dir: Path, python312: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = build_dir / "template.yaml"
    text = template.read_text(encoding="utf-8")
    for broken in ("DevOnlyImportFunction", "NetworkAtImportFunction", "NotCallableFunction"):
        text = text.replace(
            f"  {broken}:\n    Type: AWS::Serverless::Function", f"  {broken}:\n    Type: AWS::SNS::Topic"
        )
    template.write_text(text, encoding="utf-8")
    assert build_smoke.main(["--build-dir", str(build_dir), "--python", str(python312)]) == 0
    assert "all 1 functions import" in capsys.readouterr().out


def test_missing_build_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build_smoke.main(["--build-dir", str(tmp_path)]) == 2
    assert "run `make build`" in capsys.readouterr().err


def test_a_wrong_interpreter_is_refused(build_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    if sys.version_info[:2] == (3, 12):
        pytest.skip("the test interpreter is itself Python 3.12")
    assert build_smoke.main(["--build-dir", str(build_dir), "--python", sys.executable]) == 2
    assert "is not a working Python 3.12" in capsys.readouterr().err
