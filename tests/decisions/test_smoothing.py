"""Smoothing over time: the weighted mean against pandas' ewm, the half-life in seconds, cuts and hysteresis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yolo_probs.core.prediction import Prediction
from yolo_probs.decisions.smoothing import (
    LOG_FLOOR,
    ExponentialAverage,
    Hysteresis,
    SceneCut,
    TemporalSmoother,
    check_half_life,
    grey_histogram,
)
from yolo_probs.errors import ConfigError


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, math.nan, math.inf, -math.inf, 3600.5, 1e9, "0.2", None, True])
def test_bad_half_life_names_smooth(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^smooth must be a half-life in seconds") as info:
        check_half_life(bad)
    assert info.value.option == "smooth"


@pytest.mark.parametrize("good", [1e-3, 0.15, 1, 3600, np.float32(0.5)])
def test_good_half_life(good: object) -> None:
    assert check_half_life(good) == pytest.approx(float(good))  # type: ignore[arg-type]


def _pandas_mean(x: np.ndarray, times: np.ndarray, half_life: float) -> np.ndarray:
    """pandas' time-aware exponentially weighted mean: the oracle."""
    index = pd.to_datetime(times * 1e9)
    frame = pd.DataFrame(x)
    return frame.ewm(halflife=pd.Timedelta(seconds=half_life), times=index).mean().to_numpy()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(2, 40),
    k=st.integers(2, 6),
    half_life=st.floats(0.01, 5.0),
    space=st.sampled_from(["prob", "log"]),
)
def test_weighted_mean_matches_pandas_ewm(seed: int, n: int, k: int, half_life: float, space: str) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k) * 0.5, size=n)
    times = np.cumsum(rng.uniform(0.001, 0.5, size=n))  # irregular frame times, as a live stream has
    avg = ExponentialAverage(half_life, space=space)  # type: ignore[arg-type]
    got = np.stack([avg.update(p, t) for p, t in zip(probs, times, strict=True)])
    if space == "prob":
        want = _pandas_mean(probs, times, half_life)
    else:
        mean = _pandas_mean(np.log(np.maximum(probs, LOG_FLOOR)), times, half_life)
        want = np.exp(mean) / np.exp(mean).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)  # pandas rounds times to nanoseconds


def test_the_half_life_is_in_seconds_whatever_the_frame_rate() -> None:
    # A class that held for 2 s, then the other one for 1 half-life: the same mean at 5 and at 60 fps.
    results = []
    for fps in (5, 60):
        avg = ExponentialAverage(0.5, space="prob")
        times = np.arange(0, 2.5, 1 / fps)
        for t in times:
            out = avg.update(np.array([1.0, 0.0]) if t < 2.0 else np.array([0.0, 1.0]), t)
        results.append(out[1])
    assert results[0] == pytest.approx(results[1], abs=0.08)  # the discrete sums differ a little
    assert 0.4 < results[1] < 0.6  # about half: one half-life of the new class


def test_repeated_timestamps_count_as_one_usual_interval() -> None:
    a, b = ExponentialAverage(0.2, "prob"), ExponentialAverage(0.2, "prob")
    p, q = np.array([0.9, 0.1]), np.array([0.2, 0.8])
    a.update(p, 0.0), a.update(p, 0.1)
    b.update(p, 0.0), b.update(p, 0.1)
    np.testing.assert_allclose(a.update(q, 0.1), b.update(q, 0.2))  # a repeated time, as 0.1 s later


def test_a_long_gap_forgets_the_past() -> None:
    avg = ExponentialAverage(0.1, "log")
    for t in np.arange(0, 1, 0.03):
        avg.update(np.array([0.99, 0.01]), t)
    assert avg.update(np.array([0.01, 0.99]), 30.0)[1] > 0.98  # 300 half-lives later


