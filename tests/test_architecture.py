"""The architecture of issue 8: one backend interface, the calibration workflow in the library, and its defects."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import softmax as sp_softmax

from yolo_probs import BackendOutput, YoloProbs
from yolo_probs.backends import BACKENDS, BackendOptions, resolve_backend
from yolo_probs.backends.identify import checkpoint_kind
from yolo_probs.cli import main
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import ModelError

from .conftest import IMAGES, MODEL

IMAGE_FILES = sorted(str(p) for p in IMAGES.glob("*.png"))


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def pt_logits() -> np.ndarray:
    with YoloProbs(MODEL, device="cpu") as clf:
        return np.stack([p.logits for p in clf.predict(IMAGE_FILES)]).astype(np.float64)


@pytest.fixture(scope="module")
def folded_t2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yolo_probs.export.exporter import export_folded

    out = tmp_path_factory.mktemp("folded") / "digits-t2.onnx"
    export_folded(str(MODEL), output=out, temperature=2.0)
    return out


# -- the backend interface -----------------------------------------------------------------------------


def test_builtin_backends_are_registered_in_order() -> None:
    assert list(BACKENDS)[-5:] == ["onnx", "torchscript", "torch-module", "ultralytics-boxes", "ultralytics"]


def test_each_kind_of_model_gets_its_backend(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))
    pickled = tmp_path / "net.pt"
    torch.save(net, pickled)
    kinds = {
        "ultralytics": str(MODEL),
        "torch-module": net,
    }
    for name, model in kinds.items():
        assert type(resolve_backend(model, BackendOptions(device="cpu"))).name == name
    assert type(resolve_backend(str(pickled), BackendOptions(device="cpu"))).name == "torch-module"
    assert checkpoint_kind(pickled) == "module" and checkpoint_kind(MODEL) == "ultralytics"
    state = tmp_path / "state.pt"
    torch.save(net.state_dict(), state)
    assert checkpoint_kind(state) == "other" and checkpoint_kind(IMAGE_FILES[0]) == "other"


def test_a_checkpoint_is_unpickled_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ultralytics import YOLO

    calls: list[str] = []
    real = torch.load

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(str(args[0]) if args else "")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    YOLO(str(MODEL))
    ultralytics_own = len(calls)
    calls.clear()
    YoloProbs(MODEL, device="cpu").close()
    assert len(calls) == ultralytics_own  # nothing beyond Ultralytics' own load
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 2))
    torch.save(net, tmp_path / "net.pt")
    calls.clear()
    YoloProbs(tmp_path / "net.pt", device="cpu").close()
    assert len(calls) == 1


class _ConstantBackend:
    """A backend of the user's own: any object with the interface's members."""

    names = ("cat", "dog")
    folded_temperature = None

    def __init__(self, device_type: str = "cpu") -> None:
        self.device_type = device_type
        self.calls = 0

    def run(self, images, *, features=False):  # type: ignore[no-untyped-def]
        self.calls += 1
        return BackendOutput(np.tile(np.float32([2.0, 0.0]), (len(images), 1)), "output")

    def run_tensor(self, batch, *, features=False):  # type: ignore[no-untyped-def]
        return self.run(list(batch), features=features)

    def close(self) -> None:
        pass


def test_a_backend_object_of_ones_own() -> None:
    backend = _ConstantBackend()
    with YoloProbs(backend, temperature=2.0) as clf:
        p = clf.predict(IMAGE_FILES[0])[0]
    assert clf.backend is backend and p.names == ("cat", "dog") and p.logits_source == "output"
    np.testing.assert_allclose(p.probs, sp_softmax([1.0, 0.0]), atol=1e-6)


def test_read_ahead_thread_stops_when_the_consumer_stops_early() -> None:
    clf = YoloProbs(_ConstantBackend(device_type="cuda"), batch=1)  # a GPU backend: frames are read ahead
    gen = clf.predict_each(IMAGE_FILES * 20)
    next(gen)
    assert any(t.name == "yolo-probs-prefetch" for t in threading.enumerate())
    gen.close()
    deadline = time.monotonic() + 5
    while any(t.name == "yolo-probs-prefetch" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(t.name == "yolo-probs-prefetch" for t in threading.enumerate())


def test_torch_module_predicts_again_after_close() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))
    clf = YoloProbs(net, device="cpu")
    first = clf.predict(IMAGE_FILES[0])[0].probs
    clf.close()
    np.testing.assert_allclose(clf.predict(IMAGE_FILES[0])[0].probs, first)
    clf.close()


# -- a temperature folded into an export ----------------------------------------------------------------


def test_folded_export_reports_its_temperature_and_applies_it_once(folded_t2: Path, pt_logits: np.ndarray) -> None:
    with YoloProbs(folded_t2) as clf:
        preds = clf.predict(IMAGE_FILES)
        assert clf.temperature == 2.0 and all(p.temperature == 2.0 for p in preds)
        np.testing.assert_allclose([p.probs for p in preds], sp_softmax(pt_logits / 2, axis=1), atol=1e-5)
        for t in (0.5, 1.0, 3.0):  # T always means the temperature on the original model's logits
            clf.temperature = t
            got = [p.probs for p in clf.predict(IMAGE_FILES)]
            np.testing.assert_allclose(got, sp_softmax(pt_logits / t, axis=1), atol=1e-5)


def test_folded_export_in_the_cli(capsys: pytest.CaptureFixture[str], folded_t2: Path, pt_logits: np.ndarray) -> None:
    code, out, _ = _cli(capsys, "predict", IMAGE_FILES[1], "-m", str(folded_t2), "-f", "jsonl", "-k", "10")
    record = json.loads(out)
    assert code == 0 and record["temperature"] == 2.0
    code, out, _ = _cli(capsys, "predict", IMAGE_FILES[1], "-m", str(folded_t2), "-f", "jsonl", "-k", "10", "-t", "2")
    record = json.loads(out)
    probs = sp_softmax(pt_logits[1] / 2)
    assert code == 0 and record["temperature"] == 2.0
    assert all(abs(c["prob"] - probs[c["index"]]) < 1e-5 for c in record["top"])


def test_profile_pointing_at_a_folded_export(tmp_path: Path, folded_t2: Path, pt_logits: np.ndarray) -> None:
    from yolo_probs.api.profile import Profile, save_profile

    path = save_profile(Profile(model=str(folded_t2), temperature=0.8), tmp_path / "p.yaml")
    with YoloProbs.from_profile(path) as clf:
        p = clf.predict(IMAGE_FILES[2])[0]
    assert p.temperature == 0.8
    np.testing.assert_allclose(p.probs, sp_softmax(pt_logits[2] / 0.8), atol=1e-5)


# -- Prediction.with_temperature -------------------------------------------------------------------------


def test_with_temperature_keeps_k_and_min_prob_even_when_top_is_empty() -> None:
    p = Prediction.from_logits(np.array([1.0, 0.9, 0.8]), ("a", "b", "c"), top_k=2, min_prob=0.5)
    assert p.top == [] and p.top_k == 2 and p.min_prob == 0.5
    sharp = p.with_temperature(0.01)
    assert [c.name for c in sharp.top] == ["a"] and sharp.min_prob == 0.5 and sharp.top_k == 2
    assert len(sharp.with_temperature(1.0, min_prob=0.0).top) == 2


# -- not a model at all ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["image", "folder", "text"])
def test_a_file_that_is_not_a_model(capsys: pytest.CaptureFixture[str], tmp_path: Path, which: str) -> None:
    target = {"image": IMAGE_FILES[0], "folder": str(tmp_path), "text": str(tmp_path / "passwd")}[which]
    if which == "text":
        Path(target).write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ModelError, match="not a model file"):
        YoloProbs(target)
    code, _, err = _cli(capsys, "predict", IMAGE_FILES[0], "-m", target)
    assert code == 2 and "not a model file" in err and "detect" not in err and len(err.strip().splitlines()) == 1


# -- the calibration workflow, metrics and plots ----------------------------------------------------------


def test_evaluate_logits_validates_its_inputs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import yolo_probs.core.metrics as metrics

    calls = []
    real = metrics.check_logits_labels
    monkeypatch.setattr(metrics, "check_logits_labels", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(0)
    metrics.evaluate_logits(rng.normal(size=(200, 5)), rng.integers(0, 5, 200), 1.5)
    assert len(calls) == 1


def test_plot_reliability_leaves_matplotlib_global_state_alone(tmp_path: Path) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    from yolo_probs.outputs.plots import plot_reliability

    before, figures = matplotlib.get_backend(), plt.get_fignums()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 100)
    plot_reliability(tmp_path / "r.png", rng.normal(size=(100, 3)) + 2 * np.eye(3)[y], y, temperature=2.0)
    assert matplotlib.get_backend() == before and plt.get_fignums() == figures
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_library_calibrate_returns_a_result_the_profile_is_built_from(tmp_path: Path) -> None:
    import shutil

    from yolo_probs import calibrate
    from yolo_probs.api.profile import load_profile, save_profile

    for image, label in [("digit_3", "3"), ("digit_5", "5"), ("digit_7", "7"), ("hard_3", "8"), ("digit_0", "0")]:
        (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(IMAGES / f"{image}.png", tmp_path / "data" / label)
    with YoloProbs(MODEL, device="cpu") as clf:
        result = calibrate(clf, tmp_path / "data")
    assert result.collected.logits.shape == (5, 10) and result.after.nll < result.before.nll
    assert any("only 5 labelled samples" in w for w in result.warnings)
    saved = load_profile(save_profile(result.to_profile(str(MODEL), name="x"), tmp_path / "p.yaml"))
    assert saved.temperature == pytest.approx(result.calibrator.temperature)
    assert saved.calibration is not None and saved.calibration["samples"] == 5
