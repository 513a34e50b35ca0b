"""Every command that writes a file, pointed at private devices, FIFOs and symlinks (issue 17, one safe file writer).

For each output option: a null device stays a device (the old writers replaced it with a regular file),
a full device gives one error line and exit status 1 with no traceback, a FIFO gets the whole file
streamed into it, and a symlink stays a link while its target gets the content. The devices are
private nodes in the test's folder (see :mod:`tests.targets`), never the machine's own ``/dev``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import DEVICE, IMAGES, MODEL, example
from tests.targets import KINDS, STALE, Target, assert_full_is_one_line, error_lines, special_target
from yolo_probs.api.profile import load_profile
from yolo_probs.cli import main

IMAGE = IMAGES / "digit_3.png"
CPU = ["--device", DEVICE]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def outcome(target: Target, code: int, err: str) -> bytes:
    """Check what every command must do with ``target``; the bytes it received (FIFO, symlink target)."""
    target.assert_kept()
    received = target.received()
    if target.kind == "full":
        assert_full_is_one_line(code, err, target.path)
    else:
        assert code == 0 and error_lines(err) == [], err
    if target.kind == "symlink":
        assert received != STALE
    assert target.leftovers() == []
    return received


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA/<digit>/: four of scikit-learn's digits per class and one of the next class (mistakes to fit T on)."""
    from sklearn.datasets import load_digits

    digit_to_image = example("train_digits").digit_to_image
    digits = load_digits()
    root = tmp_path_factory.mktemp("labelled") / "data"
    for label in range(10):
        own = np.flatnonzero(digits.target == label)[:4]
        other = np.flatnonzero(digits.target == (label + 1) % 10)[10:11]
        (root / str(label)).mkdir(parents=True)
        for i in [*own, *other]:
            cv2.imwrite(str(root / str(label) / f"{i:04d}.png"), digit_to_image(digits.images[i]))
    return root


# -- predict --
@pytest.mark.parametrize("kind", KINDS)
def test_predict_output(tmp_path: Path, capsys, kind: str) -> None:
    with special_target(kind, tmp_path, "out.json") as target:
        code, _, err = run(capsys, "predict", str(IMAGE), "-m", str(MODEL), *CPU, "-o", str(target.path))
        received = outcome(target, code, err)
    if kind in ("fifo", "symlink"):
        assert [r["source"] for r in json.loads(received)] == [str(IMAGE)]


@pytest.mark.parametrize("kind", KINDS)
def test_predict_save_folder(tmp_path: Path, capsys, kind: str) -> None:
    out = tmp_path / "annotated"
    out.mkdir()
    with special_target(kind, out, "digit_3.png") as target:
        code, _, err = run(capsys, "predict", str(IMAGE), "-m", str(MODEL), *CPU, "-f", "jsonl", "--save", str(out))
        received = outcome(target, code, err)
    if kind in ("fifo", "symlink"):
        assert cv2.imdecode(np.frombuffer(received, np.uint8), cv2.IMREAD_COLOR).shape == (480, 480, 3)


# -- calibrate, evaluate --
@pytest.mark.parametrize("kind", KINDS)
def test_calibrate_plain_profile(tmp_path: Path, capsys, labelled: Path, kind: str) -> None:
    with special_target(kind, tmp_path, "p.yaml") as target:
        code, _, err = run(capsys, "calibrate", str(labelled), "-m", str(MODEL), *CPU, "-o", str(target.path))
        received = outcome(target, code, err)
    if kind in ("fifo", "symlink"):
        assert yaml.safe_load(received)["temperature"] > 1
    if kind == "symlink":
        assert load_profile(target.path).temperature == yaml.safe_load(received)["temperature"]


@pytest.mark.parametrize("kind", KINDS)
def test_calibrate_profile_with_a_feature_bank(tmp_path: Path, capsys, labelled: Path, kind: str) -> None:
    """A k-NN bank is a file beside the profile: a stream cannot have one, so it is refused in one line."""
    with special_target(kind, tmp_path, "p.yaml") as target:
        args = ["calibrate", str(labelled), "-m", str(MODEL), *CPU, "--ood-tpr", "0.95", "-o", str(target.path)]
        code, _, err = run(capsys, *args)
        target.assert_kept()
        received = target.received()
    assert "Traceback" not in err and target.leftovers() == []
    if kind != "symlink":
        assert (
            code == 2
            and received == b""
            and error_lines(err)
            == [
                f"yolo-probs: error: a profile with side files (p.ood-bank.npy) cannot be written as a stream into "
                f"{target.path} (a FIFO or device); name a regular file (--output PATH)"
            ]
        )
        assert not list(tmp_path.rglob("*.npy"))
        return
    assert code == 0 and target.real is not None, err
    assert sorted(p.name for p in target.real.parent.iterdir()) == ["real.ood-bank.npy", "real.yaml"]
    loaded = load_profile(target.path)  # the bank is found beside the link's target
    assert loaded.decisions is not None and Path(loaded.decisions["ood"]["bank"]).parent == target.real.parent


