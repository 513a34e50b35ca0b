"""The registered unknown-input scores (GEN, ViM, ReAct) and ``--ood-score auto``'s cross-validation,
each checked against an independent computation (scipy/torch/sklearn or the paper's formula by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.special import softmax as sp_softmax
from sklearn.decomposition import PCA

from yolo_probs.calibration import TemperatureScaling
from yolo_probs.core.capture import linear_weights
from yolo_probs.decisions.ood import (
    FEATURE_SCORES,
    OOD_SCORES,
    OODRule,
    check_ood_entry,
    fit_ood,
    fit_ood_auto,
    ood_scores,
    threshold_at_tpr,
)
from yolo_probs.decisions.ood_auto import Candidate, choose
from yolo_probs.decisions.ood_gen import gen_scores
from yolo_probs.decisions.ood_react import fit_react, react_scores
from yolo_probs.decisions.ood_vim import fit_vim, vim_residual, vim_scores
from yolo_probs.errors import ConfigError


def _layer(rng: np.random.Generator, c: int = 4, d: int = 12) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(c, d)), rng.normal(size=c)


def test_registered_scores_are_listed() -> None:
    assert {"gen", "vim", "react"} <= set(OOD_SCORES) and {"vim", "react"} <= set(FEATURE_SCORES)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 0.95), st.integers(1, 8))
def test_gen_matches_the_papers_sum_written_with_loops(seed: int, gamma: float, m: int) -> None:
    p = sp_softmax(np.random.default_rng(seed).normal(size=(5, 6)) * 3, axis=1)
    expected = []
    for row in p:
        top = sorted(row, reverse=True)[:m]
        expected.append(-sum(q**gamma * (1 - q) ** gamma for q in top))
    assert gen_scores(p, gamma, m) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_gen_hand_cases() -> None:
    # one-hot: G = 0; uniform over 2 with gamma 1/2: 2 * sqrt(.25) = 1
    assert gen_scores(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]), 0.5, 3).tolist() == pytest.approx([0.0, -1.0])


def test_react_matches_torch_linear_on_clamped_features() -> None:
    rng = np.random.default_rng(1)
    lin = torch.nn.Linear(12, 4).double()
    w, b = linear_weights(lin)
    f = rng.normal(size=(30, 12)) * 2
    params, array = fit_react(f, w, b, percentile=80.0)
    assert params["clip"] == pytest.approx(np.quantile(f.ravel(), 0.8))
    with torch.no_grad():
        z = lin(torch.from_numpy(f).clamp(max=params["clip"])).numpy()
    # the stored layer is float16, as the profile keeps it
    assert react_scores(f, array, params["clip"], 1.5) == pytest.approx(1.5 * logsumexp(z / 1.5, axis=1), abs=0.05)
    exact = np.hstack([w, b[:, None]])
    assert react_scores(f, exact, params["clip"], 1.0) == pytest.approx(logsumexp(z, axis=1), rel=1e-9)


def test_vim_residual_matches_sklearn_pca_on_the_papers_origin() -> None:
    rng = np.random.default_rng(2)
    w, b = _layer(rng)
    f = rng.normal(size=(200, 12)) @ np.diag(np.linspace(3, 0.1, 12)) + 1.0
    params, array, cal = fit_vim(f, f @ w.T + b, w, b, dim=4)
    origin = -np.linalg.pinv(w) @ b
    assert array[0] == pytest.approx(origin, abs=2e-2)  # float16
    # sklearn's PCA centres on the mean; centring on the origin by hand and fitting without its mean
    # (x about the origin, appended with its mirror image so the mean is zero) gives the same subspace
    x = f - origin
    pca = PCA(n_components=4).fit(np.vstack([x, -x]))
    q = rng.normal(size=(5, 12))
    xq = q - origin
    expected = np.linalg.norm(xq - (xq @ pca.components_.T) @ pca.components_, axis=1)
    assert vim_residual(q, array) == pytest.approx(expected, rel=2e-2)
    z = q @ w.T + b
    assert vim_scores(q, z, array, params["alpha"]) == pytest.approx(
        logsumexp(z, axis=1) - params["alpha"] * vim_residual(q, array)
    )
    assert params["alpha"] > 0 and cal.shape == (200,)


def test_vim_calibration_scores_are_cross_fitted_so_the_threshold_holds_on_new_images() -> None:
    """With the subspace fitted on the calibration images themselves, their residuals are much smaller than
    new images' and the threshold accepts far fewer than 95% of new in-distribution images."""
    rng = np.random.default_rng(3)
    w, b = _layer(rng, 5, 40)
    scale = np.linspace(2, 0.2, 40)
    draw = lambda n: rng.normal(size=(n, 40)) * scale  # noqa: E731
    fc, fn = draw(120), draw(4000)
    found = fit_ood(fc @ w.T + b, TemperatureScaling(1.0), score="vim", features=fc, layer=(w, b))
    new = ood_scores("vim", fn @ w.T + b, features=fn, bank=found.bank, params=found.entry)
    assert np.mean(new >= found.entry["threshold"]) >= 0.92


