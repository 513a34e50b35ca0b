"""Prediction checks what it is built from, once, and never holds NaN probabilities (issue 24)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from yolo_probs import ConfigError, Prediction, TemperatureScaling

NAMES = ("a", "b", "c")


@pytest.mark.parametrize(
    ("logits", "match"),
    [
        ([np.nan, 1.0, 0.0], "logits contain NaN or"),
        ([np.inf, 1.0, 0.0], "logits contain NaN or"),
        ([-np.inf, -np.inf, -np.inf], "only -inf"),
        ([1e300, 0.0, 0.0], "logits contain NaN or"),  # beyond float32
        ("abc", "logits must be an array of real numbers"),
        (None, "logits must be an array of real numbers"),
        ([[1.0, 0.0, 0.0]], "logits must be one non-empty row"),
        ([], "logits must be one non-empty row"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("calibrator", [None, TemperatureScaling(2.0)], ids=["temperature", "calibrator"])
def test_from_logits_refuses_bad_logits(logits, match: str, calibrator) -> None:
    with pytest.raises(ConfigError, match=match):
        Prediction.from_logits(logits, NAMES, calibrator=calibrator)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": None}, "names must be a list of class names"),
        ({"names": ["a"]}, "names has 1 class names for 3 classes"),
        ({"names": "abc"}, "names must be a list"),
        ({"temperature": np.nan}, "temperature must be a finite number"),
        ({"top_k": 0}, "top-k must be"),
        ({"min_prob": 1.5}, "min_prob must be"),
        ({"source": 5}, "source must be text"),
        ({"frame": -1}, "frame must be a whole number >= 0"),
        ({"frame": True}, "frame must be a whole number"),
        ({"calibrator": "x"}, "calibrator must be a calibrator"),
        ({"features": "x"}, "features must be an array of real numbers"),
        ({"features": np.ones((2, 2))}, "features must be one non-empty row"),
        ({"logits_source": 5}, "logits_source must be text"),
    ],
    ids=repr,
)
def test_from_logits_names_the_bad_argument(kwargs, match: str) -> None:
    args = {"logits": [2.0, 1.0, 0.1], "names": NAMES, **kwargs}
    with pytest.raises(ConfigError, match=match):
        Prediction.from_logits(**args)


def test_a_calibrator_that_returns_nan_is_refused() -> None:
    class Broken(TemperatureScaling):
        def probs(self, logits):
            return np.full(np.shape(logits), np.nan, np.float32)

    with pytest.raises(ConfigError, match=r"calibrator 'temperature' gave probabilities .* NaN"):
        Prediction.from_logits([1.0, 0.0, 0.0], NAMES, calibrator=Broken(1.0))


def test_direct_construction_converts_lists_and_checks_values() -> None:
    p = Prediction(Path("x.png"), [2.0, 0.0], [0.88, 0.12], 1, ["a", "b"], frame=np.int64(3))  # type: ignore[arg-type]
    assert isinstance(p.logits, np.ndarray) and isinstance(p.probs, np.ndarray)
    assert p.names == ("a", "b") and p.source == "x.png" and p.frame == 3 and p.temperature == 1.0
    for bad, match in [
        ({"probs": [np.nan, np.nan]}, r"Prediction probs must be probabilities in \[0, 1\], got nan"),
        ({"probs": [0.5, 0.5, 0.0]}, "one shape"),
        ({"logits": [np.nan, 0.0]}, "Prediction logits contain NaN"),
        ({"names": ("a",)}, "names has 1 class names for 2 classes"),
        ({"temperature": 0.0}, "temperature must be"),
    ]:
        with pytest.raises(ConfigError, match=match):
            dataclasses.replace(p, **bad)


def test_minus_inf_logits_still_make_a_prediction() -> None:
    p = Prediction.from_logits([0.0, -np.inf, 1.0], NAMES, logits_source="log(prob)")
    assert p.probs[1] == 0.0 and np.isfinite(p.probs).all() and p.top[0].name == "c"