@pytest.mark.parametrize("kind", ["null", "fifo"])
def test_calibrate_refuses_streams_with_side_files_before_any_inference(
    tmp_path: Path, capsys, labelled: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """What goes beside an output (a k-NN bank beside the profile, the risk-coverage curve beside the plot)
    cannot go beside a device: refused in one line before the model loads, and nothing is created there."""
    import yolo_probs.cli.calibrate as command

    monkeypatch.setattr(command, "YoloProbs", lambda *a, **k: pytest.fail("the model loaded before the check"))
    profile = tmp_path / "plain.yaml"
    with special_target(kind, tmp_path, "p.yaml") as target:
        code, _, err = run(
            capsys, "calibrate", str(labelled), "-m", str(MODEL), "--ood-tpr", "0.95", "-o", str(target.path)
        )
        target.assert_kept()
    assert code == 2 and len(error_lines(err)) == 1 and "side files (p.ood-bank.npy)" in err
    with special_target(kind, tmp_path, "rel.png") as target:
        args = ["calibrate", str(labelled), "-m", str(MODEL), "-o", str(profile), "--plot", str(target.path)]
        code, _, err = run(capsys, *args, "--target-accuracy", "0.9")
        target.assert_kept()
    assert code == 2 and len(error_lines(err)) == 1 and "risk-coverage curve beside it" in err
    assert not profile.exists() and not list(tmp_path.rglob("*risk-coverage*"))


@pytest.mark.parametrize("kind", KINDS)
def test_calibrate_plot(tmp_path: Path, capsys, labelled: Path, kind: str) -> None:
    profile = tmp_path / "p.yaml"
    with special_target(kind, tmp_path, "rel.png") as target:
        args = ["calibrate", str(labelled), "-m", str(MODEL), *CPU, "-o", str(profile), "--plot", str(target.path)]
        code, _, err = run(capsys, *args)
        received = outcome(target, code, err)
    assert load_profile(profile).temperature > 1  # written before the plot
    if kind in ("fifo", "symlink"):
        assert received.startswith(b"\x89PNG")


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_plot(tmp_path: Path, capsys, labelled: Path, kind: str) -> None:
    with special_target(kind, tmp_path, "rel.svg") as target:
        args = ["evaluate", str(labelled), "-m", str(MODEL), "-t", "1.5", *CPU, "--plot", str(target.path)]
        code, _, err = run(capsys, *args)
        received = outcome(target, code, err)
    if kind in ("fifo", "symlink"):
        assert b"<svg" in received  # the format follows the suffix, into a stream too


# -- export, soft-labels, distill --
@pytest.mark.parametrize("kind", KINDS)
def test_export_output(tmp_path: Path, capsys, kind: str) -> None:
    with special_target(kind, tmp_path, "m.onnx") as target:
        code, _, err = run(capsys, "export", "-m", str(MODEL), "-t", "2", "-o", str(target.path))
        received = outcome(target, code, err)
    if kind in ("fifo", "symlink"):
        props = {p.key: p.value for p in onnx.load_from_string(received).metadata_props}
        assert float(props["yolo_probs_temperature"]) == 2.0


@pytest.mark.parametrize("kind", KINDS)
def test_soft_labels_output(tmp_path: Path, capsys, kind: str) -> None:
    with special_target(kind, tmp_path, "soft.parquet") as target:
        args = ["soft-labels", str(IMAGE), "-m", str(MODEL), *CPU, "-t", "4", "-o", str(target.path)]
        code, _, err = run(capsys, *args)
        received = outcome(target, code, err)
    if kind in ("fifo", "symlink"):
        assert pq.read_table(io.BytesIO(received)).column("source").to_pylist() == [str(IMAGE)]


@pytest.mark.parametrize("kind", KINDS)
def test_distill_output(tmp_path: Path, capsys, kind: str) -> None:
    """One tiny training run each (1 epoch at imgsz 32 on 30 images, as tests/distill/test_train.py runs it)."""
    from tests.distill.test_train import _tiny_digits

    data = _tiny_digits(tmp_path / "digits")
    with special_target(kind, tmp_path, "student.pt") as target:
        code, _, err = run(
            capsys, "distill", str(data), "--teacher", str(MODEL), "--student", "yolo26n-cls.yaml", "-t", "4",
            "--epochs", "1", "--imgsz", "32", "--batch", "16", *CPU, "--train-arg", "workers=0",
            "-o", str(target.path),
        )  # fmt: skip
        outcome(target, code, err)
    if kind == "symlink":
        from yolo_probs import YoloProbs

        with YoloProbs(target.path, device="cpu") as student:  # loaded through the link
            assert student.names == tuple(str(i) for i in range(10))


@pytest.mark.parametrize("kind", KINDS)
def test_overlay_save(tmp_path: Path, capsys, video: Path, kind: str) -> None:
    """The recording of a headless overlay run (an AVI: the format is named by the suffix)."""
    with special_target(kind, tmp_path, "rec.avi") as target:
        args = ["overlay", str(video), "-m", str(MODEL), *CPU, "--no-show", "--max-frames", "3"]
        code, _, err = run(capsys, *args, "--save", str(target.path))
        received = outcome(target, code, err)
    if kind in ("fifo", "symlink"):
        assert received.startswith(b"RIFF") and b"AVI " in received[:16]
