"""Read ahead of the model in a background thread (decoding releases the GIL, so this overlaps)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
#: Seconds a closed :func:`prefetched` waits for its thread (one batch through a model; a live stream's
#: read may block longer, and the daemon thread is then left to end on its own).
JOIN_TIMEOUT = 10.0


def prefetched(items: Iterator[T], depth: int = 4, join_timeout: float = JOIN_TIMEOUT) -> Generator[T, None, None]:
    """Yield ``items`` in order while a thread produces up to ``depth`` of them ahead.

    Exceptions raised by the producer are re-raised here; abandoning (closing) the generator stops the
    thread and waits up to ``join_timeout`` seconds for it to finish the item in hand, so that nothing it
    runs (an ONNX Runtime session, a decoder) is still running when the caller closes the model or the
    interpreter exits: a daemon thread killed inside native code at exit aborts the process
    ("terminate called without an active exception").

    Example:
        >>> list(prefetched(iter(range(5)), depth=2))
        [0, 1, 2, 3, 4]
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        """Hand ``item`` over, unless the consumer has gone; False then."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator: run its clean-up (threads, open videos) here, in its thread
                close()

    worker = threading.Thread(target=produce, name="yolo-probs-prefetch", daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(join_timeout)
