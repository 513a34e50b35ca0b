"""The overlay's UNKNOWN state (distinct from UNCERTAIN) and its marking of conformal set members."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from yolo_probs.core.prediction import Prediction, TopClass
from yolo_probs.overlay import OverlayDrawer

NAMES = ("cat", "dog", "owl")


def prediction(**fields: object) -> Prediction:
    p = Prediction.from_logits(np.array([3.0, 2.5, -2.0]), NAMES, top_k=3)
    return replace(p, **fields)  # type: ignore[arg-type]


def count(frame: np.ndarray, color: tuple[int, int, int]) -> int:
    return int(np.all(frame == np.array(color, np.uint8), axis=2).sum())


def test_unknown_is_its_own_state() -> None:
    drawer = OverlayDrawer(min_prob=0.9)  # the top probability (0.62) is also below min_prob
    unknown = drawer.draw(np.zeros((360, 640, 3), np.uint8), prediction(ood_score=-0.8, unknown=True))
    uncertain = drawer.draw(np.zeros((360, 640, 3), np.uint8), prediction(ood_score=0.2, unknown=False))
    assert count(unknown, drawer.unknown_color) > 200 and count(unknown, drawer.uncertain_color) == 0
    assert count(uncertain, drawer.uncertain_color) > 200 and count(uncertain, drawer.unknown_color) == 0
    plain = OverlayDrawer().draw(np.zeros((360, 640, 3), np.uint8), prediction())
    assert count(plain, drawer.unknown_color) == 0 and count(plain, drawer.uncertain_color) == 0


def test_set_members_are_outlined() -> None:
    drawer = OverlayDrawer()
    p = prediction()
    none = drawer.draw(np.zeros((360, 640, 3), np.uint8), p)
    one = drawer.draw(np.zeros((360, 640, 3), np.uint8), replace(p, set=[TopClass(0, "cat", 0.6)]))
    two = drawer.draw(
        np.zeros((360, 640, 3), np.uint8), replace(p, set=[TopClass(0, "cat", 0.6), TopClass(1, "dog", 0.4)])
    )
    assert count(none, drawer.set_color) == 0
    assert 0 < count(one, drawer.set_color) < count(two, drawer.set_color)
    assert not np.array_equal(one, two)