def test_grey_histogram_and_scene_cuts() -> None:
    from skimage import data

    rng = np.random.default_rng(0)
    camera = np.repeat(data.camera()[..., None], 3, axis=2)
    coffee = data.coffee()[..., ::-1]
    hist = grey_histogram(camera)
    assert hist.shape == (16,) and hist.sum() == pytest.approx(1.0)
    cut = SceneCut()
    noisy = [np.clip(camera + rng.normal(0, 12, camera.shape), 0, 255).astype(np.uint8) for _ in range(5)]
    shifted = [np.roll(img, shift=(3 * i, -2 * i), axis=(0, 1)) for i, img in enumerate(noisy)]
    assert [cut.update(img) for img in shifted] == [False] * 5  # noise and small motion: the same shot
    assert cut.update(coffee)  # another scene
    assert not cut.update(coffee)


def test_hysteresis_needs_the_change_to_last() -> None:
    h = Hysteresis(hold=0.3)
    blinking = [(i / 30, i % 2 == 1) for i in range(30)]  # on/off every frame for a second
    assert {h.update(c, t) for t, c in blinking} == {False}
    held = [h.update(True, 1.0 + i / 30) for i in range(15)]
    assert held[:9] == [False] * 9 and held[-1] is True  # on after 0.3 s of it


def _pred(probs: list[float], frame: int, **fields: object) -> Prediction:
    logits = np.log(np.asarray(probs, dtype=np.float64))
    p = Prediction.from_logits(logits, ("a", "b", "c"), frame=frame, top_k=2, source="clip.mp4")
    return p if not fields else __import__("dataclasses").replace(p, **fields)


def test_smoother_keeps_the_frame_beside_the_smoothed_prediction() -> None:
    s = TemporalSmoother(0.5)
    frames = [[0.8, 0.15, 0.05]] * 10 + [[0.1, 0.85, 0.05]] + [[0.8, 0.15, 0.05]] * 3
    out = [s.step(_pred(p, i), i / 30) for i, p in enumerate(frames)]
    assert [p.top1 for p in out] == [0] * 14  # the one-frame flicker to 'b' is gone
    assert out[10].raw is not None and out[10].raw.top1 == 1  # ... but kept, frame by frame, in raw
    assert out[0].smoothing is not None and out[0].smoothing.reset and not out[1].smoothing.reset
    record = out[10].to_dict()
    assert record["top"][0]["name"] == "a" and record["raw"]["top"][0]["name"] == "b"
    assert record["smooth"] == {"half_life": 0.5, "time": pytest.approx(10 / 30), "reset": False}
    assert out[10].probs.sum() == pytest.approx(1.0, abs=1e-6) and len(out[10].top) == 2


def test_smoother_resets_on_a_scene_cut() -> None:
    s = TemporalSmoother(5.0)  # a long half-life: without the cut the old class would stay for seconds
    dark, bright = np.full((48, 64, 3), 30, np.uint8), np.full((48, 64, 3), 220, np.uint8)
    for i in range(20):
        s.step(_pred([0.9, 0.05, 0.05], i), i / 30, dark)
    after = s.step(_pred([0.05, 0.9, 0.05], 20), 20 / 30, bright)
    assert after.top1 == 1 and after.smoothing is not None and after.smoothing.reset and s.resets == 1


def test_uncertain_and_unknown_do_not_blink() -> None:
    s = TemporalSmoother(0.05, min_prob=0.5, hold=0.2)
    states, unknown = [], []
    for i in range(30):  # the top class hovers around min_prob, the detector flags every other frame
        p = [0.52, 0.4, 0.08] if i % 2 else [0.47, 0.45, 0.08]
        out = s.step(_pred(p, i, ood_score=float(i % 2), unknown=bool(i % 2)), i / 30)
        states.append(s.uncertain)
        unknown.append(out.unknown)
    assert len(set(states[1:])) == 1 and len(set(unknown[1:])) == 1  # one state throughout, no blinking
    assert out.raw is not None and out.raw.unknown is True and out.ood_score is not None
    assert 0.0 < out.ood_score < 1.0  # the detector's score is averaged too
