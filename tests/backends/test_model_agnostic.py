"""Model-agnostic backends: plain nn.Module classifiers, exported ONNX/TorchScript models, folded exports.

Oracles are independent of the code under test: the module's own forward pass, ONNX Runtime run
directly on the same input, scipy's softmax.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision
from scipy.special import softmax as sp_softmax
from torch import nn

from yolo_probs import YoloProbs
from yolo_probs.backends.exported import ProbabilityUnderflowWarning, outputs_to_logits, read_metadata
from yolo_probs.calibration.fold import fold_temperature
from yolo_probs.cli import main
from yolo_probs.errors import ConfigError, ModelError
from yolo_probs.export.exporter import export_folded
from yolo_probs.inputs.preprocess import Preprocess

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "examples/models/digits-yolo26n-cls.pt"
IMAGES = sorted(str(p) for p in (ROOT / "examples/images").glob("digit_*.png"))


class TinyCNN(nn.Module):
    """A small custom classifier whose head is not the last module registered."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, classes)
        self.names = [f"class{i}" for i in range(classes)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class NoLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x)).flatten(1)


class FeatureMap(nn.Module):
    """Not a classifier: outputs a [batch, 3, 8, 8] map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(x, 8)


def _bgr(path: str) -> np.ndarray:
    return cv2.imread(path, cv2.IMREAD_COLOR)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("yolo-probs: error: ") and "Traceback" not in err
    return lines[0]


# -- session fixtures: one export of the shipped model, reused ----------------------------------------


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def digits_onnx(export_dir: Path) -> tuple[Path, list[str]]:
    """Ultralytics' own default ONNX export of the shipped model (fixed batch 1), and its log messages."""
    from ultralytics import YOLO
    from ultralytics.utils import LOGGER

    pt = export_dir / "digits.pt"  # exports are written next to the checkpoint: copy it out of the repo first
    shutil.copyfile(SHIPPED, pt)
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    LOGGER.addHandler(handler)
    try:
        path = YOLO(str(pt)).export(format="onnx", imgsz=64, device="cpu")
    finally:
        LOGGER.removeHandler(handler)
    return Path(path), messages


@pytest.fixture(scope="session")
def pytorch_logits() -> np.ndarray:
    with YoloProbs(SHIPPED, device="cpu") as clf:
        return np.stack([p.logits for p in clf.predict(IMAGES)])


# -- any nn.Module --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "layer"),
    [
        (lambda: torchvision.models.resnet18(weights=None, num_classes=10), "fc"),
        (lambda: torchvision.models.mobilenet_v3_small(weights=None, num_classes=10), "classifier.3"),
        (TinyCNN, "head"),
    ],
    ids=["resnet18", "mobilenet_v3_small", "custom"],
)
def test_captured_logits_equal_module_output(factory, layer: str) -> None:
    torch.manual_seed(0)
    net = factory().eval()
    pre = Preprocess.imagenet(32)
    with YoloProbs(net, preprocess=pre, device="cpu", batch=2, top_k=3) as clf:
        preds = clf.predict(IMAGES[:3])
        assert clf.backend.layer_name == layer
    x = torch.from_numpy(pre([_bgr(p) for p in IMAGES[:3]]))
    with torch.no_grad():  # batched as the wrapper batched them: 2 then 1 (BLAS results depend on batch size)
        expected = torch.cat([net(x[:2]), net(x[2:])]).numpy()
    got = np.stack([p.logits for p in preds])
    assert np.array_equal(got, expected)  # exactly the module's own output
    assert all(p.logits_source == "hook" for p in preds)
    np.testing.assert_allclose(preds[0].probs, sp_softmax(expected[0].astype(np.float64)), rtol=1e-6)
    assert not net.training  # the caller's module is untouched (we ran a copy)


