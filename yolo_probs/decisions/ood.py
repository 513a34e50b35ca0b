"""Unknown inputs (out-of-distribution detection): scores, a threshold at a chosen TPR, AUROC and FPR95.

Every score is "higher = more typical of the calibration images":

- ``energy``: ``T * logsumexp(z / T)``, the negative free energy of Liu et al. 2020 at the calibration
  temperature (1 when the calibrator has none). Needs real logits.
- ``maxlogit``: the largest logit. Needs real logits.
- ``msp``: the maximum calibrated probability (the baseline everybody thresholds by hand).
- ``entropy``: minus the entropy of the calibrated probabilities.
- ``knn``: minus the distance from the L2-normalised feature entering the final layer to its k-th nearest
  neighbour in a bank of calibration images (Sun et al. 2022). Needs the model's features.
- registered scores (:mod:`~yolo_probs.decisions.ood_registry`): ``gen`` (generalized entropy,
  :mod:`~yolo_probs.decisions.ood_gen`), ``vim`` (virtual-logit matching, :mod:`~yolo_probs.decisions.ood_vim`)
  and ``react`` (energy of clipped features, :mod:`~yolo_probs.decisions.ood_react`).
- ``auto`` (only when fitting): the score and parameters with the lowest cross-validated FPR at 95% TPR
  on example unknowns (:mod:`~yolo_probs.decisions.ood_auto`).

The threshold is the split-conformal one (:func:`threshold_at_tpr`): new in-distribution images are
accepted with probability at least ``tpr`` (on average over calibration sets), which needs at least
:func:`min_id_images` calibration images (19 at 0.95). Energy
and max-logit from a probabilities-only export are constant (``logsumexp(log p) = 0``): use ``msp``,
``entropy`` or a PyTorch model there.

Example:
    >>> import numpy as np
    >>> ood_scores("energy", np.array([[4.0, 0.0], [0.5, 0.4]]), temperature=1.0).round(3).tolist()
    [4.018, 1.144]
    >>> auroc(np.array([3.0, 2.0, 4.0]), np.array([1.0, 2.5])), threshold_at_tpr(np.arange(10.0), 0.9)
    (0.8333333333333334, 0.0)
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs._util.hashing import file_sha256
from yolo_probs.core.checks import (
    check_choice,
    check_finite_array,
    check_logits,
    check_mapping,
    check_number,
    check_whole,
    describe,
)
from yolo_probs.core.probs import softmax
from yolo_probs.decisions._common import (
    CalibratedRule,
    Field,
    calibrator_mapping,
    check_entry,
    check_fields,
    check_fraction,
    fraction,
    number,
    path_or_array,
    text,
    whole,
)
from yolo_probs.decisions.base import DecisionKind
from yolo_probs.decisions.ood_auto import AutoChoice, Candidate, candidates, choose
from yolo_probs.decisions.ood_gen import GEN
from yolo_probs.decisions.ood_react import REACT
from yolo_probs.decisions.ood_registry import SCORE_KINDS, ScoreInputs
from yolo_probs.decisions.ood_vim import VIM
from yolo_probs.errors import ConfigError
from yolo_probs.inputs.labelled import list_unknowns

if TYPE_CHECKING:
    from yolo_probs.backends import BackendOutput
    from yolo_probs.calibration import Calibrator
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "DEFAULT_K",
    "DEFAULT_SCORE",
    "LOGIT_SCORES",
    "MAX_BANK",
    "OOD_SCORES",
    "OODFit",
    "OODReport",
    "OODRule",
    "auroc",
    "empirical_threshold",
    "evaluate_ood",
    "fit_ood",
    "fit_ood_auto",
    "fpr_at_tpr",
    "knn_bank",
    "knn_scores",
    "min_id_images",
    "ood_scores",
    "reject_rank",
    "threshold_at_tpr",
]

BUILTIN_SCORES = ("knn", "energy", "maxlogit", "msp", "entropy")
REGISTERED = (GEN, VIM, REACT)  # imported so that they register; more may be added with register_score
OOD_SCORES = (*BUILTIN_SCORES, *(k.name for k in REGISTERED))
#: Scores that need real logits (constant on a probabilities-only export).
LOGIT_SCORES = ("energy", "maxlogit", *(k.name for k in REGISTERED if k.needs_logits))
#: Scores that need the features entering the final layer (and store an array beside the profile).
FEATURE_SCORES = ("knn", *(k.name for k in REGISTERED if k.needs_features))
#: ``--ood-score auto``: choose by cross-validation on example unknowns (fitting only, never in a profile).
AUTO = "auto"
#: The best worst case over the three model/unknown pairs of examples/ood_study.py (docs/decisions.md):
#: FPR95 at most 9.3% (far, near and shifted photos); vim is close (9.4%), every logit score fails on one.
DEFAULT_SCORE = "knn"
DEFAULT_K = 1  # best of k = 1, 5, 10, 50 on the digits study (a bank of a few hundred images)
#: Most calibration images kept in a k-NN feature bank (a random subset beyond that).
MAX_BANK = 5000

#: The keys of a profile's ``decisions.ood`` entry, each with its check.
ENTRY: dict[str, Field] = {
    "score": Field(lambda v, n: check_choice(v, n, score_names())),
    "tpr": Field(fraction, required=False),
    "k": Field(whole(1), required=False),
    "threshold": Field(number()),
    "n": Field(whole(1), required=False),
    "calibrator": Field(calibrator_mapping),
    "bank": Field(path_or_array, required=False),
    "bank_sha256": Field(text, required=False),
    "auto": Field(lambda v, n: _auto_record(v, n), required=False),
    **{name: f for kind in REGISTERED for name, f in kind.fields.items()},
}


def _auto_record(value: Any, name: str) -> dict[str, Any]:
    """A :class:`Field` check: what ``--ood-score auto`` recorded (a mapping with its CV table)."""
    if not isinstance(value, dict) or not isinstance(value.get("table"), list):
        raise ConfigError(f"{name} must be a mapping with a CV table, got {value!r}; re-run 'yolo-probs calibrate'")
    return value


def score_names() -> tuple[str, ...]:
    """Every score a profile may name: the built-in ones and all registered (:data:`SCORE_KINDS`)."""
    return (*BUILTIN_SCORES, *SCORE_KINDS)


def check_ood_entry(entry: Any) -> dict[str, Any]:
    """A ``decisions.ood`` entry checked key by key (:data:`ENTRY`); a knn entry needs its bank.

    Example:
        >>> check_ood_entry({"score": "energy", "threshold": float("nan"), "calibrator": {"method": "temperature",
        ...                  "temperature": 1.0}})
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.ood.threshold must be a finite number, got nan (float)
    """
    checked = check_fields(entry, "ood", ENTRY)
    if checked["score"] in FEATURE_SCORES and "bank" not in checked:
        raise ConfigError(
            f"decisions.ood uses the {checked['score']} score but names no feature bank; re-run 'yolo-probs calibrate'"
        )
    if checked["score"] in SCORE_KINDS:
        array = checked.get("bank")
        SCORE_KINDS[checked["score"]].check(checked, array if isinstance(array, np.ndarray) else None)
    if isinstance(checked.get("bank"), str | os.PathLike) and "bank_sha256" not in checked:
        raise ConfigError("decisions.ood.bank has no bank_sha256 beside it; re-run 'yolo-probs calibrate'")
    return checked


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=1, keepdims=True)
    with np.errstate(under="ignore"):
        return (m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)))[:, 0]


def ood_scores(
    score: str,
    logits: np.ndarray,
    *,
    probs: np.ndarray | None = None,
    temperature: float = 1.0,
    features: np.ndarray | None = None,
    bank: np.ndarray | None = None,
    k: int = DEFAULT_K,
    leave_one_out: bool = False,
    params: dict[str, Any] | None = None,
) -> np.ndarray:
    """Typicality scores (higher = more typical), one per row of ``(N, C)`` logits; float64.

    Args:
        score: one of :data:`OOD_SCORES`.
        logits: raw logits.
        probs: calibrated probabilities (``msp``/``entropy``); default ``softmax(logits / temperature)``.
        temperature: the temperature of ``energy`` (and of the default ``probs``).
        features, bank, k, leave_one_out: for ``knn`` (see :func:`knn_scores`).
        params: a registered score's parameters (``bank`` is its stored array, if it has one).
    """
    z = check_logits(logits)
    if z.ndim != 2:
        raise ConfigError(f"OOD scores need (N, C) logits, got shape {z.shape}")
    if score == "energy":
        return float(temperature) * _logsumexp(z / float(temperature))
    if score == "maxlogit":
        return np.asarray(z.max(axis=1))
    if score in ("msp", "entropy"):
        if probs is None:
            probs = softmax(z, temperature)
        p = np.asarray(probs, dtype=np.float64)
        if score == "msp":
            return np.asarray(p.max(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(p > 0, p * np.log(p), 0.0)
        return np.asarray(plogp.sum(axis=1))
    if score == "knn":
        if features is None or bank is None:
            raise ConfigError("the knn score needs features and a feature bank")
        return knn_scores(features, bank, k, leave_one_out=leave_one_out)
    if score in SCORE_KINDS:
        if probs is None:
            probs = softmax(z, temperature)
        inputs = ScoreInputs(z, np.asarray(probs, dtype=np.float64), features, float(temperature))
        return np.asarray(SCORE_KINDS[score].score(inputs, params or {}, bank), dtype=np.float64)
    raise ConfigError(f"unknown OOD score {score!r}; choose one of {', '.join(OOD_SCORES)}", option="ood_score")


def normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); an all-zero row stays zero."""
    f = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.maximum(norms, 1e-12)


