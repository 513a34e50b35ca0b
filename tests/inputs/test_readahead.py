"""The pipeline behind predict_each for the fast engines: order, failures in place, bounded read-ahead."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.conftest import MODEL
from yolo_probs import YoloProbs
from yolo_probs.backends import BackendOutput
from yolo_probs.inputs.readahead import pipelined
from yolo_probs.inputs.sources import InputFailure


class Recorder:
    """A toy backend: the logit is the mean pixel; remembers which thread prepared each batch."""

    def __init__(self, fail_on: float | None = None) -> None:
        self.prepared_in: set[str] = set()
        self.fail_on = fail_on

    def prepare(self, images):
        self.prepared_in.add(threading.current_thread().name)
        values = np.array([[im.mean()] for im in images], np.float32)
        if self.fail_on is not None and (values == self.fail_on).any():
            raise ValueError("cannot prepare this batch")
        return values

    def run_tensor(self, batch, *, features=False):
        return BackendOutput(batch, "output")


def _flatten(items):
    out = []
    for item in items:
        if isinstance(item, InputFailure):
            out.append(("fail", item.source))
        else:
            out.extend((float(v), src) for v, (src, _) in zip(item[0].logits[:, 0], item[1], strict=True))
    return out


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("batch", [1, 2, 4])
def test_order_and_failures_in_place(tmp_path, workers, batch):
    import cv2

    sources = []
    for i in range(9):
        if i in (2, 3, 7):
            sources.append(str(tmp_path / f"missing{i}.png"))
        else:
            path = tmp_path / f"{i}.png"
            cv2.imwrite(str(path), np.full((8, 8, 3), i, np.uint8))
            sources.append(str(path))
    backend = Recorder()
    got = _flatten(pipelined(backend, sources, batch=batch, workers=workers))
    want = [("fail", s) if "missing" in s else (float(i), s) for i, s in enumerate(sources)]
    assert got == want
    assert all(name != threading.current_thread().name for name in backend.prepared_in)  # prepared off-thread


def test_endless_stream_reads_a_bounded_number_ahead():
    pulled = 0

    def endless():
        nonlocal pulled
        while True:
            pulled += 1
            yield np.full((4, 4, 3), pulled % 250, np.uint8)

    stream = pipelined(Recorder(), endless(), batch=4, workers=1, depth=2)
    for _, _ in zip(range(10), stream, strict=False):
        pass
    time.sleep(0.3)  # give the reader every chance to run ahead
    # 10 batches consumed; ahead of them at most depth (2) prepared batches and 2 outputs queued, and
    # one batch in the hands of each of the reader (being built, being put) and the engine thread
    assert 40 <= pulled <= 40 + 4 * (2 + 2 + 3)
    stream.close()
    time.sleep(0.3)
    assert not any(t.name.startswith("yolo-probs-prefetch") and t.is_alive() for t in threading.enumerate())


def test_a_failing_prepare_is_raised_not_swallowed():
    frames = [np.full((4, 4, 3), v, np.uint8) for v in (1, 2, 3)]
    with pytest.raises(ValueError, match="cannot prepare"):
        list(pipelined(Recorder(fail_on=3.0), frames, batch=1))


def test_predict_each_with_an_engine_matches_torch_in_order(tmp_path, monkeypatch, image_paths):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    sources = [str(p) for p in image_paths]
    sources.insert(2, str(tmp_path / "missing.jpg"))
    sources.append(str(tmp_path / "also-missing.png"))
    with YoloProbs(MODEL, device="cpu", batch=3) as torch_clf, YoloProbs(MODEL, engine="onnxruntime", batch=3) as clf:
        theirs = list(torch_clf.predict_each(sources))
        ours = list(clf.predict_each(sources))
    assert [type(x).__name__ for x in ours] == [type(x).__name__ for x in theirs]
    assert [x.source for x in ours] == [x.source for x in theirs]
    for a, b in zip(ours, theirs, strict=True):
        if not isinstance(a, InputFailure):
            np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)


def test_a_backend_with_a_smaller_run_batch_gets_batches_of_that_size():
    backend = Recorder()
    backend.run_batch = 2
    frames = [np.full((4, 4, 3), v, np.uint8) for v in range(5)]
    outs = list(pipelined(backend, frames, batch=8))
    assert [out.logits.shape[0] for out, _ in outs] == [2, 2, 1]
    assert _flatten(outs) == [(float(v), f"image{v}") for v in range(5)]
    assert [out.logits.shape[0] for out, _ in pipelined(backend, frames, batch=1)] == [1] * 5  # never above batch


def test_a_backend_with_its_own_reader_decodes_the_files(tmp_path):
    import cv2

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((6, 6, 3), 10 * i, np.uint8))
    read: list[str] = []
    backend = Recorder()

    def own_read(path):
        read.append(path)
        return np.full((2, 2, 3), 7, np.uint8)

    backend.read = own_read
    assert _flatten(pipelined(backend, [str(p) for p in paths], batch=2)) == [(7.0, str(p)) for p in paths]
    assert read == [str(p) for p in paths]
