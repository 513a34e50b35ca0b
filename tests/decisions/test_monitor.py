"""The drift monitor's math against scipy, its false-alarm rate without drift, and its power under drift."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from yolo_probs.decisions.monitor import (
    ConformalMartingale,
    DriftMonitor,
    atc_estimate,
    atc_threshold,
    check_monitor_entry,
    chi2_sf,
    class_mix_test,
    doc_estimate,
    fit_monitor,
    kolmogorov_sf,
    ks_test,
    unknown_rate_test,
)
from yolo_probs.errors import ConfigError

AT = {"method": "temperature", "temperature": 1.0}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 400), st.integers(20, 400), st.floats(0.0, 0.6))
def test_ks_test_is_scipys_exact_test(seed: int, n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n1), rng.normal(shift, 1.0, size=n2)
    d, p = ks_test(a, b)
    ref = stats.ks_2samp(a, b, method="exact")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)


def test_ks_test_of_large_samples_is_close_to_scipys() -> None:
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.03, 0.06):
        a, b = rng.normal(size=500), rng.normal(shift, 1.0, size=6000)  # past KS_EXACT_CELLS: the limit law
        d, p = ks_test(a, b)
        ref = stats.ks_2samp(a, b)
        assert d == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue, abs=0.005)


def test_kolmogorov_sf_is_scipys_kstwobign() -> None:
    for x in np.linspace(0.05, 3.0, 60):
        assert kolmogorov_sf(float(x)) == pytest.approx(stats.kstwobign.sf(x), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.0, 200.0), st.integers(1, 60))
def test_chi2_sf_is_scipys(x: float, df: int) -> None:
    assert chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-8, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12))
def test_class_mix_test_is_scipys_contingency_test(seed: int, classes: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(10, 200, classes)
    now = rng.integers(10, 200, classes)
    stat, p, df = class_mix_test(ref, now)
    want = stats.chi2_contingency(np.stack([ref, now]), correction=False)
    assert (stat, df) == (pytest.approx(want.statistic, rel=1e-10), want.dof)
    assert p == pytest.approx(want.pvalue, rel=1e-7, abs=1e-300)


def test_class_mix_test_pools_rare_classes_and_leaves_out_empty_ones() -> None:
    stat, p, df = class_mix_test([100, 100, 2, 1, 0], [50, 50, 0, 3, 0])
    pooled = np.array([[100, 100, 3], [50, 50, 3]])
    want = stats.chi2_contingency(pooled, correction=False)
    assert df == 2 and stat == pytest.approx(want.statistic) and p == pytest.approx(want.pvalue)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.floats(0.001, 0.5), st.data())
def test_unknown_rate_test_is_scipys_one_sided_binomial_test(n: int, rate: float, data: Any) -> None:
    k = data.draw(st.integers(0, n))
    want = stats.binomtest(k, n, rate, alternative="greater").pvalue
    assert unknown_rate_test(k, n, rate) == pytest.approx(want, rel=1e-6, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 500))
def test_atc_threshold_leaves_the_accuracy_above_it(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    conf, correct = rng.uniform(0, 1, n), rng.uniform(0, 1, n) < 0.8
    t = atc_threshold(conf, correct)
    assert atc_estimate(conf, t) == pytest.approx(correct.mean())


def test_doc_moves_the_accuracy_by_the_change_in_mean_confidence() -> None:
    assert doc_estimate([0.6, 0.8], accuracy=0.9, mean_confidence=0.85) == pytest.approx(0.75)
    assert doc_estimate([1.0], accuracy=0.95, mean_confidence=0.5) == 1.0  # clipped


def _entry(rng: np.random.Generator, n: int = 400, unknown: bool = True) -> dict[str, Any]:
    conf = rng.beta(6, 1.2, n)
    scores = rng.normal(0.0, 1.0, n)
    threshold = float(np.quantile(scores, 0.05)) if unknown else None
    found = fit_monitor(
        conf, rng.uniform(size=n) < conf, rng.integers(0, 4, n), n_classes=4,
        unknown_scores=scores if unknown else None, unknown_threshold=threshold,
    )  # fmt: skip
    return {**found, "calibrator": AT}


def _stream(rng: np.random.Generator, n: int, conf_beta: tuple[float, float] = (6, 1.2), unknown_shift: float = 0.0):
    return rng.beta(*conf_beta, n), rng.integers(0, 4, n), rng.normal(-unknown_shift, 1.0, n)


def _false_alarm_rates(runs: int, length: int) -> tuple[float, float]:
    alarms = drifts = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        monitor = DriftMonitor(_entry(rng), alpha=0.05, seed=seed)
        for c, k, s in zip(*_stream(rng, length), strict=True):
            monitor.add(float(c), int(k), float(s))
        alarms += monitor.alarm
        drifts += monitor.report().drift
    return alarms / runs, drifts / runs


def test_false_alarms_stay_at_or_below_alpha_without_drift() -> None:
    alarm_rate, drift_rate = _false_alarm_rates(runs=200, length=300)
    band = 3 * np.sqrt(0.05 * 0.95 / 200)  # three binomial standard errors
    assert alarm_rate <= 0.05 + band, alarm_rate
    assert drift_rate <= 0.05 + band, drift_rate


@pytest.mark.parametrize(
    ("shift", "test"),
    [
        ({"conf_beta": (2.0, 1.0)}, "confidence"),  # less confident
        ({"unknown_shift": 1.0}, "unknown_rate"),  # more unknowns
    ],
)
def test_shifted_streams_raise_the_alarm(shift: dict[str, Any], test: str) -> None:
    found = []
    for seed in range(20):
        rng = np.random.default_rng(1000 + seed)
        monitor = DriftMonitor(_entry(rng), seed=seed)
        for c, k, s in zip(*_stream(rng, 300, **shift), strict=True):
            monitor.add(float(c), int(k), float(s))
        report = monitor.report()
        found.append(monitor.alarm and report.drift and next(t for t in report.tests if t.name == test).drift)
    assert np.mean(found) >= 0.9


def test_a_changed_class_mix_is_found() -> None:
    rng = np.random.default_rng(7)
    monitor = DriftMonitor(_entry(rng, unknown=False))
    conf, _, _ = _stream(rng, 200)
    for c in conf:
        monitor.add(float(c), int(rng.choice(4, p=[0.7, 0.1, 0.1, 0.1])))
    tests = {t.name: t for t in monitor.report().tests}
    assert tests["class_mix"].drift and not tests["confidence"].drift


def test_the_martingale_is_a_fair_game_on_uniform_p_values() -> None:
    # the capital's mean stays 1 when the reference and the stream come from one distribution
    finals = []
    for seed in range(400):
        rng = np.random.default_rng(seed)
        m = ConformalMartingale(rng.normal(size=50), seed=seed)
        for v in rng.normal(size=30):
            m.update(float(v))
        finals.append(m.value)
    assert np.mean(finals) == pytest.approx(1.0, abs=0.15)


def test_too_few_images_leave_tests_unrun_and_say_how_many_they_need() -> None:
    monitor = DriftMonitor(_entry(np.random.default_rng(0)))
    for _ in range(5):
        monitor.add(0.9, 1, 0.5)
    short = {t.name: t.needed for t in monitor.report().short_of}
    assert short == {"confidence": 20, "class_mix": 20, "unknown_rate": 20}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"confidence": [0.9, 0.5]}, "decisions.monitor.confidence must be sorted"),
        ({"confidence": []}, "decisions.monitor.confidence is empty"),
        ({"class_counts": [1, 2]}, "class_counts add up to 3, not n = 400"),
        ({"class_counts": [1, -2]}, "decisions.monitor.class_counts must be a list of whole numbers"),
        ({"accuracy": 1.5}, "decisions.monitor.accuracy"),
        ({"unknown_threshold": None}, "decisions.monitor.unknown_threshold"),
        ({"typo": 1}, "unknown keys typo"),
    ],
)
def test_bad_entries_are_refused_in_one_line(edit: dict[str, Any], message: str) -> None:
    entry = {**_entry(np.random.default_rng(0)), **edit}
    with pytest.raises(ConfigError, match=message) as err:
        check_monitor_entry(entry)
    assert "\n" not in str(err.value)


def test_an_entry_with_half_of_the_unknown_references_is_refused() -> None:
    entry = _entry(np.random.default_rng(0))
    del entry["expected_unknown_rate"]
    with pytest.raises(ConfigError, match="lacks expected_unknown_rate; re-run 'yolo-probs calibrate'"):
        check_monitor_entry(entry)
