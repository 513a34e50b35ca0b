"""The batcher: batched records equal unbatched ones, the model is never called twice at once, limits hold."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import MODEL, random_frames
from tests.serve.conftest import assert_same_records
from yolo_probs import YoloProbs
from yolo_probs.inputs.sources import InputFailure
from yolo_probs.serve.batcher import Batcher, BusyError
from yolo_probs.serve.server import record


def _encoded(n: int, seed: int) -> list[tuple[str, bytes]]:
    """Random images of several sizes, half PNG and half JPEG."""
    out = []
    for i, frame in enumerate(random_frames(n, seed=seed, shape=(40 + 7 * (seed % 5), 64))):
        suffix = ".png" if i % 2 else ".jpg"
        out.append((f"r{seed}-{i}{suffix}", cv2.imencode(suffix, frame)[1].tobytes()))
    return out


class _OneAtATime:
    """Wraps a backend; counts calls and records whether two ever overlapped."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.inside, self.overlapped, self.sizes = backend, 0, False, []
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def _enter(self, n: int) -> None:
        with self.lock:
            self.inside += 1
            self.overlapped |= self.inside > 1
            self.sizes.append(n)
        time.sleep(0.002)  # widen the window a concurrent call would need

    def _leave(self) -> None:
        with self.lock:
            self.inside -= 1

    def run_tensor(self, batch: Any, *, features: bool = False) -> Any:
        self._enter(len(batch))
        try:
            return self.backend.run_tensor(batch, features=features)
        finally:
            self._leave()

    def run(self, images: Any, *, features: bool = False) -> Any:
        self._enter(len(images))
        try:
            return self.backend.run(images, features=features)
        finally:
            self._leave()


@pytest.mark.parametrize(
    "engine", ["auto", "torch", pytest.param("openvino", marks=pytest.mark.slow)]
)  # slow: a static-batch build
def test_batched_records_equal_unbatched_and_the_model_runs_one_batch_at_a_time(engine: str) -> None:
    images = [item for seed in range(8) for item in _encoded(4, seed)]
    with YoloProbs(MODEL, device="cpu", engine=engine, batch=16) as clf:
        alone = [record(r) for r in Batcher(clf, max_batch=1).start().predict(images)]
        clf.backend = _OneAtATime(clf.backend)  # type: ignore[assignment]
        with Batcher(clf, max_batch=16, max_wait_s=0.05) as batcher:
            requests = [images[i : i + 4] for i in range(0, len(images), 4)]
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(batcher.predict, requests))
        probe = clf.backend
    together = [record(r) for answer in answers for r in answer]
    assert_same_records(together, alone)
    assert not probe.overlapped
    assert max(probe.sizes) > 1  # requests from several threads shared model runs


def test_a_reload_runs_queued_images_on_the_model_they_were_decoded_for() -> None:
    png = cv2.imencode(".png", cv2.imread("examples/images/digit_3.png"))[1].tobytes()
    old = YoloProbs(MODEL, device="cpu", engine="auto")
    new = YoloProbs(MODEL, device="cpu", engine="auto", temperature=3.0)
    with Batcher(old, max_batch=8) as batcher:
        queued = batcher.model.decode(png, "old.png")
        batcher.swap(new)
        after = batcher.model.decode(png, "new.png")
        results = [f.result(30) for f in batcher.submit([queued, after])]
    assert [r.temperature for r in results] == [1.0, 3.0]  # type: ignore[union-attr]
    assert batcher.model.generation == 1


def test_a_full_queue_is_busy_and_a_stopped_batcher_refuses() -> None:
    with YoloProbs(MODEL, device="cpu", engine="auto") as clf:
        batcher = Batcher(clf, max_batch=2, max_queue=3)  # not started: nothing leaves the queue
        item = batcher.model.frame(np.zeros((32, 32, 3), np.uint8), "x")
        futures = batcher.submit([item, item, item])
        with pytest.raises(BusyError, match="3 images are already waiting"):
            batcher.submit([item])
        futures[0].cancel()  # a caller that gave up: its image is skipped, the others still run
        batcher.start().stop()
        assert futures[0].cancelled() and all(f.result(0).source == "x" for f in futures[1:])  # type: ignore[union-attr]
        with pytest.raises(BusyError, match="shutting down"):
            batcher.submit([item])


def test_a_batch_the_model_fails_on_is_retried_image_by_image(tmp_path: Path) -> None:
    with YoloProbs(MODEL, device="cpu", engine="auto") as clf:
        real = clf.backend.run_tensor

        def fussy(batch: Any, *, features: bool = False) -> Any:
            if float(np.asarray(batch).max()) > 0.99:  # an all-white image breaks this "model"
                raise RuntimeError("kernel failed")
            return real(batch, features=features)

        clf.backend.run_tensor = fussy  # type: ignore[method-assign]
        white = cv2.imencode(".png", np.full((32, 32, 3), 255, np.uint8))[1].tobytes()
        gray = cv2.imencode(".png", np.full((32, 32, 3), 90, np.uint8))[1].tobytes()
        with Batcher(clf, max_batch=8) as batcher:
            results = batcher.predict([("gray.png", gray), ("white.png", white), ("gray2.png", gray)])
    assert isinstance(results[1], InputFailure) and "the model failed on it (kernel failed)" in results[1].message
    assert [r.source for r in results] == ["gray.png", "white.png", "gray2.png"]
    assert not isinstance(results[0], InputFailure) and not isinstance(results[2], InputFailure)


def test_the_worker_survives_a_failing_callback_and_a_failing_batch() -> None:
    png = cv2.imencode(".png", np.full((32, 32, 3), 90, np.uint8))[1].tobytes()
    with YoloProbs(MODEL, device="cpu", engine="auto") as clf:
        batcher = Batcher(clf, max_batch=4, on_batch=lambda n, s: 1 / 0).start()
        assert batcher.predict([("a.png", png)])[0].source == "a.png"
        batcher._results = lambda live: 1 / 0  # type: ignore[method-assign]  # a bug past the per-image fallback
        with pytest.raises(ZeroDivisionError):
            batcher.predict([("b.png", png)], timeout=30)
        del batcher._results
        assert batcher.alive and batcher.predict([("c.png", png)])[0].source == "c.png"
        batcher.stop()
        assert not batcher.alive
