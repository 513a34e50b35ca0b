"""Fitting from arrays (yolo_probs.api.fit): the same entries as calibrate(), a profile that predict uses."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import IMAGES, MODEL
from yolo_probs import (
    CalibratorFit,
    ConfigError,
    RejectFit,
    SetsFit,
    UnknownFit,
    YoloProbs,
    calibrate,
    fit_calibration,
    fit_reject,
    fit_sets,
    fit_unknown,
    load_profile,
    profile_from_fits,
    save_profile,
)
from yolo_probs.calibration import CalibrationWarning, fit_calibrator
from yolo_probs.cli import main
from yolo_probs.core.probs import softmax
from yolo_probs.decisions import conformal, ood, selective


def problem(n: int = 600, c: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    return 3.0 * (rng.normal(size=(n, c)) + 2.5 * np.eye(c)[y]), y


def test_every_fit_takes_the_same_arrays_and_matches_the_low_level_functions() -> None:
    z, y = problem()
    f = np.random.default_rng(1).normal(size=(z.shape[0], 16))
    cal = fit_calibration(z, y, features=f)
    assert isinstance(cal, CalibratorFit) and cal.method == "temperature" and cal.after.nll < cal.before.nll
    options = {fit_unknown: {}, fit_sets: {"alpha": 0.1}, fit_reject: {"target_accuracy": 0.9}}
    fits = [fit(z, y, features=f, calibrator=cal, **opts) for fit, opts in options.items()]
    unknown, sets, reject = fits
    assert isinstance(unknown, UnknownFit) and isinstance(sets, SetsFit) and isinstance(reject, RejectFit)
    assert [x.key for x in fits] == ["ood", "conformal", "reject"] and all(x.n == 600 for x in fits)
    # the same numbers as the functions they wrap, called the old ways
    t = cal.calibrator
    assert unknown.threshold == ood.fit_ood(z, t, features=f).entry["threshold"]
    assert sets.qhat == conformal.fit_conformal(conformal.probs64(t, z), y, 0.1)["qhat"]
    p = t.probs(z)
    assert reject.choice == selective.choose_min_prob(p.max(1), p.argmax(1) == y, 0.9, 0.1)[0]
    assert reject.curve["threshold"].size > 0 and np.array_equal(reject.correct, p.argmax(1) == y)
    assert cal.calibrator.temperature == fit_calibrator("temperature", z, y)[0].temperature


def test_calibrator_none_is_the_raw_softmax() -> None:
    z, y = problem(200, 4)
    sets = fit_sets(z, y, alpha=0.2, score="lac")
    assert sets.entry["calibrator"] == {"method": "temperature", "temperature": 1.0}
    assert sets.qhat == conformal.fit_conformal(softmax(z), y, 0.2, "lac")["qhat"]


def test_no_mistakes_still_fits_temperature_and_sets() -> None:
    y = np.arange(300) % 3
    z = 5.0 * np.eye(3)[y] + np.random.default_rng(0).normal(size=(300, 3)) * 0.5
    cal = fit_calibration(z, y)
    assert "classified correctly" in cal.warnings[0] and 0.01 < cal.calibrator.temperature < 100
    assert cal.calibrator.probs(z).max(1).mean() == pytest.approx(301 / 302, abs=1e-5)
    sets = fit_sets(z, y, calibrator=cal, alpha=0.1)
    assert sets.report is not None and sets.report.mean_set_size >= 1
    with pytest.raises(ConfigError, match=r"classified correctly: vector"):
        fit_calibration(z, y, method="vector")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        auto = fit_calibration(z, y, method="auto")
    assert auto.method == "temperature"


def test_the_profile_from_arrays_is_what_calibrate_writes(digits_data: Path, tmp_path: Path) -> None:
    """calibrate() on a folder and the fits on collect_logits' arrays give the same calibrator and entries."""
    asked = {"ood": {"tpr": 0.9, "score": "energy"}, "conformal": {"alpha": 0.1, "score": "lac"}}
    with YoloProbs(MODEL, device="cpu") as clf:
        result = calibrate(clf, digits_data, decisions=asked)
    got = result.collected  # what collect_logits(clf, digits_data) gives (its doctest runs it on a folder)
    cal = fit_calibration(got.logits, got.labels)
    unknown = fit_unknown(got.logits, got.labels, calibrator=cal, tpr=0.9, score="energy")
    sets = fit_sets(got.logits, got.labels, calibrator=cal, alpha=0.1, score="lac")
    assert cal.calibrator.temperature == result.calibrator.temperature
    assert unknown.entry == result.decisions["ood"] and sets.entry == result.decisions["conformal"]
    a = profile_from_fits(MODEL, cal, unknown, sets, data=str(digits_data))
    b = result.to_profile(MODEL)
    assert (a.temperature, a.decisions, a.model_sha256) == (b.temperature, b.decisions, b.model_sha256)
    assert a.calibration is not None and b.calibration is not None
    assert a.calibration["after"] == b.calibration["after"] and a.calibration["data"] == str(digits_data)


def test_a_saved_profile_from_arrays_drives_predict(tmp_path: Path, capsys) -> None:
    """Fitted on cached arrays only, saved, then used by `yolo-probs predict --profile` on real images."""
    z, y = problem(400, 10, seed=3)  # the digits model has 10 classes
    cal = fit_calibration(z, y)
    unknown = fit_unknown(z, y, calibrator=cal, score="msp", tpr=0.95)
    sets = fit_sets(z, y, calibrator=cal, alpha=0.1)
    reject = fit_reject(z, y, calibrator=cal, target_accuracy=0.95)
    path = save_profile(profile_from_fits(MODEL, cal, unknown, sets, reject, name="arrays"), tmp_path / "p.yaml")
    profile = load_profile(path)
    assert profile.min_prob == reject.min_prob and sorted(profile.decisions or {}) == ["conformal", "ood", "reject"]
    assert profile.calibration is not None and profile.calibration["data"] == "arrays"
    code = main(["predict", str(IMAGES / "digit_3.png"), "--profile", str(path), "--device", "cpu", "-f", "jsonl"])
    out = capsys.readouterr().out
    record = json.loads(out.splitlines()[0])
    assert code == 0 and record["temperature"] == pytest.approx(cal.calibrator.temperature)
    assert "set" in record and "unknown" in record


def test_a_knn_bank_from_arrays_is_saved_beside_the_profile(tmp_path: Path) -> None:
    z, y = problem(100, 10)
    f = np.random.default_rng(0).normal(size=(100, 8))
    cal = fit_calibration(z, y)
    path = save_profile(
        profile_from_fits(MODEL, cal, fit_unknown(z, y, features=f, calibrator=cal)), tmp_path / "k.yaml"
    )
    assert (tmp_path / "k.ood-bank.npy").is_file()
    assert load_profile(path).decisions["ood"]["score"] == "knn"


def test_a_decision_at_another_calibrator_is_refused() -> None:
    z, y = problem(200, 4)
    cal = fit_calibration(z, y)
    other = fit_calibration(z, y, method="ets")
    with pytest.raises(ConfigError, match="fitted at another calibrator"):
        profile_from_fits(MODEL, cal, fit_sets(z, y, calibrator=other, alpha=0.2))
    same = fit_sets(z, y, calibrator=cal.calibrator, alpha=0.2)  # the calibrator itself is fine too
    assert profile_from_fits(MODEL, cal, same).decisions == {"conformal": same.entry}
