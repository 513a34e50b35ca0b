"""``yolo-probs calibrate`` and ``yolo-probs evaluate``: fit a temperature on labelled images, and check it.

Both read an Ultralytics classification folder (``DATA/<class>/*.jpg`` or ``DATA/<split>/<class>/...``),
collect the model's logits with :meth:`YoloProbs.predict_each` (unreadable images are skipped and
counted) and score the probabilities at T = 1 and at the chosen temperature.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from yolo_probs._util.console import error, set_verbose, warn, wrote
from yolo_probs.api.model import YoloProbs
from yolo_probs.api.profile import bank_file_name, save_profile, side_files
from yolo_probs.api.workflow import calibrate as run_calibration
from yolo_probs.api.workflow import evaluate as run_evaluation
from yolo_probs.calibration.box_base import BOX_CALIBRATORS
from yolo_probs.calibration.select import MIN_ERRORS
from yolo_probs.cli.boxes_calibrate import calibrate_detector, evaluate_detector
from yolo_probs.cli.decisions import fitted_lines, print_auto_table, print_report
from yolo_probs.cli.options import (
    FORMAT,
    MIN_PROB,
    OOD_DATA,
    OUTPUT,
    PLOT,
    PROFILE,
    SEED,
    TOP_K,
    BatchOption,
    BinsOption,
    DataArgument,
    DeviceOption,
    EngineOption,
    ImgszOption,
    ModelOrProfileOption,
    OptionGroup,
    PlotOption,
    SplitOption,
    TemperatureOption,
    VerboseOption,
    build_classifier,
    merged_options,
    option_groups,
    tailored,
)
from yolo_probs.cli.progress import progress_bar
from yolo_probs.decisions.conformal import DEFAULT_SCORE as DEFAULT_CONFORMAL_SCORE
from yolo_probs.decisions.ood import DEFAULT_SCORE
from yolo_probs.decisions.requested import DecisionOptions
from yolo_probs.decisions.selective import reject_curve
from yolo_probs.errors import ConfigError
from yolo_probs.inputs.detection_data import is_detection_yaml
from yolo_probs.inputs.labelled import load_labelled_folder
from yolo_probs.inputs.sources import IMAGE_SUFFIXES
from yolo_probs.outputs.files import check_output
from yolo_probs.outputs.plots import PLOT_SUFFIXES, plot_reliability, plot_risk_coverage

if TYPE_CHECKING:
    from yolo_probs.api.profile import Profile
    from yolo_probs.api.workflow import CalibrationResult, EvaluationResult
    from yolo_probs.core.metrics import CalibrationReport

_MAX_LISTED = 10


class Method(str, Enum):  # noqa: UP042 (Typer lists a str Enum's values in --help)
    """Calibration methods ``calibrate --method`` offers (see yolo_probs.calibration)."""

    temperature = "temperature"
    auto = "auto"
    vector = "vector"
    dirichlet = "dirichlet"
    platt = "platt"  # box calibrators (detection data YAML) from here on
    isotonic = "isotonic"
    position = "position"
    ets = "ets"


class ReportFormat(str, Enum):  # noqa: UP042 (same style as predict's OutputFormat)
    """How ``evaluate`` prints its metrics."""

    table = "table"
    json = "json"


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; yields its ``advance(n)`` (or None)."""
    bar = progress_bar("collecting logits", total)
    if bar is None:
        yield None
        return
    with bar:
        yield lambda n: bar.advance(bar.task_ids[0], n)


def _report_skipped(failures: list[str]) -> None:
    """One ``error: skipped ...`` line per unreadable image (the first few)."""
    for line in failures[:_MAX_LISTED]:
        error(f"skipped {line}")
    if len(failures) > _MAX_LISTED:
        warn(f"{len(failures) - _MAX_LISTED} more skipped images are not listed")