def test_module_names_layer_and_get_classifier(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = TinyCNN()
    with YoloProbs(net, preprocess=Preprocess.imagenet(16), device="cpu") as clf:
        assert clf.names == ("class0", "class1", "class2", "class3")  # the module's own names

    class WithAux(TinyCNN):
        def __init__(self) -> None:
            super().__init__()
            self.aux = nn.Linear(8, 2)  # the last nn.Linear, but not the classifier

        def get_classifier(self) -> nn.Module:
            return self.head

    with YoloProbs(WithAux(), preprocess=Preprocess.imagenet(16), device="cpu") as clf:
        assert clf.backend.layer_name == "head"
    names = tmp_path / "names.yaml"
    names.write_text("names:\n  0: a\n  1: b\n  2: c\n  3: d\n")
    with YoloProbs(net, layer="head", names=names, preprocess=Preprocess.imagenet(16), device="cpu") as clf:
        assert clf.names == ("a", "b", "c", "d")
    (tmp_path / "names.txt").write_text("w\nx\ny\nz\n")
    (tmp_path / "names.json").write_text(json.dumps(["p", "q", "r", "s"]))
    with YoloProbs(net, names=tmp_path / "names.txt", preprocess=Preprocess.imagenet(16), device="cpu") as clf:
        assert clf.names == ("w", "x", "y", "z")
    with YoloProbs(net, names=str(tmp_path / "names.json"), preprocess=Preprocess.imagenet(16), device="cpu") as clf:
        assert clf.names == ("p", "q", "r", "s")


def test_preprocess_channel_order_and_normalisation() -> None:
    image = np.empty((40, 30, 3), np.uint8)
    image[:] = (10, 100, 200)  # B, G, R; a constant image is constant after any resize or crop
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.125)
    rgb = Preprocess(size=8, resize=12, mean=mean, std=std)([image])
    bgr = Preprocess(size=8, mode="stretch", mean=mean, std=std, rgb=False)([image])
    assert rgb.shape == bgr.shape == (1, 3, 8, 8)
    for out, order in ((rgb, (200, 100, 10)), (bgr, (10, 100, 200))):
        expected = [(v / 255 - m) / s for v, m, s in zip(order, mean, std, strict=True)]
        np.testing.assert_allclose(out[0, :, 0, 0], expected, rtol=1e-6)
        assert np.ptp(out[0], axis=(1, 2)).max() == 0
    with pytest.raises(ConfigError, match="std"):
        Preprocess(std=(1.0, 0.0, 1.0))


def test_cli_plain_module_from_file_and_factory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    path = tmp_path / "resnet.pt"
    torch.save(net, path)
    (tmp_path / "names.txt").write_text("\n".join(f"n{i}" for i in range(10)))
    code, out, err = _cli(
        capsys, "predict", "--model", str(path), "--imgsz", "32", "--mean", "none", "--std", "none",
        "--names", str(tmp_path / "names.txt"), "--format", "json", "--logits", "-k", "10", IMAGES[0],
    )  # fmt: skip
    assert code == 0, err
    record = json.loads(out)[0]
    pre = Preprocess(size=32, resize=37, mean=(0, 0, 0), std=(1, 1, 1))
    with torch.no_grad():
        expected = net(torch.from_numpy(pre([_bgr(IMAGES[0])])))[0].numpy()
    np.testing.assert_array_equal(np.array(record["logits"], np.float32), expected)
    assert {c["name"] for c in record["top"]} == {f"n{i}" for i in range(10)}
    code, out, err = _cli(capsys, "predict", "-m", "torchvision.models:mobilenet_v3_small", "--imgsz", "32", IMAGES[0])
    assert code == 0, err


# -- exported models ------------------------------------------------------------------------------------


def test_ultralytics_export_needs_no_auto_install(digits_onnx: tuple[Path, list[str]]) -> None:
    path, messages = digits_onnx
    assert path.is_file()
    text = "\n".join(messages).lower()
    assert "autoupdate" not in text and "not found" not in text and "pip install" not in text, text


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_onnx_matches_pytorch_path(digits_onnx, pytorch_logits: np.ndarray, temperature: float) -> None:
    with YoloProbs(digits_onnx[0], temperature=temperature, batch=2) as clf:  # fixed-batch graph, batch 2
        preds = clf.predict(IMAGES)
    assert clf.names == tuple(str(i) for i in range(10))
    for p, logits in zip(preds, pytorch_logits, strict=True):
        assert p.logits_source == "log(prob)"
        np.testing.assert_allclose(p.probs, sp_softmax(logits.astype(np.float64) / temperature), atol=1e-4)


