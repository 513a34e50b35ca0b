"""Every public function of the calibrators, given wrong types, NaN, empty and out-of-range values.

Each must raise a yolo_probs error naming the argument, never a raw TypeError, IndexError, AxisError
or BadZipFile, and never take NaN in or give it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from yolo_probs.calibration import (
    TemperatureScaling,
    calibrator_from_dict,
    fit_calibrator,
    fit_temperature,
    register_calibrator,
    register_selector,
)
from yolo_probs.calibration.dirichlet import DirichletCalibration
from yolo_probs.calibration.ets import EnsembleTemperatureScaling
from yolo_probs.calibration.folded import Folded, resolve_folded
from yolo_probs.calibration.select import select_calibrator
from yolo_probs.calibration.vector import VectorScaling
from yolo_probs.errors import YoloProbsError

RNG = np.random.default_rng(0)
Y = np.arange(200) % 3
Z = RNG.normal(size=(200, 3)) + 2 * np.eye(3)[Y]
NAN = float("nan")
VECTOR = VectorScaling([1.0, 0.5, 2.0], [0.0, 0.1, -0.1])
ETS = EnsembleTemperatureScaling(1.5, [0.6, 0.3, 0.1])
DIRICHLET = DirichletCalibration(np.eye(3), np.zeros(3))
FOLDED = Folded({"method": "vector", "scale": [1.0] * 3, "bias": [0.0] * 3})
CALIBRATORS = {"temperature": TemperatureScaling(1.5), "vector": VECTOR, "ets": ETS, "dirichlet": DIRICHLET,
               "folded": FOLDED}  # fmt: skip


class NoMethods:
    method = "nothing"


CASES: list[tuple[str, Callable[[], Any], str]] = [
    *[(f"{name}.probs('abc')", lambda c=c: c.probs("abc"), "logits") for name, c in CALIBRATORS.items()],
    *[(f"{name}.probs(NaN row)", lambda c=c: c.probs([NAN, 1.0, 0.0]), "logits") for name, c in CALIBRATORS.items()],
    *[
        (f"{name}.log_probs(+inf)", lambda c=c: c.log_probs([[np.inf, 1.0, 0.0]]), "logits")
        for name, c in CALIBRATORS.items()
    ],
    *[(f"{name}.probs(None)", lambda c=c: c.probs(None), "logits") for name, c in CALIBRATORS.items()],
    *[(f"{name}.probs(3-D)", lambda c=c: c.probs(np.zeros((1, 1, 3))), "logits") for name, c in CALIBRATORS.items()],
    ("TemperatureScaling('x')", lambda: TemperatureScaling("x"), "temperature"),
    ("TemperatureScaling(NaN)", lambda: TemperatureScaling(NAN), "temperature"),
    ("fit_calibrator(['auto'])", lambda: fit_calibrator(["auto"], Z, Y), "method"),
    ("fit_calibrator(None)", lambda: fit_calibrator(None, Z, Y), "method"),
    ("fit_calibrator logits 'abc'", lambda: fit_calibrator("temperature", "abc", Y), "logits"),
    ("fit_calibrator NaN logits", lambda: fit_calibrator("vector", np.where(Z > 3, NAN, Z), Y), "logits"),
    ("fit_calibrator label == C", lambda: fit_calibrator("temperature", Z, np.full(200, 3)), "labels"),
    ("fit_calibrator string labels", lambda: fit_calibrator("ets", Z, [str(v) for v in Y]), "labels"),
    ("fit_temperature labels None", lambda: fit_temperature(Z, None), "labels"),
    ("select_calibrator logits 'abc'", lambda: select_calibrator("abc", Y), "logits"),
    ("calibrator_from_dict method [vector]", lambda: calibrator_from_dict({"method": ["vector"]}), "calibrator.method"),
    ("calibrator_from_dict(None)", lambda: calibrator_from_dict(None), "calibrator"),
    (
        "calibrator_from_dict temperature 'x'",
        lambda: calibrator_from_dict({"method": "temperature", "temperature": "x"}),
        "temperature",
    ),
    (
        "calibrator_from_dict vector NaN bias",
        lambda: calibrator_from_dict({"method": "vector", "scale": [1.0, 1.0], "bias": [0.0, NAN]}),
        "bias",
    ),
    ("register_calibrator(5)", lambda: register_calibrator(5), "register_calibrator(cls)"),
    ("register_calibrator(no methods)", lambda: register_calibrator(NoMethods), "lacks fit"),
    ("register_selector(5, f)", lambda: register_selector(5, fit_calibrator), "register_selector(name"),
    ("register_selector('x', 5)", lambda: register_selector("x", 5), "select"),
    ("Folded tempered NaN", lambda: Folded({"method": "vector"}, NAN), "temperature"),
]


@pytest.mark.parametrize(("call", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_raise_a_yolo_probs_error_naming_them(call: Callable[[], Any], words: str) -> None:
    with pytest.raises(YoloProbsError) as caught:
        call()
    message = str(caught.value)
    assert words in message and "\n" not in message


@pytest.mark.parametrize("name", list(CALIBRATORS))
def test_minus_inf_logits_are_probabilities_of_zero(name: str) -> None:
    """An export's probability of 0 comes back as a logit of -inf: that is not refused, and gives no NaN."""
    p = CALIBRATORS[name].probs(np.array([[0.0, -np.inf, 1.0]]))
    assert np.isfinite(p).all() and abs(float(p.sum()) - 1.0) < 1e-5


def test_a_temperature_over_a_folded_calibrator_is_recorded_with_it() -> None:
    cal = resolve_folded(TemperatureScaling(2.0), {"method": "vector", "scale": [1.0] * 3, "bias": [0.0] * 3})
    assert (cal.method, cal.temperature) == ("vector", 2.0)
    assert calibrator_from_dict({"method": "vector", "scale": [1.0] * 3, "bias": [0.0] * 3}).method == "vector"
    np.testing.assert_allclose(cal.probs(np.log([0.2, 0.3, 0.5])), np.sqrt([0.2, 0.3, 0.5]) / np.sqrt(
        [0.2, 0.3, 0.5]).sum(), rtol=1e-5)  # fmt: skip
