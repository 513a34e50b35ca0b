"""Choose a calibration method by stratified k-fold cross-validation, never worse than one temperature.

:func:`select_calibrator` scores every candidate (a method at one regularisation strength) by its
held-out NLL: the calibration set is split into ``folds`` stratified folds with a fixed seed, each
candidate is fitted on all folds but one and scored on the one left out, giving every image a held-out
NLL under every candidate. Each candidate's ``cv_nll`` is their mean, ``cv_se`` its standard error.
Candidates are ordered from simple to complex (temperature, ets, vector, dirichlet; within a method,
stronger regularisation first), and two rules keep ``auto`` from doing harm on the next images:

- **Evidence.** A calibrator learns its shape from the calibration set's mistakes: with few of them,
  cross-validation cannot see the tail, and a per-class method (vector scaling, Dirichlet) can fit
  near-certain wrong answers that cost dearly on the next images. So when temperature scaling is a
  candidate, vector scaling and Dirichlet are eligible only with at least :data:`MIN_ERRORS` top-1
  errors in the calibration set, and at least one per parameter (:func:`needed_errors`: Dirichlet's
  ``C**2 + C``, 110 at 10 classes). ETS, with 4 parameters, is not held back. With fewer errors than
  parameters, Dirichlet's off-diagonal weights are fitted to a handful of mistakes each: on the prior-shift
  setting of ``benchmarks/bench_auto_shift.py`` (about 50 errors, 110 parameters) it won cross-validation
  clearly yet cost 1.31x temperature's NLL on the mildly shifted test images, where vector scaling gained.
- **One standard error.** The winner is the *simplest* eligible candidate whose CV NLL is within one
  standard error of the best one's, the standard error of the per-image paired differences (``gap_se``;
  at least the near-tie margin :data:`TIE_RELATIVE` / :data:`TIE_ABSOLUTE`). A richer method replaces
  temperature scaling only when it beats it by more than the noise of cross-validation itself.

Temperature scaling is always scored and the simplest, so the winner's CV NLL is never worse than
temperature scaling's. The winner is then refitted on the whole set. The table :meth:`Selection.table`
(and ``calibrate --method auto``) shows every candidate's CV NLL, its standard error, its gap to the best
and that gap's paired standard error, and why a candidate was not eligible.

Many classes: Dirichlet calibration has ``C**2 + C`` parameters (10,100 at 100 classes, a million at
1,000: more than a calibration set has images) and each pass costs ``N C**2``, so ``auto`` tries it
only up to :data:`MATRIX_MAX_CLASSES` classes. On the 10,000 x 100 benchmark it took nine tenths of
``auto``'s time and lost badly in cross-validated NLL even at the strongest ODIR strength. Beyond that
``auto`` tries temperature, ETS (4 parameters) and vector scaling (``2 C``), whose cost grows like
``N C``; ``method="dirichlet"`` still fits it on request.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.select import select_calibrator
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 4, 2000)
    >>> z = 3.0 * (rng.normal(size=(2000, 4)) + 2.0 * np.eye(4)[y])  # one temperature fixes this
    >>> result = select_calibrator(z, y, methods=("temperature", "ets"))
    >>> result.method, [c.method for c in result.candidates]
    ('temperature', ['temperature', 'ets'])
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from yolo_probs._util.threads import fit_threads, torch_threads
from yolo_probs.calibration.base import CALIBRATORS, Calibrator
from yolo_probs.calibration.temperature import CalibrationWarning
from yolo_probs.core.checks import check_logits_labels
from yolo_probs.errors import ConfigError

__all__ = [
    "AUTO_METHODS",
    "MATRIX_MAX_CLASSES",
    "METHODS",
    "MIN_ERRORS",
    "REG_GRID",
    "Candidate",
    "Selection",
    "fit_method",
    "needed_errors",
    "select_auto",
    "select_calibrator",
    "select_dirichlet",
    "select_vector",
    "selector",
    "stratified_folds",
]

#: Every method, from the simplest to the most flexible.
METHODS = ("temperature", "ets", "vector", "dirichlet")
AUTO_METHODS = METHODS
#: Regularisation strengths tried for vector scaling and Dirichlet (strongest, i.e. simplest, first).
REG_GRID = (10.0, 1.0, 0.1, 0.01)
#: Dirichlet calibration is tried by ``auto`` only up to this many classes.
MATRIX_MAX_CLASSES = 32
TIE_RELATIVE = 0.002
TIE_ABSOLUTE = 1e-4
#: Per-class methods (vector, dirichlet) need this many top-1 errors in the calibration set to be chosen
#: over temperature scaling (see ``benchmarks/bench_auto_shift.py``: with fewer, Dirichlet lost up to 2.8x).
MIN_ERRORS = 50
#: The methods with per-class parameters, held back by :data:`MIN_ERRORS`.
PER_CLASS = ("vector", "dirichlet")
#: Below this many samples per fold cross-validation says nothing: ``auto`` keeps temperature scaling.
MIN_PER_FOLD = 10
_CV_MAX_ITER = 200


@dataclass(frozen=True)
class Candidate:
    """One method at one regularisation strength, scored by cross-validation.

    ``cv_nll``/``cv_accuracy`` are over every held-out sample (NaN when a fold could not be fitted:
    ``note`` says why), ``cv_se`` the standard error of ``cv_nll``; ``gap`` is ``cv_nll`` minus the best
    eligible candidate's and ``gap_se`` the standard error of the per-image paired differences behind it;
    ``params`` is the number of fitted parameters; ``seconds`` the time for all folds.
    """

    method: str
    reg: float | None
    params: int
    cv_nll: float
    cv_accuracy: float
    seconds: float
    eligible: bool = True
    chosen: bool = False
    note: str = ""
    cv_se: float = math.nan
    gap: float = math.nan
    gap_se: float = math.nan

    @property
    def label(self) -> str:
        """``"vector (reg 0.1)"`` or ``"temperature"``."""
        return self.method if self.reg is None else f"{self.method} (reg {self.reg:g})"


@dataclass(frozen=True)
class Selection:
    """What :func:`select_calibrator` tried and chose; ``calibrator`` is the winner refitted on all samples."""

    calibrator: Any
    method: str
    reg: float | None
    candidates: tuple[Candidate, ...]
    folds: int
    seed: int
    samples: int
    classes: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def table(self) -> list[dict[str, Any]]:
        """The candidates as plain dicts (JSON/YAML friendly; NaN becomes None)."""
        rows = []
        for c in self.candidates:
            row = asdict(c)
            for key in ("cv_nll", "cv_accuracy", "cv_se", "gap", "gap_se"):
                if not math.isfinite(row[key]):
                    row[key] = None
            rows.append(row)
        return rows


def stratified_folds(labels: Any, folds: int = 5, seed: int = 0) -> np.ndarray:
    """A fold index in ``[0, folds)`` per sample: each class is shuffled (fixed seed) and dealt round-robin.

    Example:
        >>> f = stratified_folds([0] * 6 + [1] * 4, folds=2)
        >>> np.bincount(f[:6]).tolist(), np.bincount(f[6:]).tolist()
        ([3, 3], [2, 2])
    """
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=np.int64)
    start = 0
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = (np.arange(idx.size) + start) % folds
        start = (start + idx.size) % folds  # keeps the folds' sizes within one of each other
    return fold


def _make(method: str, reg: float | None) -> Any:
    cls = CALIBRATORS[method]
    return cls(reg=reg) if reg is not None else cls()


def _n_params(method: str, c: int) -> int:
    return {"temperature": 1, "ets": 4, "vector": 2 * c, "dirichlet": c * c + c}[method]


def _candidates(methods: tuple[str, ...]) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    for m in METHODS:
        if m in methods:
            out += [(m, r) for r in REG_GRID] if m in ("vector", "dirichlet") else [(m, None)]
    return out


def _fit_quiet(cal: Any, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return cal.fit(x, y, **kwargs)


def _held_out(cal: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image held-out NLL and hit (float64)."""
    lp = np.asarray(cal.log_probs(x), dtype=np.float64)
    return -lp[np.arange(y.size), y], (lp.argmax(axis=1) == y).astype(np.float64)


