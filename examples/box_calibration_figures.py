"""D-ECE, LaECE and mAP50 before and after each box calibrator, with and without a shift.

Fitted on ``val``, scored on ``test`` (other background photos: shifted); and fitted on the even images
of ``val``, scored on its odd images (no shift).

The detector runs once per split (its default ``conf`` 0.25: the boxes ``predict`` returns); every
method is fitted on the same ``val`` boxes and scored on the same ``test`` boxes, so the rows compare.
Prints a Markdown table (the one in docs/boxes.md).

Usage:
    python examples/make_detection_data.py        # runs/digits-det (400/150/150 images)
    python examples/box_calibration_figures.py    # about a minute on 2 cores

Example:
    >>> from examples.box_calibration_figures import figures  # doctest: +SKIP
    >>> rows = figures("runs/digits-det/data.yaml")            # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHIPPED_MODEL = HERE / "models" / "digits-yolo26n-det.pt"
DEFAULT_DATA = HERE.parent / "runs" / "digits-det" / "data.yaml"


def figures(data: str | Path, model: str | Path = SHIPPED_MODEL, imgsz: int = 256) -> list[dict[str, object]]:
    """One row per method (and one for the model's own ``conf``): test-split metrics and the fitted parameters."""
    from yolo_probs import YoloProbs
    from yolo_probs.api.box_workflow import collect_boxes, metrics_of
    from yolo_probs.calibration.box_base import BOX_CALIBRATORS, fit_box_calibrator
    from yolo_probs.inputs.detection_data import load_detection_data

    with YoloProbs(model, imgsz=imgsz, device="cpu", batch=16) as det:
        val = collect_boxes(det, load_detection_data(data, det.names, "val"))
        test = collect_boxes(det, load_detection_data(data, det.names, "test"))
    images = np.arange(len(val.data.files))
    half_a, half_b = val.subset(images[::2]), val.subset(images[1::2])  # no shift: fit on one half, score the other
    rows: list[dict[str, object]] = []
    for t, fit, where in ((test, val, "test (shifted)"), (half_b, half_a, "val half B (no shift)")):
        rows.append({"where": where, "method": "none (model conf)",
                     **metrics_of(t.features.conf, t.cls, t.tp, t.iou, t.gt_cls)})  # fmt: skip
        for method in ("auto", *BOX_CALIBRATORS):
            cal, details = fit_box_calibrator(method, fit.features, fit.tp)
            name = f"auto ({details['chosen']})" if method == "auto" else method
            rows.append({"where": where, "method": name, "fitted": repr(cal),
                         **metrics_of(cal.conf(t.features), t.cls, t.tp, t.iou, t.gt_cls)})  # fmt: skip
    for label, c in (("val", val), ("val half A", half_a), ("val half B", half_b), ("test", test)):
        print(f"{label}: {c.counts()}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--imgsz", type=int, default=256)
    args = parser.parse_args()
    rows = figures(args.data, args.model, args.imgsz)
    print("| scored on | method | D-ECE | LaECE | mAP50 | log loss | mean conf | precision |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['where']} | {r['method']} | {r['ece']:.4f} | {r['laece']:.4f} | {r['map50']:.4f} | {r['nll']:.4f} "
              f"| {r['mean_conf']:.4f} | {r['precision']:.4f} |")  # fmt: skip
    for r in rows:
        if "fitted" in r:
            print(f"{r['where']}: {r['method']}: {r['fitted']}")


if __name__ == "__main__":
    main()