def test_vim_and_react_profiles_are_checked_on_load() -> None:
    at = {"method": "temperature", "temperature": 1.0}
    with pytest.raises(ConfigError, match="names no feature bank"):
        check_ood_entry({"score": "vim", "threshold": 0.0, "calibrator": at, "dim": 2, "alpha": 1.0})
    bad = np.zeros((5, 6), dtype=np.float16)  # dim=2 needs 3 rows
    with pytest.raises(ConfigError, match=r"expected \(3, D\) for dim=2"):
        OODRule({"score": "vim", "threshold": 0.0, "calibrator": at, "dim": 2, "alpha": 1.0}, bad)
    with pytest.raises(ConfigError, match="lacks clip"):
        OODRule({"score": "react", "threshold": 0.0, "calibrator": at}, np.ones((3, 5)))
    with pytest.raises(ConfigError, match=r"decisions\.ood\.alpha"):
        check_ood_entry({"score": "vim", "threshold": 0.0, "calibrator": at, "bank": bad, "dim": 2, "alpha": -1.0})
    rule = OODRule({"score": "react", "threshold": 0.0, "calibrator": at, "clip": 1.0}, np.ones((3, 5)))
    with pytest.raises(ConfigError, match="do not match the stored final layer"):
        rule.scores(np.zeros((1, 3)), np.full((1, 3), 1 / 3), np.zeros((1, 7)))


def test_fit_ood_threshold_is_the_conformal_one_for_registered_scores() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(80, 4)) * 3
    found = fit_ood(z, TemperatureScaling(2.0), score="gen", tpr=0.9, options={"gamma": 0.3})
    p = sp_softmax(z / 2.0, axis=1)
    assert found.scores == pytest.approx(gen_scores(p, 0.3, 100))
    assert found.entry["threshold"] == threshold_at_tpr(found.scores, 0.9) and found.entry["gamma"] == 0.3


def test_choose_by_cross_validated_fpr_against_a_hand_count() -> None:
    """Two candidates with fixed scores: one separates, one does not; the CV table is recounted by hand."""
    rng = np.random.default_rng(5)
    n_id, n_u = 50, 20
    good_id, good_u = rng.normal(5, 1, n_id), rng.normal(0, 1, n_u)
    bad_id, bad_u = rng.normal(0, 1, n_id), rng.normal(0, 1, n_u)
    table = {"good": (good_id, good_u), "bad": (bad_id, bad_u)}
    seen: list[tuple[str, int]] = []

    def fit_and_score(c: Candidate, train: np.ndarray, test: np.ndarray, unknown: np.ndarray):
        a, u = table[c.score]
        seen.append((c.score, len(test)))
        return threshold_at_tpr(a[train], 0.95), a[test], u[unknown]

    choice = choose([Candidate("bad"), Candidate("good")], n_id, n_u, fit_and_score, folds=5, seed=0, min_train=19)
    assert choice.best.score == "good" and choice.rows[0].chosen and not choice.rows[1].chosen
    assert sorted({n for _, n in seen}) == [10] and len(seen) == 10
    # recount the bad score's FPR over the same folds
    r = np.random.default_rng(0)
    fid, fu = r.permutation(np.arange(n_id) % 5), r.permutation(np.arange(n_u) % 5)
    fprs = [np.mean(bad_u[fu == i] >= threshold_at_tpr(bad_id[fid != i], 0.95)) for i in range(5)]
    assert choice.rows[1].fpr == pytest.approx(np.mean(fprs)) and choice.rows[1].label == "bad"


def test_auto_picks_the_feature_score_when_only_features_tell_unknowns_apart() -> None:
    rng = np.random.default_rng(6)
    w, b = _layer(rng, 3, 10)
    f = rng.normal(size=(150, 10)) + 3.0
    z = f @ w.T + b
    fu = rng.normal(size=(40, 10)) - 3.0  # far in feature space
    zu = rng.permutation(z)[:40]  # but with in-distribution logits
    found, choice = fit_ood_auto(z, TemperatureScaling(1.0), zu, features=f, unknown_features=fu, layer=(w, b))
    assert choice.best.score in ("knn", "vim", "react") and choice.rows[0].fpr < 0.1
    assert found.entry["auto"]["table"][0]["chosen"] and found.entry["score"] == choice.best.score
    check_ood_entry({**found.entry, "bank": found.bank})


def test_auto_refuses_too_few_unknowns() -> None:
    z = np.random.default_rng(7).normal(size=(60, 3))
    with pytest.raises(ConfigError, match="at least 5 example unknown images"):
        fit_ood_auto(z, TemperatureScaling(1.0), z[:3])
