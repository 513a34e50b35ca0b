# ruff: noqa: E501  (the tables below read best one call per line)
"""Every public function refuses bad arguments with a yolo_probs error that names them, never NaN (issue 24).

Two parts:

- :data:`ROWS`, a table of ``(id, call, name)``: each call passes one bad argument (a wrong type, NaN,
  an empty or out-of-range value) to a name of ``yolo_probs.__all__`` or of a documented submodule, and
  must raise a :class:`~yolo_probs.errors.YoloProbsError` on one line whose message (or ``option``)
  names the argument. :func:`test_every_public_callable_has_a_row` keeps the table complete.
- :data:`SWEEP`, the generic sweep: each cheap public function is called with valid arguments, then
  with each argument in turn replaced by ``None``, ``"abc"``, NaN, ``[]``, ``-1``, ``{}`` and an
  object; whatever comes back holds no NaN, and whatever is raised is a YoloProbsError. Hypothesis
  adds NaN and inf at random places of random arrays for the array-taking math.
"""

from __future__ import annotations

import inspect
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import yolo_probs
from tests.conftest import IMAGES, MODEL
from yolo_probs import (
    BackendOptions,
    Box,
    BoxDrawer,
    Detections,
    DetectThenClassify,
    Monitor,
    OverlayDrawer,
    Prediction,
    Profile,
    TemperatureScaling,
    YoloProbs,
    YoloProbsError,
    attach,
    calibrate,
    detach,
    evaluate,
    evaluate_logits,
    export_folded,
    fit_calibration,
    fit_reject,
    fit_sets,
    fit_temperature,
    fit_unknown,
    load_profile,
    log_softmax,
    profile_from_fits,
    register_backend,
    register_calibrator,
    save_profile,
    softmax,
    top_k,
)
from yolo_probs.api.workflow import collect_logits
from yolo_probs.backends import BackendOutput
from yolo_probs.calibration import calibrator_from_dict, fit_calibrator
from yolo_probs.core import metrics
from yolo_probs.decisions import conformal, ood, selective
from yolo_probs.distill import distill
from yolo_probs.distill.soft_labels import read_soft_labels, write_soft_labels
from yolo_probs.inputs.preprocess import Preprocess
from yolo_probs.integrations import ray as yp_ray
from yolo_probs.outputs.parquet import read_records

NAN = float("nan")
INF = float("inf")


class Constant:
    """A backend of our own (the documented protocol): fixed logits for two classes, instant."""

    names = ("cat", "dog")
    folded_temperature = None
    device_type = "cpu"

    def run(self, images: list[Any], *, features: bool = False) -> BackendOutput:
        n = len(images)
        return BackendOutput(np.tile(np.float32([2.0, 0.0]), (n, 1)), "output", np.ones((n, 3), np.float32))

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput:
        return self.run(list(batch), features=features)

    def close(self) -> None:
        pass


class NaNCalibrator(TemperatureScaling):
    """A calibrator gone wrong: NaN probabilities for every input."""

    def probs(self, logits: Any) -> np.ndarray:
        return np.full(np.shape(logits), np.nan, np.float32)

    def log_probs(self, logits: Any) -> np.ndarray:
        return np.full(np.shape(logits), np.nan)