def knn_scores(
    features: np.ndarray, bank: np.ndarray, k: int = DEFAULT_K, *, leave_one_out: bool = False, chunk: int = 1024
) -> np.ndarray:
    """Minus the Euclidean distance from each normalised feature to its ``k``-th nearest bank row.

    ``bank`` holds normalised rows. With ``leave_one_out`` the queries are the bank itself, and each
    row's own zero distance is skipped (so calibration images are not scored against themselves).

    Example:
        >>> bank = normalize(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        >>> knn_scores(np.array([[2.0, 0.0]]), bank, k=1).round(3).tolist()
        [-0.0]
    """
    q = normalize(check_finite_array(features, "features", ndim=2))
    b = check_finite_array(bank, "bank", ndim=2).astype(np.float32)
    if q.ndim != 2 or b.ndim != 2 or q.shape[1] != b.shape[1]:
        raise ConfigError(f"features {q.shape} and feature bank {b.shape} do not match; re-run 'yolo-probs calibrate'")
    k = check_whole(k, "k", low=1, option="ood_k")
    kk = k + (1 if leave_one_out else 0)
    if kk > b.shape[0]:
        images = f"{kk} images" + (" (k and the image itself)" if leave_one_out else "")
        raise ConfigError(
            f"k={k} needs at least {images} in the feature bank, it has {b.shape[0]}; lower k", option="ood_k"
        )
    out = np.empty(q.shape[0], dtype=np.float64)
    for start in range(0, q.shape[0], chunk):
        sims = q[start : start + chunk] @ b.T  # cosine similarity of unit vectors
        kth = -np.partition(-sims, kk - 1, axis=1)[:, kk - 1]  # the kk-th largest similarity
        out[start : start + chunk] = -np.sqrt(np.clip(2.0 - 2.0 * kth.astype(np.float64), 0.0, None))
    return out


