"""Calibration fits of small problems run on one torch thread, and leave the thread count as it was.

Many small torch operations on several threads spend their time waiting for each other: on a busy
2-core machine Dirichlet on 348 x 10 logits took 100 s with torch's default threads and 5.6 s with
one (issue 19). Timings live in examples/compare_calibration.py; here only the thread counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import yolo_probs.calibration.select as select
from yolo_probs._util import threads
from yolo_probs.calibration import TemperatureScaling, fit_calibrator
from yolo_probs.errors import ConfigError


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _data(n: int = 200, c: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, c, n)
    return rng.normal(size=(n, c)) + 2.0 * np.eye(c)[y], y


@pytest.mark.parametrize("method", ["temperature", "auto", "vector"])
def test_a_small_fit_runs_on_one_thread_and_restores_the_count(
    method: str, two_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    fit, fit_method = TemperatureScaling.fit, select.fit_method

    def counting_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return fit(self, *args, **kwargs)

    def counting_method(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return fit_method(*args, **kwargs)

    monkeypatch.setattr(TemperatureScaling, "fit", counting_fit)
    monkeypatch.setattr(select, "fit_method", counting_method)
    fit_calibrator(method, *_data())
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


def test_the_count_comes_back_after_a_failed_fit(two_threads: None) -> None:
    z, y = _data()
    with pytest.raises(ConfigError):
        fit_calibrator("temperature", z, np.zeros_like(y))  # one class: nothing to calibrate
    assert torch.get_num_threads() == 2


def test_a_large_fit_keeps_half_the_cores(two_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "SMALL_FIT", 10)
    assert threads.fit_threads(11, cores=16) == 8 and threads.fit_threads(10, cores=16) == 1
    assert threads.fit_threads(11, cores=2) == 1


def test_never_more_threads_than_the_user_set() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threads.torch_threads(4):
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
