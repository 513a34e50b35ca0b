"""What every decision rule shares (:mod:`yolo_probs.decisions._common`): the entry check, the pick-decide-fill loop.

Pure numpy, no model: predictions are built from logits, the classifier is a stand-in with a calibrator.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from yolo_probs.backends.base import BackendOutput
from yolo_probs.calibration import TemperatureScaling
from yolo_probs.calibration.folded import resolve_folded
from yolo_probs.core.prediction import Prediction
from yolo_probs.decisions import DECISIONS
from yolo_probs.decisions._common import CalibratedRule, check_entry
from yolo_probs.decisions.conformal import ConformalRule
from yolo_probs.decisions.ood import OODRule
from yolo_probs.decisions.selective import RejectRule
from yolo_probs.errors import ConfigError

AT_1 = {"method": "temperature", "temperature": 1.0}
NAMES = ("a", "b", "c")


def prediction(logits: list[float], temperature: float = 1.0) -> Prediction:
    return Prediction.from_logits(np.array(logits), NAMES, temperature=temperature)


class Recorder(CalibratedRule):
    """Marks every prediction it is asked about unknown, except the first; records what it was given."""

    calibrator = AT_1

    def __init__(self) -> None:
        self.calls: list[tuple[list[Prediction], list[int]]] = []

    def decide(self, predictions: list[Prediction], rows: list[int], output: Any) -> list[dict[str, Any]]:
        self.calls.append((predictions, rows))
        return [{}] + [{"unknown": True}] * (len(predictions) - 1)


def test_only_predictions_made_at_the_rules_calibrator_are_decided_together() -> None:
    preds = [prediction([1, 0, 0]), prediction([0, 1, 0], 2.0), prediction([0, 0, 1]), prediction([1, 1, 0])]
    rule = Recorder()
    out = rule.apply(preds, BackendOutput(np.zeros((4, 3), np.float32), "hook"))
    assert len(rule.calls) == 1 and rule.calls[0][1] == [0, 2, 3]
    assert [p is q for p, q in zip(rule.calls[0][0], [preds[0], preds[2], preds[3]], strict=True)] == [True] * 3
    assert out[0] is preds[0] and out[1] is preds[1]  # {} and another temperature: the very same objects
    assert [p.unknown for p in out] == [None, None, True, True]
    assert preds[2].unknown is None  # the input list is left alone


def test_nothing_at_the_calibrator_means_no_decision_at_all() -> None:
    rule = Recorder()
    preds = [prediction([1, 0, 0], 2.0)]
    assert rule.apply(preds, BackendOutput(np.zeros((1, 3), np.float32), "hook")) is preds and rule.calls == []


def test_an_ood_rule_checks_its_inputs_only_when_it_has_something_to_score() -> None:
    rule = OODRule({"score": "energy", "threshold": 0.0, "calibrator": AT_1})
    probs_only = BackendOutput(np.zeros((1, 3), np.float32), "log(prob)")
    assert rule.apply([prediction([1, 0, 0], 2.0)], probs_only)[0].ood_score is None
    with pytest.raises(ConfigError, match="needs raw logits"):
        rule.apply([prediction([1, 0, 0])], probs_only)


def test_the_built_in_rules_share_the_loop() -> None:
    preds = [prediction([3, 0, 0]), prediction([0.5, 0, 0], 2.0), prediction([0.5, 0, 0])]
    out = BackendOutput(np.stack([p.logits for p in preds]), "hook")
    reject = RejectRule({"min_prob": 0.5, "calibrator": AT_1}).apply(preds, out)
    assert [len(p.top) > 0 for p in reject] == [True, True, False] and reject[0] is preds[0]
    sets = ConformalRule({"alpha": 0.1, "score": "lac", "qhat": 0.9, "calibrator": AT_1}).apply(preds, out)
    assert [None if p.set is None else [c.name for c in p.set] for p in sets] == [["a"], None, ["a", "b", "c"]]
    ood = OODRule({"score": "maxlogit", "threshold": 1.0, "calibrator": AT_1}).apply(preds, out)
    assert [(p.ood_score, p.unknown) for p in ood] == [(3.0, False), (None, None), (0.5, True)]


@pytest.mark.parametrize("key", ["ood", "conformal", "reject"])
def test_every_kind_checks_its_entry_the_same_way(key: str) -> None:
    classifier = SimpleNamespace(calibrator=TemperatureScaling(1.0), names=NAMES)
    with pytest.raises(ConfigError, match=f"decisions.{key} must be a mapping, got 0.1"):
        DECISIONS[key].build(0.1, None, classifier)
    with pytest.raises(ConfigError, match=f"decisions.{key} has no 'calibrator' mapping"):
        DECISIONS[key].build({}, None, classifier)
    with pytest.raises(ConfigError, match=f"decisions.{key} was made at temperature scaling at T=2"):
        DECISIONS[key].build({"calibrator": {"method": "temperature", "temperature": 2.0}}, None, classifier)


def test_check_entry_returns_the_entry() -> None:
    entry = {"calibrator": AT_1, "min_prob": 0.5}
    assert check_entry(entry, "reject", SimpleNamespace(calibrator=TemperatureScaling(1.0))) is entry


def test_the_refusal_says_what_changed_the_calibrator() -> None:
    """An override, an export with its own calibration, or an edit: each message says what to do about it."""
    entry = {"calibrator": AT_1, "min_prob": 0.5}
    profile = SimpleNamespace(calibrator=None, temperature=1.0)
    override = SimpleNamespace(calibrator=TemperatureScaling(2.0))
    with pytest.raises(ConfigError, match="drop the temperature"):
        check_entry(entry, "reject", override, profile)
    vector = {"method": "vector", "scale": [1.0] * 3, "bias": [0.0] * 3}
    export = SimpleNamespace(calibrator=resolve_folded(TemperatureScaling(1.0), vector))
    with pytest.raises(ConfigError, match=r"vector calibration \(folded into the model\) at T=1; use the model") as e:
        check_entry(entry, "reject", export, profile)
    assert e.value.option == "model" and "override" not in str(e.value)
    vector_profile = SimpleNamespace(calibrator=vector, temperature=1.0)
    export_at_2 = SimpleNamespace(calibrator=resolve_folded(TemperatureScaling(2.0), vector))  # -t 2 over it
    with pytest.raises(ConfigError, match="drop the temperature"):
        check_entry({"calibrator": vector, "min_prob": 0.5}, "reject", export_at_2, vector_profile)
    edited = SimpleNamespace(calibrator=None, temperature=2.0)  # the profile's own temperature, edited
    with pytest.raises(ConfigError, match="re-run 'yolo-probs calibrate'") as e:
        check_entry(entry, "reject", override, edited)
    assert "override" not in str(e.value)
