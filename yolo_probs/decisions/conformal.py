"""Conformal prediction sets (split conformal): LAC, APS and RAPS scores, q-hat, sets and their coverage.

With ``n`` calibration images, a non-conformity score ``s(x, y)`` and a level ``alpha``, q-hat is the
``ceil((n + 1)(1 - alpha))``-th smallest score of the true labels, and the set of a new image is
``{y : s(x, y) <= q-hat}``: it holds the true class with probability at least ``1 - alpha``
(Angelopoulos et al., RAPS, ICLR 2021). q-hat is infinite (a clear error here) when
``n < 1 / alpha - 1``.

Scores (computed on the calibrated probabilities ``p``):

- ``lac``: ``1 - p_y`` (a class is in the set when ``p_y >= 1 - q-hat``).
- ``aps``: the total probability of the classes ranked at or above ``y``.
- ``raps``: APS plus ``penalty * max(0, rank(y) - k_reg)``, which keeps sets small.

Non-randomised by default: APS/RAPS sets then always hold the top class (never empty; a LAC set can
be empty, a sign the input is unlike every class). ``randomized=True`` draws one uniform ``u`` per
image (``s = cumsum before y + u * p_y``), at fitting and at prediction: coverage is then ``1 - alpha``
on average over calibration sets and draws (up to ``1 / (n + 1)``), not merely at least ``1 - alpha``.
That needs fresh randomness: by default every fit and every rule draws its own (``seed=None``); a
``seed`` makes a fit reproducible and is stored in the entry, so its predictions are reproducible too
(they draw from a stream derived from the seed, not the fitting one). A fixed seed is one draw of
``u``: over many fits with the same seed, coverage is biased by that draw (by up to several points when
the top class holds nearly all the probability), so leave it unset when measuring coverage.
``class_conditional`` uses one q-hat per class (coverage per class), from that class's own calibration images.

Example:
    >>> import numpy as np
    >>> p = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]])
    >>> conformity_scores(p, "aps").round(2).tolist()
    [[0.7, 0.9, 1.0], [0.5, 0.8, 1.0]]
    >>> conformal_quantile(np.arange(1.0, 20.0), alpha=0.1)
    18.0
    >>> prediction_sets(p, 0.85, "aps").tolist()
    [[True, False, False], [True, True, False]]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.calibration import calibrator_from_dict
from yolo_probs.core.checks import (
    check_choice,
    check_finite_array,
    check_flag,
    check_logits_labels,
    check_number,
    check_whole,
)
from yolo_probs.core.probs import TopClass
from yolo_probs.decisions._common import (
    CalibratedRule,
    Field,
    calibrator_mapping,
    check_entry,
    check_fields,
    check_fraction,
    flag,
    fraction,
    number,
    whole,
)
from yolo_probs.decisions.base import DecisionKind
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends import BackendOutput
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "CONFORMAL_SCORES",
    "DEFAULT_SCORE",
    "ConformalReport",
    "ConformalRule",
    "conformal_quantile",
    "conformity_scores",
    "evaluate_conformal",
    "fit_conformal",
    "label_scores",
    "prediction_sets",
]

CONFORMAL_SCORES = ("lac", "aps", "raps")
#: Chosen from the measurements in docs/decisions.md: on the digits model (99% accurate) at alpha 0.1, APS sets
#: hold 4.0 classes on average, RAPS 1.01 (coverage 99.2%), LAC 0.94 (6.4% of them empty).
DEFAULT_SCORE = "raps"
DEFAULT_PENALTY = 0.1
DEFAULT_K_REG = 1


def _qhat(value: Any, name: str) -> float | list[float]:
    """A :class:`Field` check: one finite q-hat, or a non-empty list of them (one per class)."""
    if isinstance(value, list | tuple | np.ndarray):
        if len(value) == 0:
            raise ConfigError(f"{name} must be a number or a list with one number per class, got an empty list")
        return [check_number(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return check_number(value, name)


#: The keys of a profile's ``decisions.conformal`` entry, each with its check.
ENTRY: dict[str, Field] = {
    "alpha": Field(fraction),
    "score": Field(lambda v, n: check_choice(v, n, CONFORMAL_SCORES)),
    "qhat": Field(_qhat),
    "n": Field(whole(1), required=False),
    "randomized": Field(flag, required=False),
    "class_conditional": Field(flag, required=False),
    "penalty": Field(number(low=0.0), required=False),
    "k_reg": Field(whole(0), required=False),
    "seed": Field(whole(0), required=False),
    "calibrator": Field(calibrator_mapping),
}


def check_conformal_entry(entry: Any, num_classes: int | None = None) -> dict[str, Any]:
    """A ``decisions.conformal`` entry checked key by key (:data:`ENTRY`); a q-hat per class when class-conditional.

    Example:
        >>> at = {"method": "temperature", "temperature": 1.0}
        >>> check_conformal_entry({"alpha": 0.1, "score": "lac", "qhat": 0.8, "randomized": "no", "calibrator": at})
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.conformal.randomized must be true or false, got 'no' (str)
    """
    checked = check_fields(entry, "conformal", ENTRY)
    per_class = isinstance(checked["qhat"], list)
    if "class_conditional" in checked and checked["class_conditional"] != per_class:
        want = "a list with one q-hat per class" if checked["class_conditional"] else "one number"
        raise ConfigError(
            f"decisions.conformal.qhat must be {want} when class_conditional is "
            f"{str(checked['class_conditional']).lower()}; re-run 'yolo-probs calibrate'"
        )
    if per_class and num_classes is not None and len(checked["qhat"]) != num_classes:
        raise ConfigError(
            f"decisions.conformal.qhat has {len(checked['qhat'])} values for {num_classes} classes; "
            "re-run 'yolo-probs calibrate' for this model"
        )
    return checked


def _check_probs(probs: Any) -> np.ndarray:
    """``(N, C)`` probabilities as float64: finite, in [0, 1]; ConfigError naming ``probs`` otherwise."""
    p = check_finite_array(probs, "probs", ndim=2)
    if p.shape[1] < 1:
        raise ConfigError(f"conformal scores need (N, C) probabilities, got shape {p.shape}")
    _in_unit_interval(p)
    return p


def _in_unit_interval(p: np.ndarray) -> None:
    outside = (p < 0.0) | (p > 1.0 + 1e-6)
    if outside.any():
        first = int(np.flatnonzero(outside.any(axis=1))[0])
        raise ConfigError(
            f"probs must be probabilities in [0, 1]; row {first} is not (calibrated probabilities, not logits)"
        )


def conformity_scores(
    probs: Any, score: str, *, penalty: float = DEFAULT_PENALTY, k_reg: int = DEFAULT_K_REG, u: Any = None
) -> np.ndarray:
    """Non-conformity of every class of every image, ``(N, C)`` float64 (lower = more conforming).

    ``u`` (``N`` uniforms in [0, 1]) randomises APS/RAPS: ``cumsum before y + u * p_y``; None is the
    non-randomised score (``u = 1``).
    """
    p = _check_probs(probs)
    score = check_choice(score, "score", CONFORMAL_SCORES, option="score")
    if score == "lac":
        return 1.0 - p
    order = np.argsort(-p, axis=1, kind="stable")
    ordered = np.take_along_axis(p, order, axis=1)
    cum = np.cumsum(ordered, axis=1)
    if u is not None:
        cum = cum - (1.0 - np.asarray(u, dtype=np.float64).reshape(-1, 1)) * ordered
    if score == "raps":
        ranks = np.arange(1, p.shape[1] + 1, dtype=np.float64)
        cum = cum + np.maximum(float(penalty) * (ranks - int(k_reg)), 0.0)
    out = np.empty_like(cum)
    np.put_along_axis(out, order, cum, axis=1)
    return out


def label_scores(probs: Any, labels: Any, score: str, **kwargs: Any) -> np.ndarray:
    """The non-conformity of each image's true label, ``(N,)``."""
    p, y = check_logits_labels(probs, labels, name="probs")
    s = conformity_scores(p, score, **kwargs)
    return s[np.arange(y.size), y]


