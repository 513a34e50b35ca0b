"""``--engine`` on every command that loads a model, its notices and its errors."""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
import yaml

from tests.conftest import IMAGES, MODEL
from yolo_probs.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cli"))


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """A small labelled folder: 4 sklearn digits per class, upscaled, as DATA/<class>/*.png, one of them mislabelled."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path / "data"
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
        picks = [*np.flatnonzero(digits.target == label)[:3], np.flatnonzero(digits.target == (label + 1) % 10)[5]]
        for i in picks:
            ink = (255 - digits.images[i] * 15).clip(0, 255).astype(np.uint8)
            cv2.imwrite(str(root / str(label) / f"{i}.png"), cv2.resize(ink, (64, 64), interpolation=cv2.INTER_CUBIC))
    return root


@pytest.mark.parametrize("command", ["predict", "calibrate", "evaluate", "overlay"])
def test_every_model_command_has_engine_and_verbose(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "--engine" in out and "--verbose" in out


def test_predict_engine_matches_torch(capsys):
    common = ["predict", str(IMAGES), "-m", str(MODEL), "-f", "json", "--logits", "-t", "2"]
    code, torch_out, _ = run(capsys, *common, "--engine", "torch")
    assert code == 0
    for engine in ("onnxruntime", "openvino", "auto"):
        code, out, err = run(capsys, *common, "--engine", engine, "--batch", "4")
        assert code == 0, err
        ours, theirs = json.loads(out), json.loads(torch_out)
        assert [r["source"] for r in ours] == [r["source"] for r in theirs]
        for a, b in zip(ours, theirs, strict=True):
            assert [c["index"] for c in a["top"]][:1] == [c["index"] for c in b["top"]][:1]
            np.testing.assert_allclose([c["prob"] for c in a["top"]], [c["prob"] for c in b["top"]], atol=1e-4)


def test_verbose_says_which_engine_auto_chose(capsys):
    code, _, err = run(capsys, "predict", str(IMAGES / "digit_3.png"), "-m", str(MODEL), "--engine", "auto", "-v")
    assert code == 0
    assert "yolo-probs: engine auto: onnxruntime (the fastest engine installed for the CPU)" in err.splitlines()


def test_unknown_engine_is_a_usage_error(capsys):
    code, out, err = run(capsys, "predict", str(IMAGES), "-m", str(MODEL), "--engine", "tensorrt")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "yolo-probs: error: unknown engine 'tensorrt'; choose one of auto, onnxruntime, openvino, torch (--engine)"
    ]


def test_engine_not_installed_names_the_extra(capsys, monkeypatch):
    from yolo_probs.backends.engines.openvino import OpenVinoEngine

    monkeypatch.setattr(OpenVinoEngine, "available", lambda self: False)
    code, _, err = run(capsys, "predict", str(IMAGES), "-m", str(MODEL), "--engine", "openvino")
    assert code == 2
    assert err.splitlines() == [
        "yolo-probs: error: engine 'openvino' is not installed; install it with: pip install 'yolo-probs[openvino]' "
        "(--engine)"
    ]


def test_unwritable_cache_is_one_warning_line(capsys, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    code, out, err = run(capsys, "predict", str(IMAGES / "digit_3.png"), "-m", str(MODEL), "--engine", "openvino")
    assert code == 0 and "digit_3.png" in out
    lines = [line for line in err.splitlines() if line.startswith("yolo-probs: warning")]
    assert len(lines) == 1 and lines[0].startswith("yolo-probs: warning: engine cache ")
    assert "is not writable (Not a directory); using " in lines[0]


def test_export_failure_is_one_warning_line_and_torch_runs(capsys, monkeypatch, tmp_path):
    import yolo_probs.backends.engines.base as cache_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cache_module, "export_logits_onnx", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    code, out, err = run(capsys, "predict", str(IMAGES / "digit_3.png"), "-m", str(MODEL), "--engine", "onnxruntime")
    assert code == 0 and "digit_3.png" in out
    assert err.splitlines() == [
        f"yolo-probs: building the onnxruntime engine for {MODEL} (several seconds, once: later runs load it from "
        f"{tmp_path / 'yolo-probs' / 'engines'})",
        f"yolo-probs: warning: engine onnxruntime could not run {MODEL} (OSError: disk full); using torch instead",
    ]


def test_the_first_build_says_so_and_later_runs_do_not(capsys, monkeypatch, tmp_path):
    """Building an engine takes seconds with no other output: one line says what is happening, once."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = ("predict", str(IMAGES / "digit_3.png"), "-m", str(MODEL), "--engine", "onnxruntime")
    code, out, err = run(capsys, *args)
    assert code == 0 and "digit_3.png" in out
    assert err == (
        f"yolo-probs: building the onnxruntime engine for {MODEL} (several seconds, once: later runs load it "
        f"from {tmp_path / 'yolo-probs' / 'engines'})\n"
    )
    code, out, err = run(capsys, *args)
    assert code == 0 and err == ""


def test_calibrate_records_the_engine_and_predict_uses_it(capsys, labelled, tmp_path):
    profile = tmp_path / "p.yaml"
    code, out, err = run(
        capsys, "calibrate", str(labelled), "-m", str(MODEL), "-o", str(profile), "--engine", "onnxruntime"
    )
    assert code == 0, err
    assert yaml.safe_load(profile.read_text())["engine"] == "onnxruntime"
    code, _, err = run(capsys, "predict", str(IMAGES / "digit_3.png"), "-p", str(profile), "-v")
    assert code == 0 and any(line.startswith("yolo-probs: engine onnxruntime:") for line in err.splitlines())
    code, out, err = run(
        capsys, "evaluate", str(labelled), "-p", str(profile), "--engine", "openvino", "-f", "json", "-v"
    )
    assert code == 0 and json.loads(out)["samples"] == 40
    assert any(line.startswith("yolo-probs: engine openvino:") for line in err.splitlines())


def test_a_library_warning_with_a_control_character_is_still_one_line(capsys, monkeypatch):
    from yolo_probs.backends.engines.base import EngineWarning

    predict_module = importlib.import_module("yolo_probs.cli.predict")  # the name predict is the command, in cli

    def warn_then_stop(**_: object) -> None:
        warnings.warn(f"engine cache {IMAGES}/odd\nname is not writable", EngineWarning, stacklevel=1)
        raise typer.Exit(0)

    monkeypatch.setattr(predict_module, "build_classifier", warn_then_stop)
    code, _, err = run(capsys, "predict", str(IMAGES / "digit_3.png"))
    assert code == 0 and err.splitlines() == [f"yolo-probs: warning: engine cache {IMAGES}/odd\\nname is not writable"]
