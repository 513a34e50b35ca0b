"""The decision math against independent implementations: MAPIE (conformal), scikit-learn (AUROC), scipy (binomial)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yolo_probs.core.probs import softmax
from yolo_probs.decisions import conformal, ood, selective
from yolo_probs.errors import ConfigError


def random_problem(seed: int, n: int, c: int, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Random logits and labels drawn from their own softmax (so sets are informative)."""
    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(size=(n, c)) * scale)
    labels = np.array([rng.choice(c, p=row) for row in probs])
    return probs, labels


# -- conformal: MAPIE as the oracle --
def mapie_lac(probs: np.ndarray, labels: np.ndarray, test: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    from mapie.classification import SplitConformalClassifier
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Fixed(ClassifierMixin, BaseEstimator):  # predict_proba returns its input: MAPIE sees our probabilities
        def fit(self, x, y):
            self.classes_ = np.arange(x.shape[1])
            return self

        def predict_proba(self, x):
            return np.asarray(x)

        def predict(self, x):
            return np.argmax(x, axis=1)

    model = SplitConformalClassifier(
        Fixed().fit(probs, labels), confidence_level=1 - alpha, conformity_score="lac", prefit=True
    )
    model.conformalize(probs, labels)
    _, sets = model.predict_set(test)
    q = float(model._mapie_classifier.conformity_score_function_.quantiles_[0])
    return q, sets[:, :, 0]


@pytest.mark.parametrize("seed", range(6))
def test_lac_matches_mapie(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, c = int(rng.integers(30, 400)), int(rng.integers(2, 12))
    alpha = float(rng.uniform(0.05, 0.4))
    probs, labels = random_problem(seed, n, c)
    test, _ = random_problem(seed + 1000, 200, c)
    q_mapie, sets_mapie = mapie_lac(probs, labels, test, alpha)
    entry = conformal.fit_conformal(probs, labels, alpha, "lac")
    assert entry["qhat"] == pytest.approx(q_mapie, abs=1e-12)
    np.testing.assert_array_equal(conformal.prediction_sets(test, entry["qhat"], "lac"), sets_mapie)


@pytest.mark.parametrize("score", ["aps", "raps"])
@pytest.mark.parametrize("seed", range(5))
def test_aps_raps_match_mapie(score: str, seed: int) -> None:
    from mapie.conformity_scores.sets.aps import APSConformityScore
    from mapie.conformity_scores.sets.raps import RAPSConformityScore
    from mapie.utils import _compute_classification_quantile

    rng = np.random.default_rng(200 + seed)
    n, c = int(rng.integers(30, 400)), int(rng.integers(3, 12))
    alpha = float(rng.uniform(0.05, 0.3))
    penalty, k_reg = float(rng.uniform(0.0, 0.3)), int(rng.integers(0, 4))
    probs, labels = random_problem(seed, n, c)
    test, _ = random_problem(seed + 1000, 200, c)

    # MAPIE's non-randomised calibration score: the mass of the classes ranked at or above the label
    cumsum, cutoff = APSConformityScore.get_true_label_cumsum_proba(labels, probs, np.arange(c))
    if score == "raps":
        cumsum = RAPSConformityScore._regularize_conformity_score(np.array([k_reg]), penalty, cumsum, cutoff)[:, :, 0]
    q_mapie = float(_compute_classification_quantile(cumsum, np.array([alpha]))[0])
    entry = conformal.fit_conformal(probs, labels, alpha, score, penalty=penalty, k_reg=k_reg)
    assert entry["qhat"] == pytest.approx(q_mapie, abs=1e-12)

    # MAPIE's sets at that q-hat, without the label that crosses it (include_last_label=False)
    oracle = RAPSConformityScore() if score == "raps" else APSConformityScore()
    oracle.quantiles_ = np.array([q_mapie])
    if score == "raps":
        oracle.lambda_star, oracle.k_star = penalty, np.array([k_reg])
    sets = oracle.get_prediction_sets(test[:, :, None], None, np.array([alpha]), cv="prefit", include_last_label=False)
    ours = conformal.prediction_sets(test, entry["qhat"], score, penalty=penalty, k_reg=k_reg)
    np.testing.assert_array_equal(ours, sets[:, :, 0])


def test_randomized_aps_score_matches_mapie() -> None:
    from mapie.conformity_scores.sets.aps import APSConformityScore

    probs, labels = random_problem(7, 300, 6)
    oracle = APSConformityScore()
    oracle.classes, oracle.random_state = np.arange(6), 3
    theirs = oracle.get_conformity_scores(labels, probs, y_enc=labels)[:, 0]
    u = np.random.RandomState(3).uniform(size=300)  # the uniforms MAPIE draws with random_state=3
    ours = conformal.label_scores(probs, labels, "aps", u=1.0 - u)  # ours: cumsum before y + u' * p_y
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(20, 300), c=st.integers(2, 8), alpha=st.floats(0.05, 0.5), seed=st.integers(0, 10_000))
def test_coverage_on_exchangeable_data_and_qhat_is_order_statistic(n: int, c: int, alpha: float, seed: int) -> None:
    probs, labels = random_problem(seed, n, c)
    scores = conformal.label_scores(probs, labels, "lac")
    q = conformal.fit_conformal(probs, labels, alpha, "lac")["qhat"]
    k = int(np.ceil((n + 1) * (1 - alpha) - 1e-9))
    if k <= n:
        assert q == np.sort(scores)[k - 1]
        # on the calibration data itself, at least k of n labels are in their sets
        member = conformal.prediction_sets(probs, q, "lac")
        assert member[np.arange(n), labels].sum() >= k


def test_conformal_bad_inputs() -> None:
    probs, labels = random_problem(0, 8, 3)
    with pytest.raises(ConfigError, match=r"too few for alpha=0\.1.*at least 9"):
        conformal.fit_conformal(probs, labels, 0.1)
    for alpha in (0, 1, -0.1, 1.5, "x", True):
        with pytest.raises(ConfigError, match="strictly between 0 and 1"):
            conformal.fit_conformal(probs, labels, alpha)
    with pytest.raises(ConfigError, match="score must be one of lac, aps, raps, got 'nope'"):
        conformal.fit_conformal(probs, labels, 0.5, "nope")
    big, _ = random_problem(1, 100, 3)
    with pytest.raises(ConfigError, match="per class"):
        conformal.fit_conformal(big, np.zeros(100, dtype=int), 0.1, class_conditional=True)


def test_class_conditional_covers_every_class() -> None:
    probs, labels = random_problem(3, 3000, 4, scale=1.0)
    entry = conformal.fit_conformal(probs[:1500], labels[:1500], 0.1, "aps", class_conditional=True)
    assert len(entry["qhat"]) == 4
    report = conformal.evaluate_conformal(entry, probs[1500:], labels[1500:], ["a", "b", "c", "d"])
    assert all(v is not None and v > 0.85 for v in report.coverage_per_class.values())
    assert report.coverage == pytest.approx(0.9, abs=0.03)


def test_randomized_sets_have_near_exact_coverage() -> None:
    probs, labels = random_problem(4, 6000, 5, scale=1.5)
    entry = conformal.fit_conformal(probs[:3000], labels[:3000], 0.2, "raps", randomized=True)
    report = conformal.evaluate_conformal(entry, probs[3000:], labels[3000:], list("abcde"))
    assert report.coverage == pytest.approx(0.8, abs=0.025)
    fixed = conformal.fit_conformal(probs[:3000], labels[:3000], 0.2, "raps")
    conservative = conformal.evaluate_conformal(fixed, probs[3000:], labels[3000:], list("abcde"))
    assert conservative.empty_sets == 0  # non-randomised APS/RAPS sets always hold the top class
    assert conservative.coverage >= 0.8 - 0.02
    assert conservative.mean_set_size >= report.mean_set_size


# -- OOD scores --
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), m=st.integers(1, 40))
def test_auroc_matches_sklearn(seed: int, n: int, m: int) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(1, 1, n), 1)  # rounding makes ties
    b = np.round(rng.normal(0, 1, m), 1)
    expected = roc_auc_score(np.r_[np.ones(n), np.zeros(m)], np.r_[a, b])
    assert ood.auroc(a, b) == pytest.approx(expected, abs=1e-12)