def _print_table(before: CalibrationReport, after: CalibrationReport, caption: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"calibration metrics, {before.samples} images", caption=caption)
    table.add_column("metric")
    table.add_column(f"before (T={before.temperature:.4g})", justify="right")
    after_label = f"T={after.temperature:.4g}" if after.method == "temperature" else after.method
    table.add_column(f"after ({after_label})", justify="right")
    rows = [
        ("accuracy", "accuracy", "{:.2%}"),
        ("NLL", "nll", "{:.4f}"),
        ("Brier", "brier", "{:.4f}"),
        (f"ECE ({before.n_bins} bins)", "ece", "{:.2%}"),
        (f"MCE ({before.n_bins} bins)", "mce", "{:.2%}"),
        (f"adaptive ECE ({before.n_bins} bins)", "adaptive_ece", "{:.2%}"),
        (f"classwise ECE ({before.n_bins} bins)", "classwise_ece", "{:.2%}"),
    ]
    for label, key, fmt in rows:
        table.add_row(label, fmt.format(getattr(before, key)), fmt.format(getattr(after, key)))
    Console(soft_wrap=True).print(table)


def _print_candidates(details: dict[str, Any]) -> None:
    """The cross-validation table of ``--method auto`` (or of a method's regularisation strengths)."""
    from rich.console import Console
    from rich.table import Table

    rows = details.get("candidates") or []
    for note in details.get("notes", []):
        print(f"note: {note}")
    if not rows:
        return
    caption = (
        "chosen: the simplest eligible candidate within one SE of the best (SE of the per-image paired "
        f"differences); vector/dirichlet need {MIN_ERRORS} calibration errors, and one per parameter"
    )
    title = f"candidates, {details['folds']}-fold cross-validation (seed {details['seed']})"
    table = Table(title=title, caption=caption)
    for col in ("method", "reg", "parameters", "CV NLL", "± SE", "vs best", "± SE ", "CV accuracy", "seconds", ""):
        table.add_column(col, justify="left" if col in ("method", "") else "right")
    for r in rows:
        nll = "failed" if r["cv_nll"] is None else f"{r['cv_nll']:.4f}"
        se, gap, gap_se = (("" if r.get(k) is None else f"{r[k]:+.4f}" if k == "gap" else f"{r[k]:.4f}")
                           for k in ("cv_se", "gap", "gap_se"))  # fmt: skip
        acc = "" if r["cv_accuracy"] is None else f"{r['cv_accuracy']:.2%}"
        mark = "chosen" if r["chosen"] else ("reference" if not r["eligible"] and not r["note"] else r["note"][:60])
        reg = "" if r["reg"] is None else f"{r['reg']:g}"
        table.add_row(r["method"], reg, f"{r['params']:,}", nll, se, gap, gap_se, acc, f"{r['seconds']:.2f}", mark)
    Console(soft_wrap=True).print(table)


def _risk_plot(plot: Path) -> Path:
    """Where ``--target-accuracy`` writes its risk-coverage curve: beside ``--plot``, as NAME-risk-coverage.png."""
    return plot.with_name(f"{plot.stem}-risk-coverage.png")


def _check_outputs(
    output: Path | None, plot: Path | None, inputs: list[Any], data: str, asked: DecisionOptions | None = None
) -> None:
    """Check the profile and plot paths before minutes of inference: writable, not a folder, not an input
    (the model, the profile, or an image of DATA); and, for what goes beside them (a k-NN feature bank
    beside the profile, the risk-coverage curve beside the plot), that they are files with a folder."""
    root = Path(data).resolve()
    for path in (output, plot):  # an existing image inside DATA is one of the inputs
        if path is not None and path.suffix.lower() in IMAGE_SUFFIXES and path.resolve().is_relative_to(root):
            inputs = [*inputs, path]
    bank = asked is not None and asked.needs_features  # the k-NN feature bank is a file beside the profile
    risk = asked is not None and asked.target_accuracy is not None  # the curve is a file beside the plot
    if output is not None:
        side = f"a profile with side files ({bank_file_name(output.stem, 'ood')})"
        check_output(output, option="output", inputs=inputs, example="profile.yaml", create_folder=True,
                     streams=not bank, what=side)  # fmt: skip
    if plot is not None:
        if output is not None and plot.resolve() == output.resolve():
            raise typer.BadParameter(f"{plot} is also the --output profile; choose another file", param_hint="--plot")
        what = "a plot with the risk-coverage curve beside it (NAME-risk-coverage.png)"
        check_output(plot, option="plot", inputs=[*inputs, output], suffixes=PLOT_SUFFIXES, create_folder=True,
                     streams=not risk, what=what)  # fmt: skip
        if risk:
            curve = "the risk-coverage curve"
            check_output(_risk_plot(plot), option="plot", inputs=[*inputs, output], streams=False, what=curve)


