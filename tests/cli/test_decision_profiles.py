"""Profiles with decisions used end to end: class-conditional sets, an energy score on an export, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_decisions import COMMON, run
from tests.conftest import IMAGES, MODEL, ROOT
from yolo_probs import YoloProbs
from yolo_probs.api.profile import load_profile
from yolo_probs.api.workflow import calibrate
from yolo_probs.calibration import calibrator_from_dict
from yolo_probs.cli import main
from yolo_probs.decisions import decisions_from_profile


@pytest.fixture(scope="module")
def cc_profile(tmp_path_factory: pytest.TempPathFactory, digits_data: Path) -> Path:
    out = tmp_path_factory.mktemp("cc") / "cc.yaml"
    args = ["calibrate", str(digits_data), "-m", str(MODEL), "-o", str(out), *COMMON]
    assert main([*args, "--conformal", "0.1", "--class-conditional", "--score", "lac"]) == 0
    return out


def test_class_conditional_profile_predicts_like_the_in_memory_rule(
    cc_profile: Path, digits_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once ``predict --profile cc.yaml`` ended in "unexpected TypeError: float() ... 'list'"."""
    qhat = load_profile(cc_profile).decisions["conformal"]["qhat"]
    assert isinstance(qhat, list) and len(qhat) == 10
    capsys.readouterr()
    code, out, err = run(["predict", str(IMAGES), "--profile", str(cc_profile), "-f", "jsonl", *COMMON], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    with YoloProbs(MODEL, device="cpu", batch=32) as clf:  # the same fit, never written to a file
        asked = {"conformal": {"alpha": 0.1, "score": "lac", "class_conditional": True}}
        fitted = calibrate(clf, digits_data, decisions=asked).to_profile(str(MODEL))
        assert fitted.decisions["conformal"]["qhat"] == pytest.approx(qhat, abs=1e-12)
        clf.calibrator = calibrator_from_dict({"method": "temperature", "temperature": fitted.temperature})
        clf.decisions = decisions_from_profile(fitted, clf)
        expected = {p.source: [c.name for c in p.set] for p in clf.predict(str(IMAGES))}
    assert len(records) == len(expected) == 6
    assert sum(len(r["set"]) != 1 for r in records) >= 1  # not only singletons: per-class q-hats matter
    for r in records:
        assert [c["name"] for c in r["set"]] == expected[r["source"]]


def test_class_conditional_profile_evaluates(
    cc_profile: Path, digits_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["evaluate", str(digits_data), "--profile", str(cc_profile), "-f", "json", *COMMON], capsys)
    assert code == 0, err
    conformal = json.loads(out)["conformal"]
    assert conformal["coverage"] >= 0.85 and set(conformal["coverage_per_class"]) == {str(i) for i in range(10)}


def test_energy_profile_on_a_probabilities_only_export_exits_2_every_time(
    tmp_path: Path, digits_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once this aborted ('terminate called without an active exception') in most runs: a read-ahead thread
    was still inside ONNX Runtime at exit. Run it several times: the abort came and went with timing."""
    energy, plain = tmp_path / "energy.yaml", tmp_path / "plain.onnx"
    args = ["calibrate", str(digits_data), "-m", str(MODEL), "-o", str(energy), "--ood-tpr", "0.95"]
    assert main([*args, "--ood-score", "energy", *COMMON]) == 0
    assert main(["export", "-m", str(MODEL), "-t", "1", "-o", str(plain)]) == 0
    capsys.readouterr()
    command = [sys.executable, "-m", "yolo_probs", "evaluate", str(digits_data), "--profile", str(energy)]
    command += ["--model", str(plain), "--device", "cpu"]
    for _ in range(5):
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "the energy score needs raw logits" in done.stderr
        assert "terminate" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--score", "lac", "--randomized", "--delta", "0.5", "--ood-score", "energy"],
         "--score, --randomized need --conformal ALPHA; --delta needs --target-accuracy; --ood-score needs --ood-tpr"),
        (["--score", "raps"], "--score needs --conformal ALPHA"),
        (["--class-conditional", "--ood-tpr", "0.9"], "--class-conditional needs --conformal ALPHA:"),
        (["--delta", "0.1", "--conformal", "0.1"], "--delta needs --target-accuracy:"),
        (["--seed", "3", "--conformal", "0.1"], "--seed needs --randomized:"),
    ],
)  # fmt: skip
def test_decision_options_without_their_switch_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    """Once these were ignored without a word: a --score lac with no --conformal fitted no sets at all."""
    out = tmp_path / "p.yaml"
    code, _, err = run(["calibrate", str(tmp_path), "-m", str(MODEL), "-o", str(out), *options], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_seed_makes_randomised_sets_reproducible(
    tmp_path: Path, digits_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--seed`` is stored in the profile; without it each run draws fresh randomness and stores no seed."""
    import yaml

    entries = []
    for name, seed in (("a", ["--seed", "5"]), ("b", ["--seed", "5"]), ("c", [])):
        out = tmp_path / f"{name}.yaml"
        args = ["calibrate", str(digits_data), "-m", str(MODEL), "-o", str(out), "--conformal", "0.1", "--randomized"]
        code, _, err = run([*args, "--score", "aps", *seed, *COMMON], capsys)
        assert code == 0, err
        entries.append(yaml.safe_load(out.read_text())["decisions"]["conformal"])
    assert entries[0] == entries[1] and entries[0]["seed"] == 5
    assert "seed" not in entries[2] and entries[2]["randomized"] is True
