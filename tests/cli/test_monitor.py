"""``yolo-probs monitor``, the Python Monitor and predict's drift line, end to end on the digits model."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.cli.test_decisions import COMMON, MODEL, run
from tests.conftest import example
from yolo_probs import Monitor, Profile, YoloProbs, load_profile, save_profile
from yolo_probs.api.monitor import monitor_of
from yolo_probs.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, digits_data: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-monitor")
    example("make_unknowns").write_unknowns(root / "unknowns", count=40)
    labelled = root / "labelled"
    for d in sorted((digits_data / "test").iterdir()):  # 10 images of each class
        (labelled / d.name).mkdir(parents=True)
        for f in sorted(d.iterdir())[:10]:
            shutil.copy(f, labelled / d.name / f.name)
    profile = root / "digits.yaml"
    args = ["calibrate", str(digits_data), "-m", str(MODEL), "-o", str(profile), "--ood-tpr", "0.95"]
    assert main([*args, "--ood-score", "energy", *COMMON]) == 0
    return {"root": root, "unknowns": root / "unknowns", "labelled": labelled, "profile": profile}


def test_a_labelled_folder_like_the_calibration_images_shows_no_drift(
    data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["monitor", str(data["labelled"]), "-p", str(data["profile"]), "-f", "json", *COMMON], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert {
        "images",
        "estimated_accuracy",
        "expected_accuracy",
        "unknown_rate",
        "expected_unknown_rate",
        "drift",
    } <= set(doc)
    assert doc["images"] == doc["labelled"] == 100 and doc["skipped"] == 0
    assert doc["accuracy"] >= 0.95 and abs(doc["estimated_accuracy"] - doc["accuracy"]) <= 0.05
    assert doc["drift"] is False and doc["alarm_at"] is None
    tests = {t["name"]: t for t in doc["tests"]}
    assert set(tests) == {"confidence", "class_mix", "unknown_rate", "martingale"}
    assert all({"name", "statistic", "p_value", "drift"} <= set(t) for t in tests.values())
    assert all(t["p_value"] is not None and not t["drift"] for t in tests.values())


def test_unknown_images_are_drift_and_the_table_says_so(
    data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["monitor", str(data["unknowns"]), "-p", str(data["profile"]), *COMMON], capsys)
    assert code == 0, err
    assert "unknown rate (beta-binomial)" in out and "stream (conformal martingale)" in out
    assert (
        out.strip().splitlines()[-1].startswith("drift: YES (false-alarm level 0.05); the stream alarm rang at image ")
    )
    assert "the class mix (chi-square) test needs at least 50 images, got 40" in err  # ten classes, 5 images each


def test_predict_with_the_profile_says_drift_in_one_line(
    data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = data["root"] / "u.jsonl"
    code, _, err = run(
        ["predict", str(data["unknowns"]), "-p", str(data["profile"]), "-o", str(out_file), *COMMON], capsys
    )
    assert code == 0, err
    lines = [line for line in err.splitlines() if "drift" in line]
    assert len(lines) == 1 and lines[0].startswith("yolo-probs: warning: drift: these 40 images differ")
    assert "unknown_rate p=" in lines[0] and f"-p {data['profile']}" in lines[0]


def test_the_python_monitor_and_the_classifier_s_own_agree(data: dict[str, Path]) -> None:
    monitor = Monitor.from_profile(data["profile"])
    files = sorted(str(p) for p in data["unknowns"].iterdir())[:25]
    with YoloProbs.from_profile(data["profile"], device="cpu") as clf:
        for p in clf.predict(files, stream=True):
            monitor.update(p)
        own = monitor_of(clf)
    assert own is not None and own.images == monitor.images == 25
    mine, theirs = monitor.report(), own.report()
    assert mine.estimated_accuracy == theirs.estimated_accuracy and mine.unknown_rate == theirs.unknown_rate
    assert mine.unknown_rate is not None and mine.unknown_rate > 0.5 and mine.drift
    loaded = load_profile(data["profile"])
    only = save_profile(replace(loaded, decisions={"monitor": loaded.decisions["monitor"]}), data["root"] / "m.yaml")
    with YoloProbs.from_profile(only, device="cpu", temperature=2.0) as clf:  # not the references' temperature
        clf.predict(files[:2])
        assert monitor_of(clf) is None  # the override is allowed; the monitor stands aside


def test_bad_inputs_get_one_line_each(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old = save_profile(Profile(model=str(MODEL), temperature=1.0), data["root"] / "old.yaml")
    code, out, err = run(["monitor", str(data["unknowns"]), "-p", str(old), *COMMON], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "has no drift-monitor references" in err and "re-run 'yolo-probs calibrate'" in err

    broken = data["root"] / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"b{i}.png").write_bytes(b"not a png")
    code, out, err = run(["monitor", str(broken), "-p", str(data["profile"]), *COMMON], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].endswith("none of its 3 inputs could be read, so there is nothing to monitor")

    few = data["root"] / "few"
    few.mkdir()
    for f in sorted(data["unknowns"].iterdir())[:5]:
        shutil.copy(f, few / f.name)
    code, out, err = run(["monitor", str(few), "-p", str(data["profile"]), "-f", "json", *COMMON], capsys)
    assert code == 0, err
    short = [line for line in err.splitlines() if "needs at least" in line]
    assert short == [
        f"yolo-probs: warning: the {name} test needs at least {n} images, got 5; it was not run"
        for name, n in (
            ("confidence (Kolmogorov-Smirnov)", 20),
            ("class mix (chi-square)", 50),
            ("unknown rate (beta-binomial)", 20),
        )
    ]
    assert [t["p_value"] is None for t in json.loads(out)["tests"]] == [True, True, True, False]


def test_the_monitor_entry_is_checked_when_the_profile_loads(
    data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = data["profile"].read_text()
    edited = data["root"] / "edited.yaml"
    edited.write_text(text.replace("  monitor:\n    n: ", "  monitor:\n    n: -"))
    code, out, err = run(["monitor", str(data["unknowns"]), "-p", str(edited), *COMMON], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "decisions.monitor.n must be a whole number >= 1, got -" in err
