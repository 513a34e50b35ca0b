"""Compare the unknown-input scores on the digits model: which one tells digits from photos best?

Collects logits and final-layer features of the digits ``val`` split (calibration), the ``test`` split
(in-distribution) and a folder of unknowns (``examples/make_unknowns.py``), fits the temperature on
``val``, and prints AUROC and FPR at 95% TPR for every score of :mod:`yolo_probs.decisions.ood` (the
k-NN bank is the ``val`` features, as ``yolo-probs calibrate`` builds it).

Usage:
    python examples/train_digits.py --dataset-only && python examples/make_unknowns.py
    python examples/ood_study.py [--unknowns DIR] [--k 1 5 10 50]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def collect(clf, files: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Logits and features of ``files`` (all readable)."""
    preds = list(clf.predict_each(files, features=True))
    return np.stack([p.logits for p in preds]), np.stack([p.features for p in preds])


def main() -> None:
    from yolo_probs import YoloProbs
    from yolo_probs.calibration import TemperatureScaling, fit_temperature
    from yolo_probs.decisions.ood import OOD_SCORES, auroc, fit_ood, fpr_at_tpr, knn_scores, ood_scores
    from yolo_probs.inputs.labelled import load_labelled_folder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "digits")
    parser.add_argument("--unknowns", type=Path, default=HERE / "data" / "unknowns")
    parser.add_argument("--model", type=Path, default=HERE / "models" / "digits-yolo26n-cls.pt")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 10, 50])
    args = parser.parse_args()

    with YoloProbs(args.model, batch=32, device="cpu") as clf:
        val = load_labelled_folder(args.data, clf.names, "val")
        test = load_labelled_folder(args.data, clf.names, "test")
        unknown_files = sorted(str(p) for p in args.unknowns.iterdir() if p.suffix == ".png")
        zv, fv = collect(clf, val.files)
        zt, ft = collect(clf, test.files)
        zu, fu = collect(clf, unknown_files)
    cal = TemperatureScaling(fit_temperature(zv, val.labels))
    print(f"T = {cal.temperature:.4g}; val {len(zv)}, test {len(zt)}, unknowns {len(zu)}; features {fv.shape[1]}-d")
    print(f"{'score':<12}{'AUROC':>8}{'FPR95':>8}{'FPR@thr':>9}{'TPR@thr':>9}")
    rows = []
    for score in OOD_SCORES:
        ks = args.k if score == "knn" else [None]
        for k in ks:
            fit = fit_ood(zv, cal, score=score, tpr=0.95, features=fv, k=k or 5)
            if score == "knn":
                bank = fit.bank.astype(np.float32)
                st, su = knn_scores(ft, bank, k), knn_scores(fu, bank, k)
            else:
                t = cal.temperature
                st = ood_scores(score, zt, probs=cal.probs(zt), temperature=t)
                su = ood_scores(score, zu, probs=cal.probs(zu), temperature=t)
            thr = fit.entry["threshold"]
            name = f"knn k={k}" if k else score
            rows.append((name, auroc(st, su), fpr_at_tpr(st, su), float(np.mean(su >= thr)), float(np.mean(st >= thr))))
    for name, a, f95, fpr, tpr in rows:
        print(f"{name:<12}{a:8.4f}{f95:8.2%}{fpr:9.2%}{tpr:9.2%}")


if __name__ == "__main__":
    main()
