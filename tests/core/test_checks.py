"""The checks and conversions the math core and the backends share: torch or numpy, one float32 batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from yolo_probs.core.checks import (
    check_choice,
    check_finite_array,
    check_flag,
    check_logits,
    check_logits_labels,
    check_number,
    check_whole,
    float32_batch,
    is_torch,
    real_array,
    to_numpy,
)
from yolo_probs.errors import ConfigError


def test_is_torch_tells_tensors_from_arrays_and_lists() -> None:
    assert is_torch(torch.zeros(2)) and is_torch(torch.nn.Parameter(torch.zeros(2)))
    assert not is_torch(np.zeros(2)) and not is_torch([0.0, 1.0])
    np.testing.assert_array_equal(to_numpy(torch.ones(2, requires_grad=True)), np.ones(2))


def test_float32_batch_takes_numpy_and_torch_of_any_float_dtype() -> None:
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    for batch in (x, x.astype(np.float64), torch.from_numpy(x), torch.from_numpy(x).requires_grad_()):
        out = float32_batch(batch)
        assert out.dtype == np.float32 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, x)
    half = torch.from_numpy(x).to(torch.bfloat16)  # numpy has no bfloat16: .float() comes first
    np.testing.assert_array_equal(float32_batch(half), half.float().numpy())
    assert float32_batch(np.asfortranarray(x[0])).flags.c_contiguous


def test_float32_batch_names_a_batch_that_is_not_numbers() -> None:
    with pytest.raises(ConfigError, match="batch must be an array of pixel values"):
        float32_batch("abc")
    with pytest.raises(ConfigError, match="batch must be an array"):
        float32_batch([[1.0], [1.0, 2.0]])


def test_real_array_refuses_what_is_not_real_numbers() -> None:
    for bad in (None, "abc", [1j], [True], [[1.0], [1.0, 2.0]], {"a": 1}):
        with pytest.raises(ConfigError, match="thing must be an array of real numbers"):
            real_array(bad, "thing")
    assert real_array(torch.tensor([1, 2]), "thing").dtype == np.int64


BAD_SCALARS = [
    ("number", "abc", "x must be a finite number"),
    ("number", float("nan"), "x must be a finite number"),
    ("number", float("inf"), "x must be a finite number"),
    ("number", True, "x must be a finite number"),
    ("number", None, "x must be a finite number"),
    ("number", 2.0, r"x must be a finite number in \[0, 1\], got 2.0"),
    ("whole", "abc", "x must be a whole number >= 1"),
    ("whole", 0, "x must be a whole number >= 1, got 0"),
    ("whole", 2.5, "x must be a whole number >= 1"),
    ("whole", False, "x must be a whole number >= 1"),
    ("flag", "no", "x must be true or false, got 'no'"),
    ("flag", 1, "x must be true or false"),
    ("choice", ["a"], "x must be one of a, b, got"),
    ("choice", "c", "x must be one of a, b"),
]


@pytest.mark.parametrize(("kind", "value", "match"), BAD_SCALARS)
def test_scalar_checks_name_the_value(kind: str, value: object, match: str) -> None:
    call = {
        "number": lambda: check_number(value, "x", low=0, high=1),
        "whole": lambda: check_whole(value, "x", low=1),
        "flag": lambda: check_flag(value, "x"),
        "choice": lambda: check_choice(value, "x", ["a", "b"]),
    }[kind]
    with pytest.raises(ConfigError, match=match):
        call()


def test_scalar_checks_pass_good_values() -> None:
    assert check_number(np.float32(0.5), "x", low=0, high=1, low_open=True) == 0.5
    assert check_whole(np.int64(3), "x", low=1) == 3 and check_whole(3.0, "x") == 3
    assert check_flag(np.bool_(True), "x") is True and check_choice("b", "x", ("a", "b")) == "b"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (None, "f must be an array of numbers, got None"),
        ("abc", "f must be an array of real numbers"),
        ([[1.0], [1.0, 2.0]], "f must be an array of numbers"),
        ([1.0, float("nan")], "1 of 2 values are NaN"),
        ([[1.0, float("inf")]], "1 of 2 values are NaN"),
        ([], "f is empty"),
        ([1.0, 2.0], "f must be a 2-D array"),
    ],
)
def test_finite_array_names_the_argument(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_finite_array(value, "f", ndim=2 if match.endswith("2-D array") else None)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("abc", "logits must be a"),
        (None, "logits must be a"),
        ([], "shape"),
        (np.zeros((2, 2, 2)), "shape"),
        ([float("nan"), 1.0], "1 row"),
        ([[0.0, 1.0], [float("inf"), 0.0]], "some \\(row 1\\)"),
        ([-np.inf, -np.inf], "1 row"),
        (["a", "b"], "real numbers"),
    ],
)
def test_check_logits_refuses_what_softmax_cannot_take(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_logits(value)


def test_check_logits_keeps_minus_inf_and_torch() -> None:
    assert check_logits(torch.tensor([0.0, -float("inf")])).tolist() == [0.0, -np.inf]


@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        ("abc", [0], "probs must be an array of real numbers"),
        ([[0.5, 0.5]], None, "labels must be a 1-D array"),
        ([[0.5, 0.5]], "a", "labels must be a 1-D array"),
        ([[0.5, 0.5]], ["a"], "whole-number class indices"),
        ([[0.5, 0.5]], [2], r"class indices in \[0, 2\), got 2"),
        ([[0.5, 0.5]], [-1], r"class indices in \[0, 2\), got -1"),
        ([[0.5, float("nan")]], [0], "rows of probs contain NaN"),
        ([[0.5], [0.5, 0.5]], [0, 1], "probs must be an array of real numbers"),
    ],
)
def test_check_logits_labels_names_what_it_checks(logits: object, labels: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_logits_labels(logits, labels, name="probs")


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float32,
        array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5),
        elements=st.sampled_from([0.0, -1.5, 3.0, np.nan, np.inf, -np.inf]),
    )
)
def test_check_logits_refuses_exactly_the_rows_softmax_cannot_take(x: np.ndarray) -> None:
    """A row is refused when it has a NaN or +inf, or nothing finite; -inf alone is a probability of 0."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
    bad = [np.isnan(r).any() or np.isposinf(r).any() or not np.isfinite(r).any() for r in rows]
    for value in (x, x.tolist(), torch.from_numpy(x)):
        if any(bad):
            with pytest.raises(ConfigError, match=f"{sum(bad)} row"):
                check_logits(value)
        else:
            out = check_logits(value)
            np.testing.assert_array_equal(out, x.astype(np.float64))
            p = torch.softmax(torch.from_numpy(out), dim=-1).numpy()
            assert np.isfinite(p).all()  # the oracle takes them without NaN
