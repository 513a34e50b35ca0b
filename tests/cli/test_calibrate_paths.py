"""calibrate/evaluate: output and plot paths are checked before any model is loaded (issue 9)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import IMAGES, MODEL
from yolo_probs.cli import main


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for cls, files in {"3": ["digit_3.png", "hard_3.png"], "8": ["digit_8.png"]}.items():
        (root / cls).mkdir(parents=True)
        for f in files:
            shutil.copy(IMAGES / f, root / cls / f)
    shutil.copy(IMAGES / "digit_8.png", root / "3" / "mislabelled.png")  # a mistake, so T has an optimum
    return root


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: the checks must come first."""
    from yolo_probs.api.model import YoloProbs

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the paths were checked")

    monkeypatch.setattr(YoloProbs, "__init__", refuse)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    _, err = capsys.readouterr()
    return code, err


def cases(data: Path, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    model = tmp_path / "m.pt"
    shutil.copy(MODEL, model)
    profile = tmp_path / "p.yaml"
    return {
        "output is a folder": (["-o", str(tmp_path)], "it is a folder; name a file in it, e.g."),
        "output under a file": (["-o", str(a_file / "p.yaml")], "is a file, not a folder"),
        "output is the model": (["-m", str(model), "-o", str(model)], "m.pt is also an input of this run"),
        "plot read-only": (["-o", str(profile), "--plot", "/proc/plot.png"], "/proc/plot.png: cannot write it"),
        "plot is a folder": (["-o", str(profile), "--plot", str(tmp_path)], "it is a folder"),
        "plot suffix": (["-o", str(profile), "--plot", str(tmp_path / "r.bmp")], "unsupported suffix '.bmp'"),
        "plot is a data image": (
            ["-o", str(profile), "--plot", str(data / "3" / "digit_3.png")],
            "digit_3.png is also an input of this run",
        ),
        "plot is the profile": (["-o", str(profile), "--plot", str(profile)], "is also the --output profile"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "output is a folder",
        "output under a file",
        "output is the model",
        "plot read-only",
        "plot is a folder",
        "plot suffix",
        "plot is a data image",
        "plot is the profile",
    ],
)
def test_calibrate_paths_checked_first(data, tmp_path, capsys, no_model, case) -> None:
    args, needle = cases(data, tmp_path)[case]
    if "-m" not in args:
        args = ["-m", str(MODEL), *args]
    before = {p: p.read_bytes() for p in data.rglob("*.png")}
    code, err = run(capsys, "calibrate", str(data), *args)
    assert code == 2 and needle in err and len(err.splitlines()) == 1, err
    assert {p: p.read_bytes() for p in data.rglob("*.png")} == before
    assert not list(tmp_path.rglob(".*.probe"))


@pytest.mark.parametrize("plot", ["/proc/plot.png", "DATA", "plot.bmp"])
def test_evaluate_plot_checked_first(data, tmp_path, capsys, no_model, plot) -> None:
    plot = str(data) if plot == "DATA" else plot if plot.startswith("/") else str(tmp_path / plot)
    code, err = run(capsys, "evaluate", str(data), "-m", str(MODEL), "--plot", plot)
    assert code == 2 and err.startswith("yolo-probs: error: ") and err.rstrip().endswith("(--plot PATH)")
    assert len(err.splitlines()) == 1


def test_calibrate_writes_the_plot_when_the_path_is_good(data, tmp_path, capsys) -> None:
    plot = tmp_path / "new" / "dir" / "r.png"
    code = main(["calibrate", str(data), "-m", str(MODEL), "-o", str(tmp_path / "p.yaml"), "--plot", str(plot)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert plot.stat().st_size > 1000 and (tmp_path / "p.yaml").exists()


def test_fifo_in_a_class_folder_is_skipped_and_named(data, tmp_path, capsys) -> None:
    import os

    os.mkfifo(data / "8" / "pipe.png")
    code = main(["evaluate", str(data), "-m", str(MODEL), "-f", "json"])
    out, err = capsys.readouterr()
    assert code == 1 and f"skipped {data / '8' / 'pipe.png'}: is a FIFO (named pipe)" in err
    assert '"samples": 4' in out and '"skipped": 1' in out
