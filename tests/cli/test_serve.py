"""``yolo-probs serve`` refuses what it cannot serve in one line (exit 2), before it loads a model."""

from __future__ import annotations

import socket
import sys

import pytest

from tests.conftest import MODEL, ROOT
from yolo_probs.cli import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["serve", *args])
    return code, capsys.readouterr().err


def test_a_busy_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, err = _run(["-m", str(MODEL), "--port", str(port)], capsys)
    assert code == 2
    assert err.strip() == (
        f"yolo-probs: error: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "pass another --port (or 0 for any free one)"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-p", "missing.yaml"], "profile missing.yaml not found"),
        (["--max-batch", "0"], "Invalid value for '--max-batch'"),
        (["--timeout", "0"], "Invalid value for '--timeout'"),
        (["--port", "70000"], "Invalid value for '--port'"),
        (["-m", "nowhere.pt", "--port", "0"], "nowhere.pt"),
        (["-m", str(ROOT / "examples/models/digits-yolo26n-det.pt"), "--port", "0"], "is a detect model; serve"),
    ],
)
def test_bad_options_fail_in_one_line(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(args, capsys)
    errors = [line for line in err.splitlines() if line.startswith("yolo-probs: error:")]
    assert code == 2 and len(errors) == 1 and words in errors[0], err


def test_without_the_serve_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what an environment without uvicorn imports
    code, err = _run(["-m", str(MODEL), "--port", "0"], capsys)
    assert code == 2
    assert err.strip() == "yolo-probs: error: uvicorn is not installed; install it with pip install 'yolo-probs[serve]'"


def test_help_lists_the_server_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--max-batch", "--max-wait-ms", "--api-key", "YOLO_PROBS_API_KEY", "--timeout"))
