"""``calibrate --ood-tpr/--conformal/--target-accuracy``, ``evaluate --ood-data``, ``predict`` records, end to end."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import example
from yolo_probs.api.profile import load_profile
from yolo_probs.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
COMMON = ["--device", "cpu", "--batch", "32"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, digits_data: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-dec")
    example("make_unknowns").write_unknowns(root / "unknowns", count=60)
    return {"digits": digits_data, "unknowns": root / "unknowns", "root": root}


@pytest.fixture(scope="module")
def profile(data: dict[str, Path]) -> Path:
    out = data["root"] / "p" / "digits.yaml"
    decisions = ["--ood-tpr", "0.95", "--conformal", "0.1", "--target-accuracy", "0.99"]
    args = ["calibrate", str(data["digits"]), "-m", str(MODEL), "-o", str(out), *COMMON, "--plot"]
    args += [str(out.parent / "rel.png"), *decisions]
    assert main(args) == 0
    return out


def test_calibrate_writes_all_three(profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = load_profile(profile)
    assert set(p.decisions) == {"ood", "conformal", "reject", "monitor"}
    assert p.decisions["ood"]["score"] == "knn" and Path(p.decisions["ood"]["bank"]).is_file()
    assert p.decisions["conformal"]["score"] == "raps" and p.decisions["conformal"]["n"] == 359
    assert p.min_prob == p.decisions["reject"]["min_prob"]
    for entry in p.decisions.values():
        assert entry["calibrator"]["temperature"] == p.temperature
    assert (profile.parent / "rel-risk-coverage.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_reports_ood_conformal_reject(
    data: dict[str, Path], profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", str(data["digits"]), "-p", str(profile), "--ood-data", str(data["unknowns"]), "-f", "json"]
    code, out, err = run([*args, *COMMON], capsys)
    assert code == 0, err
    doc = json.loads(out)
    ood = doc["ood"]
    assert ood["score"] == "knn" and ood["n_ood"] == 60 and ood["n_id"] == 360
    assert {"threshold", "auroc", "fpr95", "tpr", "fpr"} <= ood.keys()
    assert ood["auroc"] > ood["baseline"]["auroc"] and ood["fpr95"] < ood["baseline"]["fpr95"]
    conf = doc["conformal"]
    assert conf["alpha"] == 0.1 and conf["coverage"] >= 0.85 and 1 <= conf["mean_set_size"] < 2
    assert set(conf["coverage_per_class"]) == {str(i) for i in range(10)}
    assert doc["reject"]["accuracy"] >= 0.97 and 0.5 < doc["reject"]["coverage"] <= 1

    code, out, err = run([*args[:-2], *COMMON], capsys)  # the table
    assert code == 0, err
    assert "AUROC" in out and "msp (baseline)" in out and "coverage per class" in out and "accepted (coverage)" in out


def test_predict_records_carry_decisions(
    data: dict[str, Path], profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [str(ROOT / "examples" / "images" / "digit_3.png"), str(sorted(data["unknowns"].glob("*.png"))[0])]
    code, out, err = run(["predict", "-p", str(profile), *images, "-f", "jsonl", "--device", "cpu"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert all({"ood_score", "unknown", "set"} <= r.keys() for r in records)
    assert records[0]["unknown"] is False and records[0]["set"][0]["name"] == "3"
    code, out, err = run(["predict", "-p", str(profile), *images, "-f", "csv", "--device", "cpu"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {"ood_score", "unknown", "in_set"} <= rows[0].keys() and rows[0]["in_set"] == "True"


def test_decisions_are_refused_at_another_temperature(
    data: dict[str, Path], profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["evaluate", str(data["digits"]), "-p", str(profile), "--temperature", "2", *COMMON], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "was made at temperature scaling at T=" in err and "--temperature T" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--conformal", "1.5"], "alpha (the conformal error level) must be a number strictly between 0 and 1"),
        (["--conformal", "0"], "strictly between 0 and 1, got 0.0 (--conformal ALPHA)"),
        (["--ood-tpr", "1"], "true-positive rate (ood_tpr) must be a number strictly between 0 and 1"),
        (["--ood-tpr", "0.9", "--ood-score", "mahalanobis"], "unknown OOD score 'mahalanobis'"),
        (["--conformal", "0.1", "--score", "thr"], "unknown conformal score 'thr'"),
        (["--target-accuracy", "1.2"], "target accuracy must be a number strictly between 0 and 1"),
        (["--target-accuracy", "0.9", "--delta", "0"], "delta (the risk of missing the target)"),
    ],
)
def test_bad_decision_options_fail_before_inference(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["calibrate", str(tmp_path / "nothing-here"), "-m", str(MODEL), "-o", str(tmp_path / "p.yaml"),
                        *flags], capsys)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_too_few_images_and_unreachable_target(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small"
    for c in ("1", "7"):
        (small / c).mkdir(parents=True)
        for f in sorted((data["digits"] / "val" / c).glob("*.png"))[:4]:
            shutil.copy(f, small / c / f.name)
    wrong = next((data["digits"] / "val" / "3").glob("*.png"))
    shutil.copy(wrong, small / "7" / wrong.name)  # one mistake, so a temperature can be fitted
    base = ["calibrate", str(small), "-m", str(MODEL), "-o", str(tmp_path / "p.yaml"), *COMMON]
    code, _, err = run([*base, "--conformal", "0.05"], capsys)
    assert code == 2 and "9 calibration images are too few for alpha=0.05" in err and "at least 19" in err
    code, _, err = run([*base, "--target-accuracy", "0.999"], capsys)
    assert code == 2 and "no threshold reaches accuracy 0.999" in err and "(--target-accuracy)" in err
    assert not (tmp_path / "p.yaml").exists()


def test_bad_ood_data(data: dict[str, Path], profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", str(data["digits"]), "-p", str(profile), *COMMON, "-f", "json"]
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run([*base, "--ood-data", str(empty)], capsys)
    assert code == 2 and "holds no images" in err and len(err.strip().splitlines()) == 1
    own = tmp_path / "own"
    shutil.copytree(data["digits"] / "test" / "4", own / "4")
    code, out, err = run([*base, "--ood-data", str(own)], capsys)
    assert code == 0 and "warning: " in err and "named like the model's classes" in err
    assert json.loads(out)["ood"]["fpr"] > 0.5  # digits are (rightly) not flagged unknown

    plain = data["root"] / "plain.yaml"
    assert main(["calibrate", str(data["digits"]), "-m", str(MODEL), "-o", str(plain), *COMMON]) == 0
    capsys.readouterr()
    code, _, err = run(
        ["evaluate", str(data["digits"]), "-p", str(plain), *COMMON, "--ood-data", str(data["unknowns"])], capsys
    )
    assert code == 2 and "no ood entry" in err and "(--ood-tpr)" in err


def test_recalibrating_from_a_profile_drops_its_guaranteed_min_prob(
    data: dict[str, Path], profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "again.yaml"
    code, _, err = run(["calibrate", str(data["digits"]), "-p", str(profile), "-o", str(out), *COMMON], capsys)
    assert code == 0 and "is not kept" in err
    assert load_profile(out).min_prob is None and set(load_profile(out).decisions or {}) == {"monitor"}