def quantile_rank(n: int, alpha: float) -> int:
    """``ceil((n + 1)(1 - alpha))``: which order statistic q-hat is (1-based).

    Example:
        >>> quantile_rank(99, 0.1), quantile_rank(8, 0.1)
        (90, 9)
    """
    return math.ceil((n + 1) * (1.0 - alpha) - 1e-9)  # 1e-9: (n+1)(1-alpha) = 90.00000000000001 is 90


def min_samples(alpha: float) -> int:
    """Fewest calibration images for which q-hat is finite at ``alpha``.

    Example:
        >>> min_samples(0.1), min_samples(0.05)
        (9, 19)
    """
    n = 1
    while quantile_rank(n, alpha) > n:
        n += 1
    return n


def conformal_quantile(scores: Any, alpha: float) -> float:
    """q-hat: the ``ceil((n + 1)(1 - alpha))``-th smallest score; ConfigError when that is beyond ``n``."""
    alpha = check_fraction(alpha, "alpha (the conformal error level)", option="conformal")
    s = np.sort(check_finite_array(scores, "scores", empty=True).reshape(-1))
    k = quantile_rank(s.size, alpha)
    if k > s.size:
        raise ConfigError(
            f"{s.size} calibration images are too few for alpha={alpha:g} (q-hat would be infinite): "
            f"need at least {min_samples(alpha)}; use more images or a larger alpha",
            option="conformal",
        )
    return float(s[k - 1])


