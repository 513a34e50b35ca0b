"""The read-ahead thread keeps order, re-raises producer errors and stops when abandoned."""

from __future__ import annotations

import threading
import time

import pytest

from yolo_probs._util.prefetch import prefetched


def test_order_and_errors():
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))

    def broken():
        yield 1
        raise RuntimeError("decoder exploded")

    gen = prefetched(broken())
    assert next(gen) == 1
    with pytest.raises(RuntimeError, match="decoder exploded"):
        next(gen)


def test_abandoned_generator_stops_the_thread():
    produced: list[int] = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    gen = prefetched(endless(), depth=2)
    assert next(gen) == 0
    gen.close()
    time.sleep(0.5)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 5
    assert not any(t.name == "yolo-probs-prefetch" and t.is_alive() for t in threading.enumerate())


def test_the_producer_cleans_up_its_generator_in_its_own_thread():
    cleaned: list[str] = []

    def source():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            cleaned.append(threading.current_thread().name)

    gen = prefetched(source(), depth=2)
    assert next(gen) == 0
    gen.close()
    deadline = time.monotonic() + 5
    while not cleaned and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cleaned == ["yolo-probs-prefetch"]


def test_close_waits_for_the_item_in_hand_and_the_clean_up() -> None:
    """After close() returns the producer has finished: nothing it runs (an ONNX Runtime call) outlives it.

    A daemon thread still inside native code when the interpreter exits aborts the process
    ('terminate called without an active exception': evaluate with an energy profile on an export).
    """
    events: list[str] = []

    def slow():
        try:
            for i in range(100):
                time.sleep(0.2)  # a batch through the model
                events.append(f"ran {i}")
                yield i
        finally:
            events.append("cleaned")

    gen = prefetched(slow(), depth=1)
    assert next(gen) == 0
    gen.close()
    assert events[-1] == "cleaned"
    assert not any(t.name == "yolo-probs-prefetch" and t.is_alive() for t in threading.enumerate())


def test_close_gives_up_on_a_producer_that_never_returns() -> None:
    release = threading.Event()

    def stuck():
        yield 0
        release.wait()  # a live stream's read that blocks
        yield 1

    gen = prefetched(stuck(), depth=1, join_timeout=0.2)
    assert next(gen) == 0
    start = time.monotonic()
    gen.close()
    assert time.monotonic() - start < 2
    release.set()
