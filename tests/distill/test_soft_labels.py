"""``yolo-probs soft-labels`` and :mod:`yolo_probs.distill.soft_labels`: rows, formats, labels, failures, bad input."""

from __future__ import annotations

import io
import json
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import softmax as scipy_softmax

from tests.conftest import DEVICE, write_video
from tests.targets import KINDS, special_target
from yolo_probs.cli import main
from yolo_probs.distill.soft_labels import read_soft_labels
from yolo_probs.errors import OutputError

T = 4.0


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def labelled(tmp_path: Path, image_paths: list[Path]) -> Path:
    """A small labelled dataset: val/<digit>/<file>.png for the shipped digit images."""
    root = tmp_path / "data" / "val"
    for p in image_paths:
        digit = p.stem.split("_")[-1]
        (root / digit).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, root / digit / p.name)
    return root


def test_soft_labels_equal_softmax_of_predict_logits(capsys, tmp_path, model_path, image_paths):
    """Done-when of issue 12: probs == softmax(logits / T) of ``predict --logits`` to 1e-6."""
    sources = [str(p) for p in image_paths]
    code, out, err = run(
        capsys, "predict", *sources, "-m", str(model_path), "-f", "jsonl", "--logits", "--device", DEVICE
    )
    assert code == 0, err
    logits = {r["source"]: np.array(r["logits"], dtype=np.float64) for r in map(json.loads, out.splitlines())}
    target = tmp_path / "soft.parquet"
    code, _, err = run(capsys, "soft-labels", *sources, "-m", str(model_path), "-t", str(T), "-o", str(target))
    assert code == 0, err
    rows = read_soft_labels(target)
    assert [r["source"] for r in rows] == sources
    for r in rows:
        expected = scipy_softmax(logits[r["source"]] / T)
        np.testing.assert_allclose(r["probs"], expected, atol=1e-6, rtol=0)
        np.testing.assert_allclose(r["logits"], logits[r["source"]], atol=1e-6, rtol=0)
        assert abs(sum(r["probs"]) - 1.0) < 1e-5 and r["frame"] is None and r["label"] is None
    # A high temperature softens: the top probability is lower than at T = 1, the ranking the same.
    r = rows[0]
    at_one = scipy_softmax(np.array(r["logits"], dtype=np.float64))
    assert max(r["probs"]) < at_one.max() and int(np.argmax(r["probs"])) == int(at_one.argmax())


def test_parquet_schema_and_metadata(capsys, tmp_path, model_path, labelled):
    target = tmp_path / "soft.parquet"
    code, out, err = run(
        capsys, "soft-labels", str(labelled / "3"), "-m", str(model_path), "-t", "2.5", "-o", str(target)
    )
    assert code == 0, err
    table = pq.read_table(target)
    assert table.schema.names == ["source", "frame", "label", "probs", "logits"]
    assert table.schema.field("probs").type.value_type == pa.float32()
    meta = {k.decode(): json.loads(v) for k, v in table.schema.metadata.items()}
    assert meta["yolo_probs.names"] == [str(i) for i in range(10)] and meta["yolo_probs.temperature"] == 2.5
    assert table.column("label").to_pylist() == ["3", "3"]  # digit_3.png and hard_3.png
    assert f"yolo-probs: wrote 2 rows to {target} (parquet, T=2.5)\n" in err and "wrote" not in out


def test_jsonl_matches_parquet_and_labels_come_from_class_folders(capsys, tmp_path, model_path, labelled, image_paths):
    sources = [str(labelled), str(image_paths[0])]  # a folder of class folders reads its class folders
    pq_out, jl_out = tmp_path / "a.parquet", tmp_path / "a.jsonl"
    for target in (pq_out, jl_out):
        code, _, err = run(capsys, "soft-labels", *sources, "-m", str(model_path), "-t", str(T), "-o", str(target))
        assert code == 0, err
    a, b = read_soft_labels(pq_out), read_soft_labels(jl_out)
    assert [r["source"] for r in a] == [r["source"] for r in b] and len(a) == len(image_paths) + 1
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x["probs"], y["probs"], atol=1e-7)
        assert x["label"] == y["label"]
    labels = {Path(r["source"]).name: r["label"] for r in a[:-1]}
    assert all(labels[name] == name.split("_")[-1].removesuffix(".png") for name in labels)
    assert a[-1]["label"] is None  # examples/images is not a class folder


