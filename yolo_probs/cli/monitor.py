"""``yolo-probs monitor``: has the deployment drifted? Label-free tests of new images against a profile.

The profile's ``decisions.monitor`` (written by ``calibrate``) says what the calibration images looked like
to the model; :class:`~yolo_probs.api.monitor.Monitor` tests the new images against it
(:mod:`yolo_probs.decisions.monitor`). A labelled folder (class sub-folders, as ``evaluate`` takes) also
gives the true accuracy beside the label-free estimate.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from yolo_probs._util.console import error, set_verbose, warn
from yolo_probs.api.monitor import Monitor, monitor_entry
from yolo_probs.api.profile import load_profile
from yolo_probs.cli.options import (
    ALPHA,
    FORMAT,
    PROFILE,
    SEED,
    SPLIT,
    BatchOption,
    DeviceOption,
    SourcesArgument,
    VerboseOption,
    build_classifier,
    tailored,
)
from yolo_probs.decisions.monitor import DEFAULT_ALPHA, MonitorRule
from yolo_probs.errors import SourceError
from yolo_probs.inputs.labelled import LabelledFolder, load_labelled_folder
from yolo_probs.inputs.sources import ImageInput, InputFailure, StreamInput, expand

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.decisions.monitor import MonitorReport

_MAX_LISTED = 5


class MonitorFormat(str, Enum):  # noqa: UP042 (same style as evaluate's ReportFormat)
    """How ``monitor`` prints its report."""

    table = "table"
    json = "json"


_MonitorProfile = Annotated[
    Path, tailored(PROFILE, help="Deployment profile written by 'yolo-probs calibrate' (it holds the references).")
]
_Alpha = Annotated[
    float,
    tailored(ALPHA, help="False-alarm level: without drift, drift is reported with at most this probability."),
]


def _labelled(sources: list[str], names: tuple[str, ...], split: str) -> LabelledFolder | None:
    """The labelled folder when SOURCE is one folder of class folders (or a dataset root), else None."""
    if len(sources) != 1 or not os.path.isdir(sources[0]):
        return None
    try:
        return load_labelled_folder(sources[0], names, split)
    except SourceError:
        return None  # a plain folder of images (or a bad one: reading it says why)


def _ordered(sources: list[str], folder: LabelledFolder | None, seed: int) -> tuple[list[str], list[str]]:
    """The inputs to read: images in a seeded random order (the martingale tests the order too, and a
    folder is sorted by name or class), then videos frame by frame in their own order; and the failures."""
    rng = np.random.default_rng(seed)
    if folder is not None:
        return [folder.files[i] for i in rng.permutation(len(folder.files))], []
    images, videos, failures = [], [], []
    for item in expand(sources):
        if isinstance(item, ImageInput):
            images.append(item.path)
        elif isinstance(item, StreamInput):
            videos.append(item.source)
        else:
            failures.append(str(item))
    return [images[i] for i in rng.permutation(len(images))] + videos, failures


def _run(clf: YoloProbs, monitor: Monitor, sources: list[str], split: str, seed: int) -> tuple[list[str], str]:
    """Feed every prediction to ``monitor``; the failures and what was read, for the report."""
    folder = _labelled(sources, clf.names, split)
    label_of: dict[str, int] = {}
    if folder is not None:
        label_of = dict(zip(folder.files, folder.labels.tolist(), strict=True))
    inputs, failures = _ordered(sources, folder, seed)
    for item in clf.predict_each(inputs) if inputs else []:
        if isinstance(item, InputFailure):
            failures.append(str(item))
        else:
            monitor.update(item, label_of.get(item.source))
    where = (
        ", ".join(sources)
        if folder is None
        else f"{folder.root}" + (f" (split {folder.split})" if folder.split else "")
    )
    return failures, where


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_report(report: MonitorReport, where: str, calibration_images: int) -> None:
    """The report as a small table: the estimates and rates beside their calibration values, then the tests."""
    print(f"monitor: {report.images} images of {where} against {calibration_images} calibration images")
    rows = [
        ("accuracy, ATC estimate", _pct(report.estimated_accuracy), _pct(report.expected_accuracy)),
        ("accuracy, DoC estimate", _pct(report.estimated_accuracy_doc), _pct(report.expected_accuracy)),
        ("mean confidence", _pct(report.mean_confidence), _pct(report.expected_mean_confidence)),
    ]
    if report.accuracy is not None:
        rows.insert(
            0, (f"accuracy, true ({report.labelled} labelled)", _pct(report.accuracy), _pct(report.expected_accuracy))
        )
    if report.expected_unknown_rate is not None:
        rows.append(("unknown rate", _pct(report.unknown_rate), _pct(report.expected_unknown_rate)))
    print(f"  {'':34} {'now':>8} {'calibration':>12}")
    for name, now, then in rows:
        print(f"  {name:34} {now:>8} {then:>12}")
    print(f"  {'test':34} {'statistic':>10} {'p-value':>10}  drift")
    for t in report.tests:
        stat = "-" if t.statistic is None else f"{t.statistic:.4g}"
        p = f"needs {t.needed} images" if t.p_value is None else f"{t.p_value:.3g}"
        print(f"  {_TEST_LABELS[t.name]:34} {stat:>10} {p:>10}  {'yes' if t.drift else 'no'}")
    alarm = "" if report.alarm_at is None else f"; the stream alarm rang at image {report.alarm_at}"
    print(f"drift: {'YES' if report.drift else 'no'} (false-alarm level {report.alpha:g}){alarm}")


_TEST_LABELS = {
    "confidence": "confidence (Kolmogorov-Smirnov)",
    "class_mix": "class mix (chi-square)",
    "unknown_rate": "unknown rate (beta-binomial)",
    "martingale": "stream (conformal martingale)",
}


def monitor(
    sources: SourcesArgument,
    profile: _MonitorProfile,
    fmt: Annotated[MonitorFormat, FORMAT] = MonitorFormat.table,
    alpha: _Alpha = DEFAULT_ALPHA,
    split: Annotated[str, tailored(SPLIT, help="Split to use when SOURCE is a dataset root.")] = "test",
    seed: Annotated[int, tailored(SEED, help="Seed of the images' random order and the martingale's tie-breaks.")] = 0,
    device: DeviceOption = None,
    batch: BatchOption = 16,
    verbose: VerboseOption = False,
) -> None:
    """Check new images for drift against the calibration images of a profile, without labels.

    Compares the top-1 confidences (Kolmogorov-Smirnov), the predicted-class mix (chi-square) and the
    unknown-input rate (beta-binomial) with the calibration images, runs a conformal test martingale over the
    stream (images in a random order, videos frame by frame), and estimates the accuracy (ATC and DoC).
    A labelled folder (SOURCE/<class>/*.jpg) also gives the true accuracy. Exit code 0 when every image
    was read, 1 when some were skipped, 2 for usage errors.
    """
    set_verbose(verbose)
    loaded = load_profile(profile)
    monitor_entry(loaded, f"profile {profile}")  # before the model loads
    watch = Monitor.from_profile(loaded, alpha=alpha, seed=seed)
    with build_classifier(model=None, profile=profile, device=device, batch=batch) as clf:
        clf.decisions = [r for r in clf.decisions if not isinstance(r, MonitorRule)]  # fed here, with labels
        failures, where = _run(clf, watch, sources, split, seed)
    _report(watch, failures, where, fmt)


def _report(watch: Monitor, failures: list[str], where: str, fmt: MonitorFormat) -> None:
    """Failures, tests short of images, then the report; exit 2 when no image could be read."""
    for line in failures[:_MAX_LISTED]:
        error(f"skipped {line}")
    if len(failures) > _MAX_LISTED:
        warn(f"{len(failures) - _MAX_LISTED} more skipped inputs are not listed")
    if watch.images == 0:
        raise SourceError(where, f"none of its {len(failures)} inputs could be read, so there is nothing to monitor")
    report = watch.report()
    for t in report.short_of:
        warn(f"the {_TEST_LABELS[t.name]} test needs at least {t.needed} images, got {report.images}; it was not run")
    if fmt is MonitorFormat.json:
        doc: dict[str, Any] = {**report.to_dict(), "skipped": len(failures)}
        print(json.dumps(doc, indent=2))
    else:
        _print_report(report, where, watch.entry["n"])
    if failures:
        raise typer.Exit(1)
