"""The checks and conversions the math core and the backends share: torch or numpy, one float32 batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo_probs.core.checks import float32_batch, is_torch, real_array, to_numpy
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