def test_torchscript_through_cli(export_dir: Path, pytorch_logits: np.ndarray, capsys) -> None:
    from ultralytics import YOLO

    pt = export_dir / "digits_ts.pt"
    shutil.copyfile(SHIPPED, pt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notes
        path = YOLO(str(pt)).export(format="torchscript", imgsz=64, device="cpu")
    code, out, err = _cli(capsys, "predict", "-m", path, "-t", "2", "-k", "10", "--format", "jsonl", *IMAGES)
    assert code == 0, err
    for line, logits in zip(out.splitlines(), pytorch_logits, strict=True):
        probs = {c["index"]: c["prob"] for c in json.loads(line)["top"]}
        expected = sp_softmax(logits.astype(np.float64) / 2)
        np.testing.assert_allclose([probs[i] for i in range(10)], expected, atol=1e-4)


def test_underflow_warns_with_count_and_never_nan() -> None:
    probs = np.array([[1.0, 0.0, 1e-45, 0.0], [1.0, 0.0, 0.0, 0.0]], np.float32)
    logits, how, affected = outputs_to_logits(probs)
    assert how == "log(prob)" and affected == 3
    assert np.isneginf(logits[0, 1]) and not np.isnan(logits).any()
    from yolo_probs.core.prediction import Prediction

    for t in (0.1, 1.0, 10.0):
        p = Prediction.from_logits(logits[0], names=tuple("abcd"), temperature=t)
        assert not np.isnan(p.probs).any() and p.probs[1] == 0.0 and abs(float(p.probs.sum()) - 1) < 1e-6
    raw = np.array([[2.5, -1.0, 0.3]], np.float32)  # not probabilities: already logits
    assert outputs_to_logits(raw)[1] == "output" and np.array_equal(outputs_to_logits(raw)[0], raw)


def test_exported_underflow_warns_once(tmp_path: Path) -> None:
    net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 5))
    with torch.no_grad():
        net[2].weight.zero_()
        net[2].bias.copy_(torch.tensor([0.0, -200.0, -200.0, 0.0, -1.0]))  # exp(-200) underflows float32
    export_folded(net, output=tmp_path / "u.onnx", temperature=1.0, imgsz=16)
    with YoloProbs(tmp_path / "u.onnx") as clf, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preds = clf.predict(IMAGES[:2]) + clf.predict(IMAGES[2:4])
    mine = [w for w in caught if issubclass(w.category, ProbabilityUnderflowWarning)]
    assert len(mine) == 1 and "2 of 5 classes" in str(mine[0].message)
    assert issubclass(ProbabilityUnderflowWarning, UserWarning)
    assert all(not np.isnan(p.probs).any() for p in preds)
    np.testing.assert_allclose(preds[0].probs[[0, 3, 4]], sp_softmax([0.0, 0.0, -1.0]), atol=1e-6)


# -- temperature folding --------------------------------------------------------------------------------


def test_fold_temperature_divides_the_head_only() -> None:
    torch.manual_seed(0)
    net = TinyCNN().eval()
    folded, name = fold_temperature(net, 4.0)
    x = torch.randn(2, 3, 16, 16)
    assert name == "head" and torch.allclose(folded(x), net(x) / 4.0, atol=1e-6)
    assert not torch.allclose(folded(x), net(x))  # the original is untouched


