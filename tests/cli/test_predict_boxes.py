"""``predict -m det.pt``: records carry boxes in every format; classifier-only options fail in one line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.detectors import ROOT, detector
from yolo_probs.cli import main
from yolo_probs.outputs.parquet import read_records

IMAGES = [str(ROOT / "examples/images/digit_3.png"), str(ROOT / "examples/images/digit_7.png")]


@pytest.fixture(scope="module")
def det(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("det") / "det.pt"
    detector("yolov8n.yaml").save(str(path))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_formats(det: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["-m", det, "--conf", "0.01", "--imgsz", "160", "-k", "2", "--device", "cpu"]
    code, out, err = run(capsys, "predict", *IMAGES, *common, "-f", "jsonl")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["source"] for r in records] == IMAGES and all(r["task"] == "detect" for r in records)
    box = records[0]["boxes"][0]
    assert {"index", "xyxy", "conf", "cls", "name", "top"} <= set(box) and len(box["top"]) == 2
    code, out, err = run(capsys, "predict", *IMAGES, *common, "-f", "csv", "--logits")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2 * sum(len(r["boxes"]) for r in records)
    assert rows[0]["box"] == "0" and rows[0]["rank"] == "1" and rows[0]["logit"]
    parquet = tmp_path / "p.parquet"
    code, _, err = run(capsys, "predict", *IMAGES, *common, "-o", str(parquet))
    assert code == 0, err
    assert [len(r["boxes"]) for r in read_records(parquet)] == [len(r["boxes"]) for r in records]
    assert read_records(parquet)[0]["boxes"][0]["top"] == box["top"]
    code, out, err = run(capsys, "predict", IMAGES[0], *common, "-f", "table")
    assert code == 0 and "#0 [" in out and "conf" in out


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--smooth", "2"], "--smooth averages one class"),  # --save draws boxes: tests/overlay/test_boxes_drawn.py
        (["--ray", "local", "-o", "OUT"], "--ray scores classifiers"),  # refused before any cluster starts
    ],
)
def test_classifier_options_on_a_detector(
    det: str, extra: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = [str(tmp_path / "s") if x == "SAVE" else str(tmp_path / "o.parquet") if x == "OUT" else x for x in extra]
    code, _, err = run(capsys, "predict", IMAGES[0], "-m", det, "--device", "cpu", *extra)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_detection_option_on_a_classifier(capsys: pytest.CaptureFixture[str]) -> None:
    model = str(ROOT / "examples/models/digits-yolo26n-cls.pt")
    code, _, err = run(capsys, "predict", IMAGES[0], "-m", model, "--conf", "0.3")
    assert code == 2 and "--conf" in err and len(err.strip().splitlines()) == 1


def test_soft_labels_refuse_a_detector_in_one_line(
    det: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "soft.parquet"
    code, _, err = run(capsys, "soft-labels", IMAGES[0], "-m", det, "-t", "4", "--device", "cpu", "-o", str(out))
    assert code == 2 and "one class distribution per image" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