@dataclass
class Ctx:
    """What the rows call with: a tmp folder, a labelled folder, a real and an instant classifier."""

    tmp: Path
    data: Path
    clf: YoloProbs
    quick: YoloProbs
    pred: Prediction
    frame: np.ndarray
    profile: Profile
    fitted: Any
    logits: np.ndarray
    labels: np.ndarray
    probs: np.ndarray


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("hostile")
    data = tmp / "data"
    for image, label in [("digit_3", "cat"), ("digit_5", "cat"), ("digit_7", "dog"), ("hard_3", "dog")]:
        (data / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(IMAGES / f"{image}.png", data / label)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    logits = rng.normal(size=(60, 3)) + 2.0 * np.eye(3)[labels]
    with YoloProbs(MODEL, device="cpu") as clf:
        quick = YoloProbs(Constant())
        yield Ctx(
            tmp=tmp,
            data=data,
            clf=clf,
            quick=quick,
            pred=Prediction.from_logits([2.0, 0.5, 0.1], ("a", "b", "c")),
            frame=np.zeros((120, 160, 3), np.uint8),
            profile=Profile(model=str(MODEL), temperature=1.5),
            fitted=calibrate(quick, data),
            logits=logits,
            labels=labels,
            probs=softmax(logits),
        )


@dataclass(frozen=True)
class Row:
    """One bad call: ``call(ctx)`` must raise a YoloProbsError naming the argument.

    ``name`` is the argument's name, or several ways to name it (a file argument is named by its path;
    a bad key of a mapping by the key); the message or the error's ``option`` holds one of them, with
    ``-`` and ``_`` alike (``top-k`` names ``top_k``).
    """

    id: str
    call: Callable[[Ctx], Any]
    name: str | tuple[str, ...]


def rows(prefix: str, name: str | tuple[str, ...], *calls: Callable[[Ctx], Any]) -> list[Row]:
    return [Row(f"{prefix}#{i}", call, name) for i, call in enumerate(calls)]


X = np.array([[2.0, 0.5, 0.1], [0.0, 1.0, 3.0]])
P = np.array([0.7, 0.2, 0.1])
Y = [0, 2]

# fmt: off
ROWS: list[Row] = [
    # -- the math core --
    *rows("softmax.logits", "logits",
          lambda c: softmax("abc"), lambda c: softmax([]), lambda c: softmax(None), lambda c: softmax([NAN, 1.0]),
          lambda c: softmax([INF, 1.0]), lambda c: softmax([-INF, -INF]), lambda c: softmax([[1.0], [2.0, 3.0]]),
          lambda c: softmax([1j, 2.0]), lambda c: softmax([True, False]), lambda c: softmax(3.0),
          lambda c: softmax(np.zeros((2, 0))), lambda c: softmax(torch.tensor([NAN, 1.0])),
          lambda c: softmax(torch.tensor([True, False]))),
    *rows("softmax.axis", "axis",
          lambda c: softmax(X, axis=5), lambda c: softmax(X, axis=-3), lambda c: softmax(X, axis="a"),
          lambda c: softmax(X, axis=1.0), lambda c: softmax(torch.from_numpy(X), axis=2)),
    *rows("softmax.temperature", "temperature",
          lambda c: softmax(X, NAN), lambda c: softmax(X, 0), lambda c: softmax(X, "x"), lambda c: softmax(X, None)),
    *rows("log_softmax.logits", "logits",
          lambda c: log_softmax("abc"), lambda c: log_softmax([]), lambda c: log_softmax(None),
          lambda c: log_softmax([NAN, 1.0]), lambda c: log_softmax(torch.tensor([INF, 0.0]))),
    *rows("log_softmax.axis", "axis", lambda c: log_softmax(X, axis=2)),
    *rows("log_softmax.temperature", "temperature", lambda c: log_softmax(X, -1.0)),
    *rows("top_k.probs", "probs",
          lambda c: top_k("abc"), lambda c: top_k(None), lambda c: top_k([]), lambda c: top_k([NAN, 0.5]),
          lambda c: top_k([2.0, -1.0]), lambda c: top_k([[0.5, 0.5]]), lambda c: top_k([0.5, INF])),
    *rows("top_k.k", "top-k", lambda c: top_k(P, 0), lambda c: top_k(P, "2"), lambda c: top_k(P, 1.5)),
    *rows("top_k.min_prob", "min_prob", lambda c: top_k(P, 2, min_prob=2.0), lambda c: top_k(P, 2, min_prob=NAN)),
    *rows("top_k.names", "names",
          lambda c: top_k(P, 2, names=["a"]), lambda c: top_k(P, 2, names="abc"), lambda c: top_k(P, 2, names=5),
          lambda c: top_k(P, 2, names={0: "a", 1: "b", 2: "c"})),
    # -- Prediction --
    *rows("Prediction.from_logits.logits", "logits",
          lambda c: Prediction.from_logits([NAN, 1.0], ("a", "b")), lambda c: Prediction.from_logits("ab", ("a", "b")),
          lambda c: Prediction.from_logits(None, ("a",)), lambda c: Prediction.from_logits([], ()),
          lambda c: Prediction.from_logits([[0.0, 1.0]], ("a", "b")),
          lambda c: Prediction.from_logits([1e300, 0.0], ("a", "b")),
          lambda c: Prediction.from_logits([INF, 1.0], ("a", "b"), calibrator=TemperatureScaling(2.0))),
    *rows("Prediction.from_logits.names", "names",
          lambda c: Prediction.from_logits([0.0, 1.0], None), lambda c: Prediction.from_logits([0.0, 1.0], ["a"]),
          lambda c: Prediction.from_logits([0.0, 1.0], "ab")),
    *rows("Prediction.from_logits.options", "temperature",
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), temperature=NAN)),
    *rows("Prediction.from_logits.top_k", "top-k",
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), top_k=0)),
    *rows("Prediction.from_logits.min_prob", "min_prob",
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), min_prob=-0.5)),
    *rows("Prediction.from_logits.source", "source",
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), source=5)),
    *rows("Prediction.from_logits.frame", "frame",
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), frame=-1),
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), frame="x")),
    *rows("Prediction.from_logits.calibrator", "calibrator",
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), calibrator="x"),
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), calibrator=NaNCalibrator(1.0))),
    *rows("Prediction.from_logits.features", "features",
          lambda c: Prediction.from_logits([0.0, 1.0], ("a", "b"), features="x")),
    *rows("Prediction.logits", "logits",
          lambda c: Prediction("", [NAN, 0.0], [0.5, 0.5], 1.0, ("a", "b")),
          lambda c: Prediction("", None, [0.5, 0.5], 1.0, ("a", "b"))),
    *rows("Prediction.probs", "probs",
          lambda c: Prediction("", [1.0, 0.0], [NAN, NAN], 1.0, ("a", "b")),
          lambda c: Prediction("", [1.0, 0.0], [0.5, 0.5, 0.0], 1.0, ("a", "b")),
          lambda c: Prediction("", [1.0, 0.0], "ab", 1.0, ("a", "b"))),
    *rows("Prediction.temperature", "temperature", lambda c: Prediction("", [1.0, 0.0], [0.5, 0.5], 0.0, ("a", "b"))),
    *rows("Prediction.names", "names", lambda c: Prediction("", [1.0, 0.0], [0.5, 0.5], 1.0, ("a",))),
    *rows("Prediction.with_temperature", "temperature",
          lambda c: c.pred.with_temperature(NAN), lambda c: c.pred.with_temperature("x")),
    *rows("Prediction.with_temperature.top_k", "top-k", lambda c: c.pred.with_temperature(1.0, top_k=0)),
    # -- boxes (yolo_probs.core.boxes, the box drawer, detect then classify) --
    *rows("Detections.from_logits.xyxy", "xyxy",
          lambda c: Detections.from_logits([[0, 0, NAN, 4]], [0.5], [0], [[1.0, 0.0]], ("a", "b")),
          lambda c: Detections.from_logits([[0, 0, 4]], [0.5], [0], [[1.0, 0.0]], ("a", "b"))),
    *rows("Detections.from_logits.logits", "logits",
          lambda c: Detections.from_logits([[0, 0, 4, 4]], [0.5], [0], [[NAN, 0.0]], ("a", "b")),
          lambda c: Detections.from_logits([[0, 0, 4, 4]], [0.5], [0], [1.0, 0.0], ("a", "b"))),
    *rows("Detections.from_logits.conf", "conf",
          lambda c: Detections.from_logits([[0, 0, 4, 4]], [1.5], [0], [[1.0, 0.0]], ("a", "b"))),
    *rows("Detections.from_logits.names", "names",
          lambda c: Detections.from_logits([[0, 0, 4, 4]], [0.5], [0], [[1.0, 0.0]], ("a",))),
    *rows("Detections.from_logits.temperature", "temperature",
          lambda c: Detections.from_logits([[0, 0, 4, 4]], [0.5], [0], [[1.0, 0.0]], ("a", "b"), temperature=0)),
    *rows("Box.conf", "conf",
          lambda c: Box(0, (0, 0, 4, 4), NAN, 0, ("a", "b"), np.array([0.7, 0.5]), np.array([1.0, 0.0]),
                        np.array([0.7, 0.3]))),
    *rows("BoxDrawer.bars", "bars", lambda c: BoxDrawer(bars=-1), lambda c: BoxDrawer(bars="abc")),
    *rows("BoxDrawer.min_prob", "min_prob", lambda c: BoxDrawer(min_prob=2.0)),
    *rows("DetectThenClassify.margin", "margin", lambda c: DetectThenClassify(c.clf, c.clf, margin=-0.5)),
    *rows("DetectThenClassify.classifier", "classifier", lambda c: DetectThenClassify(c.clf, c.clf)),
    *rows("Monitor.from_profile", ("profile", "monitor"),
          lambda c: Monitor.from_profile(c.profile), lambda c: Monitor.from_profile(None),
          lambda c: Monitor.from_profile(c.tmp / "none.yaml")),
    # -- metrics (yolo_probs.core.metrics, documented) --
    *rows("evaluate_logits.logits", "logits",
          lambda c: evaluate_logits(None, Y), lambda c: evaluate_logits("abc", Y), lambda c: evaluate_logits([[NAN, 1.0]], [0]),
          lambda c: evaluate_logits([[0.0, 1.0], [1.0]], [0, 1]), lambda c: evaluate_logits(np.zeros((0, 3)), [])),
    *rows("evaluate_logits.labels", "labels",
          lambda c: evaluate_logits(X, None), lambda c: evaluate_logits(X, ["a", "b"]), lambda c: evaluate_logits(X, [0, 3]),
          lambda c: evaluate_logits(X, [0, -1]), lambda c: evaluate_logits(X, [0.5, 1.0]), lambda c: evaluate_logits(X, [NAN, 1])),
    *rows("evaluate_logits.temperature", "temperature", lambda c: evaluate_logits(X, Y, NAN)),
    *rows("evaluate_logits.n_bins", "n_bins", lambda c: evaluate_logits(X, Y, n_bins=0), lambda c: evaluate_logits(X, Y, n_bins="x")),
    *rows("evaluate_logits.calibrator", "calibrator",
          lambda c: evaluate_logits(X, Y, calibrator="x"), lambda c: evaluate_logits(X, Y, calibrator=NaNCalibrator(1.0))),
    *[Row(f"metrics.{f.__name__}.probs#{i}", (lambda c, f=f, bad=bad: f(bad, Y)), "probs")
      for f in (metrics.accuracy, metrics.brier_score, metrics.ece, metrics.mce, metrics.adaptive_ece,
                metrics.classwise_ece, metrics.bin_stats)
      for i, bad in enumerate([None, "abc", [[NAN, 1.0, 0.0], [0.2, 0.3, 0.5]], [[2.0, -1.0, 0.0], [0.2, 0.3, 0.5]]])],
    *[Row(f"metrics.{f.__name__}.n_bins", (lambda c, f=f: f(softmax(X), Y, n_bins=0)), "n_bins")
      for f in (metrics.ece, metrics.mce, metrics.adaptive_ece, metrics.classwise_ece, metrics.bin_stats)],
    *rows("metrics.nll", "logits", lambda c: metrics.nll(None, Y), lambda c: metrics.nll([[NAN, 0.0]], [0])),
    *rows("metrics.auroc.id_scores", "id_scores",
          lambda c: metrics.auroc([NAN, 1.0], [0.5]), lambda c: metrics.auroc([], [0.5]), lambda c: metrics.auroc("ab", [0.5]),
          lambda c: metrics.auroc([[1.0]], [0.5])),
    *rows("metrics.auroc.ood_scores", "ood_scores",
          lambda c: metrics.auroc([1.0], [INF]), lambda c: metrics.auroc([1.0], None)),
    # -- YoloProbs --
    *rows("YoloProbs.calibrator", "calibrator",
          lambda c: YoloProbs(MODEL, calibrator="x").predict(IMAGES / "digit_3.png"),
          lambda c: YoloProbs("missing.pt", calibrator=object()),  # checked before the model loads
          lambda c: YoloProbs(Constant(), calibrator=TemperatureScaling(2.0), temperature=1.5),
          lambda c: setattr(c.quick, "calibrator", "x")),
    *rows("YoloProbs.decisions", "decisions",
          lambda c: YoloProbs(Constant(), decisions="x"), lambda c: YoloProbs(Constant(), decisions=[5]),
          lambda c: YoloProbs(Constant(), decisions={"ood": {}})),
    *rows("YoloProbs.half", "half", lambda c: YoloProbs(Constant(), half="x")),
    *rows("YoloProbs.top_k", "top-k", lambda c: YoloProbs(Constant(), top_k=0), lambda c: setattr(c.quick, "top_k", "x")),
    *rows("YoloProbs.min_prob", "min_prob", lambda c: YoloProbs(Constant(), min_prob=NAN),
          lambda c: setattr(c.quick, "min_prob", 2.0)),
    *rows("YoloProbs.temperature", "temperature", lambda c: YoloProbs(Constant(), temperature=NAN),
          lambda c: setattr(c.quick, "temperature", "x")),
    *rows("YoloProbs.model", "model", lambda c: YoloProbs(None), lambda c: YoloProbs(5), lambda c: YoloProbs(c.tmp / "no.pt")),
    *rows("YoloProbs.batch", "batch", lambda c: YoloProbs(Constant(), batch=0)),
    *rows("YoloProbs.predict", "source", lambda c: c.quick.predict(None), lambda c: c.quick.predict(5.5),
          lambda c: c.quick.predict(np.full((8, 8, 3), NAN))),
    *rows("YoloProbs.from_profile.path", "profile", lambda c: YoloProbs.from_profile(None), lambda c: YoloProbs.from_profile(5)),
    *rows("YoloProbs.from_profile.missing", "profile", lambda c: YoloProbs.from_profile(c.tmp / "missing.yaml")),
    # -- calibrate / evaluate --
    *rows("calibrate.classifier", "classifier", lambda c: calibrate(None, c.data), lambda c: calibrate("x", c.data)),
    *rows("calibrate.data", "data", lambda c: calibrate(c.quick, 5), lambda c: calibrate(c.quick, None)),
    *rows("calibrate.split", "split", lambda c: calibrate(c.quick, c.data, split=5)),
    *rows("calibrate.method", "method", lambda c: calibrate(c.quick, c.data, method="x"),
          lambda c: calibrate(c.quick, c.data, method=["auto"])),
    *rows("calibrate.bins", "bins", lambda c: calibrate(c.quick, c.data, bins=0)),
    *rows("calibrate.decisions", "decisions", lambda c: calibrate(c.quick, c.data, decisions="x"),
          lambda c: calibrate(c.quick, c.data, decisions={"ood": 5}), lambda c: calibrate(c.quick, c.data, decisions={"x": {}})),
    *rows("calibrate.progress", "progress", lambda c: calibrate(c.quick, c.data, progress=5)),
    *rows("evaluate.classifier", "classifier", lambda c: evaluate(None, c.data)),
    *rows("evaluate.data", "data", lambda c: evaluate(c.quick, 5)),
    *rows("evaluate.split", "split", lambda c: evaluate(c.quick, c.data, split=None)),
    *rows("evaluate.bins", "bins", lambda c: evaluate(c.quick, c.data, bins="x")),
    *rows("evaluate.profile", "profile", lambda c: evaluate(c.quick, c.data, profile="x")),
    *rows("evaluate.options", "options", lambda c: evaluate(c.quick, c.data, options="x"),
          lambda c: evaluate(c.quick, c.data, options={"ood": 5})),
    *rows("evaluate.options.key", ("options", "ood"), lambda c: evaluate(c.quick, c.data, options={"ood": {"ood_data": "x"}})),
    *rows("collect_logits.model", "model", lambda c: collect_logits(None, c.data)),
    *rows("collect_logits.folder", "folder", lambda c: collect_logits(c.quick, 5), lambda c: collect_logits(c.quick, None)),
    *rows("collect_logits.split", "split", lambda c: collect_logits(c.quick, c.data, split=5)),
    # -- fits from arrays (yolo_probs.api.fit) --
    *rows("fit_calibration.logits", "logits", lambda c: fit_calibration(None, c.labels),
          lambda c: fit_calibration(np.full((60, 3), NAN), c.labels)),
    *rows("fit_calibration.labels", "labels", lambda c: fit_calibration(c.logits, ["a"] * 60),
          lambda c: fit_calibration(c.logits, c.labels[:10])),
    *rows("fit_calibration.features", "features", lambda c: fit_calibration(c.logits, c.labels, features=np.ones((5, 2))),
          lambda c: fit_calibration(c.logits, c.labels, features=np.full((60, 2), NAN))),
    *rows("fit_calibration.method", "method", lambda c: fit_calibration(c.logits, c.labels, method="x"),
          lambda c: fit_calibration(c.logits, c.labels, method=None)),
    *rows("fit_calibration.bins", "bins", lambda c: fit_calibration(c.logits, c.labels, bins=0)),
    *rows("fit_unknown.logits", "logits", lambda c: fit_unknown(None), lambda c: fit_unknown(np.full((60, 3), NAN)),
          lambda c: fit_unknown(np.ones(60), score="energy")),
    *rows("fit_unknown.labels", "labels", lambda c: fit_unknown(c.logits, c.labels[:5], score="energy")),
    *rows("fit_unknown.features", "features", lambda c: fit_unknown(c.logits, score="knn"),
          lambda c: fit_unknown(c.logits, features=np.ones((5, 4)))),
    *rows("fit_unknown.calibrator", "calibrator", lambda c: fit_unknown(c.logits, calibrator="x", score="energy"),
          lambda c: fit_unknown(c.logits, calibrator=NaNCalibrator(1.0), score="msp")),
    *rows("fit_unknown.tpr", "tpr", lambda c: fit_unknown(c.logits, score="energy", tpr=1.5)),
    *rows("fit_unknown.score", "score", lambda c: fit_unknown(c.logits, score="x")),
    *rows("fit_unknown.k", "k", lambda c: fit_unknown(c.logits, features=c.logits, k=0),
          lambda c: fit_unknown(c.logits, features=c.logits, k=60)),
    *rows("fit_sets.labels", "labels", lambda c: fit_sets(c.logits, None), lambda c: fit_sets(c.logits, np.full(60, 3))),
    *rows("fit_sets.calibrator", "calibrator", lambda c: fit_sets(c.logits, c.labels, calibrator=5),
          lambda c: fit_sets(c.logits, c.labels, calibrator=NaNCalibrator(1.0))),
    *rows("fit_sets.alpha", "alpha", lambda c: fit_sets(c.logits, c.labels, alpha=0.0),
          lambda c: fit_sets(c.logits, c.labels, alpha=0.001)),
    *rows("fit_sets.score", "score", lambda c: fit_sets(c.logits, c.labels, score="x")),
    *rows("fit_sets.seed", "seed", lambda c: fit_sets(c.logits, c.labels, randomized=True, seed=-1)),
    *rows("fit_sets.class_conditional", "class_conditional",
          lambda c: fit_sets(c.logits, c.labels, class_conditional="yes")),
    *rows("fit_reject.labels", "labels", lambda c: fit_reject(c.logits, [0.5] * 60)),
    *rows("fit_reject.calibrator", "calibrator", lambda c: fit_reject(c.logits, c.labels, calibrator=[1.0])),
    *rows("fit_reject.target_accuracy", "target_accuracy", lambda c: fit_reject(c.logits, c.labels, target_accuracy=NAN),
          lambda c: fit_reject(c.logits, c.labels, target_accuracy=0.999)),
    *rows("fit_reject.delta", "delta", lambda c: fit_reject(c.logits, c.labels, target_accuracy=0.5, delta=1.0)),
    *rows("profile_from_fits.calibration", "calibration", lambda c: profile_from_fits(MODEL, None),
          lambda c: profile_from_fits(MODEL, TemperatureScaling(1.0))),
    *rows("profile_from_fits.decisions", "decisions",
          lambda c: profile_from_fits(MODEL, fit_calibration(c.logits, c.labels), "ood"),
          lambda c: (lambda cal: profile_from_fits(MODEL, cal, fit_sets(c.logits, c.labels, calibrator=cal, alpha=0.2),
                                                   fit_sets(c.logits, c.labels, calibrator=cal, alpha=0.3)))(
              fit_calibration(c.logits, c.labels))),
    *rows("profile_from_fits.calibrator", "calibrator",
          lambda c: profile_from_fits(MODEL, fit_calibration(c.logits, c.labels), fit_sets(c.logits, c.labels, alpha=0.2))),
    *rows("profile_from_fits.model", "model", lambda c: profile_from_fits(5, fit_calibration(c.logits, c.labels))),
    *rows("profile_from_fits.name", "name", lambda c: profile_from_fits(MODEL, fit_calibration(c.logits, c.labels), name=5)),
    *rows("profile_from_fits.top_k", "top_k", lambda c: profile_from_fits(MODEL, fit_calibration(c.logits, c.labels), top_k=0)),
    *rows("profile_from_fits.data", "data", lambda c: profile_from_fits(MODEL, fit_calibration(c.logits, c.labels), data=5)),
    *rows("CalibrationResult.to_profile.model", "model", lambda c: c.fitted.to_profile(5)),
    *rows("CalibrationResult.to_profile.name", "name", lambda c: c.fitted.to_profile(MODEL, name=5)),
    *rows("CalibrationResult.to_profile.top_k", "top-k", lambda c: c.fitted.to_profile(MODEL, top_k=0)),
    # -- calibration (i24-profiles) --
    *rows("TemperatureScaling.temperature", "temperature",
          lambda c: TemperatureScaling(NAN), lambda c: TemperatureScaling("x"), lambda c: TemperatureScaling(0)),
    *rows("TemperatureScaling.probs", "logits",
          lambda c: TemperatureScaling(1.5).probs("abc"), lambda c: TemperatureScaling(1.5).probs([NAN, 1.0]),
          lambda c: TemperatureScaling(1.5).probs(None)),
    *rows("TemperatureScaling.log_probs", "logits",
          lambda c: TemperatureScaling(1.5).log_probs("abc"), lambda c: TemperatureScaling(1.5).log_probs([NAN, 1.0])),
    *rows("fit_temperature.logits", "logits",
          lambda c: fit_temperature(None, c.labels), lambda c: fit_temperature(np.full((60, 3), NAN), c.labels)),
    *rows("fit_temperature.labels", "labels", lambda c: fit_temperature(c.logits, ["a"] * 60)),
    *rows("fit_temperature.t_min", "t_min", lambda c: fit_temperature(c.logits, c.labels, t_min="x"),
          lambda c: fit_temperature(c.logits, c.labels, t_min=NAN)),
    *rows("fit_temperature.min_samples", "min_samples", lambda c: fit_temperature(c.logits, c.labels, min_samples="x")),
    *rows("fit_temperature.max_iter", "max_iter", lambda c: fit_temperature(c.logits, c.labels, max_iter=0)),
    *rows("fit_calibrator.method", "method",
          lambda c: fit_calibrator(["auto"], c.logits, c.labels), lambda c: fit_calibrator("x", c.logits, c.labels),
          lambda c: fit_calibrator(5, c.logits, c.labels)),
    *rows("fit_calibrator.logits", "logits", lambda c: fit_calibrator("vector", None, c.labels)),
    *rows("calibrator_from_dict", "method",
          lambda c: calibrator_from_dict({"method": ["vector"]}), lambda c: calibrator_from_dict({"method": "x"}),
          lambda c: calibrator_from_dict(None)),
    *rows("calibrator_from_dict.temperature", "temperature",
          lambda c: calibrator_from_dict({"method": "temperature", "temperature": "x"})),
    *rows("register_calibrator", "cls", lambda c: register_calibrator(5), lambda c: register_calibrator(None)),
    # -- profiles (i24-profiles) --
    *rows("Profile.model", "model", lambda c: Profile(model=5, temperature=1.0), lambda c: Profile(model=None, temperature=1.0)),
    *rows("Profile.temperature", "temperature", lambda c: Profile(model="m.pt", temperature=NAN)),
    *rows("Profile.top_k", "top_k", lambda c: Profile(model="m.pt", temperature=1.0, top_k=0)),
    *rows("Profile.min_prob", "min_prob", lambda c: Profile(model="m.pt", temperature=1.0, min_prob=NAN)),
    *rows("load_profile.path", "path", lambda c: load_profile(5), lambda c: load_profile(None)),
    *rows("load_profile.missing", ("path", "profile"), lambda c: load_profile(c.tmp / "missing.yaml"),
          lambda c: load_profile(c.tmp)),
    *rows("save_profile.folder", ("path", "output"), lambda c: save_profile(c.profile, c.tmp)),
    *rows("save_profile.path", "path", lambda c: save_profile(c.profile, 5)),
    *rows("save_profile.profile", "profile", lambda c: save_profile("x", c.tmp / "p.yaml"),
          lambda c: save_profile(None, c.tmp / "p.yaml")),
    # -- decisions (i24-profiles) --
    *rows("fit_conformal.labels", "labels",
          lambda c: conformal.fit_conformal(c.probs, np.full(60, 3), 0.1),
          lambda c: conformal.fit_conformal(c.probs, np.full(60, -1), 0.1),
          lambda c: conformal.fit_conformal(c.probs, ["a"] * 60, 0.1)),
    *rows("fit_conformal.probs", "probs",
          lambda c: conformal.fit_conformal(np.full((60, 3), NAN), c.labels, 0.1),
          lambda c: conformal.fit_conformal(None, c.labels, 0.1)),
    *rows("fit_conformal.alpha", "alpha", lambda c: conformal.fit_conformal(c.probs, c.labels, 2.0),
          lambda c: conformal.fit_conformal(c.probs, c.labels, NAN)),
    *rows("fit_conformal.penalty", "penalty", lambda c: conformal.fit_conformal(c.probs, c.labels, 0.1, penalty="x")),
    *rows("fit_conformal.k_reg", "k_reg", lambda c: conformal.fit_conformal(c.probs, c.labels, 0.1, k_reg="x")),
    *rows("fit_conformal.score", "score", lambda c: conformal.fit_conformal(c.probs, c.labels, 0.1, score="x")),
    *rows("fit_ood.calibrator", "calibrator", lambda c: ood.fit_ood(c.logits, None, score="energy")),
    *rows("fit_ood.logits", "logits",
          lambda c: ood.fit_ood(np.full((60, 3), NAN), TemperatureScaling(1.0), score="energy"),
          lambda c: ood.fit_ood(None, TemperatureScaling(1.0), score="energy")),
    *rows("fit_ood.features", "features",
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), features=np.ones((10, 4))),
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), features=np.full((60, 4), NAN))),
    *rows("fit_ood.k", "k", lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), features=np.ones((60, 4)), k=0)),
    *rows("fit_ood.tpr", "tpr", lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), score="energy", tpr=2.0)),
    *rows("fit_ood.layer", "layer",
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), score="vim", features=np.ones((60, 8)), layer="abc"),
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), score="vim", features=np.ones((60, 8)),
                                layer=(np.ones((3, 5)), np.zeros(3))),
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), score="vim", features=np.ones((60, 8)),
                                layer=(np.full((3, 8), NAN), np.zeros(3)))),
    *rows("fit_ood.options", "options",
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), score="gen", options={"m": -1}),
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), score="gen", options={"bogus": 1}),
          lambda c: ood.fit_ood(c.logits, TemperatureScaling(1.0), score="energy", options="abc")),
    *rows("ood.auroc", "id_scores", lambda c: ood.auroc([NAN, 1.0], [0.5])),
    *rows("choose_min_prob.conf", "conf",
          lambda c: selective.choose_min_prob(np.full(60, NAN), np.ones(60, bool), 0.9),
          lambda c: selective.choose_min_prob(None, np.ones(60, bool), 0.9)),
    *rows("choose_min_prob.target_accuracy", "target_accuracy",
          lambda c: selective.choose_min_prob(np.ones(60), np.ones(60, bool), 2.0),
          lambda c: selective.choose_min_prob(np.ones(60), np.ones(60, bool), NAN)),
    # -- surfaces (i24-surfaces) --
    *rows("attach.model", "model", lambda c: attach(None), lambda c: attach("model.pt"), lambda c: attach(5)),
    *rows("detach.model", "model", lambda c: detach(None)),
    *rows("export_folded.model", "model", lambda c: export_folded(5, output=c.tmp / "m.onnx")),
    *rows("export_folded.output", "output", lambda c: export_folded(MODEL, output=None)),
    *rows("OverlayDrawer.draw.frame", "frame", lambda c: OverlayDrawer().draw(None, c.pred),
          lambda c: OverlayDrawer().draw("x", c.pred)),
    *rows("OverlayDrawer.draw.prediction", "prediction", lambda c: OverlayDrawer().draw(c.frame, None)),
    *rows("OverlayDrawer.min_prob", "min_prob", lambda c: OverlayDrawer(min_prob=2.0)),
    *rows("write_soft_labels.model", "model", lambda c: write_soft_labels(None, c.data, c.tmp / "s.jsonl")),
    *rows("read_soft_labels.path", ("path", "bad.parquet", "bad.jsonl", "missing.parquet"),
          lambda c: read_soft_labels(_corrupt(c.tmp / "bad.parquet")), lambda c: read_soft_labels(_corrupt(c.tmp / "bad.jsonl")),
          lambda c: read_soft_labels(c.tmp / "missing.parquet")),
    *rows("read_records.path", ("path", "missing.parquet", "bad2.parquet"), lambda c: read_records(c.tmp / "missing.parquet"),
          lambda c: read_records(_corrupt(c.tmp / "bad2.parquet"))),
    *rows("distill.data", "data",
          lambda c: distill(5, teacher=MODEL, student="yolo26n-cls.yaml", output=c.tmp / "s.pt", temperature=2.0)),
    *rows("ray.plan_actors", "cpus", lambda c: yp_ray.plan_actors("x"), lambda c: yp_ray.plan_actors(NAN)),
    *rows("ray.check_address", "address", lambda c: yp_ray.check_address(5)),
    *rows("register_backend", "factory", lambda c: register_backend(5, first=True)),
    # -- backends and preprocessing --
    *rows("BackendOptions.half", "half", lambda c: BackendOptions(half="x")),
    *rows("BackendOptions.layer", "layer", lambda c: BackendOptions(layer=5)),
    *rows("BackendOptions.engine", "engine", lambda c: BackendOptions(engine=["onnxruntime"])),
    *rows("BackendOptions.device", "device", lambda c: BackendOptions(device=[0])),
    *rows("BackendOptions.imgsz", "imgsz", lambda c: BackendOptions(imgsz=0)),
    *rows("Preprocess.size", "size", lambda c: Preprocess(size="x"), lambda c: Preprocess(size=0)),
]
# fmt: on


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"\x00not a file of this kind\xff{")
    return path


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in ROWS])
def test_a_bad_argument_is_a_yolo_probs_error_that_names_it(row: Row, ctx: Ctx, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # anything written by mistake lands here
    with pytest.raises(YoloProbsError) as caught:
        row.call(ctx)
    err = caught.value
    message = str(err)
    assert message and "\n" not in message.strip(), f"not one line: {message!r}"
    names = (row.name,) if isinstance(row.name, str) else row.name
    said = {message.lower().replace("-", "_"), str(err.option).lower().replace("-", "_")}
    assert any(n.lower().replace("-", "_") in text for n in names for text in said), (
        f"{row.id}: the message does not name {row.name!r}: {message!r} (option={err.option!r})"
    )


#: Public callables that take no argument a user could get wrong in a way worth a row, with why.
NO_ROW = {
    "Backend": "a Protocol, never called",
    "BackendOutput": "a result a backend returns; YoloProbs checks its logits (NaN rows are failures)",
    "CalibrationResult": "a result made by calibrate(); its to_profile has rows",
    "CalibratorFit": "a result made by fit_calibration()",
    "CollectedLogits": "a result made by collect_logits()",
    "DecisionFit": "a result base class (UnknownFit, SetsFit, RejectFit)",
    "UnknownFit": "a result made by fit_unknown()",
    "SetsFit": "a result made by fit_sets()",
    "RejectFit": "a result made by fit_reject()",
    "EvaluationResult": "a result made by evaluate()",
    "Calibrator": "an abstract base class; TemperatureScaling has rows",
    "InputFailure": "a result made for a bad input",
    "MonitorReport": "a result made by Monitor.report()",
    "TopClass": "a NamedTuple result of top_k",
    "ConfigError": "an error class",
    "ModelError": "an error class",
    "OutputError": "an error class",
    "SourceError": "an error class",
    "YoloProbsError": "an error class",
}


def test_every_public_callable_has_a_row() -> None:
    public = {n for n in yolo_probs.__all__ if callable(getattr(yolo_probs, n))}
    covered = {r.id.split(".")[0].split("#")[0] for r in ROWS}
    missing = sorted(public - covered - set(NO_ROW))
    assert not missing, f"public callables without a row in ROWS (or a reason in NO_ROW): {missing}"
    assert not set(NO_ROW) - public


# -- the generic sweep -----------------------------------------------------------------------------------------

HOSTILE: list[Any] = [None, "abc", NAN, [], -1, {}, object()]


def _has_nan(value: Any, depth: int = 0) -> bool:
    """Whether a result holds NaN anywhere a user would read it (floats, arrays, containers, dataclasses)."""
    if depth > 4:
        return False
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fc" and bool(np.isnan(value).any())
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and bool(torch.isnan(value).any())
    if isinstance(value, dict):
        return any(_has_nan(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nan(v, depth + 1) for v in value[:50])
    if is_dataclass(value) and not isinstance(value, type):
        return any(_has_nan(getattr(value, f.name), depth + 1) for f in fields(value))
    return False


@dataclass(frozen=True)
class Sweep:
    """A cheap public function and valid arguments for it (a function of the context)."""

    id: str
    fn: Callable[..., Any]
    args: Callable[[Ctx], dict[str, Any]]


def _quick_profile(c: Ctx) -> Path:
    path = c.tmp / "sweep-profile.yaml"
    if not path.exists():
        save_profile(Profile(model=str(MODEL), temperature=1.5), path)
    return path


# fmt: off
SWEEP: list[Sweep] = [
    Sweep("softmax", softmax, lambda c: {"logits": X, "temperature": 1.5, "axis": -1}),
    Sweep("log_softmax", log_softmax, lambda c: {"logits": X, "temperature": 1.5, "axis": -1}),
    Sweep("top_k", top_k, lambda c: {"probs": P, "k": 2, "min_prob": 0.1, "names": ["a", "b", "c"]}),
    Sweep("Prediction.from_logits", Prediction.from_logits, lambda c: {
        "logits": [2.0, 0.5], "names": ("a", "b"), "temperature": 1.5, "top_k": 1, "min_prob": 0.1, "source": "x",
        "frame": 3, "logits_source": "hook", "calibrator": TemperatureScaling(2.0), "features": np.ones(4)}),
    Sweep("Prediction", Prediction, lambda c: {
        "source": "x", "logits": np.array([2.0, 0.5]), "probs": softmax(np.array([2.0, 0.5])), "temperature": 1.0,
        "names": ("a", "b"), "frame": 0, "top_k": 2, "min_prob": 0.1, "logits_source": "hook"}),
    Sweep("Prediction.with_temperature", lambda **kw: Prediction.from_logits([2.0, 0.5], ("a", "b")).with_temperature(**kw),
          lambda c: {"temperature": 2.0, "top_k": 1, "min_prob": 0.2}),
    Sweep("evaluate_logits", evaluate_logits, lambda c: {
        "logits": c.logits, "labels": c.labels, "temperature": 1.5, "n_bins": 10, "calibrator": TemperatureScaling(1.2)}),
    *[Sweep(f"metrics.{f.__name__}", f, lambda c: {"probs": c.probs, "labels": c.labels, "n_bins": 10})
      for f in (metrics.ece, metrics.mce, metrics.adaptive_ece, metrics.classwise_ece, metrics.bin_stats)],
    *[Sweep(f"metrics.{f.__name__}", f, lambda c: {"probs": c.probs, "labels": c.labels})
      for f in (metrics.accuracy, metrics.brier_score)],
    Sweep("metrics.nll", metrics.nll, lambda c: {"logits": c.logits, "labels": c.labels, "temperature": 1.5}),
    Sweep("metrics.auroc", metrics.auroc, lambda c: {"id_scores": [0.9, 0.8], "ood_scores": [0.1, 0.85]}),
    Sweep("YoloProbs", YoloProbs, lambda c: {
        "model": Constant(), "temperature": 1.5, "top_k": 1, "min_prob": 0.1, "batch": 2, "half": False,
        "decisions": []}),
    Sweep("YoloProbs.predict", lambda **kw: YoloProbs(Constant()).predict(**kw), lambda c: {"source": c.frame}),
    Sweep("calibrate", calibrate, lambda c: {
        "classifier": c.quick, "data": c.data, "split": "val", "method": "temperature", "bins": 10, "decisions": {},
        "progress": None}),
    Sweep("evaluate", evaluate, lambda c: {
        "classifier": c.quick, "data": c.data, "split": "test", "bins": 10, "profile": None, "options": None,
        "progress": None}),
    Sweep("TemperatureScaling", TemperatureScaling, lambda c: {"temperature": 1.5}),
    Sweep("TemperatureScaling.probs", lambda **kw: TemperatureScaling(1.5).probs(**kw), lambda c: {"logits": X}),
    Sweep("TemperatureScaling.log_probs", lambda **kw: TemperatureScaling(1.5).log_probs(**kw), lambda c: {"logits": X}),
    Sweep("fit_temperature", fit_temperature, lambda c: {
        "logits": c.logits, "labels": c.labels, "t_min": 0.01, "t_max": 100.0, "min_samples": 10, "rtol": 1e-7,
        "max_iter": 100}),
    Sweep("fit_calibrator", fit_calibrator, lambda c: {"method": "temperature", "logits": c.logits, "labels": c.labels}),
    Sweep("calibrator_from_dict", calibrator_from_dict, lambda c: {"data": {"method": "temperature", "temperature": 1.5}}),
    Sweep("fit_calibration", fit_calibration, lambda c: {
        "logits": c.logits, "labels": c.labels, "features": None, "method": "temperature", "bins": 10}),
    Sweep("fit_unknown", fit_unknown, lambda c: {
        "logits": c.logits, "labels": c.labels, "features": None, "calibrator": TemperatureScaling(1.2), "tpr": 0.9,
        "score": "energy", "k": 1}),
    Sweep("fit_sets", fit_sets, lambda c: {
        "logits": c.logits, "labels": c.labels, "features": None, "calibrator": None, "alpha": 0.2, "score": "raps",
        "randomized": False, "penalty": 0.1, "k_reg": 1, "seed": 0}),
    Sweep("fit_reject", fit_reject, lambda c: {
        "logits": np.tile(c.logits, (10, 1)), "labels": np.tile(c.labels, 10), "features": None, "calibrator": None,
        "target_accuracy": 0.6, "delta": 0.1}),
    Sweep("fit_conformal", conformal.fit_conformal, lambda c: {
        "probs": c.probs, "labels": c.labels, "alpha": 0.1, "score": "raps", "penalty": 0.1, "k_reg": 1,
        "randomized": False, "class_conditional": False, "seed": 0}),
    Sweep("fit_ood", ood.fit_ood, lambda c: {
        "logits": c.logits, "calibrator": TemperatureScaling(1.0), "score": "energy", "tpr": 0.9, "k": 1, "features": None,
        "max_bank": 100, "seed": 0, "layer": None, "options": None}),
    Sweep("fit_ood.vim", ood.fit_ood, lambda c: {
        "logits": c.logits, "calibrator": TemperatureScaling(1.0), "score": "vim", "tpr": 0.9, "k": 1,
        "features": np.random.default_rng(1).normal(size=(60, 8)), "max_bank": 100, "seed": 0,
        "layer": (np.random.default_rng(2).normal(size=(3, 8)), np.zeros(3)), "options": {"dim": 4}}),
    Sweep("ood.auroc", ood.auroc, lambda c: {"id_scores": [0.9, 0.8], "ood_scores_": [0.1, 0.85]}),
    Sweep("choose_min_prob", selective.choose_min_prob, lambda c: {
        "conf": np.linspace(0.5, 1, 600), "correct": np.arange(600) % 10 != 0, "target_accuracy": 0.7, "delta": 0.1}),
    Sweep("Profile", Profile, lambda c: {
        "model": str(MODEL), "temperature": 1.5, "name": "x", "top_k": 3, "min_prob": 0.1, "imgsz": 32}),
    Sweep("load_profile", load_profile, lambda c: {"path": _quick_profile(c), "check_model": False}),
    Sweep("save_profile", save_profile, lambda c: {"profile": c.profile, "path": c.tmp / "saved.yaml"}),
    Sweep("ray.plan_actors", yp_ray.plan_actors, lambda c: {"cpus": 4.0, "reserve": 0.1, "batch_size": 8}),
    Sweep("OverlayDrawer", OverlayDrawer, lambda c: {"min_prob": 0.2, "alpha": 0.5, "name_chars": 8}),
    Sweep("OverlayDrawer.draw", lambda **kw: OverlayDrawer().draw(**kw), lambda c: {
        "frame": c.frame.copy(), "prediction": c.pred, "fps": 10.0}),
]
# fmt: on


@pytest.mark.parametrize("sweep", [pytest.param(s, id=s.id) for s in SWEEP])
def test_hostile_values_in_every_argument(sweep: Sweep, ctx: Ctx, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    base = sweep.args(ctx)
    sweep.fn(**base)  # the valid call works
    escaped = []
    for name in base:
        for value in HOSTILE:
            try:
                result = sweep.fn(**{**sweep.args(ctx), name: value})
            except YoloProbsError:
                continue
            except Exception as exc:
                escaped.append(f"{name}={value!r}: {type(exc).__name__}: {str(exc)[:100]}")
                continue
            if _has_nan(result):
                escaped.append(f"{name}={value!r}: returned NaN")
    assert not escaped, f"{sweep.id}: " + "; ".join(escaped)


def test_the_sweep_passes_every_parameter_of_its_functions(ctx: Ctx) -> None:
    """A sweep names every parameter of a plain function, so a new parameter is swept too."""
    for sweep in SWEEP:
        if getattr(sweep.fn, "__name__", "") == "<lambda>" or inspect.isclass(sweep.fn):
            continue
        params = inspect.signature(sweep.fn).parameters
        plain = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        skipped = {"names", "class_conditional", "protect", "on_item", "name"}  # covered by rows, or not a value
        assert plain - set(sweep.args(ctx)) - skipped == set(), sweep.id


# -- hypothesis: NaN and inf at random places of random arrays ----------------------------------------------

finite = st.floats(-50, 50, allow_nan=False)
poison = st.sampled_from([NAN, INF])


@settings(max_examples=150, deadline=None)
@given(
    x=arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 8)), elements=finite),
    bad=poison,
    where=st.tuples(st.integers(0, 100), st.integers(0, 100)),
    fn=st.sampled_from([softmax, log_softmax, lambda x: TemperatureScaling(1.3).probs(x)]),
)
def test_a_poisoned_entry_is_refused_never_nan(x: np.ndarray, bad: float, where: tuple[int, int], fn: Any) -> None:
    x = x.copy()
    x[where[0] % x.shape[0], where[1] % x.shape[1]] = bad
    with pytest.raises(YoloProbsError, match="logits"):
        fn(x)


@settings(max_examples=100, deadline=None)
@given(
    x=arrays(np.float64, st.tuples(st.integers(2, 30), st.integers(2, 6)), elements=finite),
    bad=poison,
    row=st.integers(0, 100),
    fn=st.sampled_from([metrics.ece, metrics.classwise_ece, metrics.brier_score, metrics.accuracy]),
)
def test_metrics_refuse_a_poisoned_probability(x: np.ndarray, bad: float, row: int, fn: Any) -> None:
    p = softmax(x)
    p[row % p.shape[0], 0] = bad
    labels = np.arange(p.shape[0]) % p.shape[1]
    with pytest.raises(YoloProbsError, match="probs"):
        fn(p, labels)


def test_sweep_helpers_see_nan() -> None:
    assert _has_nan({"a": [1.0, SimpleNamespace()], "b": (np.array([NAN]),)})
    assert not _has_nan({"a": [1.0, "x"], "b": np.arange(3)})
