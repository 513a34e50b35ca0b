"""Fast engines (ONNX Runtime, OpenVINO, auto): parity with the hook path, the cache, fallbacks, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import MODEL, ROOT
from yolo_probs import YoloProbs
from yolo_probs._util.threads import engine_threads
from yolo_probs.backends import BACKENDS, BackendOptions, resolve_backend
from yolo_probs.backends.engines.base import EngineBackend, EngineWarning
from yolo_probs.errors import ConfigError
from yolo_probs.inputs.fast_preprocess import crop_box, fast_preprocess
from yolo_probs.inputs.preprocess import Preprocess

ENGINES = ["onnxruntime", "openvino"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One engine cache for the module, so each engine exports once."""
    folder = tmp_path_factory.mktemp("xdg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(folder))
        yield folder / "yolo-probs" / "engines"


@pytest.fixture(scope="module")
def frames(image_paths_module):
    """The shipped digits at camera-like and odd sizes, so resize and crop both matter."""
    out = []
    for i, path in enumerate(image_paths_module):
        image = cv2.imread(str(path))
        out.append(cv2.resize(image, [(640, 480), (480, 640), (301, 227), (97, 131)][i % 4]))
    return out


@pytest.fixture(scope="module")
def image_paths_module():
    return sorted((MODEL.parents[1] / "images").glob("*.png"))


@pytest.fixture(scope="module")
def reference():
    with YoloProbs(MODEL, device="cpu") as clf:
        yield clf


def _engine_factory(name):
    return BACKENDS[name]


def _probs(clf, frames, t):
    clf.temperature = t
    return np.array([p.probs for p in clf.predict(frames)])


# -- preprocessing: the same pixels as Ultralytics, without torch --


@settings(max_examples=40, deadline=None)
@given(w=st.integers(8, 700), h=st.integers(8, 700), size=st.sampled_from([32, 64, 224]), seed=st.integers(0, 99))
def test_fast_preprocess_is_pixel_identical_to_ultralytics(w, h, size, seed):
    from PIL import Image
    from ultralytics.data.augment import classify_transforms

    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    theirs = classify_transforms(size)(Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))).numpy()[None]
    assert np.array_equal(fast_preprocess(Preprocess.ultralytics(size), [image]), theirs)


@pytest.mark.parametrize(
    "pre",
    [Preprocess.imagenet(64), Preprocess(size=48, mode="stretch"), Preprocess(size=40, resize=50, rgb=False)],
    ids=["imagenet", "stretch", "bgr-mean-std"],
)
def test_fast_preprocess_matches_the_torch_recipe(pre):
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(90, 120), (121, 77), (64, 64)]]
    for image in images:
        assert np.array_equal(fast_preprocess(pre, [image]), pre([image]))


def test_crop_box_rounds_half_to_even_like_torchvision():
    # 299 - 224 = 75: torchvision's round(37.5) is 38 (half to even); 301 - 224 = 77: round(38.5) is 38 too
    assert crop_box(299, 224, Preprocess.ultralytics(224))[1][0] == 38
    assert crop_box(301, 224, Preprocess.ultralytics(224))[1][0] == 38
    assert crop_box(640, 480, Preprocess.ultralytics(224)) == ((298, 224), (37, 0, 261, 224))


# -- engines agree with the hook path --


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch", [1, 4])
def test_engine_probabilities_equal_the_hook_path(cache, frames, reference, engine, batch):
    with YoloProbs(MODEL, engine=engine, batch=batch) as clf:
        assert isinstance(clf.backend, EngineBackend) and clf.backend.engine == engine
        for t in (0.5, 1.0, 2.0):
            ours, theirs = _probs(clf, frames, t), _probs(reference, frames, t)
            np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
            assert (ours.argmax(1) == theirs.argmax(1)).all()
        preds = clf.predict(frames)
        assert {p.logits_source for p in preds} == {"output"}
        assert all(np.isclose(p.probs.sum(), 1.0, atol=1e-5) for p in preds)


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_features_equal_the_hook_path(cache, frames, engine):
    torch_backend = resolve_backend(MODEL, BackendOptions(device="cpu"))
    ours = resolve_backend(MODEL, BackendOptions(engine=engine, batch=2)).run(frames[:3], features=True)
    theirs = torch_backend.run(frames[:3], features=True)
    torch_backend.close()
    assert ours.features is not None and ours.features.shape == theirs.features.shape
    np.testing.assert_allclose(ours.features, theirs.features, atol=1e-4, rtol=1e-4)


