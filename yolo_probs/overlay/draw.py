"""Draw what a classifier believes, and how sure it is, on top of a video frame.

:class:`OverlayDrawer` is pure OpenCV drawing: give it a BGR frame and a
:class:`~yolo_probs.core.prediction.Prediction`, it returns the frame with a semi-transparent panel
(top-k bars, names, percentages, temperature, FPS, entropy and top-1 margin, an "uncertain" state,
an "unknown" state when a profile's detector flags the input, conformal set members outlined) and
the outline of the centre square that an Ultralytics classifier really sees.

Example:
    >>> import numpy as np
    >>> from yolo_probs.overlay import OverlayDrawer
    >>> from yolo_probs.core.prediction import Prediction
    >>> p = Prediction.from_logits(np.array([3.0, 1.0, 0.0]), names=("cat", "dog", "owl"), top_k=3)
    >>> frame = np.zeros((240, 320, 3), np.uint8)
    >>> out = OverlayDrawer(min_prob=0.5).draw(frame, p, fps=29.7)
    >>> out is frame, out.shape, int(out.max()) > 0
    (True, (240, 320, 3), True)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import cv2
import numpy as np

from yolo_probs._util.display import percent
from yolo_probs.core.prediction import Prediction
from yolo_probs.core.probs import check_min_prob
from yolo_probs.errors import ConfigError

__all__ = ["HELP_TEXT", "OverlayDrawer", "model_view"]

HELP_TEXT = "+/- T   [/] k   r reset T   space pause/next   s snapshot   q quit"

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_Color = tuple[int, int, int]


def model_view(height: int, width: int) -> tuple[int, int, int, int]:
    """The ``(x0, y0, x1, y1)`` centre square of a frame that Ultralytics' classify transforms keep.

    They resize the shortest side to ``imgsz`` and centre-crop a square, so whatever lies outside the
    centre ``min(h, w)`` square never reaches the model.

    Example:
        >>> model_view(1080, 1920)
        (420, 0, 1500, 1080)
    """
    side = min(height, width)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return x0, y0, x0 + side, y0 + side


@dataclass(frozen=True)
class _Layout:
    """Pixel positions for one frame size and one number of bars (computed once, then cached)."""

    font_scale: float
    thick: int
    row: int  # height of one text row
    pad: int
    panel: tuple[int, int, int, int]  # x0, y0, x1, y1
    name_x: int
    bar_x0: int
    bar_x1: int
    bar_h: int
    pct_x: int
    help_scale: float
    help_org: tuple[int, int]
    help_band: tuple[int, int]  # y0, y1 of the help band
    view: tuple[int, int, int, int]
    corner: int


def _number(value: object, name: str, low: float, high: float, example: str) -> float:
    """``value`` as a float in ``[low, high]``, else a :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= float(value) <= high:
        raise ConfigError(
            f"{name} must be a number in [{low:g}, {high:g}], got {value!r}; pass e.g. {example}", option=name
        )
    return float(value)


def _color(value: object, name: str) -> _Color:
    """``value`` as a BGR tuple of three whole numbers in [0, 255], else a :class:`ConfigError` naming ``name``."""
    if (
        not isinstance(value, tuple | list)
        or len(value) != 3
        or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and 0 <= int(c) <= 255 for c in value)
    ):
        raise ConfigError(f"{name} must be a BGR colour of three whole numbers in [0, 255], got {value!r}", option=name)
    return (int(value[0]), int(value[1]), int(value[2]))


