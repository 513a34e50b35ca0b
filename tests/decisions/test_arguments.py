"""Every public function of the decisions, given wrong types, NaN, empty and out-of-range values.

Each must raise a yolo_probs error naming the argument (never a raw TypeError, IndexError, AxisError
from deep inside), and never take NaN in silently or give it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from yolo_probs.calibration import TemperatureScaling
from yolo_probs.decisions import register_decision
from yolo_probs.decisions.conformal import (
    ConformalRule,
    conformal_quantile,
    conformity_scores,
    evaluate_conformal,
    fit_conformal,
    label_scores,
    prediction_sets,
)
from yolo_probs.decisions.ood import (
    OODRule,
    auroc,
    evaluate_ood,
    fit_ood,
    fpr_at_tpr,
    knn_bank,
    knn_scores,
    ood_scores,
    threshold_at_tpr,
)
from yolo_probs.decisions.requested import DecisionOptions
from yolo_probs.decisions.selective import (
    RejectRule,
    binomial_cdf,
    binomial_upper_bound,
    choose_min_prob,
    evaluate_reject,
    risk_coverage,
)
from yolo_probs.errors import YoloProbsError

RNG = np.random.default_rng(0)
C = 4
P = RNG.dirichlet(np.ones(C), size=60)
Y = np.arange(60) % C
Z = RNG.normal(size=(300, C))
F = RNG.normal(size=(300, 8))
AT = {"method": "temperature", "temperature": 1.0}
CAL = TemperatureScaling(1.0)
NAN = float("nan")


def nan_at(a: np.ndarray, value: float = NAN) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.flat[3] = value
    return out


# (id, call, words the message must hold: the argument's name)
CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("fit_conformal label == C", lambda: fit_conformal(P, np.full(60, C), 0.1), "labels"),
    ("fit_conformal label -1", lambda: fit_conformal(P, np.r_[-1, Y[1:]], 0.1), "labels"),
    ("fit_conformal string labels", lambda: fit_conformal(P, [str(v) for v in Y], 0.1), "labels"),
    ("fit_conformal None labels", lambda: fit_conformal(P, None, 0.1), "labels"),
    ("fit_conformal NaN prob", lambda: fit_conformal(nan_at(P), Y, 0.1), "probs"),
    ("fit_conformal logits, not probs", lambda: fit_conformal(P * 5, Y, 0.1), "probs"),
    ("fit_conformal probs 'abc'", lambda: fit_conformal("abc", Y, 0.1), "probs"),
    ("fit_conformal alpha NaN", lambda: fit_conformal(P, Y, NAN), "alpha"),
    ("fit_conformal penalty 'x'", lambda: fit_conformal(P, Y, 0.1, penalty="x"), "penalty"),
    ("fit_conformal k_reg -1", lambda: fit_conformal(P, Y, 0.1, k_reg=-1), "k_reg"),
    ("fit_conformal randomized 'no'", lambda: fit_conformal(P, Y, 0.1, randomized="no"), "randomized"),
    ("fit_conformal score ['lac']", lambda: fit_conformal(P, Y, 0.1, score=["lac"]), "score"),
    ("conformity_scores 'abc'", lambda: conformity_scores("abc", "lac"), "probs"),
    ("conformity_scores 1-D", lambda: conformity_scores(P[0], "lac"), "probs"),
    ("label_scores label == C", lambda: label_scores(P, np.full(60, C), "aps"), "labels"),
    ("conformal_quantile NaN", lambda: conformal_quantile([1.0, NAN] * 10, 0.1), "scores"),
    ("prediction_sets qhat NaN", lambda: prediction_sets(P, NAN, "lac"), "qhat"),
    ("prediction_sets qhat per class, wrong count", lambda: prediction_sets(P, [0.5] * (C + 1), "lac"), "qhat"),
    (
        "evaluate_conformal label == C",
        lambda: evaluate_conformal({"alpha": 0.1, "score": "lac", "qhat": 0.5}, P, np.full(60, C), "abcd"),
        "labels",
    ),
    (
        "ConformalRule qhat NaN",
        lambda: ConformalRule({"alpha": 0.1, "score": "lac", "qhat": NAN, "calibrator": AT}),
        "decisions.conformal.qhat",
    ),
    ("fit_ood calibrator None", lambda: fit_ood(Z, None), "calibrator"),
    ("fit_ood NaN logits", lambda: fit_ood(nan_at(Z), CAL, score="energy"), "logits"),
    ("fit_ood inf logits", lambda: fit_ood(nan_at(Z, np.inf), CAL, score="energy"), "logits"),
    ("fit_ood NaN features", lambda: fit_ood(Z, CAL, features=nan_at(F)), "features"),
    ("fit_ood inf features", lambda: fit_ood(Z, CAL, features=nan_at(F, -np.inf)), "features"),
    ("fit_ood 10 feature rows for 300 logits", lambda: fit_ood(Z, CAL, features=F[:10]), "features"),
    ("fit_ood k=0", lambda: fit_ood(Z, CAL, features=F, k=0), "k"),
    ("fit_ood k=300 of 300 images", lambda: fit_ood(Z, CAL, features=F, k=300), "k=300"),
    ("fit_ood score 'x'", lambda: fit_ood(Z, CAL, score="x"), "score"),
    ("fit_ood tpr NaN", lambda: fit_ood(Z, CAL, score="energy", tpr=NAN), "true-positive rate"),
    ("fit_ood logits 'abc'", lambda: fit_ood("abc", CAL, score="energy"), "logits"),
    ("ood_scores NaN logits", lambda: ood_scores("energy", nan_at(Z)), "logits"),
    ("knn_scores k=0", lambda: knn_scores(F[:5], F, k=0), "k"),
    ("knn_scores NaN bank", lambda: knn_scores(F[:5], nan_at(F), k=1), "bank"),
    ("knn_bank NaN features", lambda: knn_bank(nan_at(F), k=1), "features"),
    ("threshold_at_tpr NaN", lambda: threshold_at_tpr(nan_at(np.arange(10.0)), 0.9), "scores"),
    ("auroc NaN", lambda: auroc([NAN, 1.0], [0.5]), "id_scores"),
    ("auroc 'abc'", lambda: auroc([1.0], "abc"), "ood_scores"),
    ("fpr_at_tpr NaN", lambda: fpr_at_tpr([1.0, 2.0], [NAN]), "ood_scores"),
    ("evaluate_ood threshold NaN", lambda: evaluate_ood("msp", NAN, [1.0, 2.0], [0.5], None), "threshold"),
    (
        "OODRule threshold NaN",
        lambda: OODRule({"score": "msp", "threshold": NAN, "calibrator": AT}),
        "decisions.ood.threshold",
    ),
    (
        "OODRule knn bank of NaNs",
        lambda: OODRule({"score": "knn", "threshold": -1.0, "calibrator": AT}, nan_at(F)),
        "feature bank",
    ),
    ("choose_min_prob NaN", lambda: choose_min_prob(nan_at(P.max(axis=1)), np.ones(60, bool), 0.9), "conf"),
    ("choose_min_prob conf > 1", lambda: choose_min_prob(P.max(axis=1) * 3, np.ones(60, bool), 0.9), "conf"),
    ("choose_min_prob correct 2", lambda: choose_min_prob(P.max(axis=1), np.full(60, 2), 0.9), "correct"),
    ("choose_min_prob target 'x'", lambda: choose_min_prob(P.max(axis=1), np.ones(60, bool), "x"), "target"),
    ("risk_coverage NaN", lambda: risk_coverage([NAN, 0.5], [True, False]), "conf"),
    ("evaluate_reject min_prob 2", lambda: evaluate_reject({"min_prob": 2.0}, [0.5], [True]), "min_prob"),
    ("evaluate_reject not a mapping", lambda: evaluate_reject(None, [0.5], [True]), "entry"),
    ("RejectRule min_prob NaN", lambda: RejectRule({"min_prob": NAN, "calibrator": AT}), "decisions.reject.min_prob"),
    ("binomial_cdf p NaN", lambda: binomial_cdf(1, 10, NAN), "p"),
    ("binomial_upper_bound n 'x'", lambda: binomial_upper_bound(1, "x", 0.1), "n"),
    ("DecisionOptions penalty 'x'", lambda: DecisionOptions(conformal=0.1, penalty="x"), "penalty"),
    ("DecisionOptions k_reg 1.5", lambda: DecisionOptions(conformal=0.1, k_reg=1.5), "k_reg"),
    ("DecisionOptions randomized 'no'", lambda: DecisionOptions(conformal=0.1, randomized="no"), "randomized"),
    ("register_decision(5)", lambda: register_decision(5), "DecisionKind"),
]


@pytest.mark.parametrize(("call", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_raise_a_yolo_probs_error_naming_them(call: Callable[[], Any], words: str) -> None:
    with pytest.raises(YoloProbsError) as caught:
        call()
    message = str(caught.value)
    assert words in message and "\n" not in message


def test_good_arguments_still_pass() -> None:
    """The checks above refuse bad values only: the same calls with good ones work, -inf logits included."""
    entry = fit_conformal(P, Y, 0.2, randomized=True, class_conditional=True)
    assert isinstance(entry["qhat"], list) and len(entry["qhat"]) == C
    assert fit_ood(Z, CAL, features=F, k=5).entry["k"] == 5
    z = Z.copy()
    z[0, 1] = -np.inf  # a probability of 0 recovered from an export
    assert np.isfinite(fit_ood(z, CAL, score="energy").entry["threshold"])
    assert binomial_cdf(1, 10, 0.2) > 0 and auroc([1.0, 2.0], [0.5]) == 1.0
    choice, _ = choose_min_prob(RNG.uniform(0.5, 1, 2000), np.ones(2000, int), 0.9)
    assert 0.5 <= choice.min_prob <= 1
