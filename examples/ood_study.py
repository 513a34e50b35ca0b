"""Which unknown-input score holds up across models? AUROC and FPR95 per score on three model/unknown pairs.

The pairs (``examples/ood_study_data.py`` builds the two extra datasets and models, on the CPU):

- ``far``: the shipped digits model; unknowns are photo crops (``examples/make_unknowns.py``).
- ``near``: a digits model trained on classes 0-6 only; unknowns are the test images of 7, 8 and 9.
- ``photos``: a model trained on crops of eight photos/textures (test crops from another part of each
  photo than its calibration crops); unknowns are the digits' test images.

For each pair the script collects logits, the features entering the final layer and the final layer's
weights (cached in ``runs/ood-study/<pair>.npz``), fits the temperature and every score on the ``val``
split (as ``yolo-probs calibrate`` does), and measures on the ``test`` split against half of the
unknowns: AUROC, FPR at 95% TPR, and the TPR of the fitted threshold. The other half of the unknowns is
what ``--ood-score auto`` chooses on (its pick is the ``auto`` row); the default score is the one with
the best worst-case FPR95 over the pairs.

Usage:
    python examples/train_digits.py --dataset-only && python examples/make_unknowns.py
    python examples/ood_study_data.py          # about 8 minutes on 2 cores
    python examples/ood_study.py [--pairs far near photos] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
STUDY = ROOT / "runs" / "ood-study"
HELD_OUT = ("7", "8", "9")


def pairs() -> dict[str, dict[str, Any]]:
    """Each pair's model, in-distribution data folder and unknown images (a folder, or a data split + classes)."""
    return {
        "far": {"model": HERE / "models" / "digits-yolo26n-cls.pt", "data": HERE / "data" / "digits",
                "unknowns": sorted((HERE / "data" / "unknowns").glob("*.png"))},
        "near": {"model": STUDY / "near-yolo26n-cls.pt", "data": STUDY / "near",
                 "unknowns": sorted(p for c in HELD_OUT for p in (STUDY / "digits" / "test" / c).glob("*.png"))},
        "photos": {"model": STUDY / "photos-yolo26n-cls.pt", "data": STUDY / "photos",
                   "unknowns": sorted((STUDY / "digits" / "test").rglob("*.png"))},
    }  # fmt: skip


def collect(name: str, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Logits, features and labels of val/test, the unknowns' logits and features, the final layer (cached)."""
    cache = STUDY / f"{name}.npz"
    if cache.is_file():
        return dict(np.load(cache))
    from yolo_probs import YoloProbs
    from yolo_probs.inputs.labelled import load_labelled_folder

    out: dict[str, np.ndarray] = {}
    with YoloProbs(spec["model"], batch=32, device="cpu") as clf:
        for split in ("val", "test"):
            folder = load_labelled_folder(spec["data"], clf.names, split)
            preds = list(clf.predict_each(folder.files, features=True))
            out[f"z_{split}"] = np.stack([p.logits for p in preds])
            out[f"f_{split}"] = np.stack([p.features for p in preds])
            out[f"y_{split}"] = np.asarray(folder.labels)
        preds = list(clf.predict_each([str(p) for p in spec["unknowns"]], features=True))
        out["z_unknown"], out["f_unknown"] = np.stack([p.logits for p in preds]), np.stack([p.features for p in preds])
        out["weight"], out["bias"] = clf.backend.final_layer()
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def study(d: dict[str, np.ndarray], seed: int = 0) -> list[tuple[str, float, float, float]]:
    """``(score, AUROC, FPR95, TPR at the fitted threshold)`` for every candidate and auto's pick."""
    from yolo_probs.calibration import TemperatureScaling, fit_temperature
    from yolo_probs.decisions.ood import BUILTIN_SCORES, auroc, fit_ood, fit_ood_auto, fpr_at_tpr, ood_scores
    from yolo_probs.decisions.ood_auto import candidates

    cal = TemperatureScaling(fit_temperature(d["z_val"], d["y_val"]))
    layer = (d["weight"], d["bias"])
    half = np.random.default_rng(seed).permutation(len(d["z_unknown"])) % 2 == 0  # auto's examples / the test set
    zu, fu = d["z_unknown"][~half], d["f_unknown"][~half]

    def measure(found: Any) -> tuple[float, float, float]:
        e = found.entry
        bank = None if found.bank is None else found.bank.astype(np.float32)

        def score(z: np.ndarray, f: np.ndarray) -> np.ndarray:
            return ood_scores(e["score"], z, probs=cal.probs(z), temperature=cal.temperature, features=f, bank=bank,
                              k=e.get("k", 1), params=e)  # fmt: skip

        st, su = score(d["z_test"], d["f_test"]), score(zu, fu)
        return auroc(st, su), fpr_at_tpr(st, su), float(np.mean(st >= e["threshold"]))

    rows = []
    for cand in candidates(len(d["z_val"]), features=True, layer=True, builtin=BUILTIN_SCORES):
        found = fit_ood(d["z_val"], cal, score=cand.score, features=d["f_val"], k=cand.options.get("k", 1),
                        layer=layer, options=cand.options)  # fmt: skip
        rows.append((cand.label, *measure(found)))
    found, choice = fit_ood_auto(d["z_val"], cal, d["z_unknown"][half], features=d["f_val"],
                                 unknown_features=d["f_unknown"][half], layer=layer)  # fmt: skip
    rows.append((f"auto ({choice.best.label})", *measure(found)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="+", default=list(pairs()), choices=list(pairs()))
    parser.add_argument("--markdown", action="store_true", help="print one Markdown table (for docs/decisions.md)")
    args = parser.parse_args()
    results = {}
    for name in args.pairs:
        d = collect(name, pairs()[name])
        acc = float(np.mean(d["z_test"].argmax(1) == d["y_test"]))
        print(f"{name}: val {len(d['z_val'])}, test {len(d['z_test'])} (accuracy {acc:.2%}), "
              f"unknowns {len(d['z_unknown'])}; features {d['f_val'].shape[1]}-d", file=sys.stderr)  # fmt: skip
        results[name] = {r[0].split(" (")[0]: r for r in study(d)}
    labels = list(next(iter(results.values())))
    header = ["score", *(f"{p} {m}" for p in results for m in ("AUROC", "FPR95", "TPR@thr")), "worst FPR95"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] if args.markdown else ["  ".join(header)]
    for label in labels:
        cells = [label if label != "auto" else "auto: " + ", ".join(results[p][label][0][6:-1] for p in results)]
        for p in results:
            _, a, f95, tpr = results[p][label]
            cells += [f"{a:.4f}", f"{f95:.1%}", f"{tpr:.1%}"]
        cells.append(f"{max(results[p][label][2] for p in results):.1%}")
        lines.append("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