@pytest.mark.parametrize(
    ("folders", "labelled_rows"),
    [(("3", "5", "cat"), 4), (("cat", "dog"), 0)],
    ids=["some-folders-are-not-classes", "no-folder-is-a-class"],
)
def test_every_image_of_a_dataset_split_gets_a_row(capsys, tmp_path, model_path, image_paths, folders, labelled_rows):
    """Images in a folder that is not a class of the model get ``label: null``; none is dropped."""
    root = tmp_path / "split"
    for folder in folders:
        (root / folder).mkdir(parents=True)
        for p in image_paths[:2] if folder != "cat" else image_paths[:4]:
            shutil.copy(p, root / folder / p.name)
    (root / ".cache").mkdir()  # hidden, and a folder without images: neither is read
    (root / "empty").mkdir()
    target = tmp_path / "soft.jsonl"
    code, _, err = run(capsys, "soft-labels", str(root), "-m", str(model_path), "-t", "4", "-o", str(target))
    assert code == 0, err
    rows = read_soft_labels(target)
    on_disk = sorted(str(p) for p in root.rglob("*.png"))
    assert sorted(r["source"] for r in rows) == on_disk
    assert all(r["label"] == (Path(r["source"]).parent.name if r["label"] else None) for r in rows)
    assert sum(r["label"] is not None for r in rows) == labelled_rows
    unlabelled = len(on_disk) - labelled_rows
    lines = err.splitlines()
    assert lines[-1] == (
        f"yolo-probs: {unlabelled} of {len(on_disk)} images are not in a folder named after a class of the model: "
        "their label is null"
    )
    assert len(lines) == 2  # the wrote line and that note


def test_write_soft_labels_counts_the_unlabelled_images(tmp_path, model_path, labelled, image_paths):
    from yolo_probs import YoloProbs
    from yolo_probs.distill.soft_labels import write_soft_labels

    with YoloProbs(model_path, temperature=4.0) as clf:
        result = write_soft_labels(clf, [str(labelled), str(image_paths[0])], tmp_path / "s.jsonl")
    assert (result.rows, result.unlabelled) == (len(image_paths) + 1, 1)


def test_bad_image_is_a_named_failure_and_the_rest_is_written(capsys, tmp_path, model_path, image_paths, bad_inputs):
    target = tmp_path / "soft.jsonl"
    bad = bad_inputs["truncated JPEG"]
    code, _, err = run(
        capsys, "soft-labels", str(image_paths[0]), str(bad), str(image_paths[1]), "-m", str(model_path),
        "-t", "3", "-o", str(target),
    )  # fmt: skip
    assert code == 1
    assert str(bad) in err and "1 of 3 inputs failed" in err and "Traceback" not in err
    assert [r["source"] for r in read_soft_labels(target)] == [str(image_paths[0]), str(image_paths[1])]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "soft.jsonl"]  # no temporary file left


def test_video_frames_have_frame_numbers_and_no_label(capsys, tmp_path, model_path, image_paths):
    video = write_video(tmp_path / "clip.mp4", image_paths[:3])
    target = tmp_path / "v.parquet"
    code, _, err = run(capsys, "soft-labels", str(video), "-m", str(model_path), "-t", "4", "-o", str(target))
    assert code == 0, err
    rows = read_soft_labels(target)
    assert [r["frame"] for r in rows] == [0, 1, 2] and all(r["label"] is None for r in rows)


def test_profile_gives_the_model_and_t_replaces_its_calibration(capsys, tmp_path, model_path, image_paths):
    from yolo_probs.api.profile import Profile, save_profile

    profile = save_profile(Profile(model=str(model_path), temperature=1.3), tmp_path / "p.yaml")
    target = tmp_path / "soft.jsonl"
    code, _, err = run(capsys, "soft-labels", str(image_paths[0]), "-p", str(profile), "-t", "5", "-o", str(target))
    assert code == 0, err
    (row,) = read_soft_labels(target)
    np.testing.assert_allclose(row["probs"], scipy_softmax(np.array(row["logits"], np.float64) / 5), atol=1e-6)