class OverlayDrawer:
    """Draw a prediction on a frame: top-k bars, temperature, FPS, uncertainty and the model's view.

    Args:
        min_prob: below this top-1 probability the panel says UNCERTAIN and turns orange
            (None: never; the bars are drawn either way).
        alpha: opacity of the dark panel behind the text; the scene stays visible through it.
        name_chars: longest class name drawn; longer names are cut with "..".
        show_view: outline the centre square the model sees.
        panel_width: panel width as a fraction of the frame width (grown on narrow frames so text fits).
        top_color, bar_color, uncertain_color, text_color, track_color, view_color: BGR colours.
        unknown_color: the UNKNOWN state (a profile's unknown-input detector flagged the frame).
        set_color: the outline marking classes in the conformal prediction set.

    Sizes scale with the frame: the same drawer is legible on 320x240 and on 4K. Drawing happens in
    place on ``frame`` (no full-frame copy: only the panel area is blended) and the same array is
    returned; pass ``frame.copy()`` to keep the original. Layouts are cached per frame size, class
    names and number of bars, so a video pays the layout cost once.
    """

    def __init__(
        self,
        *,
        min_prob: float | None = None,
        alpha: float = 0.6,
        name_chars: int = 16,
        show_view: bool = True,
        panel_width: float = 0.34,
        top_color: _Color = (80, 200, 60),
        bar_color: _Color = (200, 150, 60),
        uncertain_color: _Color = (0, 140, 255),
        text_color: _Color = (255, 255, 255),
        track_color: _Color = (70, 70, 70),
        view_color: _Color = (0, 220, 255),
        unknown_color: _Color = (200, 60, 230),
        set_color: _Color = (255, 255, 0),
    ) -> None:
        self.min_prob = check_min_prob(min_prob)
        self.alpha: float = _number(alpha, "alpha", 0.0, 1.0, "0.6")
        if isinstance(name_chars, bool) or not isinstance(name_chars, numbers.Integral):
            raise ConfigError(
                f"name_chars must be a whole number, got {name_chars!r}; pass e.g. 16", option="name_chars"
            )
        self.name_chars: int = max(2, int(name_chars))
        self.show_view: bool = bool(show_view)
        self.panel_width: float = _number(panel_width, "panel_width", 0.0, 1.0, "0.34")
        self.top_color: _Color = _color(top_color, "top_color")
        self.bar_color: _Color = _color(bar_color, "bar_color")
        self.uncertain_color: _Color = _color(uncertain_color, "uncertain_color")
        self.text_color: _Color = _color(text_color, "text_color")
        self.track_color: _Color = _color(track_color, "track_color")
        self.view_color: _Color = _color(view_color, "view_color")
        self.unknown_color: _Color = _color(unknown_color, "unknown_color")
        self.set_color: _Color = _color(set_color, "set_color")
        self._layouts: dict[tuple[int, int, int, tuple[str, ...]], _Layout] = {}
        self._labels: dict[tuple[str, ...], tuple[str, ...]] = {}

    # -- layout, computed once per (frame size, bars, names) --
    def _short_names(self, names: tuple[str, ...]) -> tuple[str, ...]:
        cached = self._labels.get(names)
        if cached is None:
            n = self.name_chars
            # Hershey fonts are ASCII only: anything else would come out as '?'.
            ascii_names = [s.encode("ascii", "replace").decode() for s in names]
            cached = tuple(s if len(s) <= n else s[: n - 2] + ".." for s in ascii_names)
            self._labels[names] = cached
        return cached

    def _layout(self, h: int, w: int, bars: int, labels: tuple[str, ...]) -> _Layout:
        key = (h, w, bars, labels)
        layout = self._layouts.get(key)
        if layout is not None:
            return layout
        # Font scale follows the short side; 0.38 is the smallest Hershey size still readable.
        fs = max(0.38, min(h, w) / 720 * 0.7)
        thick = max(1, round(fs * 1.7))
        (_, th), base = cv2.getTextSize("Ag%", _FONT, fs, thick)
        row = int((th + base) * 1.45)
        pad = max(3, row // 3)
        widest = max((cv2.getTextSize(s, _FONT, fs, thick)[0][0] for s in labels), default=0)
        pct_w = cv2.getTextSize("100.0%", _FONT, fs, thick)[0][0]
        header_w = cv2.getTextSize("T 10.00  100.0 fps  PAUSED", _FONT, fs, thick)[0][0]
        min_bar = 4 * row
        panel_w = max(int(w * self.panel_width), widest + pct_w + min_bar + 4 * pad, header_w + 2 * pad)
        panel_w = min(panel_w, w)
        rows = 2 + bars
        panel_h = min(h, rows * row + 2 * pad)
        x0, y0 = 0, 0
        name_x = x0 + pad
        bar_x0 = name_x + widest + pad
        pct_x = x0 + panel_w - pad - pct_w
        bar_x1 = max(bar_x0 + 1, pct_x - pad)
        # The help line is fitted to the frame width, and sits on its own band at the bottom.
        help_thick = max(1, thick - 1)
        hw = cv2.getTextSize(HELP_TEXT, _FONT, fs, help_thick)[0][0]
        help_scale = fs * min(1.0, (w - 2 * pad) / max(hw, 1)) * 0.9
        (_, hh), hb = cv2.getTextSize(HELP_TEXT, _FONT, help_scale, help_thick)
        band_h = hh + hb + 2 * pad
        layout = _Layout(
            font_scale=fs,
            thick=thick,
            row=row,
            pad=pad,
            panel=(x0, y0, x0 + panel_w, y0 + panel_h),
            name_x=name_x,
            bar_x0=bar_x0,
            bar_x1=bar_x1,
            bar_h=max(2, int(row * 0.62)),
            pct_x=pct_x,
            help_scale=help_scale,
            help_org=(pad, h - pad - hb),
            help_band=(max(0, h - band_h), h),
            view=model_view(h, w),
            corner=max(6, min(h, w) // 12),
        )
        self._layouts[key] = layout
        return layout

    # -- drawing --
    def _darken(self, frame: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
        """Blend a black rectangle at ``alpha`` over the region, in place (only the region is touched)."""
        if x1 <= x0 or y1 <= y0 or self.alpha == 0.0:
            return
        roi = frame[y0:y1, x0:x1]
        cv2.convertScaleAbs(roi, dst=roi, alpha=1.0 - self.alpha)

    def _text(self, frame: np.ndarray, text: str, org: tuple[int, int], lay: _Layout, color: _Color) -> None:
        cv2.putText(frame, text, org, _FONT, lay.font_scale, color, lay.thick, cv2.LINE_AA)

    def draw(
        self,
        frame: np.ndarray,
        prediction: Prediction,
        *,
        fps: float | None = None,
        paused: bool = False,
        help: bool = True,
        status: str | None = None,
        uncertain: bool | None = None,
    ) -> np.ndarray:
        """Draw ``prediction`` on ``frame`` (HxWx3 BGR uint8) in place and return it.

        Args:
            frame: the image the prediction was made on.
            prediction: its :class:`Prediction`; the bars are ``prediction.top`` (top-k, best first).
            fps: frames per second to print, or None to leave it out.
            paused: print PAUSED in the header.
            help: draw the key help line along the bottom.
            status: a line saying what is on screen (file, frame, time), drawn along the bottom.
            uncertain: whether to show UNCERTAIN (a smoother's state, with hysteresis); None decides from
                ``min_prob`` and this frame alone.
        """
        if not isinstance(frame, np.ndarray):
            raise ConfigError(
                f"frame must be an HxWx3 uint8 BGR numpy array, got {type(frame).__name__}", option="frame"
            )
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or frame.size == 0:
            raise ConfigError(
                f"frame must be an HxWx3 uint8 BGR image, got {frame.dtype} {frame.shape}", option="frame"
            )
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps)):
            raise ConfigError(f"fps must be a finite number or None, got {fps!r}", option="fps")
        if not isinstance(prediction, Prediction):
            raise ConfigError(
                f"prediction must be a yolo_probs Prediction, got {type(prediction).__name__}; "
                "pass what YoloProbs.predict returns",
                option="prediction",
            )
        h, w = frame.shape[:2]
        labels = self._short_names(prediction.names)
        top = prediction.top
        lay = self._layout(h, w, len(top), tuple(labels[c.index] for c in top))
        if uncertain is None:
            uncertain = self.min_prob is not None and prediction.top1conf < self.min_prob
        unknown = bool(prediction.unknown)  # not the same as uncertain: unlike anything the model was calibrated on
        members = {c.index for c in prediction.set} if prediction.set is not None else set()

        if self.show_view and (lay.view[2] - lay.view[0] < w or lay.view[3] - lay.view[1] < h):
            self._draw_view(frame, lay)

        x0, y0, x1, y1 = lay.panel
        self._darken(frame, x0, y0, x1, y1)
        if unknown or uncertain:  # a coloured edge makes the state visible at a glance, even from afar
            edge = self.unknown_color if unknown else self.uncertain_color
            cv2.rectangle(frame, (x0, y0), (x1 - 1, y1 - 1), edge, max(2, lay.thick), cv2.LINE_AA)
        self._draw_header(frame, lay, prediction, fps=fps, paused=paused)
        self._draw_state(frame, lay, prediction, unknown=unknown, uncertain=uncertain)
        lead = self.unknown_color if unknown else self.uncertain_color if uncertain else self.top_color
        self._draw_bars(frame, lay, prediction, labels, lead, members)
        if help:
            self._draw_help(frame, lay)
        if status:
            self._draw_status(frame, lay, status, above_help=help)
        return frame

    def _draw_header(
        self, frame: np.ndarray, lay: _Layout, prediction: Prediction, *, fps: float | None, paused: bool
    ) -> None:
        """The first row of the panel: temperature, frame rate, PAUSED."""
        header = f"T {prediction.temperature:.2f}"
        if fps is not None:
            header += f"  {fps:5.1f} fps"
        if paused:
            header += "  PAUSED"
        baseline = lay.row - lay.pad
        self._text(frame, header, (lay.name_x, lay.panel[1] + lay.pad + baseline), lay, self.text_color)

    def _draw_state(
        self, frame: np.ndarray, lay: _Layout, prediction: Prediction, *, unknown: bool, uncertain: bool
    ) -> None:
        """The second row: UNKNOWN, UNCERTAIN, or entropy and margin; the conformal set's size when it fits."""
        if unknown:
            state, color = f"UNKNOWN  ood {prediction.ood_score:.2f}", self.unknown_color
        elif uncertain:
            state, color = f"UNCERTAIN  p<{self.min_prob:.2f}", self.uncertain_color
        else:
            state, color = f"H {prediction.entropy:.2f}  margin {prediction.margin:.2f}", self.text_color
        if prediction.set is not None:  # the set's size, when it fits in the panel
            longer = f"{state}  set {len(prediction.set)}"
            if lay.name_x + cv2.getTextSize(longer, _FONT, lay.font_scale, lay.thick)[0][0] <= lay.panel[2] - lay.pad:
                state = longer
        baseline = lay.row - lay.pad
        self._text(frame, state, (lay.name_x, lay.panel[1] + lay.pad + lay.row + baseline), lay, color)

    def _draw_bars(
        self,
        frame: np.ndarray,
        lay: _Layout,
        prediction: Prediction,
        labels: tuple[str, ...],
        lead: _Color,
        members: set[int],
    ) -> None:
        """One bar per class of ``prediction.top``: the first in ``lead``, conformal-set members outlined."""
        baseline = lay.row - lay.pad
        for i, cls in enumerate(prediction.top):
            ry = lay.panel[1] + lay.pad + (2 + i) * lay.row
            by0 = ry + (lay.row - lay.bar_h) // 2
            by1 = by0 + lay.bar_h
            cv2.rectangle(frame, (lay.bar_x0, by0), (lay.bar_x1, by1), self.track_color, -1)
            filled = lay.bar_x0 + round((lay.bar_x1 - lay.bar_x0) * min(max(cls.prob, 0.0), 1.0))
            if filled > lay.bar_x0:
                cv2.rectangle(frame, (lay.bar_x0, by0), (filled, by1), lead if i == 0 else self.bar_color, -1)
            if cls.index in members:  # in the conformal set: outlined
                cv2.rectangle(frame, (lay.bar_x0 - 2, by0 - 2), (lay.bar_x1 + 2, by1 + 2), self.set_color, 1)
            self._text(frame, labels[cls.index], (lay.name_x, ry + baseline), lay, self.text_color)
            self._text(frame, f"{percent(cls.prob):>6}", (lay.pct_x, ry + baseline), lay, self.text_color)

    def _draw_help(self, frame: np.ndarray, lay: _Layout) -> None:
        """The key help along the bottom, on a darkened band."""
        hy0, hy1 = lay.help_band
        self._darken(frame, 0, hy0, frame.shape[1], hy1)
        thick = max(1, lay.thick - 1)
        cv2.putText(frame, HELP_TEXT, lay.help_org, _FONT, lay.help_scale, self.text_color, thick, cv2.LINE_AA)

    def _draw_status(self, frame: np.ndarray, lay: _Layout, status: str, *, above_help: bool) -> None:
        """What is on screen (file, frame, time), on a darkened band at the bottom (above the key help)."""
        h, w = frame.shape[:2]
        hy0, hy1 = lay.help_band
        y1 = hy0 if above_help else h
        y0 = max(0, y1 - (hy1 - hy0))
        thick = max(1, lay.thick - 1)
        text = status.encode("ascii", "replace").decode()  # Hershey fonts are ASCII only
        scale = lay.font_scale * 0.9
        width = cv2.getTextSize(text, _FONT, scale, thick)[0][0]
        if width > w - 2 * lay.pad:  # too long: shrink a little, then cut from the left (the name's end matters)
            scale = max(lay.help_scale, scale * (w - 2 * lay.pad) / width)
            while len(text) > 4 and cv2.getTextSize(text, _FONT, scale, thick)[0][0] > w - 2 * lay.pad:
                text = ".." + text[3:]
        self._darken(frame, 0, y0, w, y1)
        baseline = cv2.getTextSize(text, _FONT, scale, thick)[1]
        cv2.putText(frame, text, (lay.pad, y1 - lay.pad - baseline), _FONT, scale, self.text_color, thick, cv2.LINE_AA)

    def _draw_view(self, frame: np.ndarray, lay: _Layout) -> None:
        """Corner brackets and thin edges around the centre square the model sees."""
        c, t = lay.corner, max(1, lay.thick)
        cv2.rectangle(frame, lay.view[:2], (lay.view[2] - 1, lay.view[3] - 1), self.view_color, 1)
        # Brackets are inset by their thickness so that none of them is cut off by the frame's edge.
        vx0, vy0, vx1, vy1 = lay.view[0] + t, lay.view[1] + t, lay.view[2] - 1 - t, lay.view[3] - 1 - t
        for x, y, dx, dy in ((vx0, vy0, 1, 1), (vx1, vy0, -1, 1), (vx0, vy1, 1, -1), (vx1, vy1, -1, -1)):
            cv2.line(frame, (x, y), (x + dx * c, y), self.view_color, t + 1)
            cv2.line(frame, (x, y), (x, y + dy * c), self.view_color, t + 1)
