"""Output files: atomic where a document is only valid whole, record counts on stderr, write errors named."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import MODEL
from tests.targets import char_device
from yolo_probs.cli import main
from yolo_probs.errors import ConfigError, OutputError
from yolo_probs.outputs.files import check_not_input, open_output
from yolo_probs.outputs.formats import WRITERS, open_records


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("binary", [False, True])
def test_atomic_output_keeps_the_old_file_when_the_run_fails(tmp_path: Path, binary: bool) -> None:
    target = tmp_path / "out.json"
    target.write_text("old, good results")
    with pytest.raises(RuntimeError), open_output(target, binary=binary) as stream:
        stream.write(b"[\n  {half" if binary else "[\n  {half")
        raise RuntimeError("the model crashed")
    assert target.read_text() == "old, good results" and leftovers(tmp_path) == []


def test_atomic_output_replaces_the_file_only_at_the_end(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with open_output(target) as stream:
        stream.write("new")
        stream.flush()
        assert target.read_text() == "old" and len(leftovers(tmp_path)) == 1
    assert target.read_text() == "new" and leftovers(tmp_path) == []


def test_keyboard_interrupt_keeps_the_completed_document_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), open_output(target) as stream:
        stream.write("[half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and leftovers(tmp_path) == []  # by default the old file stays
    with pytest.raises(KeyboardInterrupt), open_output(target, keep_on_interrupt=True) as stream:
        stream.write("[]\n")  # a writer closes its document in a finally block before this propagates
        raise KeyboardInterrupt
    assert target.read_text() == "[]\n" and leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_format_replaces_a_file_only_at_the_end(tmp_path: Path, fmt: str) -> None:
    """JSON Lines too: a run that fails part-way leaves the old file as it was (to follow records as they
    come, write them to stdout or a FIFO)."""
    target = tmp_path / f"out.{fmt}"
    target.write_bytes(b"old, good results")
    with pytest.raises(RuntimeError), open_records(target, fmt) as stream:
        stream.write(b"{half" if WRITERS[fmt].binary else "{half")
        stream.flush()
        assert target.read_bytes() == b"old, good results"
        raise RuntimeError("the model crashed")
    assert target.read_bytes() == b"old, good results" and leftovers(tmp_path) == []


def test_full_disk_names_the_output(tmp_path: Path) -> None:
    full = char_device(tmp_path / "full", "full")  # a private /dev/full: never the machine's own
    message = rf"cannot write {full} \(No space left on device\); free some space"
    with pytest.raises(OutputError, match=message), open_output(full) as stream:
        stream.write("x" * 100_000)
        stream.flush()
    assert stat.S_ISCHR(os.lstat(full).st_mode)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table", "parquet"])
def test_cli_full_disk_is_one_line_and_exit_1(tmp_path: Path, capsys, image_paths, fmt) -> None:
    full = char_device(tmp_path / "full", "full")
    code, out, err = run(capsys, "predict", str(image_paths[0]), "-m", str(MODEL), "-f", fmt, "-o", str(full))
    assert code == 1 and out == ""
    assert err == f"yolo-probs: error: cannot write {full} (No space left on device); free some space, or choose " \
        "another output file (--output PATH)\n"  # fmt: skip
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_cli_says_how_many_records_it_wrote(tmp_path: Path, capsys, image_paths) -> None:
    target = tmp_path / "out.csv"
    code, out, err = run(capsys, "predict", *map(str, image_paths[:3]), "-m", str(MODEL), "-o", str(target), "-k", "2")
    assert code == 0 and out == "" and err == f"yolo-probs: wrote 3 records to {target}\n"
    assert len(target.read_text().splitlines()) == 1 + 3 * 2  # header + one row per rank


def test_cli_ctrl_c_keeps_the_records_so_far(tmp_path: Path, capsys, image_paths, monkeypatch) -> None:
    from yolo_probs.api.model import YoloProbs

    real = YoloProbs.predict_each

    def interrupted(self, source, **kwargs):
        for i, item in enumerate(real(self, source, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(YoloProbs, "predict_each", interrupted)
    target = tmp_path / "out.json"
    target.write_text("old")
    code, _, err = run(capsys, "predict", *map(str, image_paths[:4]), "-m", str(MODEL), "-o", str(target))
    assert code == 130
    assert f"yolo-probs: interrupted: kept the 2 records written so far in {target}" in err.splitlines()
    assert len(json.loads(target.read_text())) == 2 and leftovers(tmp_path) == []


def test_cli_crash_mid_run_leaves_the_old_json(tmp_path: Path, capsys, image_paths, monkeypatch) -> None:
    from yolo_probs.api.model import YoloProbs

    real = YoloProbs.predict_each

    def crashing(self, source, **kwargs):
        for i, item in enumerate(real(self, source, **kwargs)):
            if i == 1:
                raise RuntimeError("boom")
            yield item

    monkeypatch.setattr(YoloProbs, "predict_each", crashing)
    target = tmp_path / "out.json"
    target.write_text('[{"old": "good"}]')
    code, _, _ = run(capsys, "predict", *map(str, image_paths[:3]), "-m", str(MODEL), "-o", str(target))
    assert code == 1 and target.read_text() == '[{"old": "good"}]' and leftovers(tmp_path) == []


def test_output_folder_is_refused(tmp_path: Path, capsys, image_paths) -> None:
    code, _, err = run(capsys, "predict", str(image_paths[0]), "-m", str(MODEL), "-o", str(tmp_path))
    assert code == 2 and f"{tmp_path}: it is a folder; name a file in it, e.g. {tmp_path}/predictions" in err


def test_check_not_input_ignores_missing_and_remote(tmp_path: Path) -> None:
    check_not_input(tmp_path / "new.json", [tmp_path / "new.json", "https://x/y.jpg", None])
    existing = tmp_path / "a.json"
    existing.write_text("{}")
    hard = tmp_path / "b.json"
    hard.hardlink_to(existing)
    with pytest.raises(ConfigError, match=r"b.json is also an input of this run \(the same file as .*a.json\)"):
        check_not_input(hard, [existing])


def test_a_closed_pipe_ends_quietly(image_paths) -> None:
    """`yolo-probs predict ... | head -1`: no error line, exit status 141 as for SIGPIPE."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    folder = str(image_paths[0].parent)
    proc = subprocess.Popen(
        [sys.executable, "-m", "yolo_probs", "predict", *[folder] * 20, "-m", str(MODEL), "-f", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b'{"source"')
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b""


def test_atomic_output_keeps_permissions_and_writes_through_links(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with open_output(link) as stream:
        stream.write("new")
    assert link.is_symlink() and real.read_text() == "new" and (real.stat().st_mode & 0o777) == 0o640


@pytest.mark.parametrize("name", ["out.jsonl", "notes.txt"])
def test_output_that_is_a_named_source_of_another_type_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    # Not an image, so predict would only report it as a failure; but it is the user's file: never truncate it.
    target = tmp_path / name
    target.write_text('{"keep": "me"}\n')
    code, _, err = run(capsys, "predict", str(target), "-m", str(MODEL), "-o", str(target))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert target.read_text() == '{"keep": "me"}\n'