@pytest.mark.parametrize(
    ("case", "extra", "needle"),
    [
        ("T = 0", ["-t", "0", "-o", "{tmp}/a.parquet"], "temperature must be a finite number > 0"),
        ("T < 0", ["-t", "-2", "-o", "{tmp}/a.parquet"], "temperature must be a finite number > 0"),
        ("unknown suffix", ["-t", "4", "-o", "{tmp}/a.txt"], "name it .parquet or .jsonl"),
        ("unwritable folder", ["-t", "4", "-o", "/proc/no/a.parquet"], "cannot write"),
        ("output is a folder", ["-t", "4", "-o", "{tmp}/dir.parquet"], "is a folder"),
        ("output is an input", ["-t", "4", "-o", "{img}", "-f", "jsonl"], "is also an input of this run"),
        ("missing -t", ["-o", "{tmp}/a.parquet"], "Missing option"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, model_path, image_paths, case, extra, needle):
    img = tmp_path / "in.png"
    shutil.copy(image_paths[0], img)
    (tmp_path / "dir.parquet").mkdir()
    before = img.read_bytes()
    args = [a.format(tmp=tmp_path, img=img) for a in extra]
    code, _, err = run(capsys, "soft-labels", str(img), "-m", str(model_path), *args)
    assert code == 2, (case, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, (case, err)
    assert img.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_help(capsys):
    code, out, _ = run(capsys, "soft-labels", "--help")
    assert code == 0 and "--temperature" in out and ".parquet" in out


def test_library_stream_and_failures(model_path, image_paths):
    from yolo_probs import YoloProbs
    from yolo_probs.distill.soft_labels import SoftLabel, iter_soft_labels
    from yolo_probs.inputs.sources import InputFailure

    with YoloProbs(model_path, temperature=T, device=DEVICE) as clf:
        items = list(iter_soft_labels(clf, [str(image_paths[0]), "missing.png"]))
    assert isinstance(items[0], SoftLabel) and isinstance(items[1], InputFailure)
    assert items[0].probs.dtype == np.float32 and abs(float(items[0].probs.sum()) - 1) < 1e-5
    np.testing.assert_allclose(items[0].probs, scipy_softmax(items[0].logits.astype(np.float64) / T), atol=1e-6)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_counts_a_dataset_split_for_a_terminal(monkeypatch, tmp_path, model_path, labelled):
    out = tmp_path / "p.jsonl"
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr("yolo_probs.cli.progress.SHOW_AFTER", 0.0)  # show it even for this short run
    assert main(["soft-labels", str(labelled), "-m", str(model_path), "-t", "4", "-o", str(out)]) == 0
    assert "soft labels" in terminal.getvalue()  # the bar saw the images one level down
    assert len(out.read_text().splitlines()) == len(list(labelled.rglob("*.png")))


# -- the one file writer: special targets, Ctrl-C, crashes --
def _parse(data: bytes, fmt: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in data.decode().splitlines()]
    return pq.read_table(io.BytesIO(data)).to_pylist()


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
@pytest.mark.parametrize("kind", KINDS)
def test_write_soft_labels_to_special_targets(tmp_path, model_path, image_paths, kind, fmt) -> None:
    from yolo_probs import YoloProbs
    from yolo_probs.distill.soft_labels import write_soft_labels

    sources = [str(p) for p in image_paths[:3]]
    with (
        YoloProbs(model_path, temperature=T, device=DEVICE) as clf,
        special_target(kind, tmp_path, f"s.{fmt}") as target,
    ):
        if kind == "full":
            with pytest.raises(OutputError, match=rf"cannot write {target.path} \(No space left on device\)"):
                write_soft_labels(clf, sources, target.path)
        else:
            assert write_soft_labels(clf, sources, target.path).rows == 3
        target.assert_kept()
        written = target.received()
    assert target.leftovers() == []
    if kind in ("fifo", "symlink"):  # both formats stream: a FIFO gets a whole, readable file
        assert [r["source"] for r in _parse(written, fmt)] == sources


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_ctrl_c_keeps_the_rows_written_so_far(tmp_path, model_path, image_paths, monkeypatch, fmt) -> None:
    from yolo_probs import YoloProbs
    from yolo_probs.api.model import YoloProbs as Model
    from yolo_probs.distill.soft_labels import write_soft_labels

    real = Model.predict_each

    def interrupted(self, source, **kwargs):
        for i, item in enumerate(real(self, source, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(Model, "predict_each", interrupted)
    target = tmp_path / f"s.{fmt}"
    target.write_text("old")
    with YoloProbs(model_path, temperature=T, device=DEVICE) as clf, pytest.raises(KeyboardInterrupt):
        write_soft_labels(clf, [str(p) for p in image_paths[:4]], target)
    assert [r["source"] for r in read_soft_labels(target)] == [str(p) for p in image_paths[:2]]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_crash_leaves_the_old_file_and_its_bits(tmp_path, model_path, image_paths, monkeypatch) -> None:
    from yolo_probs import YoloProbs
    from yolo_probs.api.model import YoloProbs as Model
    from yolo_probs.distill.soft_labels import write_soft_labels

    target = tmp_path / "s.jsonl"
    target.write_text('{"old": 1}\n')
    target.chmod(0o640)
    real = Model.predict_each

    def crashing(self, source, **kwargs):
        yield from list(real(self, source, **kwargs))[:1]
        raise RuntimeError("the model crashed")

    with YoloProbs(model_path, temperature=T, device=DEVICE) as clf:
        monkeypatch.setattr(Model, "predict_each", crashing)
        with pytest.raises(RuntimeError):
            write_soft_labels(clf, [str(p) for p in image_paths[:3]], target)
        assert target.read_text() == '{"old": 1}\n' and [p.name for p in tmp_path.iterdir()] == ["s.jsonl"]
        monkeypatch.undo()
        write_soft_labels(clf, [str(p) for p in image_paths[:3]], target)
    assert len(read_soft_labels(target)) == 3 and stat.S_IMODE(target.stat().st_mode) == 0o640