@dataclass
class _Running:
    """One candidate's per-image held-out NLL and hits so far; ``note`` says why it dropped out."""

    nll: np.ndarray
    hits: np.ndarray
    seconds: float = 0.0
    note: str = ""


def _fit_fold(key: tuple[str, float | None], previous: dict[str, Any], x: np.ndarray, y: np.ndarray) -> Any:
    """Fit one candidate on a training fold: warm-started from the previous strength of its method, if any."""
    method, reg = key
    if method in previous:
        cal = previous[method]
        cal.reg = reg
        return _fit_quiet(cal, x, y, warm_start=True, max_iter=_CV_MAX_ITER)
    if reg is not None:
        return _fit_quiet(_make(method, reg), x, y, max_iter=_CV_MAX_ITER)
    return _fit_quiet(_make(method, reg), x, y)


def _cross_validate(
    methods: tuple[str, ...], x: np.ndarray, y: np.ndarray, fold: np.ndarray, folds: int
) -> tuple[list[Candidate], dict[tuple[str, float | None], np.ndarray]]:
    """The candidates scored, and each one's per-image held-out NLL (for paired comparisons)."""
    grid = _candidates(methods)
    runs = {key: _Running(np.zeros(y.size), np.zeros(y.size)) for key in grid}
    for k in range(folds):
        train, test = fold != k, fold == k
        previous: dict[str, Any] = {}  # warm start along the regularisation path, strongest first
        for key, run in runs.items():
            if run.note:
                continue
            start = time.perf_counter()
            try:
                cal = _fit_fold(key, previous, x[train], y[train])
            except ConfigError as exc:
                run.note = f"fold {k + 1} of {folds}: {exc}"
                continue
            if key[1] is not None:
                previous[key[0]] = cal
            run.nll[test], run.hits[test] = _held_out(cal, x[test], y[test])
            run.seconds += time.perf_counter() - start
    n = y.size
    table = [
        Candidate(
            method=m,
            reg=r,
            params=_n_params(m, x.shape[1]),
            cv_nll=math.nan if run.note else float(run.nll.mean()),
            cv_accuracy=math.nan if run.note else float(run.hits.mean()),
            seconds=run.seconds,
            note=run.note,
            cv_se=math.nan if run.note else float(run.nll.std(ddof=1) / math.sqrt(n)),
        )
        for (m, r), run in runs.items()
    ]
    return table, {key: run.nll for key, run in runs.items() if not run.note}


