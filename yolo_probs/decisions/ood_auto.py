"""``--ood-score auto``: choose the unknown-input score and its parameters by cross-validated FPR at 95% TPR.

The in-distribution calibration images and the example unknowns are each split into ``folds`` folds.
For fold ``i`` every candidate (a score with one set of parameters: k-NN's ``k``, ReAct's percentile,
ViM's subspace size, GEN's gamma) is fitted on the other in-distribution folds, exactly as ``calibrate``
fits it (split-conformal threshold at ``tpr``), and measured on the held-out folds: the fraction of
held-out unknowns it accepts (FPR), of held-out in-distribution images it accepts (TPR) and the AUROC.
The candidate with the lowest mean FPR wins (ties: the higher mean AUROC, then the earlier candidate),
among those whose held-out TPR is at most ``TPR_SLACK`` below ``tpr``: a score whose threshold does not
hold on new in-distribution images is listed but never chosen.

The fitting itself is :func:`yolo_probs.decisions.ood.fit_ood` (passed in as ``fit_and_score``, so this
module needs nothing from ``ood``); :func:`yolo_probs.decisions.ood.fit_ood_auto` is the entry point.

Example:
    >>> import numpy as np
    >>> fold_ids(7, 3, np.random.default_rng(0)).tolist()
    [2, 1, 0, 0, 2, 0, 1]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from yolo_probs.decisions.ood_registry import SCORE_KINDS
from yolo_probs.errors import ConfigError

__all__ = [
    "DEFAULT_FOLDS",
    "KNN_KS",
    "TPR_SLACK",
    "AutoChoice",
    "AutoRow",
    "Candidate",
    "candidates",
    "choose",
    "fold_ids",
]

DEFAULT_FOLDS = 5
#: How far below the target TPR a candidate's cross-validated TPR may fall and still be chosen.
TPR_SLACK = 0.025
KNN_KS = (1, 5, 10, 50)


@dataclass(frozen=True)
class Candidate:
    """One score with one set of parameters (``options`` as :func:`~yolo_probs.decisions.ood.fit_ood` takes them)."""

    score: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``"knn k=5"``, ``"energy"``..."""
        return " ".join([self.score, *(f"{k}={v:g}" for k, v in self.options.items())])


@dataclass(frozen=True)
class AutoRow:
    """A candidate's cross-validated FPR (at the fitted threshold), its standard error, TPR and AUROC."""

    label: str
    score: str
    options: dict[str, Any]
    fpr: float
    fpr_se: float
    tpr: float
    auroc: float
    chosen: bool = False
    eligible: bool = True


@dataclass(frozen=True)
class AutoChoice:
    """The chosen candidate and the whole CV table (best first)."""

    best: Candidate
    rows: list[AutoRow]
    folds: int
    n_id: int
    n_unknown: int

    def record(self) -> dict[str, Any]:
        """What the profile keeps under ``decisions.ood.auto``."""
        return {"folds": self.folds, "n_id": self.n_id, "n_unknown": self.n_unknown,
                "table": [{k: v for k, v in asdict(r).items() if k != "options"} for r in self.rows]}  # fmt: skip


def candidates(
    n_id: int, *, features: bool, layer: bool, logits: bool = True, builtin: Sequence[str] = ()
) -> list[Candidate]:
    """Every candidate that the inputs allow: k-NN's k below the bank size, registered scores' grids.

    Example:
        >>> [c.label for c in candidates(30, features=True, layer=False, builtin=("knn", "msp"))]
        ['knn k=1', 'knn k=5', 'knn k=10', 'msp', 'gen gamma=0.1', 'gen gamma=0.5']
    """
    out: list[Candidate] = []
    for name in builtin:
        if name == "knn":
            out += [Candidate("knn", {"k": k}) for k in KNN_KS if features and k < n_id * 0.75]
        elif name not in ("energy", "maxlogit") or logits:
            out.append(Candidate(name))
    for kind in SCORE_KINDS.values():
        usable = (features or not kind.needs_features) and (layer or not kind.needs_layer)
        if usable and (logits or not kind.needs_logits):
            out += [Candidate(kind.name, dict(options)) for options in kind.grid]
    return out


def fold_ids(n: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A random fold number (0 .. folds-1) for each of ``n`` items, the folds as equal as can be."""
    return np.asarray(rng.permutation(np.arange(n) % folds))


#: ``(candidate, train_rows, [held-out in-distribution rows, held-out unknown rows]) -> (threshold, [scores...])``
FitAndScore = Callable[[Candidate, np.ndarray, np.ndarray, np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def _auroc(a: np.ndarray, b: np.ndarray) -> float:
    """P(in-distribution score > unknown score), ties counted 1/2 (pairwise; the folds are small)."""
    return float(((a[:, None] > b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum()) / (a.size * b.size))


def _cross_validate(
    cand: Candidate, id_fold: np.ndarray, unknown_fold: np.ndarray, folds: int, fit_and_score: FitAndScore
) -> tuple[float, float, float, float]:
    """``(mean FPR, its standard error, mean TPR, mean AUROC)`` of one candidate over the folds."""
    fprs, tprs, aucs = [], [], []
    for i in range(folds):
        train, test, unknown = (np.flatnonzero(id_fold != i), np.flatnonzero(id_fold == i),
                                np.flatnonzero(unknown_fold == i))  # fmt: skip
        threshold, s_id, s_unknown = fit_and_score(cand, train, test, unknown)
        fprs.append(float(np.mean(s_unknown >= threshold)))
        tprs.append(float(np.mean(s_id >= threshold)))
        aucs.append(_auroc(s_id, s_unknown))
    return (
        float(np.mean(fprs)),
        float(np.std(fprs, ddof=1) / np.sqrt(folds)),
        float(np.mean(tprs)),
        float(np.mean(aucs)),
    )


def choose(
    cands: Sequence[Candidate],
    n_id: int,
    n_unknown: int,
    fit_and_score: FitAndScore,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    min_train: int = 1,
    tpr: float = 0.95,
) -> AutoChoice:
    """Cross-validate ``cands`` over ``folds`` folds of the in-distribution and unknown images; lowest mean FPR wins."""
    if not cands:
        raise ConfigError("no unknown-input score fits this model's outputs", option="ood_score")
    if n_unknown < folds:
        raise ConfigError(
            f"--ood-score auto needs at least {folds} example unknown images (one per fold), got {n_unknown}; "
            "add images to --ood-data",
            option="ood_data",
        )
    if n_id - -(-n_id // folds) < min_train:
        raise ConfigError(
            f"--ood-score auto fits on {folds - 1}/{folds} of the {n_id} calibration images, fewer than the "
            f"{min_train} a threshold needs; use more calibration images",
            option="ood_score",
        )
    rng = np.random.default_rng(seed)
    id_fold, unknown_fold = fold_ids(n_id, folds, rng), fold_ids(n_unknown, folds, rng)
    with threadpool_limits(limits=1):  # many small fits: BLAS threads only contend (see ood_vim._subspace)
        stats = [_cross_validate(c, id_fold, unknown_fold, folds, fit_and_score) for c in cands]
    ok = [stats[j][2] >= tpr - TPR_SLACK for j in range(len(cands))]
    order = sorted(range(len(cands)), key=lambda j: (not ok[j], stats[j][0], -stats[j][3], j))
    rows = [AutoRow(cands[j].label, cands[j].score, cands[j].options, *stats[j], chosen=j == order[0], eligible=ok[j])
            for j in order]  # fmt: skip
    return AutoChoice(cands[order[0]], rows, folds, n_id, n_unknown)
