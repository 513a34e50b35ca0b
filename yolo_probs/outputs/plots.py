"""Plots (matplotlib, Agg backend): reliability diagrams before and after calibration, and the risk-coverage curve.

Each panel shows, per equal-width confidence bin, the accuracy (bar), the gap to the bin's mean
confidence (hatched red), the diagonal of perfect calibration, and underneath the number of samples
per bin (log scale). The bins are those of :func:`yolo_probs.core.metrics.bin_stats`; the extra bin for a
confidence of exactly 1.0 is drawn merged into the last bin.

Example:
    >>> import numpy as np, tempfile, os
    >>> from yolo_probs.outputs.plots import plot_reliability
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 300); logits = rng.normal(size=(300, 3)) + 2 * np.eye(3)[y]
    >>> out = os.path.join(tempfile.mkdtemp(), "r.png")
    >>> plot_reliability(out, logits * 3, y, temperature=3.0).name
    'r.png'
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.calibration import TemperatureScaling
from yolo_probs.core.metrics import DEFAULT_BINS, BinStats, bin_stats, evaluate_logits
from yolo_probs.decisions.selective import RejectChoice
from yolo_probs.errors import ConfigError, printable
from yolo_probs.outputs.files import write_bytes

if TYPE_CHECKING:
    from yolo_probs.calibration.base import Calibrator

__all__ = ["PLOT_SUFFIXES", "plot_reliability", "plot_risk_coverage"]


def _merged(s: BinStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts, accuracy and confidence of the ``n_bins`` drawn bins (the 1.0 bin folded into the last)."""
    count = s.count[:-1].copy()
    acc_sum = s.accuracy[:-1] * count
    conf_sum = s.confidence[:-1] * count
    count[-1] += s.count[-1]
    acc_sum[-1] += s.accuracy[-1] * s.count[-1]
    conf_sum[-1] += s.confidence[-1] * s.count[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return count, np.where(count > 0, acc_sum / count, np.nan), np.where(count > 0, conf_sum / count, np.nan)


def _panel(ax: Any, ax_count: Any, s: BinStats, title: str) -> None:
    count, acc, conf = _merged(s)
    edges = s.edges.astype(np.float64)
    left, width = edges[:-1], np.diff(edges)
    filled = count > 0
    ax.bar(
        left[filled],
        acc[filled],
        width[filled],
        align="edge",
        color="#4c72b0",
        edgecolor="black",
        lw=0.6,
        label="accuracy",
    )
    gap_lo, gap_hi = np.minimum(acc, conf), np.maximum(acc, conf)
    # the gap is hatched, not filled, so it reads the same over a bar (under-confident) and above it (over-confident)
    ax.bar(
        left[filled],
        (gap_hi - gap_lo)[filled],
        width[filled],
        bottom=gap_lo[filled],
        align="edge",
        facecolor="none",
        edgecolor="#cc0000",
        hatch="///",
        lw=0.8,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", lw=1.2, zorder=5, label="perfect calibration")
    ax.hlines(
        conf[filled],
        left[filled],
        (left + width)[filled],
        colors="black",
        lw=1.5,
        zorder=6,
        label="mean confidence of the bin",
    )
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=title)
    ax.set_aspect("equal", adjustable="box")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)
    ax_count.bar(left, np.maximum(count, 0), width, align="edge", color="#888888", edgecolor="black", lw=0.6)
    for x, w, c in zip(left, width, count, strict=True):
        if c > 0:
            ax_count.text(x + w / 2, c, f"{int(c)}", ha="center", va="bottom", fontsize=6)
    ax_count.set(xlim=(0, 1), xlabel="confidence (top-1 probability)", ylabel="samples")
    ax_count.set_yscale("log")
    ax_count.set_ylim(0.8, max(float(count.max()), 1.0) * 4)


#: Plot file suffixes the CLI accepts (checked before the work starts): formats matplotlib's Agg canvas writes.
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".eps", ".ps")


def _figure(size: tuple[float, float], dpi: float = 100) -> Any:
    """A matplotlib ``Figure`` on its own Agg canvas: the global backend and pyplot state are left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plot_format(path: str | os.PathLike[str], fig: Any) -> str:
    """The image format the file name asks for (PNG for stdout or no suffix); ConfigError for an unknown one."""
    name = os.fspath(path)
    suffix = Path(name).suffix.lower().lstrip(".") if name != "-" else ""
    if not suffix:
        return "png"
    known = fig.canvas.get_supported_filetypes()
    if suffix not in known:
        choices = ", ".join(f".{k}" for k in known)
        raise ConfigError(
            f"{printable(name)}: matplotlib cannot write .{suffix} plots; use one of {choices}", option="plot"
        )
    return suffix


def _save(fig: Any, path: str | os.PathLike[str], fmt: str) -> Path:
    """Render ``fig`` in memory and write it through the one file writer (atomic; streams into a FIFO or device)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt)
    write_bytes(path, buffer.getvalue(), option="plot", example=f"plot.{fmt}")
    return Path(path)