def reject_rank(n: int, tpr: float) -> int:
    """``floor((n + 1)(1 - tpr))``: which order statistic (1-based, smallest first) the threshold is; 0 = none.

    Example:
        >>> reject_rank(99, 0.95), reject_rank(100, 0.95), reject_rank(18, 0.95)
        (5, 5, 0)
    """
    return math.floor((n + 1) * (1.0 - tpr) + 1e-9)  # 1e-9: (n+1)(1-tpr) = 4.999999999999 is 5


def min_id_images(tpr: float) -> int:
    """Fewest in-distribution calibration images for which a threshold accepting ``tpr`` exists.

    Example:
        >>> min_id_images(0.95), min_id_images(0.99), min_id_images(0.5)
        (19, 99, 1)
    """
    n = 1
    while reject_rank(n, tpr) < 1:
        n += 1
    return n


def threshold_at_tpr(scores: np.ndarray, tpr: float) -> float:
    """The split-conformal threshold: new in-distribution images score ``>=`` it with probability at least ``tpr``.

    It is the ``k``-th smallest of the ``n`` calibration scores, ``k = floor((n + 1)(1 - tpr))``: a
    new image exchangeable with them falls below it with probability at most ``k / (n + 1) <= 1 - tpr``
    (exactly ``k / (n + 1)`` without ties), so the expected acceptance of new images is at least
    ``tpr``, and ``(n + 1) tpr / n`` of the calibration images themselves are accepted. With fewer than
    :func:`min_id_images` scores there is no such threshold: a ConfigError says how many are needed.
    """
    s = np.sort(check_finite_array(scores, "scores", empty=True).reshape(-1))
    tpr = check_fraction(tpr, "the OOD true-positive rate")
    if s.size == 0:
        raise ConfigError("no in-distribution scores to choose a threshold on")
    k = reject_rank(s.size, tpr)
    if k < 1:
        raise ConfigError(
            f"{s.size} calibration images are too few for ood_tpr={tpr:g}: a threshold that accepts at least "
            f"{tpr:.4g} of new images needs at least {min_id_images(tpr)}; use more images or a lower ood_tpr",
            option="ood_tpr",
        )
    return float(s[k - 1])


def empirical_threshold(scores: np.ndarray, tpr: float) -> float:
    """The largest threshold that at least a fraction ``tpr`` of ``scores`` reach: a test-set metric's threshold."""
    s = np.sort(check_finite_array(scores, "scores", empty=True).reshape(-1))
    if s.size == 0:
        raise ConfigError("no in-distribution scores to choose a threshold on")
    n_reject = int(np.floor((1.0 - check_fraction(tpr, "the OOD true-positive rate")) * s.size + 1e-9))
    return float(s[min(n_reject, s.size - 1)])