def prediction_sets(
    probs: Any,
    qhat: float | np.ndarray,
    score: str,
    *,
    penalty: float = DEFAULT_PENALTY,
    k_reg: int = DEFAULT_K_REG,
    u: Any = None,
) -> np.ndarray:
    """``(N, C)`` boolean membership: ``s(x, y) <= q-hat`` (q-hat a number, or one per class).

    Non-randomised APS/RAPS sets also always hold the top class.
    """
    p = _check_probs(probs)
    s = conformity_scores(p, score, penalty=penalty, k_reg=k_reg, u=u)
    q = check_finite_array(qhat, "qhat")
    if q.ndim > 1 or (q.ndim == 1 and q.size != p.shape[1]):
        raise ConfigError(f"qhat must be one number or one per class ({p.shape[1]}), got shape {q.shape}")
    member = s <= (q.reshape(1, -1) if q.ndim == 1 else q)
    if score != "lac" and u is None:
        member[np.arange(p.shape[0]), np.argmax(p, axis=1)] = True
    return member


def fit_conformal(
    probs: Any,
    labels: Any,
    alpha: float,
    score: str = DEFAULT_SCORE,
    *,
    penalty: float = DEFAULT_PENALTY,
    k_reg: int = DEFAULT_K_REG,
    randomized: bool = False,
    class_conditional: bool = False,
    names: Any = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The profile entry (without ``calibrator``): ``alpha``, ``score``, ``qhat`` (a list per class if asked), ``n``.

    ``seed`` (randomised sets only): None draws fresh randomness (the default: what the coverage
    guarantee assumes); a whole number makes the fit reproducible and is kept in the entry as ``seed``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> p = rng.dirichlet(np.ones(3), size=50)
        >>> entry = fit_conformal(p, rng.integers(0, 3, 50), alpha=0.2, score="lac")
        >>> entry["n"], entry["score"], round(entry["qhat"], 3)
        (50, 'lac', 0.879)
    """
    alpha = check_fraction(alpha, "alpha (the conformal error level)", option="conformal")
    score = check_choice(score, "score", CONFORMAL_SCORES, option="score")
    p, y = check_logits_labels(probs, labels, name="probs")
    _in_unit_interval(p)
    penalty = check_number(penalty, "penalty", low=0.0)
    k_reg = check_whole(k_reg, "k_reg", low=0)
    randomized = check_flag(randomized, "randomized")
    class_conditional = check_flag(class_conditional, "class_conditional")
    if seed is not None:
        seed = check_whole(seed, "seed", low=0, option="seed")
    u = np.random.default_rng(seed).uniform(size=p.shape[0]) if randomized else None
    s = label_scores(p, y, score, penalty=penalty, k_reg=k_reg, u=u)
    entry: dict[str, Any] = {"alpha": alpha, "score": score}
    if class_conditional:
        _check_per_class(y, p.shape[1], alpha, names)
        entry["qhat"] = [conformal_quantile(s[y == c], alpha) for c in range(p.shape[1])]
    else:
        entry["qhat"] = conformal_quantile(s, alpha)
    entry.update(n=int(y.size), randomized=bool(randomized), class_conditional=bool(class_conditional))
    if score == "raps":
        entry.update(penalty=float(penalty), k_reg=int(k_reg))
    if randomized and seed is not None:
        entry["seed"] = int(seed)
    return entry


def prediction_rng(seed: int | None) -> np.random.Generator:
    """The generator of a rule's prediction-time draws: fresh for None, else a stream derived from ``seed``
    that differs from the one :func:`fit_conformal` drew the calibration images' ``u`` from.

    Example:
        >>> bool(prediction_rng(3).uniform() == prediction_rng(3).uniform())
        True
        >>> bool(prediction_rng(3).uniform() == np.random.default_rng(3).uniform())
        False
    """
    return np.random.default_rng(None if seed is None else [int(seed), 1])


def _check_per_class(labels: np.ndarray, classes: int, alpha: float, names: Any) -> None:
    """ConfigError naming the classes with too few calibration images for a q-hat of their own at ``alpha``."""
    need = min_samples(alpha)
    counts = np.bincount(labels, minlength=classes)
    short = [i for i in range(classes) if counts[i] < need]
    if short:
        label = (lambda i: str(names[i])) if names is not None else str
        shown = ", ".join(f"{label(i)} ({counts[i]})" for i in short[:10]) + (" ..." if len(short) > 10 else "")
        raise ConfigError(
            f"class-conditional sets at alpha={alpha:g} need at least {need} calibration images per class; "
            f"too few for: {shown}; add images or drop class_conditional",
            option="conformal",
        )


@dataclass(frozen=True)
class ConformalReport:
    """Empirical behaviour of conformal sets on labelled images."""

    alpha: float
    score: str
    coverage: float
    mean_set_size: float
    max_set_size: int
    empty_sets: float
    coverage_per_class: dict[str, float | None]
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_conformal(
    entry: dict[str, Any], probs: Any, labels: Any, names: Any, seed: int | None = None
) -> ConformalReport:
    """Coverage (overall and per class), mean and largest set size of an entry's sets on labelled images.

    Randomised sets draw their ``u`` as the entry's rule does (fresh, or from the entry's ``seed``), or
    reproducibly from ``seed`` when given.

    Example:
        >>> p = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]])
        >>> r = evaluate_conformal({"alpha": 0.1, "score": "lac", "qhat": 0.5}, p, [0, 0, 1], ["a", "b"])
        >>> r.coverage, r.mean_set_size, r.coverage_per_class
        (0.3333333333333333, 1.0, {'a': 0.5, 'b': 0.0})
    """
    p, y = check_logits_labels(probs, labels, name="probs")
    _in_unit_interval(p)
    # as the entry's rule would draw (fresh, or from its stored seed) unless a seed is given
    given = None if seed is None else np.random.default_rng(check_whole(seed, "seed", low=0))
    rng = given or prediction_rng(entry.get("seed"))
    member = sets_for(entry, p, rng)
    hit = member[np.arange(y.size), y]
    sizes = member.sum(axis=1)
    per_class: dict[str, float | None] = {}
    for c in range(p.shape[1]):
        mask = y == c
        per_class[str(names[c])] = float(hit[mask].mean()) if mask.any() else None
    return ConformalReport(
        alpha=float(entry["alpha"]),
        score=str(entry["score"]),
        coverage=float(hit.mean()),
        mean_set_size=float(sizes.mean()),
        max_set_size=int(sizes.max()),
        empty_sets=float(np.mean(sizes == 0)),
        coverage_per_class=per_class,
        n=int(y.size),
    )


def sets_for(entry: dict[str, Any], probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Membership of the sets an entry describes, for ``(N, C)`` calibrated probabilities."""
    u = rng.uniform(size=probs.shape[0]) if entry.get("randomized") else None
    return prediction_sets(
        probs,
        np.asarray(entry["qhat"], dtype=np.float64),
        entry["score"],
        penalty=float(entry.get("penalty", DEFAULT_PENALTY)),
        k_reg=int(entry.get("k_reg", DEFAULT_K_REG)),
        u=u,
    )