def _check_methods(methods: Any) -> tuple[str, ...]:
    chosen = tuple(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ConfigError(f"unknown calibration method(s) {unknown or chosen!r}; choose from {', '.join(METHODS)}")
    return chosen


def select_calibrator(
    logits: Any,
    labels: Any,
    *,
    methods: Any = None,
    folds: int = 5,
    seed: int = 0,
) -> Selection:
    """Cross-validate the candidate methods and return the winner refitted on all samples (see the module docstring).

    Args:
        logits, labels: the calibration set, ``(N, C)`` and ``N``.
        methods: methods to consider (default: all, Dirichlet only up to :data:`MATRIX_MAX_CLASSES`
            classes). Temperature scaling is always scored; when it is not among ``methods`` it is a
            reference row (``eligible=False``) and the simplest of ``methods`` within the margin wins.
        folds: number of stratified folds (>= 2).
        seed: fixes the folds.

    Raises:
        ConfigError: bad data (see :func:`~yolo_probs.core.checks.check_logits_labels`), unknown methods,
            or a fit that fails on the whole set (one class, every sample right).
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"folds must be a whole number >= 2, got {folds!r}")
    x, y = check_logits_labels(logits, labels)
    with torch_threads(fit_threads(x.size)):  # many small fits: one thread unless the problem is large
        return _select(x, y, methods, folds, seed)


def _select(x: np.ndarray, y: np.ndarray, methods: Any, folds: int, seed: int) -> Selection:
    """:func:`select_calibrator` on checked data."""
    n, c = x.shape
    notes: list[str] = []
    wanted = _wanted(methods, c, notes)
    scored = ("temperature", *wanted) if "temperature" not in wanted else wanted
    if n < folds * MIN_PER_FOLD:
        notes.append(f"only {n} samples: too few for {folds}-fold cross-validation, so no method is compared")
        return _without_cv(wanted, x, y, folds, seed, notes)
    table, per_image = _cross_validate(scored, x, y, stratified_folds(y, folds, seed), folds)
    reference = next(t for t in table if t.method == "temperature")
    failed = next((t for t in (reference, *table) if t.method in (*wanted, "temperature") and t.note), reference)
    if not math.isfinite(reference.cv_nll) or not any(t.method in wanted and math.isfinite(t.cv_nll) for t in table):
        # e.g. a training fold with no mistakes, where a per-class method has nothing to learn from
        notes.append(f"cross-validation is not possible ({failed.note.split(';')[0]}), so no method is compared")
        return _without_cv(wanted, x, y, folds, seed, notes)
    table = _hold_back(table, wanted, int(np.sum(x.argmax(axis=1) != y)), notes)
    table, winner = _choose(table, wanted, per_image)
    cal = _make(winner.method, winner.reg).fit(x, y)  # its warnings (e.g. classes without samples) reach the user
    return Selection(cal, winner.method, winner.reg, tuple(table), folds, seed, n, c, tuple(notes))


def _wanted(methods: Any, classes: int, notes: list[str]) -> tuple[str, ...]:
    """The methods asked for; by default all, Dirichlet only up to :data:`MATRIX_MAX_CLASSES` (noted when left out)."""
    if methods is not None:
        return _check_methods(methods)
    if classes > MATRIX_MAX_CLASSES:
        notes.append(
            f"dirichlet not tried: {classes} classes would need {classes * classes + classes:,} parameters (auto "
            f"tries it up to {MATRIX_MAX_CLASSES} classes)"
        )
    return tuple(m for m in AUTO_METHODS if m != "dirichlet" or classes <= MATRIX_MAX_CLASSES)


def needed_errors(method: str, classes: int) -> int:
    """Calibration errors a per-class method needs to be eligible in ``auto``: :data:`MIN_ERRORS`, and at least
    one per parameter (Dirichlet's ``C**2 + C``: 110 at 10 classes); 0 for the other methods.

    Example:
        >>> needed_errors("vector", 10), needed_errors("dirichlet", 3), needed_errors("dirichlet", 10)
        (50, 50, 110)
    """
    return max(MIN_ERRORS, _n_params(method, classes)) if method in PER_CLASS else 0


def _hold_back(table: list[Candidate], wanted: tuple[str, ...], errors: int, notes: list[str]) -> list[Candidate]:
    """The evidence rule: with temperature scaling to fall back on, a per-class method needs
    :func:`needed_errors` errors.

    Asked for alone (``method="vector"``/``"dirichlet"``) they are kept, with a note that evidence is thin.
    """
    need = {t.method: max(MIN_ERRORS, t.params) for t in table if t.method in PER_CLASS}
    short = {m: n for m, n in need.items() if m in wanted and errors < n}
    if not short:
        return table
    if "temperature" not in wanted:
        notes.append(
            f"only {errors} of the calibration images are misclassified (auto needs {max(short.values())} to trust "
            f"{' and '.join(short)} over temperature scaling): check its NLL on held-out images"
        )
        return table
    label = {"vector": "vector scaling", "dirichlet": "Dirichlet"}
    for method, n in short.items():
        why = "" if n == MIN_ERRORS else f", one per parameter of its {n}"
        notes.append(
            f"{label[method]} is not eligible: the calibration set has {errors} misclassified images, fewer than "
            f"the {n} it needs to do no harm on new images (at least {MIN_ERRORS}{why})"
        )
    return [replace(t, note=t.note or f"{errors} calibration errors < {short[t.method]} needed")
            if t.method in short else t for t in table]  # fmt: skip


def _choose(
    table: list[Candidate], wanted: tuple[str, ...], per_image: dict[tuple[str, float | None], np.ndarray]
) -> tuple[list[Candidate], Candidate]:
    """The table with ``eligible``, ``gap``/``gap_se`` and ``chosen`` set, and the winner (the one-SE rule).

    Raises ConfigError when no wanted method could be fitted on every fold.
    """
    table = [replace(t, eligible=t.method in wanted and math.isfinite(t.cv_nll) and not t.note) for t in table]
    eligible = [t for t in table if t.eligible]
    if not eligible:
        reasons = "; ".join(f"{t.label}: {t.note}" for t in table if t.note)
        raise ConfigError(f"no calibration method could be fitted on every fold ({reasons}); use more labelled images")
    best = min(eligible, key=lambda t: t.cv_nll)
    margin = max(TIE_ABSOLUTE, TIE_RELATIVE * abs(best.cv_nll))
    scored = []
    for t in table:
        if (t.method, t.reg) in per_image:
            d = per_image[(t.method, t.reg)] - per_image[(best.method, best.reg)]
            t = replace(t, gap=float(d.mean()), gap_se=float(d.std(ddof=1) / math.sqrt(d.size)))
        scored.append(t)
    winner = next(t for t in scored if t.eligible and t.gap <= max(margin, t.gap_se))
    return [replace(t, chosen=t is winner) for t in scored], winner


def _without_cv(
    wanted: tuple[str, ...],
    x: np.ndarray,
    y: np.ndarray,
    folds: int,
    seed: int,
    notes: list[str],
) -> Selection:
    """Temperature scaling (or the one method asked for, at a middle strength) fitted on every sample."""
    method = wanted[0] if len(wanted) == 1 else "temperature"
    reg = 1.0 if method in ("vector", "dirichlet") else None
    cal = _make(method, reg).fit(x, y)
    return Selection(cal, method, reg, (), folds, seed, int(y.size), int(x.shape[1]), tuple(notes))


def fit_method(method: str, logits: Any, labels: Any, *, folds: int = 5, seed: int = 0) -> Selection:
    """Fit one named method, or ``"auto"``; regularised methods choose their strength by cross-validation.

    ``"temperature"`` and ``"ets"`` are fitted directly (nothing to choose: ``candidates`` is empty);
    ``"vector"`` and ``"dirichlet"`` cross-validate :data:`REG_GRID` (temperature scaling is scored as
    a reference); ``"auto"`` is :func:`select_calibrator`.
    """
    if method == "auto":
        return select_calibrator(logits, labels, folds=folds, seed=seed)
    (method,) = _check_methods((method,))
    if method in ("vector", "dirichlet"):
        return select_calibrator(logits, labels, methods=(method,), folds=folds, seed=seed)
    x, y = check_logits_labels(logits, labels)
    cal: Calibrator = _make(method, None).fit(x, y)
    return Selection(cal, method, None, (), folds, seed, int(y.size), int(x.shape[1]))


def selector(method: str) -> Any:
    """The ``(logits, labels) -> (calibrator, details)`` function registered for ``method`` (see ``SELECTORS``).

    ``details`` holds the folds, the seed, the chosen candidate, the notes and the candidate table.
    """

    def select(logits: Any, labels: Any) -> tuple[Calibrator, dict[str, Any]]:
        result = fit_method(method, logits, labels)
        chosen = next((c.label for c in result.candidates if c.chosen), result.method)
        details = {"folds": result.folds, "seed": result.seed, "chosen": chosen, "notes": list(result.notes)}
        return result.calibrator, {**details, "candidates": result.table()}

    return select


#: The selectors of :data:`~yolo_probs.calibration.base.SELECTORS`.
select_auto = selector("auto")
select_vector = selector("vector")
select_dirichlet = selector("dirichlet")
