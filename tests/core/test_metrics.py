"""Calibration metrics against torchmetrics, scikit-learn and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from torchmetrics.functional.classification import multiclass_calibration_error

from yolo_probs.core.metrics import (
    accuracy,
    adaptive_ece,
    auroc,
    bin_stats,
    brier_score,
    ece,
    evaluate_logits,
    mce,
    nll,
)
from yolo_probs.core.probs import softmax
from yolo_probs.errors import ConfigError


def random_case(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 20))
    y = rng.integers(0, c, n)
    logits = (rng.normal(size=(n, c)) * rng.uniform(0.1, 8.0) + rng.uniform(0, 3) * np.eye(c)[y]).astype(np.float32)
    return logits, softmax(logits), y, c


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("n_bins", [1, 10, 15, 30])
def test_ece_and_mce_equal_torchmetrics(seed: int, n_bins: int) -> None:
    _, p, y, c = random_case(seed)
    pt, yt = torch.from_numpy(p), torch.from_numpy(y)
    ref_l1 = float(multiclass_calibration_error(pt, yt, c, n_bins=n_bins, norm="l1"))
    ref_max = float(multiclass_calibration_error(pt, yt, c, n_bins=n_bins, norm="max"))
    assert abs(ece(p, y, n_bins) - ref_l1) <= 1e-6
    assert abs(mce(p, y, n_bins) - ref_max) <= 1e-6


def test_confidence_one_gets_its_own_bin_like_torchmetrics() -> None:
    p = np.array([[1.0, 0.0], [1.0, 0.0], [0.97, 0.03], [0.5, 0.5]], dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    s = bin_stats(p, y, 15)
    assert s.count.tolist()[-2:] == [1.0, 2.0] and s.accuracy[-1] == 0.5
    ref = float(multiclass_calibration_error(torch.from_numpy(p), torch.from_numpy(y), 2, n_bins=15, norm="l1"))
    assert ece(p, y) == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_nll_brier_against_sklearn_and_torch(seed: int) -> None:
    logits, p, y, c = random_case(seed)
    p64 = softmax(logits.astype(np.float64))
    assert accuracy(p, y) == accuracy_score(y, p.argmax(1))
    assert nll(logits, y) == pytest.approx(log_loss(y, p64, labels=range(c)), rel=1e-9)
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(logits.astype(np.float64)) / 2.5, torch.from_numpy(y))
    assert nll(logits, y, temperature=2.5) == pytest.approx(float(ce), rel=1e-9)
    onehot = np.eye(c)[y]
    assert brier_score(p64, y) == pytest.approx(float(np.mean(np.sum((p64 - onehot) ** 2, axis=1))), rel=1e-12)


def test_binary_brier_is_twice_sklearns() -> None:
    rng = np.random.default_rng(3)
    p1 = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p1).astype(int)
    p = np.stack([1 - p1, p1], axis=1)
    assert brier_score(p, y) == pytest.approx(2 * brier_score_loss(y, p1), rel=1e-12)


def test_adaptive_ece_uses_equal_mass_bins() -> None:
    conf = np.array([0.55, 0.6, 0.65, 0.7, 0.9, 0.95])
    p = np.stack([conf, 1 - conf], axis=1)
    y = np.array([0, 1, 0, 0, 0, 1])  # correct: T F T T T F
    # 3 bins of 2: |0.5 - 0.575| + |1 - 0.675| + |0.5 - 0.925|, each weighted 2/6
    expected = (0.075 + 0.325 + 0.425) / 3
    assert adaptive_ece(p, y, 3) == pytest.approx(expected, abs=1e-6)
    assert adaptive_ece(p, y, 1) == pytest.approx(abs(4 / 6 - conf.mean()), abs=1e-6)


def test_perfectly_calibrated_data_score_near_zero() -> None:
    rng = np.random.default_rng(4)
    conf = rng.uniform(0.5, 1.0, 200_000)
    correct = rng.uniform(size=conf.size) < conf
    y = np.where(correct, 0, 1)
    p = np.stack([conf, 1 - conf], axis=1)
    assert ece(p, y) < 0.005 and adaptive_ece(p, y) < 0.005


@given(seed=st.integers(0, 10_000), t=st.floats(0.2, 5.0))
@settings(max_examples=25, deadline=None)
def test_report_is_consistent_with_the_single_metrics(seed: int, t: float) -> None:
    logits, _, y, _ = random_case(seed, n=200)
    r = evaluate_logits(logits, y, temperature=t, n_bins=12)
    p = softmax(logits, temperature=t)
    assert (r.samples, r.temperature, r.n_bins) == (200, t, 12)
    assert r.accuracy == accuracy(p, y) and r.nll == nll(logits, y, t) and r.brier == brier_score(p, y)
    assert r.ece == pytest.approx(ece(p, y, 12), abs=1e-12) and r.mce == pytest.approx(mce(p, y, 12), abs=1e-12)
    assert 0 <= r.ece <= r.mce <= 1 and 0 <= r.brier <= 2
    assert "torchmetrics" in r.binning and r.to_dict()["n_bins"] == 12


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ece([[1.2, -0.2]], [0]), r"\[0, 1\]"),
        (lambda: ece([[0.5, 0.5]], [0], n_bins=0), "bins must be"),
        (lambda: mce([[0.5, 0.5]], [2]), r"\[0, 2\)"),
        (lambda: evaluate_logits([[1.0, 0.0]], [0], temperature=0), "temperature"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


@pytest.mark.parametrize(("n", "c", "n_bins", "seed"), [(200, 3, 15, 0), (500, 10, 10, 1), (50, 4, 1, 2)])
def test_classwise_ece_matches_torchmetrics_binary_per_class(n: int, c: int, n_bins: int, seed: int) -> None:
    from torchmetrics.functional.classification import binary_calibration_error

    from yolo_probs.core.metrics import classwise_ece

    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    p = softmax(rng.normal(size=(n, c)) * 3 + 2 * np.eye(c)[y])
    p[0] = np.eye(c)[0]  # probabilities of exactly 0 and 1
    expected = np.mean(
        [
            float(
                binary_calibration_error(
                    torch.from_numpy(np.ascontiguousarray(p[:, k])),
                    torch.from_numpy((y == k).astype(np.int64)),
                    n_bins=n_bins,
                    norm="l1",
                )
            )
            for k in range(c)
        ]
    )
    assert classwise_ece(p, y, n_bins) == pytest.approx(expected, abs=1e-6)
    assert evaluate_logits(np.log(np.clip(p, 1e-30, 1)), y, n_bins=n_bins).classwise_ece == pytest.approx(
        expected, abs=1e-5
    )


def test_ece_never_exceeds_mce_by_rounding() -> None:
    # 103 samples of one confidence, 60 labelled 1: one bin holds them all, and its count-weighted gap
    # divided by the count rounds an ulp above the gap itself (found by hypothesis)
    p = np.tile(np.array([[0.6528212, 1 - 0.6528212]], np.float32), (103, 1))
    y = np.array([1] * 60 + [0] * 43)
    assert ece(p, y) == mce(p, y)
    r = evaluate_logits(np.log(p), y, temperature=1.0)
    assert r.ece <= r.mce


# -- AUROC (issue 24: NaN scores gave 1.0) --


@settings(max_examples=150, deadline=None)
@given(
    pos=st.lists(st.integers(-5, 5), min_size=1, max_size=40),
    neg=st.lists(st.integers(-5, 5), min_size=1, max_size=40),
)
def test_auroc_equals_sklearn_with_ties(pos: list[int], neg: list[int]) -> None:
    a, b = np.array(pos) / 2.0, np.array(neg) / 2.0  # small integer grid: many ties
    expected = roc_auc_score(np.r_[np.ones(a.size), np.zeros(b.size)], np.r_[a, b])
    assert auroc(a, b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("id_scores", "ood_scores", "match"),
    [
        ([np.nan, 1.0], [0.5], r"id_scores must be finite, got nan at index 0"),
        ([1.0], [np.inf], r"ood_scores must be finite, got inf at index 0"),
        ([], [0.5], "id_scores must be a non-empty 1-D list"),
        ([[1.0, 2.0]], [0.5], "id_scores must be a non-empty 1-D list"),
        ("ab", [0.5], "id_scores must be an array of real numbers"),
        ([1.0], None, "ood_scores must be an array of real numbers"),
    ],
)
def test_auroc_refuses_bad_scores(id_scores, ood_scores, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        auroc(id_scores, ood_scores)


class _Broken:
    """A calibrator whose map went wrong (NaN out of finite logits)."""

    method = "broken"
    temperature = None

    def probs(self, logits):
        return np.full(np.shape(logits), np.nan)

    def log_probs(self, logits):
        return np.full(np.shape(logits), np.nan)


@pytest.mark.parametrize(
    ("calibrator", "match"),
    [("x", "calibrator must be a calibrator"), (_Broken(), "calibrator 'broken' gave NaN")],
)
def test_evaluate_logits_refuses_a_bad_calibrator(calibrator, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        evaluate_logits([[1.0, 0.0], [0.0, 1.0]], [0, 1], calibrator=calibrator)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: accuracy(None, [0]), "probs must be an array of real numbers"),
        (lambda: ece([[0.5, np.nan]], [0]), "rows of probs contain NaN"),
        (lambda: brier_score([[1.5, -0.5]], [0]), r"probs must lie in \[0, 1\]"),
        (lambda: evaluate_logits([[0.0, 1.0], [1.0]], [0, 1]), "logits must be an array of real numbers"),
        (lambda: evaluate_logits([[0.0, 1.0]], "a"), "labels must be"),
        (lambda: evaluate_logits([[0.0, 1.0]], [0], n_bins="x"), "n_bins: the number of bins"),
    ],
)
def test_bad_input_names_the_argument(call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()