def auroc(id_scores: np.ndarray, ood_scores_: np.ndarray) -> float:
    """Area under the ROC curve for telling in-distribution (positive, higher) from OOD; ties count 1/2."""
    a = check_finite_array(id_scores, "id_scores", empty=True).reshape(-1)
    b = check_finite_array(ood_scores_, "ood_scores", empty=True).reshape(-1)
    if a.size == 0 or b.size == 0:
        raise ConfigError("AUROC needs in-distribution and OOD scores")
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size, dtype=np.float64)
    sorted_vals = both[order]
    # average ranks over ties (Mann-Whitney U)
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: a.size].sum() - a.size * (a.size + 1) / 2.0
    return float(u / (a.size * b.size))


def fpr_at_tpr(id_scores: np.ndarray, ood_scores_: np.ndarray, tpr: float = 0.95) -> float:
    """Fraction of OOD scores accepted at the threshold that accepts ``tpr`` of the in-distribution ones.

    This measures a test set, so its threshold is the empirical one (:func:`empirical_threshold`).
    """
    t = empirical_threshold(id_scores, tpr)
    b = check_finite_array(ood_scores_, "ood_scores")
    return float(np.mean(b >= t))


@dataclass(frozen=True)
class OODFit:
    """What :func:`fit_ood` chose: the profile entry (without the bank's file name) and the bank to save."""

    entry: dict[str, Any]
    bank: np.ndarray | None
    scores: np.ndarray  # the calibration images' scores


def fit_ood(
    logits: np.ndarray,
    calibrator: Calibrator,
    *,
    score: str = DEFAULT_SCORE,
    tpr: float = 0.95,
    features: np.ndarray | None = None,
    k: int = DEFAULT_K,
    max_bank: int = MAX_BANK,
    seed: int = 0,
    layer: tuple[np.ndarray, np.ndarray] | None = None,
    options: dict[str, Any] | None = None,
) -> OODFit:
    """Choose the threshold that accepts at least ``tpr`` of new in-distribution images, at ``calibrator``.

    The threshold is :func:`threshold_at_tpr` of the calibration images' scores (a ConfigError when
    they are fewer than :func:`min_id_images`).

    For ``knn`` the bank is the calibration images' normalised features (float16, at most ``max_bank``
    of them) and each bank image is scored leaving itself out. A registered score (``gen``, ``vim``,
    ``react``) is fitted with ``options`` (its parameters, e.g. ``{"dim": 64}``) and, for ``vim`` and
    ``react``, the final layer ``layer = (weight (C, D), bias (C,))``; its array is the returned ``bank``.

    Example:
        >>> from yolo_probs.calibration import TemperatureScaling
        >>> z = np.random.default_rng(0).normal(size=(200, 4))
        >>> fit = fit_ood(z, TemperatureScaling(1.0), score="energy", tpr=0.9)
        >>> int(np.sum(fit.scores >= fit.entry["threshold"])), fit.entry["n"]  # 200 - floor(201 * 0.1) + 1
        (181, 200)
    """
    tpr = check_fraction(tpr, "the OOD true-positive rate (ood_tpr)", option="ood_tpr")
    score = check_choice(score, "score", score_names(), option="ood_score")
    z = check_logits(logits)
    if z.ndim != 2:
        raise ConfigError(f"logits must be (N, C): one row per calibration image, got shape {z.shape}")
    if not all(callable(getattr(calibrator, m, None)) for m in ("probs", "to_dict")):
        raise ConfigError(
            f"calibrator must be a calibrator (e.g. TemperatureScaling(1.0)), got {calibrator!r}", option="calibrator"
        )
    k = check_whole(k, "k", low=1, option="ood_k")
    if features is not None:
        features = check_finite_array(features, "features", ndim=2)
        if features.shape[0] != z.shape[0]:
            raise ConfigError(
                f"features has {features.shape[0]} rows but logits has {z.shape[0]}: one feature row per image"
            )
    layer = _checked_layer(layer, z.shape[1], None if features is None else features.shape[1])
    options = _checked_options(score, check_mapping(options, "options", "{'dim': 64}"))
    t = calibrator.temperature or 1.0
    entry: dict[str, Any] = {"score": score, "tpr": tpr}
    bank = None
    if score == "knn":
        if features is None:
            raise ConfigError("the knn score needs the features entering the final layer", option="ood_score")
        if k >= min(z.shape[0], check_whole(max_bank, "max_bank", low=2)):
            raise ConfigError(
                f"k={k} needs more than {k} calibration images in the feature bank (each is scored leaving "
                f"itself out), got {min(z.shape[0], max_bank)}; lower k",
                option="ood_k",
            )
        bank, s = knn_bank(features, k, max_bank, seed)
        entry["k"] = k
    elif score in SCORE_KINDS:
        kind = SCORE_KINDS[score]
        probs = np.asarray(calibrator.probs(z), dtype=np.float64)
        params, bank, *own = kind.fit(ScoreInputs(z, probs, features, float(t), layer), options or {})
        entry.update(params)
        s = own[0] if own else kind.score(ScoreInputs(z, probs, features, float(t)), params, bank)
        s = np.asarray(s, dtype=np.float64)
    else:
        s = ood_scores(score, z, probs=calibrator.probs(z), temperature=t)
    entry.update(threshold=threshold_at_tpr(s, tpr), n=int(z.shape[0]), calibrator=calibrator.to_dict())
    return OODFit(entry, bank, s)


