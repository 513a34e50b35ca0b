"""The detection path of ``yolo-probs calibrate`` and ``evaluate``: DATA is an Ultralytics data YAML.

``calibrate DATA.yaml -m det.pt -o profile.yaml`` fits a box-confidence calibrator on the ``val`` split
and writes a profile holding it (``box_calibrator``) with the model's sha256; ``evaluate DATA.yaml
--profile profile.yaml`` scores it on ``test``. Both print D-ECE, LaECE, mAP50 and the log loss before
(the model's ``conf``) and after (``conf_calibrated``); ``evaluate -f json`` prints them as
``before.ece`` / ``after.ece`` ... with the counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from yolo_probs._util.console import error, note, warn, wrote
from yolo_probs.api.box_workflow import BoxCalibrationResult, calibrate_boxes, evaluate_boxes
from yolo_probs.api.model import YoloProbs
from yolo_probs.api.profile import save_profile
from yolo_probs.calibration.box_base import BOX_CALIBRATORS, BoxCalibrator
from yolo_probs.calibration.box_temperature import BoxTemperature
from yolo_probs.core.boxes import TASKS
from yolo_probs.inputs.detection_data import load_detection_data

__all__ = ["BOX_METHODS", "calibrate_detector", "evaluate_detector"]

#: ``--method`` values the detection path takes.
BOX_METHODS = ("auto", *BOX_CALIBRATORS)
_MAX_LISTED = 10


def _need_detector(model: YoloProbs, data: str) -> None:
    if model.task not in TASKS:
        raise typer.BadParameter(
            f"{data} is a detection data YAML but the model is a {model.task!r} model; pass a detection model, or "
            "a folder of class folders for a classifier",
            param_hint="DATA",
        )


def _report(result: BoxCalibrationResult, title: str) -> None:
    for line in result.collected.failures[:_MAX_LISTED]:
        error(f"skipped {line}")
    if len(result.collected.failures) > _MAX_LISTED:
        warn(f"{len(result.collected.failures) - _MAX_LISTED} more skipped images are not listed")
    for line in result.warnings:
        warn(line)
    counts = result.collected.counts()
    print(f"{title}: {counts['images']} images ({counts['negatives']} without objects), {counts['boxes']} boxes kept, "
          f"{counts['correct']} correct of {counts['ground_truth']} labelled")  # fmt: skip
    print(f"{'metric':<22}{'before':>10}{'after (' + result.calibrator.method + ')':>24}")
    for label, key in ((f"D-ECE ({result.bins} bins)", "ece"), (f"LaECE ({result.bins} bins)", "laece"),
                       ("mAP50 (kept boxes)", "map50"), ("log loss (correct?)", "nll"),
                       ("mean confidence", "mean_conf"), ("precision", "precision")):  # fmt: skip
        print(f"{label:<22}{result.before[key]:>10.4f}{result.after[key]:>24.4f}")
    if result.details.get("candidates"):
        se = result.details.get("standard_errors", {})
        tried = ", ".join(f"{m} {v:.4f} ± {se.get(m, 0.0):.4f}" for m, v in result.details["candidates"].items())
        chosen = result.details["chosen"]
        kept = " (the model's own conf: T = 1)" if chosen == "none" else ""
        note(f"auto chose {chosen}{kept}: the simplest within one standard error of the best 5-fold "
             f"cross-validated log loss ({tried})")  # fmt: skip


def calibrate_detector(
    data: str, output: Path, model_path: str, kwargs: dict[str, Any], *, split: str, method: str, bins: int, name: str
) -> None:
    """Fit the box calibrator ``method`` on ``split`` of ``data`` and write the profile ``output``."""
    if method not in BOX_METHODS:
        raise typer.BadParameter(
            f"{method!r} calibrates classifiers; for boxes choose one of {', '.join(BOX_METHODS)}",
            param_hint="--method",
        )
    with YoloProbs(model_path, **kwargs) as det:
        _need_detector(det, data)
        loaded = load_detection_data(data, det.names, split)
        result = calibrate_boxes(det, loaded, method=method, bins=bins)
    _report(result, f"calibrated on {data} ({split})")
    note(f"box calibrator: {result.calibrator!r}")
    save_profile(result.to_profile(model_path, name=name, imgsz=kwargs.get("imgsz")), output)
    wrote(output, detail="deployment profile with a box calibrator")
    if result.collected.failures:
        raise typer.Exit(1)


def evaluate_detector(det: YoloProbs, data: str, *, split: str, bins: int, temperature: float | None, fmt: str) -> None:
    """Score ``det``'s box calibrator (its profile's, or ``--temperature``, or none) on ``split`` of ``data``."""
    _need_detector(det, data)
    calibrator: BoxCalibrator | None = BoxTemperature(temperature) if temperature is not None else det.box_calibrator
    if calibrator is None:
        warn("no box calibrator (pass --profile with one, or --temperature T): 'after' equals 'before'")
        calibrator = BoxTemperature(1.0)
    loaded = load_detection_data(data, det.names, split)
    result = evaluate_boxes(det, loaded, calibrator, split=split, bins=bins)
    if fmt == "json":
        for line in result.collected.failures[:_MAX_LISTED]:
            error(f"skipped {line}")
        for line in result.warnings:
            warn(line)
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _report(result, f"evaluated on {data} ({split})")
    if result.collected.failures:
        raise typer.Exit(1)
