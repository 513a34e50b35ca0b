"""How ``calibrate`` and ``evaluate`` print the decisions (unknown inputs, conformal sets, reject threshold).

The numbers come from :mod:`yolo_probs.decisions` through :mod:`yolo_probs.api.workflow`; this module
only formats them.
"""

from __future__ import annotations

from typing import Any


def fitted_lines(decisions: dict[str, Any]) -> list[str]:
    """One line per decision ``calibrate`` fitted.

    Example:
        >>> fitted_lines({"conformal": {"score": "aps", "alpha": 0.1, "qhat": 0.97, "n": 359}})
        ['conformal sets: aps score, alpha 0.1, q-hat 0.97 on 359 images']
    """
    lines = []
    if "ood" in decisions:
        e = decisions["ood"]
        params = {key: e[key] for key in ("k", "gamma", "dim", "percentile") if key in e}
        k = " (" + ", ".join(f"{key}={v:g}" for key, v in params.items()) + ")" if params else ""
        lines.append(
            f"unknown inputs: {e['score']} score{k}, threshold {e['threshold']:.4g} accepts "
            f"{e['tpr']:.0%} of the {e['n']} calibration images"
        )
    if "conformal" in decisions:
        e = decisions["conformal"]
        q = e["qhat"]
        shown = f"{q:.6g}" if isinstance(q, float) else "one per class (" + ", ".join(f"{v:.3g}" for v in q) + ")"
        lines.append(f"conformal sets: {e['score']} score, alpha {e['alpha']:g}, q-hat {shown} on {e['n']} images")
    if "reject" in decisions:
        e = decisions["reject"]
        lines.append(
            f"reject threshold: min_prob {e['min_prob']:.4g} keeps accuracy >= {e['target_accuracy']:g} with "
            f"probability {1 - e['delta']:g} (accepts {e['coverage']:.1%} of {e['n']} images, "
            f"{e['accuracy']:.2%} correct, error bound {e['error_bound']:.2%})"
        )
    if "monitor" in decisions:
        e = decisions["monitor"]
        lines.append(
            f"drift monitor: references of {e['n']} images (accuracy {e['accuracy']:.2%}, ATC threshold "
            f"{e['atc_threshold']:.4g}); check new images with 'yolo-probs monitor'"
        )
    return lines


def print_auto_table(auto: dict[str, Any]) -> None:
    """The cross-validation table of ``--ood-score auto`` (best first, the chosen one marked)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"--ood-score auto: {auto['folds']}-fold CV on {auto['n_id']} calibration images and "
        f"{auto['n_unknown']} example unknowns (FPR, TPR at each fold's fitted threshold)"
    )
    for name in ("score", "FPR", "± SE", "TPR", "AUROC", ""):
        table.add_column(name, justify="left" if name in ("score", "") else "right")
    for r in auto["table"]:
        table.add_row(r["label"], f"{r['fpr']:.2%}", f"{r['fpr_se']:.2%}", f"{r['tpr']:.2%}", f"{r['auroc']:.4f}",
                      "chosen" if r["chosen"] else "" if r.get("eligible", True) else "TPR below target")  # fmt: skip
    Console(soft_wrap=True).print(table)


def print_report(details: dict[str, Any]) -> None:
    """The decision sections of ``evaluate`` as one table each."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    if "ood" in details:
        d = details["ood"]
        table = Table(title=f"unknown inputs ({d['score']} score, threshold {d['threshold']:.4g})")
        table.add_column("metric")
        table.add_column(d["score"], justify="right")
        base = d.get("baseline")
        if base:
            table.add_column("msp (baseline)", justify="right")
        rows = [("in-distribution accepted (TPR)", f"{d['tpr']:.2%}", "")]
        if "auroc" in d:
            rows = [
                ("AUROC", f"{d['auroc']:.4f}", f"{base['auroc']:.4f}" if base else ""),
                ("FPR at 95% TPR", f"{d['fpr95']:.2%}", f"{base['fpr95']:.2%}" if base else ""),
                *rows,
                ("unknowns accepted at the threshold (FPR)", f"{d['fpr']:.2%}", ""),
                ("images (in-distribution / unknown)", f"{d['n_id']} / {d['n_ood']}", ""),
            ]
        for label, value, b in rows:
            table.add_row(label, value, *([b] if base else []))
        console.print(table)
    if "conformal" in details:
        d = details["conformal"]
        table = Table(title=f"conformal sets ({d['score']} score, alpha {d['alpha']:g})")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("coverage", f"{d['coverage']:.2%} (target {1 - d['alpha']:.0%})")
        table.add_row("mean set size", f"{d['mean_set_size']:.3f}")
        table.add_row("largest set", str(d["max_set_size"]))
        table.add_row("empty sets", f"{d['empty_sets']:.2%}")
        per_class = "  ".join(f"{k} {v:.0%}" for k, v in d["coverage_per_class"].items() if v is not None)
        table.add_row("coverage per class", per_class)
        console.print(table)
    if "reject" in details:
        d = details["reject"]
        table = Table(
            title=f"reject threshold (min_prob {d['min_prob']:.4g}, target accuracy {d['target_accuracy']:g})"
        )
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("accepted (coverage)", f"{d['coverage']:.2%} ({d['accepted']} of {d['n']})")
        acc = "n/a (none accepted)" if d["accuracy"] is None else f"{d['accuracy']:.2%}"
        table.add_row("accuracy of accepted images", acc)
        console.print(table)
