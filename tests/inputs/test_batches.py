"""One batching rule (:func:`~yolo_probs.inputs.sources.frame_batches`) for the plain loop and the read-ahead pipeline.

A failure ends the batch before it and comes out in its place; a full batch is run before the next
input is read. Toy backends record the batches they are given: no model needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from yolo_probs import YoloProbs
from yolo_probs.backends import BackendOutput
from yolo_probs.inputs.sources import Frame, InputFailure, frame_batches

NAMES = ("dark", "light")


class Plain:
    """A backend of one's own: two logits from the mean pixel; records the sources of each batch it runs."""

    names = NAMES
    folded_temperature = None
    device_type = "cpu"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput:
        self.batches.append(len(images))
        m = np.array([im.mean() / 255.0 for im in images], np.float32)
        return BackendOutput(np.stack([1 - m, m], axis=1), "output")

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput:
        m = np.asarray(batch, np.float32).reshape(len(batch), -1).mean(axis=1)
        return BackendOutput(np.stack([1 - m, m], axis=1), "output")

    def close(self) -> None:
        pass


class Prepared(Plain):
    """The same with ``prepare``: YoloProbs then runs it through the read-ahead pipeline."""

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        self.batches.append(len(images))
        return np.stack([im.astype(np.float32) / 255.0 for im in images])


def inputs() -> list[Any]:
    frame = np.full((4, 4, 3), 200, np.uint8)
    return [frame, frame, frame, "missing.png", frame, frame, frame, frame, frame]


@pytest.mark.parametrize("backend", [Plain, Prepared])
def test_the_plain_loop_and_the_pipeline_batch_alike(backend: type[Plain]) -> None:
    toy = backend()
    out = list(YoloProbs(toy, batch=2).predict_each(inputs()))
    assert [type(x).__name__ for x in out] == ["Prediction"] * 3 + ["InputFailure"] + ["Prediction"] * 5
    assert toy.batches == [2, 1, 2, 2, 1]  # the failure ends the batch before it
    assert out[3].source == "missing.png" and out[4].source == "image3"


def test_a_full_batch_comes_out_before_the_next_item_is_read() -> None:
    read: list[str] = []

    def items() -> Iterator[Frame | InputFailure]:
        for name in "abcde":
            read.append(name)
            yield Frame(name, np.zeros((1, 1, 3), np.uint8))

    batches = frame_batches(items(), 2)
    assert [f.source for f in next(batches)] == ["a", "b"] and read == ["a", "b"]  # type: ignore[union-attr]
    assert [f.source for f in next(batches)] == ["c", "d"] and read == ["a", "b", "c", "d"]  # type: ignore[union-attr]
    assert [f.source for f in next(batches)] == ["e"]  # type: ignore[union-attr]
    assert next(batches, None) is None


def test_failures_alone_and_nothing_at_all() -> None:
    failures = [InputFailure("x", "bad"), InputFailure("y", "bad")]
    assert list(frame_batches(failures, 3)) == failures
    assert list(frame_batches([], 3)) == []
