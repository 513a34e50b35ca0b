"""Special output targets for the writer's tests: private character devices, FIFOs and symlinks.

Never the machine's own ``/dev`` nodes: a buggy writer would replace them with a regular file and break
the machine. A private node made with ``mknod`` in a temporary folder behaves the same (major 1, minor 3
is a null device, minor 7 a full one) and only the test sees it.

Example (in a test)::

    with special_target("full", tmp_path, "out.json") as target:
        code = main(["predict", image, "-m", model, "-o", str(target.path)])
        target.assert_kept()
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Device numbers of the private character devices: (major, minor).
DEVICES = {"null": (1, 3), "full": (1, 7)}
#: The kinds of target every writing command is tested against.
KINDS = ("null", "full", "fifo", "symlink")
#: What a symlink's target holds before the command writes it.
STALE = b"stale content\n"


def char_device(path: Path, kind: str) -> Path:
    """A private character device at ``path`` (``null`` or ``full``); the test is skipped without root."""
    major, minor = DEVICES[kind]
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("making a character device needs root")
    return path


class FifoReader:
    """A FIFO at ``path`` read to its end by a thread (a writer blocks until a reader opens it)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.data = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as fifo:
            self.data = fifo.read()

    def close(self) -> bytes:
        """Wait for the writer to finish (unblocking the reader if nothing ever opened the FIFO); the bytes read."""
        self._thread.join(timeout=0.2)
        if self._thread.is_alive():
            with contextlib.suppress(OSError):  # a writer that never came: open and close, so the reader sees EOF
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), f"nothing finished writing {self.path}"
        return self.data


@dataclass
class Target:
    """One special output: ``path`` is what the command is told to write.

    ``real`` is a symlink's target (the link points at it), ``reader`` a FIFO's reader.
    """

    kind: str
    path: Path
    real: Path | None = None
    reader: FifoReader | None = None
    rdev: int | None = field(default=None, repr=False)

    def received(self) -> bytes:
        """What the output got: the FIFO's bytes, the symlink target's content, nothing for a device."""
        if self.reader is not None:
            return self.reader.close()
        if self.real is not None:
            return self.real.read_bytes() if self.real.exists() else b""
        return b""

    def assert_kept(self) -> None:
        """The node is what it was: the same device, still a FIFO, still a link to the same target."""
        st = os.lstat(self.path)
        if self.kind in DEVICES:
            assert stat.S_ISCHR(st.st_mode) and st.st_rdev == self.rdev, f"{self.path} was replaced"
        elif self.kind == "fifo":
            assert stat.S_ISFIFO(st.st_mode), f"{self.path} was replaced"
        else:
            assert stat.S_ISLNK(st.st_mode) and self.real is not None, f"{self.path} is no longer a link"
            assert Path(os.readlink(self.path)) == self.real

    def leftovers(self) -> list[str]:
        """Hidden temporary files left in the target's folder (and the link target's)."""
        folders = {self.path.parent} | ({self.real.parent} if self.real is not None else set())
        return sorted(p.name for f in folders for p in f.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


@contextlib.contextmanager
def special_target(kind: str, folder: Path, name: str) -> Iterator[Target]:
    """Make a ``kind`` target (see :data:`KINDS`) named ``name`` in ``folder``; a FIFO's reader is joined after."""
    path = folder / name
    if kind in DEVICES:
        char_device(path, kind)
        yield Target(kind, path, rdev=os.stat(path).st_rdev)
        return
    if kind == "fifo":
        reader = FifoReader(path)
        try:
            yield Target(kind, path, reader=reader)
        finally:
            reader.close()
        return
    real = folder / "real" / f"real{Path(name).suffix}"
    real.parent.mkdir(exist_ok=True)
    real.write_bytes(STALE)
    path.symlink_to(real)
    yield Target(kind, path, real=real)


def error_lines(err: str) -> list[str]:
    """The ``yolo-probs: error:`` lines of a command's stderr."""
    return [line for line in err.splitlines() if line.startswith("yolo-probs: error:")]


def assert_full_is_one_line(code: int, err: str, path: Path) -> None:
    """A full device: exit status 1, one error line naming it and saying why, no traceback."""
    lines = error_lines(err)
    assert code == 1 and "Traceback" not in err, err
    assert len(lines) == 1 and f"cannot write {path} (No space left on device); free some space" in lines[0], err