def _checked_options(score: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against what ``score`` takes (a registered score's parameter fields; ``k`` for knn)."""
    fields = SCORE_KINDS[score].fields if score in SCORE_KINDS else {}
    allowed = set(fields) | ({"k"} if score == "knn" else set())
    for key, value in options.items():
        if key not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(f"options: the {score} score has no option {key!r} (it takes: {takes})",
                              option="options")  # fmt: skip
        if key in fields:
            options[key] = fields[key].check(value, f"options[{key!r}] of the {score} score")
    return options


def _checked_layer(layer: Any, classes: int, width: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """``layer`` (None, or the final layer's ``(weight (C, D), bias (C,))``) checked against the logits' C
    and the features' D, else a ConfigError naming it."""
    if layer is None:
        return None
    if not isinstance(layer, tuple | list) or len(layer) != 2:
        raise ConfigError(f"layer must be the final layer's (weight (C, D), bias (C,)), got {describe(layer)}",
                          option="layer")  # fmt: skip
    weight = check_finite_array(layer[0], "layer weight", ndim=2, option="layer")
    bias = check_finite_array(layer[1], "layer bias", ndim=1, option="layer")
    if weight.shape[0] != classes or bias.shape != (classes,) or (width is not None and weight.shape[1] != width):
        raise ConfigError(
            f"layer weight {weight.shape} and bias {bias.shape} must be ({classes}, D) and ({classes},): C the "
            f"logits' classes, D the features' width" + (f" ({width})" if width is not None else ""),
            option="layer",
        )
    return weight, bias


def fit_ood_auto(
    logits: np.ndarray,
    calibrator: Calibrator,
    unknown_logits: np.ndarray,
    *,
    tpr: float = 0.95,
    features: np.ndarray | None = None,
    unknown_features: np.ndarray | None = None,
    layer: tuple[np.ndarray, np.ndarray] | None = None,
    raw_logits: bool = True,
    folds: int = 5,
    seed: int = 0,
) -> tuple[OODFit, AutoChoice]:
    """The score (and parameters) with the lowest cross-validated FPR at ``tpr`` on example unknowns, fitted on all.

    See :mod:`~yolo_probs.decisions.ood_auto`. Candidates: every built-in and registered score the inputs
    allow (``knn`` with ``k`` in 1, 5, 10, 50 when ``features`` are given; ``vim``/``react`` also need
    ``layer``; ``energy``/``maxlogit``/``vim``/``react`` need ``raw_logits``). The entry records the CV
    table under ``auto``.

    Example:
        >>> from yolo_probs.calibration import TemperatureScaling
        >>> rng = np.random.default_rng(0)
        >>> z, u = rng.normal(size=(100, 3)) * 4, rng.normal(size=(20, 3))
        >>> fit, choice = fit_ood_auto(z, TemperatureScaling(1.0), u)
        >>> fit.entry["score"] == choice.best.score, len(choice.rows) >= 4
        (True, True)
    """
    z = check_logits(logits)
    zu = check_logits(unknown_logits)
    if z.ndim != 2 or zu.ndim != 2 or zu.shape[1] != z.shape[1]:
        raise ConfigError(f"logits {z.shape} and unknown_logits {zu.shape} must be (N, C) with the same C")
    if (features is None) != (unknown_features is None):
        raise ConfigError("give features for both the calibration images and the unknowns, or for neither")
    t = float(calibrator.temperature or 1.0)
    probs_u = np.asarray(calibrator.probs(zu), dtype=np.float64)

    def fit_and_score(cand: Candidate, train: np.ndarray, test: np.ndarray, unknown: np.ndarray) -> Any:
        f = None if features is None else features[train]
        found = fit_ood(z[train], calibrator, score=cand.score, tpr=tpr, features=f, k=cand.options.get("k", DEFAULT_K),
                        layer=layer, options=cand.options)  # fmt: skip
        bank = None if found.bank is None else found.bank.astype(np.float32)
        params, k = found.entry, cand.options.get("k", DEFAULT_K)

        def score(zz: np.ndarray, pp: np.ndarray, ff: np.ndarray | None) -> np.ndarray:
            return ood_scores(cand.score, zz, probs=pp, temperature=t, features=ff, bank=bank, k=k, params=params)

        s_id = score(
            z[test], np.asarray(calibrator.probs(z[test]), np.float64), None if features is None else features[test]
        )
        s_u = score(zu[unknown], probs_u[unknown], None if unknown_features is None else unknown_features[unknown])
        return found.entry["threshold"], s_id, s_u

    cands = candidates(z.shape[0], features=features is not None, layer=layer is not None, logits=raw_logits,
                       builtin=BUILTIN_SCORES)  # fmt: skip
    choice = choose(cands, z.shape[0], zu.shape[0], fit_and_score, folds=folds, seed=seed, min_train=min_id_images(tpr),
                    tpr=tpr)  # fmt: skip
    best = choice.best
    found = fit_ood(z, calibrator, score=best.score, tpr=tpr, features=features, k=best.options.get("k", DEFAULT_K),
                    layer=layer, options=best.options)  # fmt: skip
    return OODFit({**found.entry, "auto": choice.record()}, found.bank, found.scores), choice


def knn_bank(features: np.ndarray, k: int, max_bank: int = MAX_BANK, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k-NN feature bank of the calibration images (float16) and each image's score against it.

    The bank is the normalised features, at most ``max_bank`` of them (a seeded random subset); a
    bank image is scored leaving itself out, the others against the whole bank.

    Example:
        >>> bank, s = knn_bank(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]]), k=1, max_bank=2, seed=0)
        >>> bank.dtype, bank.shape, s.shape
        (dtype('float16'), (2, 2), (3,))
    """
    feats = normalize(check_finite_array(features, "features", ndim=2))
    keep = np.arange(feats.shape[0])
    if keep.size > max_bank:
        keep = np.sort(np.random.default_rng(seed).choice(keep.size, max_bank, replace=False))
    bank = feats[keep].astype(np.float16)
    bank32 = bank.astype(np.float32)
    in_bank = np.zeros(feats.shape[0], dtype=bool)
    in_bank[keep] = True
    s = np.empty(feats.shape[0], dtype=np.float64)
    s[in_bank] = knn_scores(bank32, bank32, k, leave_one_out=True)
    if (~in_bank).any():
        s[~in_bank] = knn_scores(feats[~in_bank], bank32, k)
    return bank, s


@dataclass(frozen=True)
class OODReport:
    """OOD metrics on labelled in-distribution images and a folder of unknowns.

    ``tpr``/``fpr`` are measured at the profile's threshold; ``fpr95`` at the threshold that accepts 95%
    of these in-distribution images. ``baseline`` holds the same metrics for ``msp``.
    """

    score: str
    threshold: float
    auroc: float
    fpr95: float
    tpr: float
    fpr: float
    n_id: int
    n_ood: int
    baseline: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_ood(
    score: str, threshold: float, id_scores: np.ndarray, ood: np.ndarray, baseline: tuple[np.ndarray, np.ndarray] | None
) -> OODReport:
    """Score a detector: AUROC, FPR at 95% TPR, and the rates at ``threshold``.

    Example:
        >>> r = evaluate_ood("energy", 0.5, np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.5]), None)
        >>> r.auroc, r.tpr, r.fpr
        (0.6666666666666666, 1.0, 0.5)
    """
    a = check_finite_array(id_scores, "id_scores").reshape(-1)
    b = check_finite_array(ood, "ood").reshape(-1)
    threshold = check_number(threshold, "threshold")
    base: dict[str, Any] | None = None
    if baseline is not None and score != "msp":
        base = {"score": "msp", "auroc": auroc(*baseline), "fpr95": fpr_at_tpr(*baseline, 0.95)}
    return OODReport(
        score=score,
        threshold=float(threshold),
        auroc=auroc(a, b),
        fpr95=fpr_at_tpr(a, b, 0.95),
        tpr=float(np.mean(a >= threshold)),
        fpr=float(np.mean(b >= threshold)),
        n_id=int(a.size),
        n_ood=int(b.size),
        baseline=base,
    )


def load_bank(entry: dict[str, Any]) -> np.ndarray:
    """The feature bank an ``ood`` entry names (a file checked against its sha256, or an array not yet saved)."""
    entry = check_ood_entry(entry)
    if isinstance(entry.get("bank"), np.ndarray):
        return _checked_bank(entry["bank"], "decisions.ood.bank", entry)
    path = Path(entry["bank"])
    if not path.is_file():
        raise ConfigError(f"feature bank {path} (decisions.ood.bank) not found; keep it beside the profile")
    if file_sha256(path) != entry["bank_sha256"]:
        raise ConfigError(
            f"feature bank {path} changed since calibration (sha256 differs); re-run 'yolo-probs calibrate'"
        )
    try:
        bank = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"cannot read feature bank {path} ({exc}); re-run 'yolo-probs calibrate'") from None
    if not isinstance(bank, np.ndarray):  # an .npz archive
        raise ConfigError(f"feature bank {path} is not one .npy array; re-run 'yolo-probs calibrate'")
    return _checked_bank(bank, f"feature bank {path} (decisions.ood.bank)", entry)


def _checked_bank(bank: Any, name: str, entry: dict[str, Any]) -> np.ndarray:
    """A feature bank as float32: 2-D, finite, more rows than ``k``."""
    try:
        rows = check_finite_array(bank, name, ndim=2)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; re-run 'yolo-probs calibrate'") from None
    if entry.get("score") in SCORE_KINDS:
        SCORE_KINDS[entry["score"]].check(entry, rows)
        return rows.astype(np.float32)
    k = int(entry.get("k", DEFAULT_K))
    if rows.shape[0] < k:
        raise ConfigError(f"{name} holds {rows.shape[0]} images, fewer than decisions.ood.k={k}; lower k")
    return rows.astype(np.float32)


class OODRule(CalibratedRule):
    """Fills ``ood_score`` and ``unknown`` on every prediction made at the calibration it was fitted at.

    Example:
        >>> import numpy as np
        >>> from yolo_probs.backends import BackendOutput
        >>> from yolo_probs.core.prediction import Prediction
        >>> at = {"method": "temperature", "temperature": 1.0}
        >>> rule = OODRule({"score": "maxlogit", "threshold": 2.0, "calibrator": at})
        >>> p = Prediction.from_logits(np.array([1.0, 0.5]), ("a", "b"))
        >>> out = rule.apply([p], BackendOutput(p.logits[None], "hook"))[0]
        >>> out.ood_score, out.unknown
        (1.0, True)
    """

    def __init__(self, entry: dict[str, Any], bank: np.ndarray | None = None) -> None:
        entry = check_fields(entry, "ood", ENTRY)  # the bank comes as an argument here
        self.score: str = entry["score"]
        self.threshold: float = entry["threshold"]
        self.calibrator: dict[str, Any] = entry["calibrator"]
        self.temperature = float(self.calibrator.get("temperature") or 1.0)
        self.k: int = entry.get("k", DEFAULT_K)
        self.params = {key: v for key, v in entry.items() if key not in ("bank", "bank_sha256", "calibrator", "auto")}
        self.needs_features = self.score in FEATURE_SCORES
        if self.needs_features and bank is None:
            raise ConfigError(f"decisions.ood uses {self.score} but no feature bank was given")
        self.bank = None if bank is None else _checked_bank(bank, "the feature bank", entry)

    def scores(self, logits: np.ndarray, probs: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        """Typicality scores for a batch."""
        return ood_scores(
            self.score,
            logits,
            probs=probs,
            temperature=self.temperature,
            features=features,
            bank=self.bank,
            k=self.k,
            params=self.params,
        )

    def decide(self, predictions: list[Prediction], rows: list[int], output: BackendOutput) -> list[dict[str, Any]]:
        """``ood_score`` and ``unknown`` of each prediction (one batch of scores)."""
        if self.score in LOGIT_SCORES and output.how == "log(prob)":
            raise ConfigError(
                f"the {self.score} score needs raw logits, but this model outputs probabilities only "
                "(energy from log p is constant); use msp or entropy, or a model that gives logits",
                option="ood_score",
            )
        if self.needs_features and output.features is None:
            raise ConfigError(
                f"the {self.score} score needs the features entering the final layer, which this backend does not "
                "give; use the PyTorch checkpoint or a logit score",
                option="ood_score",
            )
        logits = np.stack([p.logits for p in predictions])
        probs = np.stack([p.probs for p in predictions])
        feats = output.features[rows] if output.features is not None and self.needs_features else None
        s = self.scores(logits, probs, feats)
        return [{"ood_score": float(v), "unknown": bool(v < self.threshold)} for v in s]


def _rule_of(classifier: Any) -> OODRule:
    rule = next((r for r in classifier.decisions if isinstance(r, OODRule)), None)
    if rule is None:
        raise ConfigError("the classifier has no unknown-input rule; build it from a profile with an ood entry")
    return rule


def _final_layer(classifier: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's final ``nn.Linear`` as ``(weight, bias)``, where the backend can give it (PyTorch ones)."""
    get = getattr(getattr(classifier, "backend", None), "final_layer", None)
    return get() if callable(get) else None


