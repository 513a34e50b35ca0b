"""``predict --smooth``: smoothed records with the frame's own beside them, bad values, stills."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import IMAGES, MODEL
from tests.overlay.media import make_video
from yolo_probs.cli import main

CPU = ["-m", str(MODEL), "--imgsz", "64", "--device", "cpu"]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("smooth") / "clip.avi", 20, fps=10.0)


def test_jsonl_records_hold_smoothed_and_raw(capsys, video: Path) -> None:
    assert main(["predict", str(video), *CPU, "--smooth", "0.15", "-k", "2", "-f", "jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 20
    first, after_change = records[0], records[10]
    assert first["smooth"] == {"half_life": 0.15, "time": 0.0, "reset": True}
    assert after_change["smooth"]["time"] == pytest.approx(1.0) and not after_change["smooth"]["reset"]
    assert len(after_change["raw"]["top"]) == 2 and after_change["raw"]["top"] != after_change["top"]


def test_csv_has_the_frame_s_own_probability(capsys, video: Path) -> None:
    assert main(["predict", str(video), *CPU, "--smooth", "0.15", "-k", "2", "-f", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 40 and "raw_prob" in rows[0]
    assert any(abs(float(r["prob"]) - float(r["raw_prob"])) > 0.01 for r in rows)


@pytest.mark.parametrize("bad", ["0", "-2", "nan", "inf", "-inf", "3601", "1e9"])
def test_bad_smooth_is_one_usage_line(capsys, bad: str) -> None:
    assert main(["predict", str(IMAGES), "-m", "missing.pt", "--smooth", bad]) == 2  # before the model loads
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'--smooth'" in err[0] and "half-life in seconds" in err[0], err


def test_smooth_with_ray_is_refused(capsys) -> None:
    assert main(["predict", str(IMAGES), *CPU, "--smooth", "0.2", "--ray", "local", "-o", "x.parquet"]) == 2
    assert "--smooth needs the frames in order" in capsys.readouterr().err


def test_stills_get_one_note(capsys) -> None:
    assert main(["predict", str(IMAGES), *CPU, "--smooth", "0.2", "-f", "jsonl"]) == 0
    out, err = capsys.readouterr()
    assert err.count("smoothing does nothing on still images") == 1
    assert all("raw" not in json.loads(line) for line in out.splitlines())