def test_logit_scores_match_scipy_and_torch() -> None:
    import torch
    from scipy.special import logsumexp

    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 7)) * 5
    for t in (0.5, 1.0, 3.0):
        np.testing.assert_allclose(ood.ood_scores("energy", z, temperature=t), t * logsumexp(z / t, axis=1))
        p = torch.softmax(torch.tensor(z / t), dim=1).numpy()
        np.testing.assert_allclose(ood.ood_scores("msp", z, temperature=t), p.max(1), rtol=1e-12)
        ent = -(p * np.log(p)).sum(1)
        np.testing.assert_allclose(ood.ood_scores("entropy", z, temperature=t), -ent, rtol=1e-9)
    np.testing.assert_array_equal(ood.ood_scores("maxlogit", z), z.max(1))


def test_knn_matches_brute_force_and_leaves_itself_out() -> None:
    rng = np.random.default_rng(1)
    bank = ood.normalize(rng.normal(size=(60, 16)))
    q = rng.normal(size=(9, 16))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    dist = np.linalg.norm(qn[:, None, :] - bank[None], axis=2)
    for k in (1, 3, 10):
        np.testing.assert_allclose(ood.knn_scores(q, bank, k), -np.sort(dist, axis=1)[:, k - 1], atol=1e-5)
    self_dist = np.linalg.norm(bank[:, None, :] - bank[None], axis=2)
    np.testing.assert_allclose(
        ood.knn_scores(bank, bank, 2, leave_one_out=True), -np.sort(self_dist, 1)[:, 2], atol=1e-5
    )
    with pytest.raises(ConfigError, match="needs at least"):
        ood.knn_scores(q, bank[:2], 3)