def fit(options: dict[str, Any], result: Any, classifier: Any) -> dict[str, Any]:
    """The ``decisions.ood`` entry for :func:`yolo_probs.api.workflow.calibrate`.

    ``options``: ``tpr`` (default 0.95), ``score`` (default :data:`DEFAULT_SCORE`, or ``auto`` with
    ``ood_data``: a folder of example unknowns), ``k``. For the scores that keep an array (``knn``'s
    bank, ``vim``'s subspace, ``react``'s final layer) the entry's ``bank`` is that array;
    :func:`~yolo_probs.api.profile.save_profile` writes it beside the profile (float16 ``.npy``) and
    records its sha256. With ``auto`` the CV table is the entry's ``auto`` record.
    """
    score = options.get("score") or DEFAULT_SCORE
    collected = result.collected
    if score in FEATURE_SCORES and collected.features is None:
        raise ConfigError(
            f"the {score} score needs the features entering the final layer, which this model's backend does not "
            f"give (exported models have only their outputs); choose one of msp, entropy, gen, energy, maxlogit",
            option="ood_score",
        )
    tpr = options.get("tpr", 0.95)
    layer = _final_layer(classifier) if score in (AUTO, "vim", "react") and collected.features is not None else None
    if score == AUTO:
        folder = options.get("ood_data")
        if folder is None:
            raise ConfigError("--ood-score auto needs --ood-data DIR: a folder of example unknown images",
                              option="ood_score")  # fmt: skip
        z, f, raw = collect_unknowns(folder, classifier, collected.features is not None, result.warnings)
        found, _ = fit_ood_auto(collected.logits, result.calibrator, z, tpr=tpr, features=collected.features,
                                unknown_features=f, layer=layer, raw_logits=raw)  # fmt: skip
    else:
        found = fit_ood(collected.logits, result.calibrator, score=score, tpr=tpr, features=collected.features,
                        k=int(options.get("k") or DEFAULT_K), layer=layer)  # fmt: skip
    entry = dict(found.entry)
    if found.bank is not None:
        entry["bank"] = found.bank
    if isinstance(getattr(result, "scores", None), dict):  # the monitor's reference (decisions.monitor)
        result.scores["ood"] = found.scores
    return entry