@dataclass(frozen=True)
class DecisionFlags(OptionGroup):
    """The decisions ``calibrate`` can fit besides the calibrator (see :mod:`yolo_probs.decisions`)."""

    ood_tpr: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--ood-tpr", help="Flag unknown inputs; the threshold accepts this fraction of DATA (e.g. 0.95)."),
    ] = None
    ood_score: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--ood-score",
            help="Unknown-input score: knn (default), energy, maxlogit, msp, entropy, gen, vim, react, or auto "
            "(chosen by cross-validated FPR at 95% TPR on --ood-data); needs --ood-tpr.",
        ),
    ] = None
    ood_data: Annotated[
        Optional[Path],  # noqa: UP045
        tailored(OOD_DATA, detail="Examples that --ood-score auto chooses on."),
    ] = None
    conformal: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--conformal", metavar="ALPHA", help="Conformal sets holding the true class with probability 1-ALPHA."
        ),
    ] = None
    score: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--score", help="Conformal score: raps (default), aps or lac; needs --conformal."),
    ] = None
    randomized: Annotated[
        bool,
        typer.Option(
            "--randomized", help="Randomised conformal sets (coverage 1-ALPHA on average); needs --conformal."
        ),
    ] = False
    seed: Annotated[
        Optional[int],  # noqa: UP045
        tailored(
            SEED,
            detail="Randomised conformal sets draw from it (stored in the profile); needs --randomized.",
            default="fresh randomness at every run (what the coverage guarantee assumes)",
        ),
    ] = None
    class_conditional: Annotated[
        bool,
        typer.Option(
            "--class-conditional", help="One conformal q-hat per class (coverage per class); needs --conformal."
        ),
    ] = False
    target_accuracy: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--target-accuracy",
            help="Choose min_prob so accepted images reach this accuracy, with probability 1-DELTA over calibration "
            "sets, counting a refusal (no threshold found: an error) as a success; not given that one is found.",
        ),
    ] = None
    delta: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--delta", help="Risk that the target accuracy is missed (default 0.1); needs --target-accuracy."),
    ] = None

    def checked(self) -> DecisionOptions:
        """The decisions as the library takes them, checked (before any inference).

        An option of a decision that was not asked for (``--score`` without ``--conformal``...) is a usage
        error rather than silently ignored.

        Example:
            >>> DecisionFlags(conformal=0.1).checked().any
            True
        """
        orphans = self.orphans()
        if orphans:
            hint = "; ".join(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} {switch}"
                             for switch, given in orphans.items())  # fmt: skip
            raise ConfigError(f"{hint}: without their switch these options do nothing; add it or drop them")
        return DecisionOptions(
            ood_tpr=self.ood_tpr,
            ood_score=self.ood_score or DEFAULT_SCORE,
            ood_data=self.ood_data,
            conformal=self.conformal,
            score=self.score or DEFAULT_CONFORMAL_SCORE,
            randomized=self.randomized,
            class_conditional=self.class_conditional,
            seed=self.seed,
            target_accuracy=self.target_accuracy,
            delta=0.1 if self.delta is None else self.delta,
        )

    def orphans(self) -> dict[str, list[str]]:
        """``{switch: [options given without it]}``: the options of decisions that were not asked for.

        Example:
            >>> DecisionFlags(randomized=True, ood_score="energy").orphans()
            {'--conformal ALPHA': ['--randomized'], '--ood-tpr': ['--ood-score']}
        """
        needs = {
            "--conformal ALPHA": (self.conformal, {"--score": self.score is not None, "--randomized": self.randomized,
                                                   "--class-conditional": self.class_conditional}),
            "--randomized": (self.randomized or None, {"--seed": self.seed is not None}),
            "--target-accuracy": (self.target_accuracy, {"--delta": self.delta is not None}),
            "--ood-tpr": (self.ood_tpr, {"--ood-score": self.ood_score is not None,
                                         "--ood-data DIR": self.ood_data is not None}),
        }  # fmt: skip
        found = {switch: [name for name, given in options.items() if given]
                 for switch, (asked, options) in needs.items() if asked is None}  # fmt: skip
        return {switch: given for switch, given in found.items() if given}