def test_names_override_applies_to_engines(cache):
    names = [f"digit {i}" for i in range(10)]
    with YoloProbs(MODEL, engine="onnxruntime", names=names) as clf:
        assert clf.names == tuple(names)


# -- the cache --


def _entry(cache: Path, engine: str) -> Path:
    found = sorted(cache.glob(f"{engine}-*"))
    assert found, f"no {engine} entry in {cache}"
    return found[0]


def test_cache_hit_needs_no_export(cache, monkeypatch):
    YoloProbs(MODEL, engine="onnxruntime")  # ensure the entry exists
    import yolo_probs.backends.engines.base as engine_module

    def no_torch(*args, **kwargs):
        raise AssertionError("a valid cache entry was rebuilt")

    monkeypatch.setattr(engine_module, "load_torch", no_torch)
    clf = YoloProbs(MODEL, engine="onnxruntime")
    assert clf.backend.entry == _entry(cache, "onnxruntime")
    meta = json.loads((clf.backend.entry / "meta.json").read_text())
    assert meta["checkpoint"] and meta["engine"] == "onnxruntime" and meta["batch_shape"] == "dynamic"


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("truncate", "has a file 'logits.onnx' that does not match its sha256"),
        ("flip-byte", "has a file 'logits.onnx' that does not match its sha256"),
        ("stale-version", "has a meta.json that does not match its digest"),
        ("stale-version-digest-updated", "was made for another version"),
        ("bad-json", "has no readable meta.json"),
    ],
)
def test_corrupt_or_stale_entry_is_rebuilt(tmp_path, monkeypatch, frames, reference, damage, why):
    from yolo_probs.backends.engines.cache import record_digest

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    YoloProbs(MODEL, engine="onnxruntime")
    entry = _entry(tmp_path / "yolo-probs" / "engines", "onnxruntime")
    graph, meta_file = entry / "logits.onnx", entry / "meta.json"
    good = graph.read_bytes()
    if damage == "truncate":
        graph.write_bytes(good[: len(good) // 2])
    elif damage == "flip-byte":
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        graph.write_bytes(bytes(data))
    elif damage.startswith("stale-version"):
        meta = json.loads(meta_file.read_text())
        meta["version"] = "0.0.1"
        if damage.endswith("digest-updated"):
            meta["digest"] = record_digest(meta)
        meta_file.write_text(json.dumps(meta))
    else:
        meta_file.write_text("{not json")
    with (
        pytest.warns(EngineWarning, match=rf"^engine cache entry .*onnxruntime-\w+ {why}.*; rebuilding it \(several"),
        YoloProbs(MODEL, engine="onnxruntime") as clf,
    ):
        np.testing.assert_allclose(_probs(clf, frames, 1.0), _probs(reference, frames, 1.0), atol=1e-4)
    assert json.loads(meta_file.read_text())["version"] != "0.0.1"
    assert graph.read_bytes() == good  # rebuilt: the same graph again


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m.update(names=m["names"][::-1]), id="names-reversed"),
        pytest.param(lambda m: m["preprocess"].update(mean=[0.5, 0.5, 0.5]), id="mean-edited"),
        pytest.param(lambda m: m.update(imgsz=32), id="imgsz-edited"),
        pytest.param(lambda m: m.pop("digest"), id="digest-removed"),
    ],
)
def test_an_edited_meta_json_is_rebuilt_not_trusted(tmp_path, monkeypatch, frames, reference, edit):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    YoloProbs(MODEL, engine="onnxruntime")
    meta_file = _entry(tmp_path / "yolo-probs" / "engines", "onnxruntime") / "meta.json"
    meta = json.loads(meta_file.read_text())
    edit(meta)
    meta_file.write_text(json.dumps(meta))
    with pytest.warns(
        EngineWarning,
        match=r"^engine cache entry .* meta.json that does not match .*; rebuilding it \(several seconds\)$",
    ):
        clf = YoloProbs(MODEL, engine="onnxruntime")
    assert clf.names == reference.names and clf.backend.preprocess.mean == reference_mean()
    np.testing.assert_allclose(_probs(clf, frames, 1.0), _probs(reference, frames, 1.0), atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: the next run trusts it without a word
        assert YoloProbs(MODEL, engine="onnxruntime").names == reference.names


def reference_mean() -> tuple[float, ...]:
    return Preprocess.ultralytics(64).mean


@pytest.mark.parametrize("kind", ["file", "link-to-folder", "dangling-link"])
def test_something_else_at_an_entry_path_is_replaced_by_the_entry(tmp_path, monkeypatch, frames, reference, kind):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    YoloProbs(MODEL, engine="onnxruntime")
    entry = _entry(tmp_path / "xdg" / "yolo-probs" / "engines", "onnxruntime")
    outside = tmp_path / "not-the-cache"
    outside.mkdir()
    (outside / "keep.txt").write_text("someone else's")
    shutil.rmtree(entry)
    if kind == "file":
        entry.write_text("not a cache entry")
    else:
        entry.symlink_to(outside if kind == "link-to-folder" else tmp_path / "nowhere")
    with pytest.warns(
        EngineWarning, match=r"^engine cache entry .* is not a folder; rebuilding it \(several seconds\)$"
    ):
        clf = YoloProbs(MODEL, engine="onnxruntime")
    assert isinstance(clf.backend, EngineBackend)  # not the torch fallback
    assert entry.is_dir() and not entry.is_symlink() and (entry / "meta.json").is_file()
    assert sorted(outside.iterdir()) == [outside / "keep.txt"]  # a link's target is never touched
    assert (outside / "keep.txt").read_text() == "someone else's"
    np.testing.assert_allclose(_probs(clf, frames, 1.0), _probs(reference, frames, 1.0), atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(YoloProbs(MODEL, engine="onnxruntime").backend, EngineBackend)


def test_a_damaged_entry_is_one_line_on_the_command_line(tmp_path, monkeypatch, capsys):
    from yolo_probs.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = ["predict", str(MODEL.parents[1] / "images" / "digit_3.png"), "-m", str(MODEL), "--engine", "onnxruntime"]
    assert main(args) == 0
    entry = _entry(tmp_path / "yolo-probs" / "engines", "onnxruntime")
    shutil.rmtree(entry)
    entry.write_text("")
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"yolo-probs: warning: engine cache entry {entry} is not a folder; rebuilding it (several seconds)"
    ]
    assert main(args) == 0 and capsys.readouterr().err == ""  # repaired


def test_a_temporary_cache_never_follows_a_link_in_the_shared_temp_folder(tmp_path, monkeypatch):
    from yolo_probs.backends.engines.cache import writable_root

    shared = tmp_path / "tmp"
    shared.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    (shared / f"yolo-probs-engines-{os.getuid()}").symlink_to(elsewhere)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    root, notice = writable_root(blocker / "engines")
    assert notice and root.parent == shared and not root.is_symlink() and root.is_dir()


def test_an_unwritable_cache_home_keeps_onnxruntime_quiet(tmp_path, image_paths):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**os.environ, "XDG_CACHE_HOME": str(blocker), "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    args = [str(image_paths[0]), "-m", str(MODEL), "-f", "json", "-o", str(tmp_path / "o.json")]
    run = subprocess.run(
        [sys.executable, "-m", "yolo_probs", "predict", *args, "--engine", "onnxruntime"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert [line for line in lines if not line.startswith("yolo-probs: ")] == []  # no telemetry_1ds.cc line
    assert any("is not writable" in line for line in lines)


def test_onnxruntime_import_leaves_the_environment_as_it_was(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = (
        "import os; from yolo_probs._util.onnxruntime_env import import_onnxruntime, telemetry_folder_writable;"
        "assert not telemetry_folder_writable(); import_onnxruntime(); print(os.environ.get('ORT_DISABLE_TELEMETRY'))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(blocker), "PYTHONPATH": str(ROOT)}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    command = [sys.executable, "-c", code]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert (run.returncode, run.stdout.strip(), run.stderr) == (0, "None", "")


def test_unwritable_cache_falls_back_to_a_temporary_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.warns(EngineWarning, match=r"is not writable .*; using .* instead"):
        clf = YoloProbs(MODEL, engine="onnxruntime")
    assert isinstance(clf.backend, EngineBackend)
    assert not str(clf.backend.entry).startswith(str(blocker))


def test_export_failure_falls_back_to_torch(tmp_path, monkeypatch, frames, reference):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    import yolo_probs.backends.engines.base as cache_module

    def broken(*args, **kwargs):
        raise RuntimeError("Unsupported ONNX opset\nlong details")

    monkeypatch.setattr(cache_module, "export_logits_onnx", broken)
    with pytest.warns(EngineWarning, match=r"^engine openvino could not run .*Unsupported ONNX opset\); using torch"):
        clf = YoloProbs(MODEL, engine="openvino")
    assert type(clf.backend).__name__ == "UltralyticsBackend"
    np.testing.assert_allclose(_probs(clf, frames, 1.5), _probs(reference, frames, 1.5), atol=1e-6)


def test_yaml_model_runs_without_a_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    image = np.zeros((40, 50, 3), np.uint8)
    with YoloProbs("yolo11n-cls.yaml", engine="onnxruntime", imgsz=32) as clf:
        assert isinstance(clf.backend, EngineBackend)
        assert clf.predict(image)[0].probs.shape == (1000,)
    assert not (tmp_path / "yolo-probs").exists()  # random weights: nothing to cache
    assert not clf.backend.entry.exists()  # and the private export is gone once loaded


# -- choosing an engine, bad input --


def test_auto_picks_the_first_installed_engine(cache, monkeypatch):
    clf = YoloProbs(MODEL, engine="auto")
    assert clf.backend.engine == "onnxruntime"
    monkeypatch.setattr(type(_engine_factory("onnxruntime")), "available", lambda self: False)
    assert YoloProbs(MODEL, engine="auto").backend.engine == "openvino"
    monkeypatch.setattr(type(_engine_factory("openvino")), "available", lambda self: False)
    assert type(YoloProbs(MODEL, engine="auto").backend).__name__ == "UltralyticsBackend"


def test_auto_on_a_gpu_device_keeps_torch():
    backend = resolve_backend(MODEL, BackendOptions(engine="auto", device="0"))
    assert type(backend).__name__ == "UltralyticsBackend"


def test_engine_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setattr(type(_engine_factory("openvino")), "available", lambda self: False)
    with pytest.raises(
        ConfigError, match=r"engine 'openvino' is not installed; .*pip install 'yolo-probs\[openvino\]'"
    ):
        YoloProbs(MODEL, engine="openvino")


@pytest.mark.parametrize(
    ("engine", "model_kind", "match"),
    [
        ("tensorrt", "pt", r"unknown engine 'tensorrt'; choose one of auto, onnxruntime, openvino, torch"),
        ("openvino", "onnx", r"engine 'openvino' runs Ultralytics checkpoints .* 'onnx' backend: leave engine unset"),
        ("onnxruntime", "pt", r"engine 'onnxruntime' runs on the CPU; for device '0' leave engine unset"),
    ],
)
def test_bad_engine_requests(tmp_path, engine, model_kind, match):
    model = MODEL
    if model_kind == "onnx":
        model = tmp_path / "m.onnx"
        from yolo_probs.export.exporter import export_folded

        export_folded(MODEL, output=model)
    device = "0" if engine == "onnxruntime" else None
    with pytest.raises(ConfigError, match=match) as info:
        YoloProbs(model, engine=engine, device=device)
    assert info.value.option == "engine"


def test_onnx_file_with_onnxruntime_or_auto_keeps_the_onnx_backend(tmp_path):
    from yolo_probs.export.exporter import export_folded

    export_folded(MODEL, output=tmp_path / "m.onnx")
    for engine in ("onnxruntime", "auto"):
        assert type(YoloProbs(tmp_path / "m.onnx", engine=engine).backend).__name__ == "OnnxBackend"


def test_thread_split_never_gives_the_engine_every_core():
    assert engine_threads(1) == (1, 1)
    assert engine_threads(2) == (1, 1)
    assert engine_threads(16) == (8, 8)
    assert engine_threads(3) == (1, 2)


def test_openvino_is_compiled_in_float32(cache):
    import openvino as ov

    clf = YoloProbs(MODEL, engine="openvino")
    core = ov.Core()
    compiled = core.compile_model(str(clf.backend.entry / "model.xml"), "CPU", _engine_factory("openvino").CONFIG)
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("f32", "<Type: 'float32'>")
    ops = ov.Core().read_model(clf.backend.entry / "model.xml").get_ops()
    weights = {str(op.get_element_type()) for op in ops if op.get_type_name() == "Constant"}
    assert "<Type: 'float16'>" not in weights and "<Type: 'float32'>" in weights


def test_warnings_are_not_left_behind(cache):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        YoloProbs(MODEL, engine="onnxruntime").predict(np.zeros((30, 40, 3), np.uint8))


def test_cache_root_follows_xdg(monkeypatch, tmp_path):
    from yolo_probs.backends.engines.cache import cache_root

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "yolo-probs" / "engines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path(os.path.expanduser("~")) / ".cache" / "yolo-probs" / "engines"