class ConformalRule(CalibratedRule):
    """Fills :attr:`Prediction.set` (classes, best first) on predictions made at its calibration.

    Example:
        >>> import numpy as np
        >>> from yolo_probs.backends import BackendOutput
        >>> from yolo_probs.core.prediction import Prediction
        >>> at = {"method": "temperature", "temperature": 1.0}
        >>> entry = {"alpha": 0.1, "score": "lac", "qhat": 0.8, "calibrator": at}
        >>> p = Prediction.from_logits(np.array([2.0, 1.5, -3.0]), ("a", "b", "c"))
        >>> [c.name for c in ConformalRule(entry).apply([p], BackendOutput(p.logits[None], "hook"))[0].set]
        ['a', 'b']
    """

    def __init__(self, entry: dict[str, Any], num_classes: int | None = None) -> None:
        self.entry = check_conformal_entry(entry, num_classes)
        self.calibrator: dict[str, Any] = self.entry["calibrator"]
        self._probs = calibrator_from_dict(self.calibrator)  # float64 probabilities, as at fitting
        self.rng = prediction_rng(self.entry.get("seed"))

    def decide(self, predictions: list[Prediction], rows: list[int], output: BackendOutput) -> list[dict[str, Any]]:
        """The ``set`` of each prediction: its members, most probable first."""
        probs = probs64(self._probs, np.stack([p.logits for p in predictions]))
        member = sets_for(self.entry, probs, self.rng)
        fields = []
        for row, p in enumerate(predictions):
            chosen = [int(c) for c in np.argsort(-p.probs, kind="stable") if member[row, c]]
            fields.append({"set": [TopClass(c, p.names[c], float(p.probs[c])) for c in chosen]})
        return fields