def plot_reliability(
    path: str | os.PathLike[str],
    logits: Any,
    labels: Any,
    temperature: float | None = None,
    *,
    n_bins: int = DEFAULT_BINS,
    title: str | None = None,
    calibrator: Calibrator | None = None,
) -> Path:
    """Write an image with two reliability diagrams: ``T = 1`` (before) and after calibration.

    "After" is ``calibrator``'s probabilities, or ``softmax(logits / temperature)``. Returns ``path``.
    ECE (equal-width, ``n_bins`` bins) and the sample count are in the titles. The format follows the
    suffix (``.png``, ``.pdf``, ``.svg``...; PNG without one). The figure is drawn on its own ``Figure``
    with the Agg canvas (matplotlib's global backend and pyplot state are left alone: notebooks keep
    theirs), then written by the one file writer: a regular file is replaced atomically, a symlink's
    target is written, and stdout (``-``), a FIFO or a device is written into.

    Raises:
        ConfigError: an unknown suffix, or ``path`` is a folder or cannot be written.
        OutputError: the write failed (disk full...); an old file is left as it was.
    """
    if calibrator is None:
        calibrator = TemperatureScaling(1.0 if temperature is None else temperature)
    x = np.asarray(logits)
    fig = _figure((11, 7.5), dpi=110)
    fmt = _plot_format(path, fig)
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": [3, 1]})
    for col, cal in enumerate((TemperatureScaling(1.0), calibrator)):
        report = evaluate_logits(x, labels, n_bins=n_bins, calibrator=cal)
        stats = bin_stats(cal.probs(x), labels, n_bins)
        label = "before" if col == 0 else "after"
        what = f"T = {cal.temperature:.3g}" if cal.method == "temperature" else cal.method
        _panel(
            axes[0, col],
            axes[1, col],
            stats,
            f"{label}: {what}   ECE {report.ece:.2%} ({n_bins} bins)\n"
            f"accuracy {report.accuracy:.2%}   NLL {report.nll:.4f}   n = {report.samples}",
        )
    if title:
        fig.suptitle(title)
    return _save(fig, path, fmt)


def plot_risk_coverage(
    path: str | os.PathLike[str], curve: dict[str, np.ndarray], choice: RejectChoice, title: str = ""
) -> Path:
    """Write the accuracy-coverage curve (empirical and guaranteed) with the chosen threshold marked.

    The thresholds the fixed-sequence test tried are drawn as dots where their guaranteed accuracy
    reaches the target, and as a cross where it does not: each sequence of tests stops at its first
    failure, so such a point is where the test stopped, not a stray result. The legend sits below the
    axes, where it hides no line. Written as :func:`plot_reliability` writes (format from the suffix,
    the one file writer).
    """
    fig = _figure((6.4, 5.2), dpi=120)
    fmt = _plot_format(path, fig)
    _risk_coverage_axes(fig, curve, choice, title)
    return _save(fig, path, fmt)


def _risk_coverage_axes(fig: Any, curve: dict[str, np.ndarray], choice: RejectChoice, title: str) -> None:
    """Draw the risk-coverage plot on ``fig`` (see :func:`plot_risk_coverage`)."""
    ax = fig.subplots()
    keep = curve["accepted"] > 0
    ax.plot(curve["coverage"][keep], curve["accuracy"][keep], label="accuracy of accepted images")
    tested = ~np.isnan(curve["error_bound"])
    bound = 1 - curve["error_bound"]
    passed, failed = tested & (bound >= choice.target_accuracy), tested & (bound < choice.target_accuracy)
    ax.plot(curve["coverage"][passed], bound[passed], ".", markersize=3, color="C1",
            label="guaranteed accuracy at a threshold tested: passed")  # fmt: skip
    if failed.any():
        ax.plot(curve["coverage"][failed], bound[failed], "x", markersize=6, color="C3",
                label="guaranteed accuracy below the target: the test stopped there")  # fmt: skip
    ax.axhline(choice.target_accuracy, color="grey", linestyle=":", label=f"target accuracy {choice.target_accuracy:g}")
    ax.scatter([choice.coverage], [choice.accuracy], color="red", zorder=3,
               label=f"chosen: min_prob {choice.min_prob:.4g}, coverage {choice.coverage:.1%}")  # fmt: skip
    ax.set_xlabel("coverage (fraction of images accepted)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_title(title or "risk-coverage (reject threshold)")
    fig.legend(loc="outside lower center", fontsize=8, ncols=1, frameon=False)
    ax.grid(alpha=0.3)