# How calibrate shows the shared options (declared in yolo_probs.cli.options), and its own.
# Optional[...] rather than X | None: Typer reads these annotations at runtime.
_Output = Annotated[Path, tailored(OUTPUT, detail="the deployment profile (YAML).")]
_Profile = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(
        PROFILE,
        help="Start from this deployment profile (model, imgsz, top-k, min-prob, engine, name); flags given "
        "override it. Its calibration and decisions are not kept: calibrate fits its own.",
    ),
]
_Plot = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(PLOT, detail="With --target-accuracy also its risk-coverage curve, as NAME-risk-coverage.png."),
]
_Name = Annotated[
    Optional[str],  # noqa: UP045
    tailored(
        typer.Option("--name", help="Deployment name stored in the profile."),
        default="the --profile's, else the output file's stem",
    ),
]
_TopK = Annotated[
    Optional[int],  # noqa: UP045
    tailored(TOP_K, detail="Stored in the profile.", default="the --profile's, else 5"),
]
_MinProb = Annotated[
    Optional[float],  # noqa: UP045
    tailored(
        MIN_PROB,
        detail="Stored in the profile (with --target-accuracy: the threshold it chooses).",
        default="the --profile's, else none",
    ),
]
_Method = Annotated[
    Method,
    typer.Option(
        "--method",
        help="Calibration method; auto picks by 5-fold cross-validated NLL, never worse than temperature. "
        "For a detection data YAML: temperature, platt, isotonic, position or auto (box calibrators).",
    ),
]