def probs64(calibrator: Any, logits: np.ndarray) -> np.ndarray:
    """Calibrated probabilities in float64: APS/RAPS add up probabilities next to 1, where float32 saturates."""
    with np.errstate(under="ignore"):
        return np.exp(np.asarray(calibrator.log_probs(np.asarray(logits, dtype=np.float64)), dtype=np.float64))


def fit(options: dict[str, Any], result: Any, classifier: Any) -> dict[str, Any]:
    """The ``decisions.conformal`` entry for :func:`yolo_probs.api.workflow.calibrate`, at its fitted calibrator.

    ``options``: ``alpha`` (required), ``score`` (default :data:`DEFAULT_SCORE`), ``randomized``, ``class_conditional``,
    ``penalty``, ``k_reg``, ``seed`` (randomised sets; default None: fresh randomness).
    """
    if "alpha" not in options:
        raise ConfigError("conformal sets need alpha, the error level (e.g. 0.1)", option="conformal")
    c = result.collected
    entry = fit_conformal(
        probs64(result.calibrator, c.logits),
        c.labels,
        options["alpha"],
        options.get("score") or DEFAULT_SCORE,
        penalty=float(options.get("penalty", DEFAULT_PENALTY)),
        k_reg=int(options.get("k_reg", DEFAULT_K_REG)),
        randomized=bool(options.get("randomized", False)),
        class_conditional=bool(options.get("class_conditional", False)),
        names=classifier.names,
        seed=options.get("seed"),
    )
    return {**entry, "calibrator": result.calibrator.to_dict()}


def evaluate(entry: dict[str, Any], result: Any, classifier: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The ``conformal`` section of :func:`yolo_probs.api.workflow.evaluate`: coverage and set sizes."""
    c = result.collected
    return evaluate_conformal(entry, probs64(result.calibrator, c.logits), c.labels, classifier.names).to_dict()


def build(entry: dict[str, Any], profile: Any, classifier: Any) -> ConformalRule:
    """The rule a profile's ``decisions.conformal`` entry describes (registered under ``"conformal"``)."""
    return ConformalRule(check_entry(entry, "conformal", classifier, profile), len(classifier.names))


KIND = DecisionKind(key="conformal", build=build, fit=fit, evaluate=evaluate, check=check_conformal_entry)
