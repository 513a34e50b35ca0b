"""A calibrator that is already inside the model: an export with vector scaling, Dirichlet or ETS folded in.

Such an export outputs the calibrated probabilities, and its "logits" (``log p``) cannot be turned
back into the original model's: the map is not a shift per row. So :class:`Folded` applies nothing
(``softmax`` of the calibrated log-probabilities gives them back) while records still name the method.
A temperature asked for on top (``predict -m vec.onnx -t 1.5``, the overlay's live keys) divides those
log-probabilities: the records then say both, the method folded in and the temperature on top, never
"temperature scaling at T" alone.

Example:
    >>> import numpy as np
    >>> cal = resolve_folded(None, {"method": "vector", "scale": [1.0, 2.0], "bias": [0.0, 0.0]})
    >>> cal.method, cal.probs(np.log(np.array([0.25, 0.75]))).round(4).tolist()
    ('vector', [0.25, 0.75])
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from yolo_probs.core.checks import check_logits
from yolo_probs.core.probs import check_temperature, log_softmax, softmax
from yolo_probs.errors import ConfigError

__all__ = ["Folded", "resolve_folded"]


class Folded:
    """The identity on calibrated log-probabilities; ``mapping`` is what was folded (see the module docstring)."""

    method: ClassVar[str] = "folded"
    changes_ranking: ClassVar[bool] = False

    def __init__(self, mapping: dict[str, Any], tempered: float | None = None) -> None:
        self.mapping = {k: v for k, v in mapping.items() if k != "tempered"}
        self.tempered = None if tempered is None else check_temperature(tempered)

    def __repr__(self) -> str:
        on_top = "" if self.tempered is None else f", tempered={self.tempered!r}"
        return f"Folded({self.method!r}{on_top})"

    @property
    def temperature(self) -> float | None:
        """The temperature applied on top of the folded calibration (None: none; the folded one is never reapplied)."""
        return self.tempered

    def fit(self, logits: Any, labels: Any) -> Folded:
        """Refuses: refit on the PyTorch checkpoint, not on an export that already holds a calibrator."""
        raise ConfigError(f"the {self.method} calibration is folded into this export; calibrate the PyTorch checkpoint")

    def log_probs(self, logits: Any) -> np.ndarray:
        """``log_softmax(logits / T)``: the export's own calibrated log-probabilities (T on top, 1 if none)."""
        return log_softmax(check_logits(logits), self.tempered or 1.0)

    def probs(self, logits: Any) -> np.ndarray:
        """``softmax(logits / T)``: the export's own calibrated probabilities (T on top, 1 if none)."""
        check_logits(logits)
        return softmax(logits, self.tempered or 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The folded calibrator's mapping (what a profile holds for the checkpoint), plus ``tempered: T`` on top."""
        return dict(self.mapping) if self.tempered is None else {**self.mapping, "tempered": self.tempered}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Folded:
        """From a folded calibrator's mapping (and ``tempered``, the temperature on top, if any)."""
        return _folded_class(str(data.get("method", "folded")))(data, data.get("tempered"))

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        """Refuses: it is already folded."""
        raise ConfigError(f"the {self.method} calibration is already folded into this export")


def _folded_class(method: str) -> type[Folded]:
    return type(f"Folded_{method}", (Folded,), {"method": method})


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("method") != b.get("method") or set(a) != set(b):
        return False
    for key in a:
        if key == "method":
            continue
        x, y = np.asarray(a[key], dtype=np.float64), np.asarray(b[key], dtype=np.float64)
        if x.shape != y.shape or not np.allclose(x, y, rtol=1e-6, atol=1e-9):
            return False
    return True


def resolve_folded(calibrator: Any, folded: dict[str, Any]) -> Any:
    """The calibrator to use on an export with ``folded`` inside.

    None or the same calibrator (a profile of the checkpoint it was exported from) -> :class:`Folded`;
    temperature scaling is applied on top of the calibrated probabilities (as the overlay's live
    temperature keys expect), and the result still names the method folded in; any other calibrator
    would apply a second calibration: ConfigError.

    Example:
        >>> from yolo_probs.calibration import TemperatureScaling
        >>> cal = resolve_folded(TemperatureScaling(1.0), {"method": "vector", "scale": [1.0], "bias": [0.0]})
        >>> cal.method, cal.temperature
        ('vector', 1.0)
    """
    if calibrator is None:
        return Folded.from_dict(folded)
    if isinstance(calibrator, Folded):
        return calibrator
    if calibrator.method == "temperature":
        return Folded.from_dict({**folded, "tempered": calibrator.temperature})
    try:
        same = _same(calibrator.to_dict(), folded)
    except (ConfigError, TypeError, ValueError):
        same = False
    if same:
        return Folded.from_dict(folded)
    raise ConfigError(
        f"this export already has {folded.get('method')} calibration folded in; applying a {calibrator.method} "
        "calibrator as well would calibrate twice: use the export on its own, or the PyTorch checkpoint with "
        "the profile",
        option="model",
    )
