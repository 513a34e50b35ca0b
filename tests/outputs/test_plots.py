"""Plots go through the one file writer: format from the suffix, atomic files, devices, FIFOs and symlinks kept."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.image import imread

from tests.targets import KINDS, STALE, special_target
from yolo_probs.decisions.selective import choose_min_prob
from yolo_probs.errors import ConfigError, OutputError
from yolo_probs.outputs.plots import plot_reliability, plot_risk_coverage

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    return (rng.normal(size=(300, 3)) + 2 * np.eye(3)[y]) * 3, y


def _reliability(path: Path) -> Path:
    logits, y = _data()
    return plot_reliability(path, logits, y, temperature=3.0)


def _risk(path: Path) -> Path:
    logits, y = _data()
    probs = np.exp(logits / 3) / np.exp(logits / 3).sum(axis=1, keepdims=True)
    choice, curve = choose_min_prob(probs.max(axis=1), probs.argmax(axis=1) == y, target_accuracy=0.9)
    return plot_risk_coverage(path, curve, choice)


PLOTS = pytest.mark.parametrize("plot", [_reliability, _risk], ids=["reliability", "risk_coverage"])


@PLOTS
@pytest.mark.parametrize("kind", KINDS)
def test_plot_to_special_targets(tmp_path: Path, plot, kind: str) -> None:
    with special_target(kind, tmp_path, "plot.png") as target:
        if kind == "full":
            with pytest.raises(OutputError, match=rf"cannot write {target.path} \(No space left on device\)"):
                plot(target.path)
        else:
            assert plot(target.path) == target.path
        target.assert_kept()
        written = target.received()
    if kind in ("fifo", "symlink"):
        assert written.startswith(PNG) and written != STALE
        assert imread(io.BytesIO(written)).shape[2] in (3, 4)
    assert target.leftovers() == []


@PLOTS
def test_format_follows_the_suffix_and_permissions_the_umask(tmp_path: Path, plot) -> None:
    old = os.umask(0o022)
    try:
        plot(tmp_path / "r.pdf")
    finally:
        os.umask(old)
    assert (tmp_path / "r.pdf").read_bytes().startswith(PDF)
    assert stat.S_IMODE((tmp_path / "r.pdf").stat().st_mode) == 0o644


def test_unknown_suffix_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"r.txt: matplotlib cannot write .txt plots; use one of .*\.png"):
        _reliability(tmp_path / "r.txt")
    assert list(tmp_path.iterdir()) == []


def test_the_global_backend_is_left_alone(tmp_path: Path) -> None:
    backend = matplotlib.get_backend()
    matplotlib.use("svg", force=True)  # as a notebook chooses its own
    try:
        _risk(tmp_path / "r.png")
        _reliability(tmp_path / "s.png")
        assert matplotlib.get_backend() == "svg"  # not switched to Agg behind the user's back
    finally:
        matplotlib.use(backend, force=True)


def test_every_plot_suffix_the_cli_accepts_is_one_matplotlib_writes() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from yolo_probs.outputs.plots import PLOT_SUFFIXES

    known = FigureCanvasAgg(Figure()).get_supported_filetypes()
    assert PLOT_SUFFIXES and all(s.lstrip(".") in known for s in PLOT_SUFFIXES)


def test_risk_coverage_legend_hides_nothing_and_names_where_the_test_stopped() -> None:
    from yolo_probs.outputs.plots import _figure, _risk_coverage_axes

    logits, y = _data()
    probs = np.exp(logits / 3) / np.exp(logits / 3).sum(axis=1, keepdims=True)
    choice, curve = choose_min_prob(probs.max(axis=1), probs.argmax(axis=1) == y, target_accuracy=0.9)
    failed = ~np.isnan(curve["error_bound"]) & (1 - curve["error_bound"] < 0.9)
    assert failed.any()  # this data has a threshold that failed the test (the 'lone point')
    fig = _figure((6.4, 5.2), dpi=120)
    _risk_coverage_axes(fig, curve, choice, "")
    fig.canvas.draw()
    (ax,), (legend,) = fig.axes, fig.legends
    box, axes_box = legend.get_window_extent(), ax.get_window_extent()
    assert box.y1 <= axes_box.y0  # below the axes: the target line and the curves are never under it
    labels = [t.get_text() for t in legend.get_texts()]
    assert any("test stopped there" in t for t in labels) and any("target accuracy 0.9" in t for t in labels)
