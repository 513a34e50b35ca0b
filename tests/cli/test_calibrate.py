"""``yolo-probs calibrate`` / ``evaluate`` end to end on the digits data with the shipped model, and bad inputs."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import json
import shutil
from pathlib import Path

import pytest

from yolo_probs._util.hashing import file_sha256
from yolo_probs.api.profile import load_profile
from yolo_probs.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
COMMON = ["--model", str(MODEL), "--device", "cpu", "--batch", "32"]


@pytest.fixture(scope="module")
def digits(digits_data: Path) -> Path:
    return digits_data


def subset(src: Path, dst: Path, classes: list[str], per_class: int) -> Path:
    for c in classes:
        (dst / c).mkdir(parents=True)
        for f in sorted((src / c).glob("*.png"))[:per_class]:
            shutil.copy(f, dst / c / f.name)
    return dst


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_calibrate_then_evaluate(digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile, plot = tmp_path / "out" / "digits.yaml", tmp_path / "out" / "rel.png"
    code, out, err = run(["calibrate", str(digits), *COMMON, "--output", str(profile), "--plot", str(plot)], capsys)
    assert code == 0, err
    assert "fitted temperature: T =" in out and "ECE (15 bins)" in out and "before (T=1)" in out
    p = load_profile(profile)
    cal = p.calibration
    assert cal is not None and cal["samples"] == 359 and cal["split"] == "val" and cal["bins"] == 15
    assert p.model_sha256 == file_sha256(MODEL) and Path(p.model).resolve() == MODEL
    assert 0.3 < p.temperature < 3.0
    assert cal["after"]["nll"] <= cal["before"]["nll"]  # T minimises the NLL, T = 1 is one candidate
    assert cal["after"]["accuracy"] == cal["before"]["accuracy"]  # temperature never changes the ranking
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, err = run(["evaluate", str(digits), "--profile", str(profile), "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["split"] == "test" and doc["samples"] == 360 and doc["skipped"] == 0
    assert doc["temperature"] == p.temperature and doc["bins"] == 15
    assert doc["before"]["temperature"] == 1.0 and doc["after"]["temperature"] == p.temperature
    assert 0.9 < doc["before"]["accuracy"] <= 1.0 and 0 <= doc["after"]["ece"] <= doc["after"]["mce"]

    # explicit flags override the profile
    code, out, _ = run(["evaluate", str(digits), "--profile", str(profile), "--temperature", "2", "-f", "json"], capsys)
    assert code == 0 and json.loads(out)["temperature"] == 2.0


def test_evaluate_with_model_and_temperature_table(
    digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = subset(digits / "test", tmp_path / "small", [str(i) for i in range(10)], 3)
    code, out, err = run(["evaluate", str(data), *COMMON, "--temperature", "1.5"], capsys)
    assert code == 0, err
    assert "calibration metrics, 30 images" in out and "after (T=1.5)" in out and "adaptive ECE (15 bins)" in out


def test_evaluate_needs_a_profile_or_a_model(digits: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["evaluate", str(digits)], capsys)
    assert code == 2 and "pass --profile PROFILE, or --model PATH (and --temperature T)" in err


def test_evaluate_a_model_without_temperature_scores_t_1(digits: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["evaluate", str(digits), "--model", str(MODEL), "-f", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["temperature"] == 1.0 and doc["after"] == doc["before"]


def test_unreadable_images_are_skipped_and_counted(
    digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(digits / "val", data)
    (data / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (data / "5" / "empty.jpg").write_bytes(b"")
    code, _, err = run(["calibrate", str(data), *COMMON, "--output", str(tmp_path / "p.yaml")], capsys)
    assert code == 1  # some inputs failed; the others were used and the profile written
    assert "broken.png" in err and "empty.jpg" in err and "2 of 361 images could not be read and were skipped" in err
    cal = load_profile(tmp_path / "p.yaml").calibration
    assert cal is not None and cal["samples"] == 359 and cal["skipped"] == 2 and cal["split"] is None


def test_nothing_readable_is_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for c in ("1", "2"):
        (tmp_path / "d" / c).mkdir(parents=True)
        (tmp_path / "d" / c / "x.jpg").write_bytes(b"garbage")
    code, _, err = run(["calibrate", str(tmp_path / "d"), *COMMON, "--output", str(tmp_path / "p.yaml")], capsys)
    assert code == 2 and "none of its 2 images could be read" in err
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "is empty (no class folders)"),
        ({"cat": 1, "7": 1, "dog": 1}, "class folders 'cat', 'dog' are not classes of the model (model classes: 0, 1"),
        ({"val/3": 1, "test/3": 1}, "has no 'valid' split (it has: val, test); pass --split test"),
        ({"3": 0, "4": 0}, "its class folders hold no images"),
        ({".": 2}, "holds 2 images but no class folders"),
    ],
)
def test_bad_folders(
    digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: dict[str, int], message: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    sample = next((digits / "val" / "3").glob("*.png"))
    for folder, n in layout.items():
        (data / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shutil.copy(sample, data / folder / f"{i}.png")
    args = ["calibrate", str(data), *COMMON, "--output", str(tmp_path / "p.yaml")]
    code, _, err = run([*args, "--split", "valid"] if "valid" in message else args, capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_one_class_only(digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = subset(digits / "val", tmp_path / "one", ["4"], 6)
    code, _, err = run(["calibrate", str(data), *COMMON, "--output", str(tmp_path / "p.yaml")], capsys)
    assert code == 2 and "all 6 labels are class 4" in err


def test_bad_profile_is_one_line(digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m.pt\ntemperature: -2\n")
    code, _, err = run(["evaluate", str(digits), "--profile", str(bad)], capsys)
    assert code == 2 and "temperature must be a finite number > 0" in err and err.count("\n") == 1


def test_calibrate_from_a_profile_keeps_its_options(
    digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(f"name: line-3\nmodel: {MODEL}\ntemperature: 1.0\ntop_k: 2\nimgsz: 64\n")
    data = subset(digits / "val", tmp_path / "few", [str(i) for i in range(10)], 4)
    an_eight = sorted((digits / "val" / "8").glob("*.png"))[0]
    shutil.copy(an_eight, data / "3" / "mislabelled.png")  # one sure mistake, so a finite T exists
    out_path = tmp_path / "new.yaml"
    args = ["calibrate", str(data), "--profile", str(base), "--output", str(out_path), "--device", "cpu"]
    code, _, err = run(args, capsys)
    assert code == 0, err
    assert "yolo-probs: warning: only 41 labelled samples: the fitted temperature is unreliable" in err
    p = load_profile(out_path)
    assert (p.name, p.top_k, p.imgsz) == ("line-3", 2, 64) and p.temperature != 1.0
    assert p.calibration is not None and p.calibration["samples"] == 41
