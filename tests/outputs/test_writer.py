"""The one file writer (:mod:`yolo_probs.outputs.files`) on every kind of target, with private special files.

Regular and new files are replaced by a rename (old readers keep the old file), symlinks are written
through, private null/full character devices and FIFOs are written into and never replaced, folders,
sockets and block devices are refused, permissions follow the umask or the old file, and a failed or
interrupted write leaves the old file and no temporary file.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.targets import FifoReader, char_device
from yolo_probs.errors import ConfigError, OutputError
from yolo_probs.outputs import files
from yolo_probs.outputs.files import check_output, open_output, output_path, resolve_output, write_bytes, write_text

DATA = b"new content\n" * 1000  # 12 kB: more than a pipe's buffer holds at once


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _stream(path: Path, data: bytes) -> None:
    with open_output(path, binary=True) as stream:
        stream.write(data[:10])
        stream.write(data[10:])


def _text(path: Path, data: bytes) -> None:
    write_text(path, data.decode())


def _by_path(path: Path, data: bytes) -> None:
    with output_path(path, suffix=".bin") as produced:
        produced.write_bytes(data)  # as a library writing by path would


#: Every way to write a whole file, by name: each must follow the same rules.
WRITERS: dict[str, Callable[[Path, bytes], Any]] = {
    "open_output": _stream,
    "write_bytes": write_bytes,
    "write_text": _text,
    "output_path": _by_path,
}
ALL = pytest.mark.parametrize("write", list(WRITERS.values()), ids=list(WRITERS))


# -- regular files, new paths, symlinks --
@ALL
def test_new_file_is_written_whole_with_no_temporary_left(tmp_path: Path, write) -> None:
    write(tmp_path / "out.bin", DATA)
    assert (tmp_path / "out.bin").read_bytes() == DATA and leftovers(tmp_path) == []


@ALL
def test_regular_file_is_replaced_by_a_rename_not_rewritten(tmp_path: Path, write) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    old_reader = tmp_path / "held"  # a hard link: a reader that opened the old file keeps seeing it
    old_reader.hardlink_to(target)
    write(target, DATA)
    assert target.read_bytes() == DATA and old_reader.read_bytes() == b"old"
    assert not target.samefile(old_reader) and leftovers(tmp_path) == []


@ALL
def test_symlink_target_gets_the_content_and_the_link_stays(tmp_path: Path, write) -> None:
    real = tmp_path / "store" / "real.bin"
    real.parent.mkdir()
    real.write_bytes(b"stale")
    link = tmp_path / "link.bin"
    link.symlink_to(os.path.relpath(real, tmp_path))  # relative, as `ln -s store/real.bin link.bin` makes it
    write(link, DATA)
    assert link.is_symlink() and os.readlink(link) == "store/real.bin"
    assert real.read_bytes() == DATA and leftovers(tmp_path) == [] and leftovers(real.parent) == []


@ALL
def test_dangling_symlink_creates_its_target(tmp_path: Path, write) -> None:
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "later.bin")
    write(link, DATA)
    assert link.is_symlink() and (tmp_path / "later.bin").read_bytes() == DATA


def test_chain_of_symlinks_writes_the_last_target(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    (tmp_path / "b.txt").symlink_to(real)
    (tmp_path / "a.txt").symlink_to(tmp_path / "b.txt")
    write_text(tmp_path / "a.txt", "x")
    assert real.read_text() == "x" and (tmp_path / "a.txt").is_symlink() and (tmp_path / "b.txt").is_symlink()


def test_symlink_loop_is_one_config_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"a: cannot write it \(Too many levels of symbolic links\)"):
        write_text(tmp_path / "a", "x")


# -- permissions and owner --
@ALL
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_follows_the_umask(tmp_path: Path, write, mask: int, mode: int) -> None:
    with umask(mask):
        write(tmp_path / "out.bin", DATA)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == mode


@ALL
def test_existing_file_keeps_its_permission_bits(tmp_path: Path, write) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with umask(0o077):  # the old file's bits win over the umask
        write(target, DATA)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_library_that_recreates_its_file_does_not_choose_the_bits(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with umask(0o022), output_path(target) as produced:
        produced.unlink()
        fd = os.open(produced, os.O_WRONLY | os.O_CREAT, 0o600)  # e.g. a writer using mkstemp
        os.write(fd, b"x")
        os.close(fd)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_bytes() == b"x"


def test_replacing_someone_elses_file_keeps_its_owner(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root may give a file to another user")
    target = tmp_path / "theirs.txt"
    target.write_text("old")
    os.chown(target, 4321, 4322)
    write_text(target, "new")
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (4321, 4322) and target.read_text() == "new"


def test_temporary_file_is_private_while_written(tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("old")
    target.chmod(0o600)
    with umask(0o022), open_output(target) as stream:
        stream.write("half")
        (tmp,) = [tmp_path / n for n in leftovers(tmp_path)]
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o600  # not readable by others before it is done
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# -- character devices, FIFOs, stdout --
@ALL
def test_private_null_device_is_written_into_never_replaced(tmp_path: Path, write) -> None:
    null = char_device(tmp_path / "null", "null")
    write(null, DATA)
    st = os.lstat(null)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@ALL
def test_private_full_device_is_one_output_error_naming_it(tmp_path: Path, write) -> None:
    full = char_device(tmp_path / "full", "full")
    with pytest.raises(OutputError) as caught:
        write(full, DATA)
    assert str(caught.value) == (
        f"cannot write {full} (No space left on device); free some space, or choose another output file"
    )
    assert stat.S_ISCHR(os.lstat(full).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_symlink_to_a_device_writes_into_the_device(tmp_path: Path) -> None:
    null = char_device(tmp_path / "null", "null")
    link = tmp_path / "out.json"
    link.symlink_to(null)
    write_text(link, "[]")
    assert link.is_symlink() and stat.S_ISCHR(os.lstat(null).st_mode)


@ALL
def test_fifo_is_streamed_into_and_stays_a_fifo(tmp_path: Path, write) -> None:
    reader = FifoReader(tmp_path / "pipe")
    write(reader.path, DATA)
    assert reader.close() == DATA and stat.S_ISFIFO(os.lstat(reader.path).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_jsonl_style_stream_reaches_the_fifo_as_it_is_written(tmp_path: Path) -> None:
    reader = FifoReader(tmp_path / "pipe")
    with open_output(reader.path) as stream:
        stream.write("{}\n")
    assert reader.close() == b"{}\n"


def test_stdout_text_and_binary(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    write_text("-", "text\n")
    write_bytes(None, b"bytes\n")
    assert capsysbinary.readouterr().out == b"text\nbytes\n"


# -- what is never replaced --
def test_folder_is_refused_with_an_example_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"{tmp_path}: it is a folder; name a file in it, e.g. {tmp_path}/x.yaml"):
        write_text(tmp_path, "x", example="x.yaml")
    assert list(tmp_path.iterdir()) == []


def test_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(ConfigError, match="is a socket: yolo-probs writes regular files, FIFOs and character"):
            write_bytes(path, DATA)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_block_device_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a device needs root")
    path = tmp_path / "blk"
    os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(240, 250))  # a local-use number: no driver behind it
    for write in WRITERS.values():
        with pytest.raises(ConfigError, match="is a block device"):
            write(path, DATA)
    assert stat.S_ISBLK(os.lstat(path).st_mode)


def test_empty_path_and_file_as_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="path is empty"):
        write_text("", "x")
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match=r"f is a file, not a folder"):
        write_text(tmp_path / "f" / "out.txt", "x")


def test_a_node_that_changes_between_look_and_open_is_not_written(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("keep")
    seen = files.OutputTarget(str(target), target, "stream")  # it was a FIFO when looked at; now a file
    monkeypatch.setattr(files, "resolve_output", lambda *a, **k: seen)
    with pytest.raises(ConfigError, match="it changed while being opened"), open_output(target) as stream:
        stream.write("x")
    assert target.read_text() == "keep"


# -- streams=False: a format that cannot stream says which --
@pytest.mark.parametrize("kind", ["null", "fifo", "stdout"])
def test_a_format_that_cannot_stream_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    reader = FifoReader(tmp_path / "p") if kind == "fifo" else None  # gets nothing: refused before opening
    target: Path | str = reader.path if reader is not None else "-"
    if kind == "null":
        target = char_device(tmp_path / "n", "null")
    where = "stdout" if kind == "stdout" else f"{target} (a FIFO or device)"
    message = f"a profile with side files cannot be written as a stream into {where}; name a regular file"
    for call in (
        lambda: check_output(target, streams=False, what="a profile with side files"),
        lambda: write_bytes(target, DATA, streams=False, what="a profile with side files"),
        lambda: output_path(target, streams=False, what="a profile with side files").__enter__(),
    ):
        with pytest.raises(ConfigError) as caught:
            call()
        assert str(caught.value) == message
    assert reader is None or reader.close() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == {"null": ["n"], "fifo": ["p"], "stdout": []}[kind]


# -- failures and interruptions --
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("how", ["open_output", "output_path"])
def test_failed_or_interrupted_write_leaves_the_old_file(tmp_path: Path, error: type, how: str) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    opened = open_output(target, binary=True, keep_on_interrupt=False) if how == "open_output" else output_path(target)
    with pytest.raises(error), opened as handle:
        if how == "open_output":
            handle.write(b"half")
        else:
            handle.write_bytes(b"half")
        raise error
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_failed_rename_is_one_output_error_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError, match=rf"cannot write {target} \(Permission denied\); check the path"):
        write_text(target, "new")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_interrupt_during_the_rename_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text(target, "new")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


# -- concurrency --
def test_two_writers_of_one_file_at_once_do_not_collide(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with open_output(target) as first, open_output(target) as second:
        first.write("first")
        second.write("second")
        assert len(leftovers(tmp_path)) == 2  # each has its own temporary file
    assert target.read_text() in ("first", "second") and leftovers(tmp_path) == []


def test_many_writers_in_one_folder_at_once(tmp_path: Path) -> None:
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(5):
                with output_path(tmp_path / "shared.bin") as produced:
                    produced.write_bytes(bytes([i]) * 4096)
                write_bytes(tmp_path / f"own-{i}.bin", bytes([i]) * 4096)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and leftovers(tmp_path) == []
    assert all((tmp_path / f"own-{i}.bin").read_bytes() == bytes([i]) * 4096 for i in range(16))
    shared = (tmp_path / "shared.bin").read_bytes()
    assert len(shared) == 4096 and len(set(shared)) == 1  # one writer's whole file, never a mix


# -- check_output: a preflight that creates nothing --
@pytest.mark.parametrize("existing", [False, True])
def test_check_output_creates_nothing(tmp_path: Path, existing: bool) -> None:
    target = tmp_path / "out.yaml"
    if existing:
        target.write_text("old")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert check_output(target).kind == ("file" if existing else "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_check_output_never_opens_a_fifo_or_device(tmp_path: Path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)  # opening it for writing would block: there is no reader
    done: list[Any] = []  # check_output's answer, or what it raised

    def check() -> None:
        try:
            done.append(check_output(fifo))
        except BaseException as exc:
            done.append(exc)

    thread = threading.Thread(target=check, daemon=True)  # a call that blocks fails the test, not hangs it
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # a reader comes and goes: the blocked open returns
        thread.join(timeout=10)
        pytest.fail("check_output opened the FIFO for writing (it waited for a reader)")
    assert not isinstance(done[0], BaseException) and done[0].kind == "stream", done
    assert check_output(char_device(tmp_path / "n", "full")).kind == "stream"


def test_resolve_output_kinds(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    (tmp_path / "f").chmod(0o640)
    found = resolve_output(tmp_path / "f")
    assert (found.kind, found.mode, found.streamed) == ("file", 0o640, False)
    assert resolve_output("-").streamed and resolve_output(tmp_path / "new").kind == "new"
