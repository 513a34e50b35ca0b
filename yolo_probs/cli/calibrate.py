"""``yolo-probs calibrate`` and ``yolo-probs evaluate``: fit a temperature on labelled images, and check it.

Both read an Ultralytics classification folder (``DATA/<class>/*.jpg`` or ``DATA/<split>/<class>/...``),
collect the model's logits with :meth:`YoloProbs.predict_each` (unreadable images are skipped and
counted) and score the probabilities at T = 1 and at the chosen temperature.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from yolo_probs.cli import app, error
from yolo_probs.cli.model_options import EngineOption, VerboseOption, set_verbose
from yolo_probs.cli.progress import progress_bar

if TYPE_CHECKING:
    from yolo_probs.dataset import CollectedLogits, LabelledFolder
    from yolo_probs.metrics import CalibrationReport
    from yolo_probs.model import YoloProbs

_MAX_LISTED = 10


class ReportFormat(str, Enum):  # noqa: UP042 (same style as predict's OutputFormat)
    """How ``evaluate`` prints its metrics."""

    table = "table"
    json = "json"


def warn(message: str) -> None:
    """Print one ``yolo-probs: warning: ...`` line on stderr."""
    print(f"yolo-probs: warning: {message}", file=sys.stderr, flush=True)


def _collect(clf: YoloProbs, folder: LabelledFolder) -> CollectedLogits:
    """Logits of every readable image, with a progress bar on stderr when it is a terminal."""
    from yolo_probs.dataset import collect_logits

    progress = progress_bar("collecting logits", len(folder.files))
    with progress or contextlib.nullcontext():
        advance = (lambda n: progress.advance(progress.task_ids[0], n)) if progress else None
        collected = collect_logits(clf, folder, advance)
    for line in collected.failures[:_MAX_LISTED]:
        error(f"skipped {line}")
    if collected.failures:
        more = (
            f" ({len(collected.failures) - _MAX_LISTED} more not listed)"
            if len(collected.failures) > _MAX_LISTED
            else ""
        )
        warn(f"{len(collected.failures)} of {len(folder.files)} images could not be read and were skipped{more}")
    return collected


def _fit(logits: Any, labels: Any) -> float:
    """Fit T, turning calibration warnings into ``yolo-probs: warning:`` lines."""
    from yolo_probs.calibration import CalibrationWarning, fit_temperature

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        t = fit_temperature(logits, labels)
    for w in caught:
        if issubclass(w.category, CalibrationWarning):
            warn(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return t


def _print_table(before: CalibrationReport, after: CalibrationReport, caption: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"calibration metrics, {before.samples} images", caption=caption)
    table.add_column("metric")
    table.add_column(f"before (T={before.temperature:.4g})", justify="right")
    table.add_column(f"after (T={after.temperature:.4g})", justify="right")
    rows = [
        ("accuracy", "accuracy", "{:.2%}"),
        ("NLL", "nll", "{:.4f}"),
        ("Brier", "brier", "{:.4f}"),
        (f"ECE ({before.n_bins} bins)", "ece", "{:.2%}"),
        (f"MCE ({before.n_bins} bins)", "mce", "{:.2%}"),
        (f"adaptive ECE ({before.n_bins} bins)", "adaptive_ece", "{:.2%}"),
    ]
    for label, key, fmt in rows:
        table.add_row(label, fmt.format(getattr(before, key)), fmt.format(getattr(after, key)))
    Console(soft_wrap=True).print(table)


def _where(folder: LabelledFolder) -> str:
    return f"{folder.root}" + (f" (split {folder.split})" if folder.split else "")


def _make_parent(path: Path, option: str) -> None:
    """Create the folder of an output file up front, so a typo fails before minutes of inference."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot create {path.parent} ({exc.strerror}); choose a writable path", param_hint=option
        ) from None


_DATA_HELP = "Labelled images: DATA/<class>/*.jpg, or a dataset root holding DATA/<split>/<class>/..."


