"""The decisions a user asks ``calibrate`` for, checked up front.

:class:`DecisionOptions` validates every option before minutes of inference and turns them into the
``decisions`` argument of :func:`yolo_probs.api.workflow.calibrate`.

Example:
    >>> DecisionOptions(conformal=0.1, score="lac").to_workflow()["conformal"]  # the default score is raps
    {'alpha': 0.1, 'score': 'lac', 'randomized': False, 'class_conditional': False, 'penalty': 0.1, 'k_reg': 1}
    >>> DecisionOptions(conformal=1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yolo_probs.errors.ConfigError: alpha (the conformal error level) must be a number strictly between 0 and 1, got 1.5
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from yolo_probs.core.checks import check_flag, check_number, check_whole
from yolo_probs.decisions import conformal as _cp
from yolo_probs.decisions import ood as _ood
from yolo_probs.decisions._common import check_fraction
from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.inputs.labelled import list_unknowns

__all__ = ["DecisionOptions"]


@dataclass(frozen=True)
class DecisionOptions:
    """Which decisions to fit, validated on construction (before minutes of inference).

    Attributes:
        ood_tpr: fit an unknown-input detector accepting this fraction of calibration images (None: no).
        ood_score: its score (:data:`~yolo_probs.decisions.ood.OOD_SCORES`), or ``auto`` to choose it by
            cross-validation on the example unknowns in the folder ``ood_data``; ``ood_k`` for ``knn``.
        conformal: fit conformal sets at this alpha (None: no); ``score``, ``randomized``,
            ``class_conditional``, ``penalty``, ``k_reg`` as in :mod:`~yolo_probs.decisions.conformal`;
            ``seed`` fixes randomised sets' draws (None: fresh randomness, stored in the profile otherwise).
        target_accuracy: choose a guaranteed reject threshold for this accuracy (None: no), at ``delta``.
    """

    ood_tpr: float | None = None
    ood_score: str = _ood.DEFAULT_SCORE
    ood_k: int = _ood.DEFAULT_K
    ood_data: str | os.PathLike[str] | None = None
    conformal: float | None = None
    score: str = _cp.DEFAULT_SCORE
    randomized: bool = False
    class_conditional: bool = False
    penalty: float = _cp.DEFAULT_PENALTY
    k_reg: int = _cp.DEFAULT_K_REG
    seed: int | None = None
    target_accuracy: float | None = None
    delta: float = 0.1

    def __post_init__(self) -> None:
        if self.ood_tpr is not None:
            check_fraction(self.ood_tpr, "the OOD true-positive rate (ood_tpr)", option="ood_tpr")
        if self.ood_score not in (*_ood.score_names(), _ood.AUTO):
            raise ConfigError(
                f"unknown OOD score {self.ood_score!r}; choose one of {', '.join(_ood.score_names())} or auto",
                option="ood_score",
            )
        self._check_ood_data()
        if isinstance(self.ood_k, bool) or not isinstance(self.ood_k, int) or self.ood_k < 1:
            raise ConfigError(f"k must be a whole number >= 1, got {self.ood_k!r}", option="ood_k")
        if self.conformal is not None:
            check_fraction(self.conformal, "alpha (the conformal error level)", option="conformal")
        if self.score not in _cp.CONFORMAL_SCORES:
            raise ConfigError(
                f"unknown conformal score {self.score!r}; choose one of {', '.join(_cp.CONFORMAL_SCORES)}",
                option="score",
            )
        check_number(self.penalty, "penalty (the RAPS penalty)", low=0.0, option="penalty")
        check_whole(self.k_reg, "k_reg (the RAPS rank without penalty)", low=0, option="k_reg")
        check_flag(self.randomized, "randomized", option="randomized")
        check_flag(self.class_conditional, "class_conditional", option="class_conditional")
        if self.seed is not None:
            check_whole(self.seed, "seed", low=0, option="seed")
        if self.target_accuracy is not None:
            check_fraction(self.target_accuracy, "the target accuracy", option="target_accuracy")
        check_fraction(self.delta, "delta (the risk of missing the target)", option="delta")

    def _check_ood_data(self) -> None:
        """``auto`` needs a folder of example unknowns with images in it; the folder is for ``auto`` only."""
        if self.ood_score == _ood.AUTO and self.ood_data is None:
            raise ConfigError(
                "--ood-score auto needs --ood-data DIR, a folder of example images of no trained class to choose "
                "the score on; pass one or name a score (e.g. --ood-score knn)",
                option="ood_score",
            )
        if self.ood_data is None:
            return
        if self.ood_score != _ood.AUTO:
            raise ConfigError("--ood-data is what --ood-score auto chooses on; add --ood-score auto or drop it",
                              option="ood_data")  # fmt: skip
        try:
            list_unknowns(self.ood_data, ())
        except SourceError as exc:
            raise ConfigError(f"--ood-data {exc}", option="ood_data") from None

    @property
    def any(self) -> bool:
        """Whether any decision was asked for."""
        return self.ood_tpr is not None or self.conformal is not None or self.target_accuracy is not None

    @property
    def needs_features(self) -> bool:
        """Whether fitting needs the features entering the final layer (the k-NN score)."""
        return self.ood_tpr is not None and self.ood_score in (*_ood.FEATURE_SCORES, _ood.AUTO)

    def to_workflow(self) -> dict[str, dict[str, Any]]:
        """The ``decisions`` argument of :func:`yolo_probs.api.workflow.calibrate`."""
        asked: dict[str, dict[str, Any]] = {}
        if self.ood_tpr is not None:
            asked["ood"] = {"tpr": self.ood_tpr, "score": self.ood_score, "k": self.ood_k}
            if self.ood_data is not None:
                asked["ood"]["ood_data"] = self.ood_data
        if self.conformal is not None:
            asked["conformal"] = {"alpha": self.conformal, "score": self.score, "randomized": self.randomized,
                                  "class_conditional": self.class_conditional, "penalty": self.penalty,
                                  "k_reg": self.k_reg}  # fmt: skip
            if self.seed is not None:
                asked["conformal"]["seed"] = self.seed
        if self.target_accuracy is not None:
            asked["reject"] = {"target_accuracy": self.target_accuracy, "delta": self.delta}
        asked["monitor"] = {}  # always: the drift references of 'yolo-probs monitor', fitted after ood
        return asked
