"""`yolo-probs predict`: formats, exit codes, bad inputs, --help."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from yolo_probs.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_is_fast_and_does_not_import_torch():
    code = (
        "import sys; from yolo_probs.cli import main; rc = main(['predict', '--help']); "
        "assert rc == 0, rc; assert 'torch' not in sys.modules and 'ultralytics' not in sys.modules, 'heavy import'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--temperature" in done.stdout and "--top-k" in done.stdout


@pytest.mark.parametrize("args", [["--help"], ["predict", "--help"]])
def test_help_for_every_command(capsys, args):
    code, out, _ = run(capsys, *args)
    assert code == 0 and "Usage:" in out


def test_console_script_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "yolo_probs", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "predict" in done.stdout


def test_json_schema_is_exact(capsys, model_path, image_paths):
    code, out, err = run(
        capsys, "predict", str(image_paths[0]), "-m", str(model_path), "-f", "json", "-k", "3", "-t", "2"
    )
    assert code == 0, err
    (record,) = json.loads(out)
    assert list(record) == ["source", "frame", "temperature", "top"]
    assert record["source"] == str(image_paths[0]) and record["frame"] is None and record["temperature"] == 2.0
    assert len(record["top"]) == 3 and all(list(t) == ["index", "name", "prob"] for t in record["top"])
    assert record["top"][0]["name"] == "0"


def test_jsonl_with_logits_and_video_frames(capsys, model_path, image_paths, video):
    code, out, _ = run(
        capsys, "predict", str(video), str(image_paths[1]), "-m", str(model_path), "-f", "jsonl", "--logits"
    )
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["frame"] for r in records] == [*range(len(image_paths)), None]
    assert all(len(r["logits"]) == 10 and list(r)[-1] == "logits" for r in records)


def test_csv_one_row_per_rank(capsys, model_path, image_paths):
    code, out, _ = run(
        capsys, "predict", *map(str, image_paths[:2]), "-m", str(model_path), "-f", "csv", "-k", "2", "--logits"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4 and [r["rank"] for r in rows] == ["1", "2", "1", "2"]
    assert set(rows[0]) == {"source", "frame", "temperature", "rank", "index", "name", "prob", "logit"}


def test_table_and_output_file_with_format_from_suffix(capsys, model_path, image_paths, tmp_path):
    code, out, _ = run(capsys, "predict", str(image_paths[0]), "-m", str(model_path))
    assert code == 0 and "digit_0.png" in out and "%" in out
    target = tmp_path / "preds.jsonl"
    code, out, _ = run(capsys, "predict", str(ROOT / "examples" / "images"), "-m", str(model_path), "-o", str(target))
    assert code == 0 and out == ""
    assert len(target.read_text().splitlines()) == len(image_paths)


def test_min_prob_can_empty_the_list(capsys, model_path, image_paths):
    code, out, _ = run(
        capsys, "predict", str(image_paths[0]), "-m", str(model_path), "-f", "json", "-t", "50", "--min-prob", "0.5"
    )
    assert code == 0 and json.loads(out)[0]["top"] == []


@pytest.mark.parametrize(
    "kind",
    [
        "missing path",
        "empty directory",
        "zero-byte file",
        "truncated JPEG",
        "text file named .jpg",
        "unsupported extension",
        "unreadable video",
    ],
)
def test_bad_input_in_a_batch(capsys, kind, bad_inputs, model_path, image_paths, tmp_path):
    target = tmp_path / "out.jsonl"
    bad = str(bad_inputs[kind])
    code, out, err = run(
        capsys, "predict", str(image_paths[0]), bad, str(image_paths[1]), "-m", str(model_path), "-o", str(target)
    )
    assert code == 1 and out == ""
    assert len(target.read_text().splitlines()) == 2  # the good inputs are written
    lines = err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"yolo-probs: error: {bad}: ") and "1 of 3 inputs failed" in lines[2]
    assert lines[1] == f"yolo-probs: wrote 2 records to {target}"
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-t", "0"], "temperature must be a finite number > 0, got 0.0"),
        (["-t", "-1"], "temperature must be a finite number > 0"),
        (["-t", "nan"], "got nan"),
        (["-t", "inf"], "got inf"),
        (["-t", "warm"], "--temperature"),
        (["-k", "0"], "top-k must be a whole number >= 1"),
        (["--min-prob", "1.5"], "min_prob must be a number in [0, 1]"),
        (["--min-prob", "-0.1"], "min_prob must be a number in [0, 1]"),
        (["-f", "xml"], "--format"),
        (["-m", "missing/model.pt"], "model file not found: missing/model.pt"),
        (["-m", "yolo26n-pose.yaml"], "not a classifier"),  # detection models: test_predict_boxes.py
        ([], "(--model PATH)"),  # the default yolo26n-cls.pt cannot be downloaded offline
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, args, needle, model_path, image_paths):
    if args and args[0] in {"-t", "-k", "--min-prob", "-f"}:
        args = [*args, "-m", str(model_path)]
    code, out, err = run(capsys, "predict", str(image_paths[0]), *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err and err.startswith("yolo-probs: error: ")
    assert out == ""


def test_corrupt_model(capsys, tmp_path, image_paths):
    bad = tmp_path / "model.pt"
    bad.write_text("not a checkpoint")
    code, _, err = run(capsys, "predict", str(image_paths[0]), "-m", str(bad))
    assert code == 2 and "is not a model file" in err and len(err.strip().splitlines()) == 1


def test_unwritable_output(capsys, model_path, image_paths, tmp_path):
    code, _, err = run(
        capsys, "predict", str(image_paths[0]), "-m", str(model_path), "-o", str(tmp_path / "no" / "dir" / "x.json")
    )
    assert code == 2 and "cannot write" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_stderr_only_for_a_terminal(monkeypatch, capsys, model_path, tmp_path):
    out = tmp_path / "p.jsonl"
    args = ["predict", str(ROOT / "examples" / "images"), "-m", str(model_path), "-o", str(out)]
    assert main(args) == 0
    assert capsys.readouterr().err == f"yolo-probs: wrote 6 records to {out}\n"  # not a terminal: no bar
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(args) == 0
    assert terminal.getvalue() == f"yolo-probs: wrote 6 records to {out}\n"  # shorter than SHOW_AFTER: no bar
    monkeypatch.setattr("yolo_probs.cli.progress.SHOW_AFTER", 0.0)
    assert main(args) == 0
    assert "classifying" in terminal.getvalue()
    assert len(out.read_text().splitlines()) == len(list((ROOT / "examples" / "images").glob("*.png")))


def test_import_is_light_and_every_public_name_resolves():
    code = (
        "import sys, yolo_probs; heavy = {'torch', 'ultralytics', 'cv2'} & set(sys.modules); "
        "assert not heavy, heavy; [getattr(yolo_probs, n) for n in yolo_probs.__all__]"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
