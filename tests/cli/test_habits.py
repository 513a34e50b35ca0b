"""Ultralytics' ``key=value`` and task words get one line saying what to type, not a download error."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolo_probs.cli import _options, main
from yolo_probs.cli._habits import ultralytics_habit

CASES = {
    "model and source": (
        ["predict", "model=x.pt", "source=img.jpg"],
        "yolo-probs takes options as flags, not key=value (Ultralytics' form): "
        "type 'yolo-probs predict --model x.pt img.jpg'",
    ),
    "task word, keys without an option here": (
        ["classify", "predict", "model=x.pt", "source=img.jpg", "imgsz=64", "augment=True", "save=True"],
        "yolo-probs takes no task word and options as flags, not key=value (Ultralytics' form): "
        "type 'yolo-probs predict --model x.pt --imgsz 64 img.jpg'; "
        "predict has no option for augment=True, save=True (see 'yolo-probs predict --help')",
    ),
    "a task word alone": (
        ["classify", "predict", "--model", "x.pt", "img.jpg"],
        "yolo-probs takes no task word (Ultralytics' form): type 'yolo-probs predict --model x.pt img.jpg'",
    ),
    "a boolean switched off": (
        ["overlay", "model=m.pt", "source=0", "show=False"],
        "yolo-probs takes options as flags, not key=value (Ultralytics' form): "
        "type 'yolo-probs overlay --model m.pt --no-show 0'",
    ),
    "calibrate's data": (
        ["calibrate", "data=digits", "model=m.pt", "-o", "p.yaml"],
        "yolo-probs takes options as flags, not key=value (Ultralytics' form): "
        "type 'yolo-probs calibrate --model m.pt -o p.yaml digits'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_ultralytics_form_gets_the_yolo_probs_command(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, message = CASES[case]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"yolo-probs: error: {message}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["distill", "data", "--teacher", "t.pt", "--student", "s.yaml", "--train-arg", "fliplr=0"],  # an option's value
        ["predict", "-m", "m.pt", "--", "model=x.pt"],  # after --, a file name
        ["predict", "img.jpg", "--model", "m.pt"],
        ["no-such-command", "model=x.pt"],  # Typer says the command is unknown
        ["predict", "-m", "m.pt", "run=3/*.png"],  # not a key of either tool: a file pattern
    ],
)
def test_yolo_probs_own_forms_are_left_alone(argv: list[str]) -> None:
    assert ultralytics_habit(argv, _options) is None


def test_a_file_named_like_key_value_is_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("model=x.png").write_bytes(b"")
    assert ultralytics_habit(["predict", "model=x.png"], _options) is None
