"""Every command that writes a file says so in one ``yolo-probs: wrote ...`` line on stderr, never on stdout.

One line per file (or per folder of annotated copies), in the order they are written, with the count
and the useful details (format, T, what the file is) in the same shape for every command
(:func:`yolo_probs._util.console.wrote`).
"""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import yolo_probs.calibration.storage as storage
from tests.conftest import IMAGES, MODEL
from yolo_probs.cli import main
from yolo_probs.distill.train import DistillResult

distill_module = importlib.import_module("yolo_probs.cli.distill")  # the name distill is the command, in cli

#: ``id: (arguments, expected stderr lines)``, ``{tmp}``, ``{data}``, ``{images}`` and ``{model}`` filled in;
#: a line is a regular expression where it holds ``.*`` (a layer name that depends on the model).
CASES: dict[str, tuple[list[str], list[str]]] = {
    "predict --output": (
        ["predict", "{images}", "-m", "{model}", "-o", "{tmp}/out.jsonl"],
        ["wrote 6 records to {tmp}/out.jsonl"],
    ),
    "predict --save": (
        ["predict", "{images}", "-m", "{model}", "-f", "jsonl", "--save", "{tmp}/copies"],
        ["wrote 6 files to {tmp}/copies (annotated copies, 6 frames)"],
    ),
    "calibrate with decisions and plots": (
        [
            "calibrate",
            "{data}",
            "-m",
            "{model}",
            "--batch",
            "48",
            "-o",
            "{tmp}/p.yaml",
            "--plot",
            "{tmp}/rel.png",
            "--ood-tpr",
            "0.9",
            "--target-accuracy",
            "0.8",
        ],
        [
            "wrote {tmp}/p.yaml (deployment profile)",
            "wrote {tmp}/p.ood-bank.npy (feature bank of decisions.ood)",
            "wrote {tmp}/rel.png (reliability diagram)",
            "wrote {tmp}/rel-risk-coverage.png (risk-coverage curve)",
        ],
    ),
    "calibrate, a calibrator stored beside the profile": (
        ["calibrate", "{data}", "-m", "{model}", "--batch", "48", "-o", "{tmp}/v.yaml", "--method", "vector"],
        [
            "wrote {tmp}/v.yaml (deployment profile)",
            "wrote {tmp}/v.calibrator.npz (parameters of the vector calibrator)",
        ],
    ),
    "evaluate --plot": (
        ["evaluate", "{data}", "-m", "{model}", "-t", "1.5", "--batch", "48", "-f", "json", "--plot", "{tmp}/ev.png"],
        ["wrote {tmp}/ev.png (reliability diagram)"],
    ),
    "export": (
        ["export", "-m", "{model}", "-t", "2", "-o", "{tmp}/m.onnx"],
        ["wrote {tmp}/m.onnx (onnx; T=2 folded into layer .*; its softmax output is the calibrated probability)"],
    ),
    "soft-labels": (
        ["soft-labels", "{images}", "-m", "{model}", "-t", "4", "-o", "{tmp}/soft.parquet"],
        ["wrote 6 rows to {tmp}/soft.parquet (parquet, T=4)"],
    ),
    "overlay --save": (
        ["overlay", "{images}", "-m", "{model}", "--no-show", "--save", "{tmp}/o.avi"],
        ["wrote 6 frames to {tmp}/o.avi (the overlay recording)"],
    ),
    "distill": (
        ["distill", "{data}", "--teacher", "{model}", "--student", "yolo26n-cls.yaml", "-t", "4", "-o", "{tmp}/s.pt"],
        ["wrote {tmp}/s.pt (student at imgsz 32, teacher at 64; T=4, alpha=0.9, 1 epoch; classes: 0, 3, 5, 7, 8)"],
    ),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 labelled digits (copies of the sample images), two of them hard, so T has a finite optimum."""
    root = tmp_path_factory.mktemp("labelled")
    for digit in "03578":
        (root / digit).mkdir()
        for i in range(9):
            shutil.copy(IMAGES / f"digit_{digit}.png", root / digit / f"{i}.png")
    shutil.copy(IMAGES / "hard_3.png", root / "3" / "hard.png")
    shutil.copy(IMAGES / "digit_8.png", root / "3" / "mislabelled.png")
    return root


def _fake_distill(data: Path, *, output: Path, temperature: float, alpha: float, **_: Any) -> DistillResult:
    """Training is tested in tests/distill; here only what the command says about the file it wrote."""
    output.write_bytes(b"checkpoint")
    return DistillResult(output, ("0", "3", "5", "7", "8"), temperature, alpha, 1, 32, 64)


@pytest.mark.parametrize("case", list(CASES))
def test_each_file_written_is_one_wrote_line_on_stderr(
    case: str, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(distill_module, "distill", _fake_distill)
    monkeypatch.setattr(storage, "INLINE_MAX", 0)  # any calibrator with arrays goes to a file beside the profile
    fill = {"tmp": str(tmp_path), "data": str(data), "images": str(IMAGES), "model": str(MODEL)}
    args, expected = CASES[case]
    code = main([a.format(**fill) for a in args])
    out, err = capsys.readouterr()
    assert code == 0, err
    said = [line for line in err.splitlines() if "wrote" in line or "written" in line]
    assert len(said) == len(expected), err
    for line, pattern in zip(said, expected, strict=True):
        text = "yolo-probs: " + pattern.format(**fill)
        assert re.fullmatch(re.escape(text).replace(r"\.\*", ".*"), line), (line, text)
        path = re.search(r"wrote (?:\d+ \w+ to )?(\S+)", line).group(1)  # type: ignore[union-attr]
        assert Path(path).exists(), line
    assert "wrote" not in out and "written" not in out and "saved" not in out