def collect_unknowns(
    folder: Any, classifier: Any, features: bool, warnings_out: list[str]
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Logits (and features) of the readable images under ``folder``, and whether the logits are raw ones (not
    ``log p`` of a probabilities-only export); skipped images are counted in ``warnings_out``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = list_unknowns(folder, classifier.names)
    warnings_out.extend(str(w.message) for w in caught)
    logits, feats, failures, raw = [], [], 0, True
    for item in classifier.predict_each(files, features=features):
        if hasattr(item, "logits"):
            logits.append(item.logits)
            feats.append(item.features)
            raw = raw and getattr(item, "logits_source", None) != "log(prob)"
        else:
            failures += 1
    if failures:
        warnings_out.append(f"{failures} of {len(files)} unknown images could not be read and were skipped")
    if not logits:
        raise ConfigError(f"none of the {len(files)} images under {folder} could be read", option="ood_data")
    if features and any(x is None for x in feats):
        raise ConfigError("the backend gave no features for the unknown images", option="ood_score")
    return np.stack(logits).astype(np.float64), (np.stack(feats) if features else None), raw


def evaluate(entry: dict[str, Any], result: Any, classifier: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The ``ood`` section of :func:`yolo_probs.api.workflow.evaluate`.

    Without ``options["ood_data"]`` it reports the fraction of the labelled images accepted; with a
    folder of unknowns also AUROC, FPR at 95% TPR and the rates at the threshold (and MSP's, as a
    baseline).
    """
    rule = _rule_of(classifier)
    c = result.collected
    probs = np.asarray(result.calibrator.probs(c.logits), dtype=np.float64)
    id_scores = rule.scores(c.logits, probs, c.features)
    folder = options.get("ood_data")
    if folder is None:
        return {"score": rule.score, "threshold": rule.threshold, "tpr": float(np.mean(id_scores >= rule.threshold)),
                "n_id": int(id_scores.size)}  # fmt: skip
    z, f, _ = collect_unknowns(folder, classifier, rule.needs_features, result.warnings)
    p = np.asarray(result.calibrator.probs(z), dtype=np.float64)
    unknown = rule.scores(z, p, f)
    base = (ood_scores("msp", c.logits, probs=probs), ood_scores("msp", z, probs=p))
    return evaluate_ood(rule.score, rule.threshold, id_scores, unknown, base).to_dict()


def build(entry: dict[str, Any], profile: Any, classifier: Any) -> OODRule:
    """The rule a profile's ``decisions.ood`` entry describes (registered under ``"ood"``)."""
    entry = check_entry(entry, "ood", classifier, profile)
    bank = load_bank(entry) if entry.get("score") in FEATURE_SCORES else None
    return OODRule(entry, bank)


KIND = DecisionKind(key="ood", build=build, fit=fit, evaluate=evaluate, fit_needs_features=True, check=check_ood_entry)
