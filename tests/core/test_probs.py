"""The math core against seed vectors and independent oracles (scipy, torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from yolo_probs import ConfigError, log_softmax, softmax, top_k
from yolo_probs.core.probs import check_min_prob, check_temperature, check_top_k

SEEDS = [
    ([2.0, 1.0, 0.1], 1.0, [0.65900114, 0.24243297, 0.09856589]),
    ([2.0, 1.0, 0.1], 2.0, [0.50168776, 0.30428901, 0.19402324]),
    ([2.0, 1.0, 0.1], 0.5, [0.86377712, 0.11689952, 0.01932336]),
    # The issue lists [0.16984696, 0.75446768, 0.07568536] for these logits at T=1, which no softmax
    # gives (its log-ratios imply inconsistent temperatures); scipy agrees with the values below.
    ([3.2, 5.1, 2.7], 1.0, [0.12059198, 0.80626528, 0.07314274]),
]


@pytest.mark.parametrize(("logits", "t", "expected"), SEEDS)
def test_seed_vectors(logits, t, expected):
    np.testing.assert_allclose(softmax(np.array(logits), t), expected, atol=1e-8)
    np.testing.assert_allclose(softmax(torch.tensor(logits, dtype=torch.float64), t).numpy(), expected, atol=1e-8)
    np.testing.assert_allclose(scipy.special.softmax(np.array(logits) / t), expected, atol=1e-8)


def test_issue_vector_for_3_2_5_1_2_7_is_not_a_softmax():
    # Documented discrepancy: no temperature maps [3.2, 5.1, 2.7] to the vector written in the issue.
    # Checked with the package's own softmax over a dense grid of temperatures (and its fitted best T).
    issue = np.array([0.16984696, 0.75446768, 0.07568536])
    x = np.array([3.2, 5.1, 2.7])
    gaps = [np.abs(softmax(x, t) - issue).max() for t in np.logspace(-2, 2, 4001)]
    assert min(gaps) > 0.015  # the closest T still misses by 0.021
    assert np.abs(softmax(x, 1.0) - [0.12059198, 0.80626528, 0.07314274]).max() < 1e-8


finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
temperatures = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False, exclude_min=False)


@settings(max_examples=300, deadline=None)
@given(x=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 12)), elements=finite), t=temperatures)
def test_softmax_is_a_distribution_for_any_temperature(x, t):
    p = softmax(x, t)
    assert p.shape == x.shape
    assert np.isfinite(p).all()
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    x=arrays(np.float64, st.integers(2, 20), elements=st.floats(-1e300, 1e300, allow_nan=False)),
    t=temperatures,
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
)
def test_extreme_logits_and_dtypes_never_nan(x, t, dtype):
    with np.errstate(over="ignore"):
        xd = x.astype(dtype)
    xd = np.where(np.isfinite(xd), xd, np.sign(xd) * np.finfo(dtype).max).astype(dtype)
    p = softmax(xd, t)
    assert p.dtype == dtype
    assert np.isfinite(p).all()
    assert abs(float(p.astype(np.float64).sum()) - 1.0) < (1e-2 if dtype == np.float16 else 1e-5)
    pt = softmax(torch.from_numpy(xd.copy()), t)
    assert pt.dtype == torch.from_numpy(xd).dtype
    assert torch.isfinite(pt).all()


@settings(max_examples=200, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 30), elements=st.floats(-50, 50)), t=st.floats(0.05, 20))
def test_matches_scipy_and_torch(x, t):
    expected = scipy.special.softmax(x / t)
    np.testing.assert_allclose(softmax(x, t), expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(x) / t, 0).numpy(), expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(log_softmax(x, t), scipy.special.log_softmax(x / t), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        log_softmax(torch.from_numpy(x), t).numpy(), scipy.special.log_softmax(x / t), atol=1e-12
    )


def test_batch_shapes_and_axis():
    x = np.random.default_rng(0).normal(size=(2, 3, 7))
    np.testing.assert_allclose(softmax(x, 1.3, axis=1), scipy.special.softmax(x / 1.3, axis=1), atol=1e-12)
    np.testing.assert_allclose(softmax(x, 0.7), scipy.special.softmax(x / 0.7, axis=-1), atol=1e-12)
    assert softmax([1, 2, 3]).dtype == np.float64  # integers give float64


def test_limits_of_temperature():
    x = np.array([1.0, 3.0, 3.0, -2.0])
    np.testing.assert_allclose(softmax(x, 1e-300), [0, 0.5, 0.5, 0])  # ties share the mass
    np.testing.assert_allclose(softmax(x, 1e300), [0.25] * 4)
    assert log_softmax(x, 1e-300)[1] == pytest.approx(math.log(0.5))


BAD_TEMPERATURES = [0, 0.0, -1.0, float("nan"), float("inf"), -float("inf"), "1.5", None, True]


@pytest.mark.parametrize("t", BAD_TEMPERATURES, ids=repr)
def test_bad_temperature_is_a_clear_error(t):
    with pytest.raises(ConfigError, match="temperature must be"):
        softmax([1.0, 2.0], t)
    with pytest.raises(ConfigError, match=r"pass e\.g\."):
        check_temperature(t)


def test_top_k_orders_by_probability_then_index_and_clips():
    p = np.array([0.1, 0.3, 0.3, 0.05, 0.25])
    assert [c.index for c in top_k(p, k=10)] == [1, 2, 4, 0, 3]
    assert [c.index for c in top_k(p, k=2)] == [1, 2]
    assert [c.index for c in top_k(p, k=5, min_prob=0.25)] == [1, 2, 4]
    assert top_k(p, k=3, min_prob=0.9) == []
    idx, name, prob = top_k(p, k=1, names=list("abcde"))[0]
    assert (idx, name, prob) == (1, "b", 0.3)


@pytest.mark.parametrize("k", [0, -1, 1.5, "3", None, True])
def test_bad_k(k):
    with pytest.raises(ConfigError, match="top-k must be"):
        check_top_k(k)


@pytest.mark.parametrize("m", [-0.1, 1.01, float("nan"), "0.5", True])
def test_bad_min_prob(m):
    with pytest.raises(ConfigError, match=r"min_prob must be a number in \[0, 1\]"):
        check_min_prob(m)


def test_json_record_has_no_infinity_for_underflowed_logits():
    import json

    from yolo_probs import Prediction

    p = Prediction.from_logits(np.array([0.0, -np.inf, 1.0]), names=("a", "b", "c"), logits_source="log(prob)")
    record = p.to_dict(logits=True)
    assert record["logits"] == [0.0, None, 1.0]
    json.loads(json.dumps(record, allow_nan=False))
    assert p.probs[1] == 0.0 and np.isfinite(p.probs).all()


# -- bad input is a ConfigError naming the argument, never NaN (issue 24) --


@pytest.mark.parametrize(
    ("logits", "axis", "match"),
    [
        ("abc", -1, "logits must be an array of real numbers"),
        (None, -1, "logits must be an array of real numbers"),
        ([[1.0], [2.0, 3.0]], -1, "logits must be an array of real numbers"),
        ([1j, 2.0], -1, "logits must be an array of real numbers"),
        ([True, False], -1, "logits must be an array of real numbers"),
        ([], -1, "logits is empty along axis -1"),
        (np.zeros((3, 0)), -1, "logits is empty"),
        (2.0, -1, "logits must have a class axis"),
        ([1.0, 2.0], 5, r"axis 5 is out of range for logits of shape \(2,\)"),
        ([1.0, 2.0], -2, "axis -2 is out of range"),
        ([1.0, 2.0], "a", "axis must be a whole number"),
        ([1.0, 2.0], True, "axis must be a whole number"),
        ([np.nan, 1.0], -1, "logits contain NaN or"),
        ([np.inf, 1.0], -1, "logits contain NaN or"),
        ([-np.inf, -np.inf], -1, "only -inf"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_bad_logits_and_axis_are_a_clear_error(fn, logits, axis, match) -> None:
    with pytest.raises(ConfigError, match=match):
        fn(logits, 1.0, axis=axis)
    if isinstance(logits, list) and logits and not isinstance(logits[0], list | complex) and isinstance(axis, int):
        dtype = torch.bool if isinstance(logits[0], bool) else torch.float64
        logits = torch.tensor(logits, dtype=dtype)
        with pytest.raises(ConfigError, match=match.split(" for ")[0]):
            fn(logits, 1.0, axis=axis)


def test_the_error_says_which_row_is_bad() -> None:
    x = np.zeros((4, 3))
    x[2, 1] = np.nan
    with pytest.raises(ConfigError, match=r"first: index 2\)"):
        softmax(x)
    with pytest.raises(ConfigError, match=r"first: index 2\)"):
        softmax(x.T, axis=0)  # classes along axis 0: the bad sample is still number 2
    with pytest.raises(ConfigError, match=r"first: index 2\)"):
        softmax(torch.from_numpy(x))


@settings(max_examples=200, deadline=None)
@given(
    x=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 10)), elements=finite),
    drop=st.lists(st.integers(0, 100), min_size=1, max_size=5),
    t=st.floats(0.05, 20),
)
def test_minus_inf_logits_mean_probability_zero(x, drop, t) -> None:
    """An export's log(0) is -inf: that class gets probability 0, the rest a softmax of their own (scipy)."""
    x = x.copy()
    cols = sorted({d % (x.shape[1] - 1) for d in drop})  # the last class always stays finite
    x[:, cols] = -np.inf
    p = softmax(x, t)
    assert np.isfinite(p).all() and (p[:, cols] == 0).all()
    keep = [c for c in range(x.shape[1]) if c not in cols]
    np.testing.assert_allclose(p[:, keep], scipy.special.softmax(x[:, keep] / t, axis=1), atol=1e-12)
    lp = log_softmax(x, t)
    assert (lp[:, cols] == -np.inf).all()
    np.testing.assert_allclose(lp[:, keep], scipy.special.log_softmax(x[:, keep] / t, axis=1), atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"probs": "abc"}, "probs must be an array of real numbers"),
        ({"probs": None}, "probs must be an array of real numbers"),
        ({"probs": []}, "probs must be a non-empty 1-D probability vector"),
        ({"probs": [[0.5, 0.5]]}, "probs must be a non-empty 1-D"),
        ({"probs": [np.nan, 0.5]}, r"probs must be probabilities in \[0, 1\], got nan at index 0"),
        ({"probs": [0.5, 1.5]}, r"got 1.5 at index 1"),
        ({"probs": [-0.1, 0.5]}, r"got -0.1 at index 0"),
        ({"names": ["a"]}, "names has 1 class names for 3 classes"),
        ({"names": "abc"}, "names must be a list of class names"),
        ({"names": {0: "a", 1: "b", 2: "c"}}, "names must be a list of class names"),
        ({"names": 5}, "names must be a list of class names"),
    ],
    ids=repr,
)
def test_bad_top_k_arguments(kwargs, match) -> None:
    args = {"probs": [0.2, 0.5, 0.3], "k": 2, **kwargs}
    with pytest.raises(ConfigError, match=match):
        top_k(**args)


def test_top_k_takes_names_as_any_sequence_and_float32_probs() -> None:
    p = softmax(np.float32([0.3, 2.0, 1.0]))  # float32 rounding may stray an ulp: accepted
    assert [c.name for c in top_k(p, 2, names=np.array(["a", "b", "c"]))] == ["b", "c"]
    assert [c.name for c in top_k(p, 1, names=("a", "b", "c"))] == ["b"]
    assert top_k([0.0, 1.0000001], 1)[0].index == 1