def test_threshold_accepts_the_requested_fraction() -> None:
    rng = np.random.default_rng(2)
    for n in (10, 99, 1000):
        s = rng.normal(size=n)
        for tpr in (0.5, 0.9, 0.95, 0.99):
            t = ood.threshold_at_tpr(s, tpr)
            assert np.mean(s >= t) >= tpr
            assert np.mean(s > t) < tpr  # the largest such threshold
    for bad in (0, 1, 1.2):
        with pytest.raises(ConfigError, match="strictly between 0 and 1"):
            ood.threshold_at_tpr(s, bad)


def test_energy_is_constant_on_log_probs() -> None:
    """Why the energy score needs real logits: from log p of an export it is the same for every input."""
    z = np.random.default_rng(3).normal(size=(20, 5))
    e = ood.ood_scores("energy", np.log(softmax(z)))
    np.testing.assert_allclose(e, 0.0, atol=1e-12)


# -- selective classification --
def test_binomial_bound_matches_scipy() -> None:
    from scipy.stats import beta, binom

    for k, n, delta in ((0, 10, 0.1), (3, 300, 0.1), (17, 1000, 0.05), (50, 60, 0.2)):
        assert selective.binomial_cdf(k, n, 0.07) == pytest.approx(binom.cdf(k, n, 0.07), rel=1e-9)
        assert selective.binomial_upper_bound(k, n, delta) == pytest.approx(beta.ppf(1 - delta, k + 1, n - k), rel=1e-6)


def test_guarantee_holds_over_repeated_draws() -> None:
    """Over many calibration draws, accuracy on fresh accepted images misses the target at most ~delta of the time."""
    rng = np.random.default_rng(5)
    target, delta, misses, runs = 0.85, 0.1, 0, 80
    chosen = []
    for _ in range(runs):
        conf = rng.uniform(0.5, 1.0, 1000)
        correct = rng.uniform(size=1000) < conf
        choice, _ = selective.choose_min_prob(conf, correct, target, delta)
        # the true accuracy of accepted images at threshold l for conf ~ U(0.5, 1) is (1 + l) / 2
        misses += (1 + choice.min_prob) / 2 < target
        chosen.append(choice.min_prob)
    assert misses / runs <= delta + 0.05
    assert np.median(chosen) < 0.8  # not vacuous: it accepts well over half of what it could (l = 0.7 is exact)


def test_unreachable_target_is_a_clear_error() -> None:
    conf = np.linspace(0.5, 1.0, 100)
    correct = np.arange(100) % 5 != 0  # 80% accurate at every threshold
    with pytest.raises(ConfigError, match=r"no threshold reaches accuracy 0\.99"):
        selective.choose_min_prob(conf, correct, 0.99, 0.1)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        selective.choose_min_prob(conf, correct, 1.0, 0.1)


def test_a_plot_option_is_refused_and_says_what_to_call_instead() -> None:
    # Before 0.2, fit wrote the risk-coverage PNG named by options["plot"]; now it would be silently skipped.
    instead = r"reject_curve\(result\).*yolo_probs\.outputs\.plots\.plot_risk_coverage"
    with pytest.raises(ConfigError, match=instead) as e:
        selective.fit({"target_accuracy": 0.9, "plot": "risk.png"}, None, None)
    assert e.value.option == "plot" and len(str(e.value).splitlines()) == 1
