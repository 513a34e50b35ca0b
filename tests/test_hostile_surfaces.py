"""Hostile arguments to the second wave's surfaces: plugin, export, overlay drawer, soft labels, Parquet,
distillation, Ray and backend registration.

Every bad argument is a yolo-probs error on one line that names the argument (or the file), never a
raw TypeError, AttributeError, ArrowInvalid, JSONDecodeError or FileNotFoundError from deep inside,
and nothing is left behind. The table of issue 24; :mod:`tests.test_public_api` covers ``__all__``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import IMAGES, MODEL
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import ConfigError, SourceError, YoloProbsError

PRED = Prediction.from_logits(np.array([2.0, 0.5, 0.1]), names=("a", "b", "c"), top_k=2, source="x.png")
FRAME = np.zeros((48, 64, 3), np.uint8)


@functools.cache
def _yolo() -> Any:
    from ultralytics import YOLO

    return YOLO(str(MODEL))


@functools.cache
def _classifier() -> Any:
    from yolo_probs import YoloProbs

    return YoloProbs(MODEL, temperature=4.0)


def _attach(*args: Any, **kwargs: Any) -> Any:
    from yolo_probs import attach

    return attach(*args, **kwargs)


def _detach(model: Any) -> Any:
    from yolo_probs import detach

    return detach(model)


def _export(tmp: Path, model: Any = MODEL, **kwargs: Any) -> Any:
    from yolo_probs.export.exporter import export_folded

    kwargs.setdefault("output", tmp / "m.onnx")
    return export_folded(model, **kwargs)


def _draw(frame: Any = FRAME, prediction: Any = PRED, **kwargs: Any) -> Any:
    from yolo_probs.overlay.draw import OverlayDrawer

    return OverlayDrawer().draw(frame, prediction, **kwargs)


def _drawer(**kwargs: Any) -> Any:
    from yolo_probs.overlay.draw import OverlayDrawer

    return OverlayDrawer(**kwargs)


def _write_soft(tmp: Path, model: Any = None, output: Any = "default") -> Any:
    from yolo_probs.distill.soft_labels import write_soft_labels

    model = _classifier() if model == "clf" else model
    return write_soft_labels(model, str(IMAGES / "digit_3.png"), tmp / "s.parquet" if output == "default" else output)


def _read_soft(tmp: Path, name: str | None, content: bytes = b"") -> Any:
    from yolo_probs.distill.soft_labels import read_soft_labels

    if name is None:
        return read_soft_labels(None)  # type: ignore[arg-type]
    (tmp.parent / name).write_bytes(content)  # an input: beside the output folder, which must stay empty
    return read_soft_labels(tmp.parent / name)


def _read_records(tmp: Path, name: Any, content: bytes | None = None) -> Any:
    from yolo_probs.outputs.parquet import read_records

    if content is not None:
        (tmp.parent / name).write_bytes(content)
    return read_records(tmp.parent / name if isinstance(name, str) else name)


def _distill(tmp: Path, data: Any = "examples/data/digits", **kwargs: Any) -> Any:
    from yolo_probs.distill import distill

    args = {"teacher": MODEL, "student": "yolo26n-cls.yaml", "output": tmp / "s.pt", "temperature": 4.0} | kwargs
    return distill(data, **args)


def _ray(name: str, *args: Any, **kwargs: Any) -> Any:
    from yolo_probs.integrations import ray

    return getattr(ray, name)(*args, **kwargs)


def _register(factory: Any, **kwargs: Any) -> Any:
    from yolo_probs.backends.base import register_backend

    return register_backend(factory, **kwargs)


class _NoCanLoad:
    name = "half-a-backend"


Case = tuple[str, Callable[[Path], Any], type[YoloProbsError], str]
CASES: list[Case] = [
    ("attach(None)", lambda t: _attach(None), ConfigError, "model must be a loaded ultralytics.YOLO"),
    ("attach('model.pt')", lambda t: _attach("model.pt"), ConfigError, "got the path 'model.pt'; pass YOLO("),
    ("attach(Path)", lambda t: _attach(MODEL), ConfigError, "model must be a loaded ultralytics.YOLO"),
    ("detach(None)", lambda t: _detach(None), ConfigError, "model must be a loaded ultralytics.YOLO"),
    ("attach(calibrator='x')", lambda t: _attach(_yolo(), calibrator="x"), ConfigError, "calibrator must be"),
    ("attach(temperature='x')", lambda t: _attach(_yolo(), temperature="x"), ConfigError, "temperature"),
    ("export_folded(5)", lambda t: _export(t, 5), ConfigError, "model must be a checkpoint path"),
    ("export_folded(None)", lambda t: _export(t, None), ConfigError, "model must be a checkpoint path"),
    ("export_folded(output=None)", lambda t: _export(t, output=None), ConfigError, "output must be a file path"),
    ("export_folded(output=5)", lambda t: _export(t, output=5), ConfigError, "output must be a file path"),
    ("export_folded(output='')", lambda t: _export(t, output=""), ConfigError, "output must be a file path"),
    ("export_folded(format=5)", lambda t: _export(t, format=5), ConfigError, "format must be one of"),
    ("export_folded(imgsz='x')", lambda t: _export(t, imgsz="x"), ConfigError, "imgsz must be"),
    ("export_folded(profile=5)", lambda t: _export(t, profile=5), ConfigError, "profile must be a file path"),
    ("export_folded(temperature=nan)", lambda t: _export(t, temperature=math.nan), ConfigError, "temperature"),
    ("draw(None, p)", lambda t: _draw(None), ConfigError, "frame must be"),
    ("draw(grey, p)", lambda t: _draw(np.zeros((4, 4), np.uint8)), ConfigError, "frame must be"),
    ("draw(frame, None)", lambda t: _draw(prediction=None), ConfigError, "prediction must be"),
    ("draw(frame, dict)", lambda t: _draw(prediction=PRED.to_dict()), ConfigError, "prediction must be"),
    ("draw(fps='x')", lambda t: _draw(fps="x"), ConfigError, "fps must be"),
    ("draw(fps=nan)", lambda t: _draw(fps=math.nan), ConfigError, "fps must be"),
    ("OverlayDrawer(alpha='x')", lambda t: _drawer(alpha="x"), ConfigError, "alpha must be"),
    ("OverlayDrawer(panel_width=nan)", lambda t: _drawer(panel_width=math.nan), ConfigError, "panel_width must be"),
    ("OverlayDrawer(name_chars='x')", lambda t: _drawer(name_chars="x"), ConfigError, "name_chars must be"),
    ("OverlayDrawer(top_color='red')", lambda t: _drawer(top_color="red"), ConfigError, "top_color must be"),
    ("OverlayDrawer(set_color=(0,0,256))", lambda t: _drawer(set_color=(0, 0, 256)), ConfigError, "set_color"),
    ("write_soft_labels(None)", lambda t: _write_soft(t, None), ConfigError, "model must be a YoloProbs"),
    ("write_soft_labels(5)", lambda t: _write_soft(t, 5), ConfigError, "model must be a YoloProbs"),
    ("write_soft_labels(output=None)", lambda t: _write_soft(t, "clf", None), ConfigError, "output must be"),
    ("read_soft_labels(None)", lambda t: _read_soft(t, None), ConfigError, "path must be a file path"),
    ("read_soft_labels(bad .parquet)", lambda t: _read_soft(t, "c.parquet", b"PAR1 nope"), SourceError, "c.parquet:"),
    ("read_soft_labels(empty .parquet)", lambda t: _read_soft(t, "e.parquet"), SourceError, "e.parquet: not a"),
    ("read_soft_labels(bad .jsonl)", lambda t: _read_soft(t, "c.jsonl", b"{not json\n"), SourceError, "line 1 is"),
    ("read_soft_labels(list .jsonl)", lambda t: _read_soft(t, "l.jsonl", b"{}\n[1]\n"), SourceError, "line 2 is"),
    ("read_soft_labels(binary .jsonl)", lambda t: _read_soft(t, "b.jsonl", b"\xff\xfe\x00"), SourceError, "UTF-8"),
    ("read_records(missing)", lambda t: _read_records(t, "missing.parquet"), SourceError, "missing.parquet: no such"),
    ("read_records(corrupt)", lambda t: _read_records(t, "c.parquet", b"x" * 64), SourceError, "c.parquet: not a"),
    ("read_records(None)", lambda t: _read_records(t, None), ConfigError, "path must be a file path"),
    ("read_records(5)", lambda t: _read_records(t, 5), ConfigError, "path must be a file path"),
    ("distill(5)", lambda t: _distill(t, 5), ConfigError, "data must be a file path"),
    ("distill(None)", lambda t: _distill(t, None), ConfigError, "data must be a file path"),
    ("distill(teacher=None)", lambda t: _distill(t, teacher=None), ConfigError, "teacher must be a model"),
    ("distill(student=5)", lambda t: _distill(t, student=5), ConfigError, "student must be"),
    ("distill(output=None)", lambda t: _distill(t, output=None), ConfigError, "output must be a file path"),
    ("distill(progress=5)", lambda t: _distill(t, progress=5), ConfigError, "progress must be"),
    ("plan_actors('x')", lambda t: _ray("plan_actors", "x"), ConfigError, "cpus must be a finite number"),
    ("plan_actors(None)", lambda t: _ray("plan_actors", None), ConfigError, "cpus must be a finite number"),
    ("plan_actors(True)", lambda t: _ray("plan_actors", True), ConfigError, "cpus must be a finite number"),
    ("plan_actors(1.0001, reserve=1)", lambda t: _ray("plan_actors", 1.0001, reserve=1), ConfigError, "CPUs"),
    ("plan_actors(reserve=-1)", lambda t: _ray("plan_actors", 4, reserve=-1), ConfigError, "reserve must be"),
    ("plan_actors(batch_size=0)", lambda t: _ray("plan_actors", 4, batch_size=0), ConfigError, "batch_size must be"),
    ("check_address(5)", lambda t: _ray("check_address", 5), ConfigError, "address must be text"),
    ("check_address(b'h:1')", lambda t: _ray("check_address", b"h:1"), ConfigError, "address must be text"),
    ("check_address('nonsense')", lambda t: _ray("check_address", "nonsense"), ConfigError, "got 'nonsense'"),
    ("check_address('h:99999')", lambda t: _ray("check_address", "h:99999"), ConfigError, "expected HOST:PORT"),
    ("connect(5)", lambda t: _ray("connect", 5), ConfigError, "address must be text"),
    ("register_backend(5)", lambda t: _register(5, first=True), ConfigError, "factory must be a backend class"),
    ("register_backend(None)", lambda t: _register(None), ConfigError, "factory must be a backend class"),
    ("register_backend(no can_load)", lambda t: _register(_NoCanLoad), ConfigError, "factory must be a backend"),
    ("register_backend(first='yes')", lambda t: _register(_BackendLike, first="yes"), ConfigError, "first must be"),
]


class _BackendLike:
    name = "never-registered"

    @classmethod
    def can_load(cls, model: Any, options: Any) -> bool:
        return False


@pytest.mark.parametrize(("call", "error", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_argument_is_one_named_error(tmp_path, call, error, says):
    from yolo_probs.backends import BACKENDS

    backends = list(BACKENDS)
    (tmp_path / "out").mkdir()
    with pytest.raises(error) as info:
        call(tmp_path / "out")
    message = str(info.value)
    assert says in message and "\n" not in message
    assert type(info.value).__module__ == "yolo_probs.errors"
    assert list(BACKENDS) == backends  # a refused backend is not half-registered
    assert not list((tmp_path / "out").iterdir())  # nothing left behind (no empty export, no partial file)


def test_every_model_still_loads_after_a_refused_registration():
    from yolo_probs import YoloProbs
    from yolo_probs.backends.base import register_backend

    with pytest.raises(ConfigError):
        register_backend(5, first=True)
    with YoloProbs(MODEL) as clf:
        assert clf.predict(FRAME)[0].probs.shape == (10,)


@settings(max_examples=60, deadline=None)
@given(
    cpus=st.one_of(st.floats(allow_nan=True), st.integers(-5, 10**6), st.text(max_size=4), st.none(), st.booleans()),
    reserve=st.one_of(st.floats(allow_nan=True), st.integers(-2, 8), st.none()),
)
def test_plan_actors_gives_a_plan_or_a_named_error(cpus, reserve):
    from yolo_probs.integrations.ray import ActorPlan, plan_actors

    try:
        plan = plan_actors(cpus, reserve=reserve)
    except ConfigError as exc:
        assert any(word in str(exc) for word in ("cpus", "reserve", "CPUs"))
        return
    assert isinstance(plan, ActorPlan) and plan.actors >= 1 and 0 < plan.cpus_per_actor <= 0.95
    # never more than the CPUs left after the reserve (the rounding to 1/1000 CPU may add 1e-12 per actor)
    assert plan.actors * plan.cpus_per_actor <= cpus - reserve + plan.actors * 1e-12 + 1e-9


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=4),
    dtype=st.sampled_from([np.uint8, np.float32, np.int16, np.bool_]),
)
def test_draw_takes_a_bgr_frame_or_names_it(shape, dtype):
    frame = np.zeros(shape, dtype)
    ok = len(shape) == 3 and shape[2] == 3 and dtype is np.uint8 and min(shape) > 0
    if ok:
        assert _draw(frame) is frame
        return
    with pytest.raises(ConfigError, match=r"^frame must be"):
        _draw(frame)