@option_groups
def calibrate(
    data: DataArgument,
    output: _Output,
    model: ModelOrProfileOption = None,
    profile: _Profile = None,
    split: SplitOption = "val",
    plot: _Plot = None,
    bins: BinsOption = 15,
    name: _Name = None,
    top_k: _TopK = None,
    min_prob: _MinProb = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    batch: BatchOption = 16,
    method: _Method = Method.temperature,
    engine: EngineOption = None,
    verbose: VerboseOption = False,
    decisions: DecisionFlags = DecisionFlags(),
) -> None:
    """Fit a calibrator (a temperature by default) on labelled images and write it to a deployment profile.

    Prints accuracy, NLL, Brier, ECE and MCE before (T=1) and after (fitted T). With --ood-tpr,
    --conformal or --target-accuracy it also fits those decisions, at the fitted temperature, into the
    profile. With DATA an Ultralytics detection data YAML and a detection model it fits a box-confidence
    calibrator instead (conf_calibrated; D-ECE, LaECE, mAP50 before and after). Exit code 0 when every
    image was read, 1 when some were skipped (the profile is still written), 2 for usage errors.
    """
    asked = decisions.checked()  # before any inference
    flags = {"model": model, "top_k": top_k, "min_prob": min_prob, "imgsz": imgsz, "device": device, "batch": batch}
    kwargs, base = _start_from(profile, asked, **flags, engine=engine)
    model_path = kwargs.pop("model", None)
    if model_path is None:
        raise typer.BadParameter("pass --model PATH (or --profile PROFILE)", param_hint="--model")
    if is_detection_yaml(data):
        if set(asked.to_workflow()) - {"monitor"} or plot is not None:  # the monitor is always asked for
            what = "--plot" if plot is not None else "--ood-tpr, --conformal and --target-accuracy"
            raise typer.BadParameter(f"{what} apply to classifiers; leave them out for a detection data YAML",
                                     param_hint="DATA")  # fmt: skip
        _check_outputs(output, None, [model_path, profile, data], data, asked)
        set_verbose(verbose)
        kwargs.pop("box_calibrator", None)  # calibrate fits its own
        name = name or (base.name if base and base.name else output.stem)
        calibrate_detector(data, output, model_path, kwargs, split=split, method=method.value, bins=bins, name=name)
        return
    if method.value in BOX_CALIBRATORS and method.value != "temperature":
        raise typer.BadParameter(f"{method.value!r} calibrates box confidences: pass a detection data YAML as DATA, "
                                 "or choose temperature, auto, vector or dirichlet", param_hint="--method")  # fmt: skip
    _check_outputs(output, plot, [model_path, profile], data, asked)
    set_verbose(verbose)
    with YoloProbs(model_path, **kwargs) as clf:
        folder = load_labelled_folder(data, clf.names, split)
        with _progress(len(folder.files)) as advance:
            result = run_calibration(
                clf, folder, method=method.value, bins=bins, progress=advance, decisions=asked.to_workflow()
            )
    _print_calibration(result)
    _save(result, output, model_path, name=name or (base.name if base and base.name else output.stem), kwargs=kwargs)
    if plot is not None:
        _plot_reliability(result, plot, f"{Path(model_path).name} on {result.where}", bins)
        if asked.target_accuracy:
            _plot_risk_coverage(result, _risk_plot(plot))
    if result.collected.failures:
        raise typer.Exit(1)


def _start_from(profile: Path | None, asked: DecisionOptions, **explicit: Any) -> tuple[dict[str, Any], Profile | None]:
    """:class:`YoloProbs` keyword arguments from ``--profile`` and the flags given, without the calibrator."""
    kwargs, base = merged_options(profile, **explicit)
    kwargs.pop("calibrator", None)  # calibrate fits its own
    keeps_reject = explicit.get("min_prob") is None and asked.target_accuracy is None
    if base is not None and "reject" in (base.decisions or {}) and keeps_reject:
        kwargs["min_prob"] = None  # it was guaranteed at the old calibration only
        warn(f"{profile}: its min_prob came from a reject threshold fitted at its own temperature and is not kept; "
             "pass --target-accuracy to choose a new one")  # fmt: skip
    return kwargs, base


def _print_calibration(result: CalibrationResult) -> None:
    """What was skipped, the warnings, the candidates, the metrics table and the fitted calibrator and decisions."""
    _report_skipped(result.collected.failures)
    for line in result.warnings:
        warn(line)
    _print_candidates(result.details)
    _print_table(result.before, result.after, f"fitted on {result.where}")
    if result.calibrator.temperature is not None:
        print(f"fitted temperature: T = {result.calibrator.temperature:.6g}")
    else:
        print(f"fitted calibrator: {result.calibrator.method}")
    for line in fitted_lines(result.decisions):
        print(line)
    auto = result.decisions.get("ood", {}).get("auto")
    if auto:
        print_auto_table(auto)


def _save(result: CalibrationResult, output: Path, model: str, *, name: str, kwargs: dict[str, Any]) -> None:
    """Write the profile (and the files beside it that it names) and say so."""
    saved = result.to_profile(
        model,
        name=name,
        top_k=kwargs.get("top_k"),
        min_prob=kwargs.get("min_prob"),
        imgsz=kwargs.get("imgsz"),
        engine=kwargs.get("engine"),
    )
    save_profile(saved, output)
    wrote(output, detail="deployment profile")
    for path, what in side_files(saved, output):
        wrote(path, detail=what)