def test_fold_temperature_refuses_a_layer_without_a_weight() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    with pytest.raises(ModelError, match=r"cannot fold a temperature into layer '1' \(Softmax\): it needs Linear"):
        fold_temperature(net, 2.0, layer="1")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_folded_ultralytics_export(tmp_path: Path, pytorch_logits: np.ndarray, capsys, fmt: str) -> None:
    out = tmp_path / f"digits-t2.{fmt}"
    code, stdout, err = _cli(capsys, "export", "--model", str(SHIPPED), "-t", "2", "--format", fmt, "-o", str(out))
    assert code == 0 and "T=2" in err and "wrote" not in stdout, err
    assert not (SHIPPED.parent / f"digits-yolo26n-cls.{fmt}").exists()  # nothing written next to the checkpoint
    meta = read_metadata(out)
    assert meta["yolo_probs_temperature"] == 2.0 and meta["yolo_probs_layer"] == "model.10.linear"
    assert meta["yolo_probs_source"] == str(SHIPPED)
    batch = Preprocess.ultralytics(64)([_bgr(p) for p in IMAGES])  # the PyTorch path's own transforms
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: batch})[0]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            got = torch.jit.load(str(out))(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(got, sp_softmax(pytorch_logits.astype(np.float64) / 2, axis=1), atol=1e-5)


def test_folded_module_export(tmp_path: Path) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    pre = Preprocess.imagenet(32)
    result = export_folded(net, output=tmp_path / "r.onnx", temperature=0.5, preprocess=pre, profile="p.yaml")
    assert result.layer == "fc" and read_metadata(result.path)["yolo_probs_profile"] == "p.yaml"
    batch = pre([_bgr(p) for p in IMAGES])
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": batch})[0]
    with torch.no_grad():
        logits = net(torch.from_numpy(batch)).double().numpy()
    np.testing.assert_allclose(got, sp_softmax(logits / 0.5, axis=1), atol=1e-5)
    with YoloProbs(result.path) as clf:  # the recorded preprocessing is reused on reading it back
        assert clf.backend.preprocess == pre
        np.testing.assert_allclose(clf.predict(IMAGES[0])[0].probs, got[0], atol=1e-6)


# -- bad input: one line, non-zero exit, no traceback --------------------------------------------------


def test_bad_module_without_linear(tmp_path: Path, capsys) -> None:
    path = tmp_path / "nolinear.pt"
    torch.save(NoLinear(), path)
    code, _, err = _cli(capsys, "predict", "-m", str(path), "--imgsz", "16", IMAGES[0])
    line = _one_line_error(err)
    assert code == 2 and "no nn.Linear" in line and "conv" in line and "pool" in line
    with pytest.raises(ModelError, match=r"one of: .*conv"):
        YoloProbs(NoLinear())


def test_bad_layer_name(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.pt"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=3), path)
    code, _, err = _cli(capsys, "predict", "-m", str(path), "--layer", "head", "--imgsz", "16", IMAGES[0])
    line = _one_line_error(err)
    assert code == 2 and "'head' does not exist" in line and "fc" in line


def test_bad_names_file_length(tmp_path: Path, capsys, digits_onnx) -> None:
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\n")
    code, _, err = _cli(capsys, "predict", "-m", str(digits_onnx[0]), "--names", str(names), IMAGES[0])
    line = _one_line_error(err)
    assert code == 2 and "3 class names" in line and "10 classes" in line


def test_bad_onnx_not_a_classifier(tmp_path: Path, capsys) -> None:
    path = tmp_path / "featuremap.onnx"
    torch.onnx.export(FeatureMap(), (torch.zeros(1, 3, 16, 16),), str(path), dynamo=False)
    code, _, err = _cli(capsys, "predict", "-m", str(path), IMAGES[0])
    line = _one_line_error(err)
    assert code == 2 and "not a classifier" in line and "[batch, classes]" in line


def test_bad_export_path(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    cases = {
        tmp_path / "missing" / "m.onnx": "cannot write it (No such file or directory)",
        blocker / "m.onnx": "is a file, not a folder",
        tmp_path: "it is a folder; name a file in it",
    }
    for target, why in cases.items():
        code, _, err = _cli(capsys, "export", "-m", str(SHIPPED), "-t", "2", "-o", str(target))
        line = _one_line_error(err)
        assert code == 2 and why in line
    assert not list((tmp_path).glob("*.onnx"))