@app.command()
def calibrate(
    data: Annotated[str, typer.Argument(help=_DATA_HELP, metavar="DATA")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Profile (YAML) to write.")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Classification checkpoint (.pt); default: the --profile's model."),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile", "-p", help="Start from this profile (model, imgsz, top-k, min-prob, name); flags override it."
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split to fit on when DATA holds splits.")] = "val",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write a before/after reliability diagram (PNG).")
    ] = None,
    bins: Annotated[int, typer.Option("--bins", help="Equal-width bins for ECE/MCE.", min=1)] = 15,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Deployment name stored in the profile; default: the output file's stem."),
    ] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", help="top_k stored in the profile (default 5).")] = None,
    min_prob: Annotated[Optional[float], typer.Option("--min-prob", help="min_prob stored in the profile.")] = None,  # noqa: UP045
    imgsz: Annotated[int | None, typer.Option("--imgsz", help="Inference size; default: the checkpoint's own.")] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, 0, cuda:0, ...; default: Ultralytics' choice.")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Images per forward pass.")] = 16,
    engine: EngineOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Fit a temperature on labelled images and write it, with its provenance, to a deployment profile.

    Prints accuracy, NLL, Brier, ECE and MCE before (T=1) and after (fitted T). Exit code 0 when every
    image was read, 1 when some were skipped (the profile is still written), 2 for usage errors.
    """
    from yolo_probs.dataset import load_labelled_folder
    from yolo_probs.metrics import BINNING, evaluate_logits
    from yolo_probs.model import YoloProbs
    from yolo_probs.profile import Profile, file_sha256, load_profile, save_profile

    _make_parent(output, "--output")
    if plot is not None:
        _make_parent(plot, "--plot")
    base = load_profile(profile) if profile is not None else None
    model_path = model or (base.model if base else None)
    if model_path is None:
        raise typer.BadParameter("pass --model PATH (or --profile PROFILE)", param_hint="--model")
    top_k = top_k if top_k is not None else (base.top_k if base else 5)
    min_prob = min_prob if min_prob is not None else (base.min_prob if base else None)
    imgsz = imgsz if imgsz is not None else (base.imgsz if base else None)
    engine = engine if engine is not None else (base.engine if base else None)
    set_verbose(verbose)
    clf = YoloProbs(model_path, imgsz=imgsz, device=device, batch=batch, top_k=top_k, min_prob=min_prob, engine=engine)
    with clf:
        folder = load_labelled_folder(data, clf.names, split)
        collected = _collect(clf, folder)
    logits, labels = collected.logits, collected.labels
    t = _fit(logits, labels)
    before = evaluate_logits(logits, labels, 1.0, bins)
    after = evaluate_logits(logits, labels, t, bins)
    _print_table(before, after, f"fitted on {_where(folder)}")
    print(f"fitted temperature: T = {t:.6g}")

    # bins and binning are recorded once for both reports
    metrics = {k: {f: v for f, v in r.to_dict().items() if f not in ("n_bins", "binning")} for k, r in
               (("before", before), ("after", after))}  # fmt: skip
    calibration: dict[str, Any] = {
        "data": str(folder.root),
        "split": folder.split,
        "samples": int(labels.size),
        "skipped": len(collected.failures),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (explicit for readers)
        "bins": bins,
        "binning": BINNING,
        **metrics,
    }
    is_file = Path(model_path).is_file()
    result = Profile(
        model=model_path,
        temperature=t,
        name=name or (base.name if base and base.name else output.stem),
        model_sha256=file_sha256(model_path) if is_file else None,
        top_k=top_k,
        min_prob=min_prob,
        imgsz=imgsz,
        engine=engine,
        calibration=calibration,
    )
    save_profile(result, output)
    print(f"profile written to {output}")
    if plot is not None:
        from yolo_probs.reliability import plot_reliability

        plot_reliability(plot, logits, labels, t, n_bins=bins, title=f"{Path(model_path).name} on {_where(folder)}")
        print(f"reliability diagram written to {plot}")
    if collected.failures:
        raise typer.Exit(1)


@app.command()
def evaluate(
    data: Annotated[str, typer.Argument(help=_DATA_HELP, metavar="DATA")],
    profile: Annotated[
        Path | None, typer.Option("--profile", "-p", help="Deployment profile giving model and temperature.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Classification checkpoint (.pt); overrides the profile's.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", "-t", help="Temperature to evaluate; overrides the profile's.")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split to evaluate when DATA holds splits.")] = "test",
    bins: Annotated[int, typer.Option("--bins", help="Equal-width bins for ECE/MCE.", min=1)] = 15,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="table or json.")] = ReportFormat.table,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write a before/after reliability diagram (PNG).")
    ] = None,
    imgsz: Annotated[
        int | None, typer.Option("--imgsz", help="Inference size; default: the profile's, else the checkpoint's.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, 0, cuda:0, ...; default: Ultralytics' choice.")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Images per forward pass.")] = 16,
    engine: EngineOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Score a temperature on labelled images (another split than the one it was fitted on).

    Reports accuracy, NLL, Brier, ECE, MCE and adaptive ECE at T=1 and at the given temperature.
    Exit code 0 when every image was read, 1 when some were skipped, 2 for usage errors.
    """
    from yolo_probs.dataset import load_labelled_folder
    from yolo_probs.metrics import evaluate_logits
    from yolo_probs.model import YoloProbs

    if plot is not None:
        _make_parent(plot, "--plot")
    set_verbose(verbose)
    if profile is not None:
        clf = YoloProbs.from_profile(
            profile, model=model, temperature=temperature, imgsz=imgsz, device=device, batch=batch, engine=engine
        )
    elif model is not None and temperature is not None:
        clf = YoloProbs(model, temperature=temperature, imgsz=imgsz, device=device, batch=batch, engine=engine)
    else:
        raise typer.BadParameter(
            "pass --profile PROFILE, or both --model PATH and --temperature T", param_hint="--profile"
        )
    with clf:
        folder = load_labelled_folder(data, clf.names, split)
        collected = _collect(clf, folder)
    logits, labels, t = collected.logits, collected.labels, clf.temperature
    before = evaluate_logits(logits, labels, 1.0, bins)
    after = evaluate_logits(logits, labels, t, bins)
    if fmt is ReportFormat.json:
        doc = {
            "data": str(folder.root),
            "split": folder.split,
            "samples": int(labels.size),
            "skipped": len(collected.failures),
            "temperature": t,
            "bins": bins,
            "before": before.to_dict(),
            "after": after.to_dict(),
        }
        print(json.dumps(doc, indent=2))
    else:
        _print_table(before, after, f"evaluated on {_where(folder)}")
    if plot is not None:
        from yolo_probs.reliability import plot_reliability

        plot_reliability(plot, logits, labels, t, n_bins=bins, title=f"evaluated on {_where(folder)}")
        print(f"reliability diagram written to {plot}", file=sys.stderr if fmt is ReportFormat.json else sys.stdout)
    if collected.failures:
        raise typer.Exit(1)