def _plot_reliability(result: CalibrationResult | EvaluationResult, plot: Path, title: str, bins: int) -> None:
    """The before/after reliability diagram of a calibration or an evaluation."""
    c = result.collected
    plot_reliability(plot, c.logits, c.labels, n_bins=bins, title=title, calibrator=result.calibrator)
    wrote(plot, detail="reliability diagram")


def _plot_risk_coverage(result: CalibrationResult, path: Path) -> None:
    """The risk-coverage curve of the fitted reject threshold."""
    choice, curve = reject_curve(result)
    plot_risk_coverage(path, curve, choice, title=f"risk-coverage on {result.where}")
    wrote(path, detail="risk-coverage curve")


_OodData = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(OOD_DATA, detail="AUROC and FPR95 of the unknown-input detector."),
]


_EvaluatedProfile = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(
        PROFILE,
        help="Deployment profile to evaluate: its model, calibration, imgsz and engine, and its decisions "
        "(unknown inputs, conformal sets, reject threshold); flags given override it.",
    ),
]


def evaluate(
    data: DataArgument,
    profile: _EvaluatedProfile = None,
    model: ModelOrProfileOption = None,
    temperature: TemperatureOption = None,
    split: SplitOption = "test",
    bins: BinsOption = 15,
    fmt: Annotated[ReportFormat, FORMAT] = ReportFormat.table,
    plot: PlotOption = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    batch: BatchOption = 16,
    engine: EngineOption = None,
    verbose: VerboseOption = False,
    ood_data: _OodData = None,
) -> None:
    """Score a temperature on labelled images (another split than the one it was fitted on).

    Reports accuracy, NLL, Brier, ECE, MCE and adaptive ECE at T=1 and at the given temperature, and
    the profile's decisions: unknown inputs (AUROC, FPR at 95% TPR with --ood-data), conformal sets
    (coverage, set sizes) and the reject threshold (coverage, accuracy of accepted images).
    With DATA a detection data YAML: D-ECE, LaECE, mAP50 and log loss of the profile's box calibrator.
    Exit code 0 when every image was read, 1 when some were skipped, 2 for usage errors.
    """
    _check_outputs(None, plot, [model, profile], data)
    set_verbose(verbose)
    if profile is None and model is None:
        raise typer.BadParameter(
            "pass --profile PROFILE, or --model PATH (and --temperature T)", param_hint="--profile"
        )
    if is_detection_yaml(data):
        if plot is not None or ood_data is not None:
            raise typer.BadParameter("--plot and --ood-data apply to classifiers; leave them out for a detection "
                                     "data YAML", param_hint="DATA")  # fmt: skip
        box_t, temperature = temperature, None  # a detector's --temperature is a box temperature
        with build_classifier(model=model, profile=profile, temperature=None, imgsz=imgsz, device=device,
                              batch=batch, engine=engine) as det:  # fmt: skip
            evaluate_detector(det, data, split=split, bins=bins, temperature=box_t, fmt=fmt.value)
        return
    clf = build_classifier(
        model=model, profile=profile, temperature=temperature, imgsz=imgsz, device=device, batch=batch, engine=engine
    )
    with clf:
        folder = load_labelled_folder(data, clf.names, split)
        with _progress(len(folder.files)) as advance:
            extra = {"ood": {"ood_data": ood_data}} if ood_data is not None else None
            result = run_evaluation(clf, folder, bins=bins, profile=clf.profile, progress=advance, options=extra)
    _report_skipped(result.collected.failures)
    for line in result.warnings:
        warn(line)
    if fmt is ReportFormat.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_table(result.before, result.after, f"evaluated on {result.where}")
        print_report(result.details)
    if plot is not None:
        _plot_reliability(result, plot, f"evaluated on {result.where}", bins)
    if result.collected.failures:
        raise typer.Exit(1)
