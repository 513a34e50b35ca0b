"""Draw every detected box with its class distribution: a coloured outline, a label, compact top-k bars.

:class:`BoxDrawer` is pure OpenCV drawing, as :class:`~yolo_probs.overlay.draw.OverlayDrawer` is for a
classifier: give it a BGR frame and the :class:`~yolo_probs.core.boxes.Detections` made on it (or on a
smaller copy: the boxes are scaled to the frame), it returns the frame with, for each box,

- its outline in the colour of the model's class (one colour per class, the same on every frame);
- a label: the model's class and its own confidence ``conf``, and ``cal`` (the profile's calibrated
  confidence ``conf_calibrated``) when there is one;
- up to ``bars`` bars of the box's calibrated class distribution ``top`` (class name, bar, percent),
  the first in the box's colour; a box whose best probability is under ``min_prob`` gets an orange edge;
- with a second-stage classifier (:attr:`Box.classifier <yolo_probs.core.boxes.Box.classifier>`), its
  top classes under a ``crop`` line, in the classifier's colour.

Each box's panel goes above the box, else below it, inside it, or beside it: the first place that
covers no panel drawn before (boxes are drawn by confidence, the most confident first), inside the
frame. A header (temperature, number of boxes, frames per second) sits in the top-left corner.

Example:
    >>> import numpy as np
    >>> from yolo_probs.core.boxes import Detections
    >>> d = Detections.from_logits([[20, 30, 120, 150]], [0.88], [0], [[2.0, 0.0, -1.0]],
    ...                            names=("cat", "dog", "owl"), shape=(240, 320), top_k=3)
    >>> frame = np.zeros((240, 320, 3), np.uint8)
    >>> out = BoxDrawer().draw(frame, d, fps=29.7)
    >>> out is frame, int(out.max()) > 0
    (True, True)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from yolo_probs._util.display import percent
from yolo_probs.core.boxes import Box, Detections
from yolo_probs.core.probs import TopClass, check_min_prob
from yolo_probs.errors import ConfigError
from yolo_probs.overlay.draw import OverlayDrawer, _Color, _color, _number

__all__ = ["PALETTE", "BoxDrawer"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX

#: Box colours (BGR), one per class index modulo its length: hues a golden angle apart, so that neighbouring
#: classes never look alike.
PALETTE: tuple[_Color, ...] = (
    (38, 38, 255),
    (217, 86, 33),
    (38, 255, 165),
    (194, 33, 217),
    (219, 255, 38),
    (33, 132, 217),
    (255, 38, 92),
    (33, 217, 40),
    (111, 38, 255),
    (217, 148, 33),
    (102, 255, 242),
    (217, 87, 189),
    (178, 255, 102),
    (87, 114, 217),
    (255, 115, 102),
    (87, 217, 136),
    (204, 102, 255),
    (217, 212, 87),
    (102, 216, 255),
    (217, 87, 146),
)

_Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive)


@dataclass(frozen=True)
class _Style:
    """Sizes for one frame size (computed once per size, then cached)."""

    font_scale: float
    thick: int
    row: int
    pad: int
    line: int
    bar_w: int
    pct_w: int


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode()  # Hershey fonts are ASCII only


def _overlap(a: _Rect, b: _Rect) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0


class BoxDrawer:
    """Draw detections on a frame: each box's outline, label and compact top-k bars of its class distribution.

    Args:
        bars: at most this many bars per box (the box's ``top`` may hold more); 0 draws the labels only.
        min_prob: below this best class probability a box's panel gets an orange edge (None: never).
        alpha: opacity of the dark panels behind the text.
        name_chars: longest class name drawn; longer names are cut with "..".
        header: draw the temperature, the number of boxes and the frame rate in the top-left corner.
        text_color, track_color, bar_color, uncertain_color, classifier_color: BGR colours (the boxes
            and their first bar take :data:`PALETTE`'s, by class).

    Sizes scale with the frame, so the same drawer is legible on a 480-pixel canvas and on 4K. Drawing
    happens in place on ``frame`` and the same array is returned.
    """

    def __init__(
        self,
        *,
        bars: int = 3,
        min_prob: float | None = None,
        alpha: float = 0.6,
        name_chars: int = 12,
        header: bool = True,
        text_color: _Color = (255, 255, 255),
        track_color: _Color = (60, 60, 60),
        bar_color: _Color = (170, 170, 170),
        uncertain_color: _Color = (0, 140, 255),
        classifier_color: _Color = (255, 200, 80),
    ) -> None:
        if isinstance(bars, bool) or not isinstance(bars, numbers.Integral) or not 0 <= bars <= 20:
            raise ConfigError(f"bars must be a whole number in [0, 20], got {bars!r}; pass e.g. 3", option="bars")
        if isinstance(name_chars, bool) or not isinstance(name_chars, numbers.Integral):
            raise ConfigError(
                f"name_chars must be a whole number, got {name_chars!r}; pass e.g. 12", option="name_chars"
            )
        self.bars: int = int(bars)
        self.min_prob: float | None = check_min_prob(min_prob)
        self.alpha: float = _number(alpha, "alpha", 0.0, 1.0, "0.6")
        self.name_chars: int = max(2, int(name_chars))
        self.header: bool = bool(header)
        self.text_color: _Color = _color(text_color, "text_color")
        self.track_color: _Color = _color(track_color, "track_color")
        self.bar_color: _Color = _color(bar_color, "bar_color")
        self.uncertain_color: _Color = _color(uncertain_color, "uncertain_color")
        self.classifier_color: _Color = _color(classifier_color, "classifier_color")
        self._styles: dict[tuple[int, int], _Style] = {}
        self._bands: OverlayDrawer = OverlayDrawer(
            alpha=alpha
        )  # the key help and status bands, as the classifier overlay draws them

    @staticmethod
    def color(cls: int) -> _Color:
        """The BGR colour of class ``cls``.

        Example:
            >>> BoxDrawer.color(0) == BoxDrawer.color(len(PALETTE)), BoxDrawer.color(0) != BoxDrawer.color(1)
            (True, True)
        """
        return PALETTE[int(cls) % len(PALETTE)]

    def _style(self, h: int, w: int) -> _Style:
        style = self._styles.get((h, w))
        if style is None:
            # Smaller than the classifier panel's text (many panels share the frame), never below 0.35.
            fs = max(0.35, min(h, w) / 720 * 0.5)
            thick = max(1, round(fs * 1.6))
            (_, th), base = cv2.getTextSize("Ag%", _FONT, fs, thick)
            row = int((th + base) * 1.4)
            style = _Style(
                font_scale=fs,
                thick=thick,
                row=row,
                pad=max(2, row // 4),
                line=max(2, round(min(h, w) / 300)),
                bar_w=4 * row,
                pct_w=cv2.getTextSize(">99.9%", _FONT, fs, thick)[0][0],
            )
            self._styles[(h, w)] = style
        return style

    def _short(self, name: str) -> str:
        name, n = _ascii(name), self.name_chars
        return name if len(name) <= n else name[: n - 2] + ".."

    def _text(self, frame: np.ndarray, text: str, org: tuple[int, int], st: _Style, color: _Color) -> None:
        cv2.putText(frame, text, org, _FONT, st.font_scale, color, st.thick, cv2.LINE_AA)

    def _width(self, text: str, st: _Style) -> int:
        return int(cv2.getTextSize(text, _FONT, st.font_scale, st.thick)[0][0])

    def _darken(self, frame: np.ndarray, r: _Rect) -> None:
        roi = frame[r[1] : r[3], r[0] : r[2]]
        if roi.size and self.alpha > 0.0:
            cv2.convertScaleAbs(roi, dst=roi, alpha=1.0 - self.alpha)

    def draw(
        self,
        frame: np.ndarray,
        detections: Detections,
        *,
        fps: float | None = None,
        paused: bool = False,
        help: bool = False,
        status: str | None = None,
    ) -> np.ndarray:
        """Draw ``detections`` on ``frame`` (HxWx3 BGR uint8) in place and return it.

        Args:
            frame: the image the detections were made on, or an enlarged copy of it: box coordinates
                are scaled from ``detections.shape`` to the frame's size.
            detections: the image's :class:`~yolo_probs.core.boxes.Detections`.
            fps: frames per second for the header, or None to leave it out.
            paused: print PAUSED in the header.
            help: draw the overlay's key help line along the bottom.
            status: a line saying what is on screen (file, frame, time), drawn along the bottom.
        """
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ConfigError(f"frame must be an HxWx3 uint8 BGR image, got {got}", option="frame")
        if frame.size == 0:
            raise ConfigError("frame must be an HxWx3 uint8 BGR image, got an empty one", option="frame")
        if not isinstance(detections, Detections):
            raise ConfigError(
                f"detections must be a yolo_probs Detections, got {type(detections).__name__}; "
                "pass what YoloProbs.predict returns for a detection model",
                option="detections",
            )
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps)):
            raise ConfigError(f"fps must be a finite number or None, got {fps!r}", option="fps")
        h, w = frame.shape[:2]
        st = self._style(h, w)
        sh, sw = detections.shape
        sx, sy = (w / sw, h / sh) if sh and sw else (1.0, 1.0)
        taken: list[_Rect] = []
        header = self._header(frame, st, detections, fps=fps, paused=paused) if self.header else None
        if header is not None:
            taken.append(header[1])
        if help or status:
            lay = self._bands._layout(h, w, 0, ())
            band = lay.help_band[1] - lay.help_band[0]
            taken.append((0, h - band * (int(help) + int(bool(status))), w, h))
        order = sorted(detections.boxes, key=lambda b: -b.conf)
        rects = {b.index: self._outline(frame, st, b, sx, sy) for b in order}
        placed = []  # the most confident box chooses its place first, and is drawn last (on top)
        for b in order:
            rows = self._rows(b)
            panel = self._place(frame, rects[b.index], self._panel_size(st, *rows), taken, list(rects.values()))
            taken.append(panel)
            placed.append((b, rows, panel))
        for b, rows, panel in reversed(placed):
            self._draw_panel(frame, st, b, rows, panel)
        if header is not None:  # on top: with many boxes a panel may have had to cover its corner
            self._darken(frame, header[1])
            self._text(frame, header[0], (st.pad, st.row - 1), st, self.text_color)
        if help:
            self._bands._draw_help(frame, lay)
        if status:
            self._bands._draw_status(frame, lay, status, above_help=help)
        return frame

    def _outline(self, frame: np.ndarray, st: _Style, box: Box, sx: float, sy: float) -> _Rect:
        """The box's outline in its class colour; returns its rectangle on the frame (clipped)."""
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = box.xyxy
        r = (
            min(max(round(x0 * sx), 0), w - 1),
            min(max(round(y0 * sy), 0), h - 1),
            min(max(round(x1 * sx), 0), w - 1),
            min(max(round(y1 * sy), 0), h - 1),
        )
        cv2.rectangle(frame, r[:2], r[2:], self.color(box.cls), st.line, cv2.LINE_AA)
        return r

    def _rows(self, box: Box) -> tuple[str, list[TopClass], list[TopClass]]:
        """The label, the box's bars and the classifier's bars."""
        label = f"{self._short(box.name)} {box.conf:.2f}"
        if box.conf_calibrated is not None:
            label += f" cal {box.conf_calibrated:.2f}"
        if self.min_prob is not None and box.top1conf < self.min_prob:
            label += " ?"  # the edge says it too, but the palette has oranges
        crop = box.classifier.top[: self.bars] if box.classifier is not None else []
        return label, box.top[: self.bars], crop

    def _panel_size(self, st: _Style, label: str, bars: list[TopClass], crop: list[TopClass]) -> tuple[int, int]:
        names = [self._short(c.name) for c in (*bars, *crop)]
        widest = max((self._width(n, st) for n in names), default=0)
        bar_row = widest + st.bar_w + st.pct_w + 4 * st.pad
        crop_w = self._width("crop", st) + 2 * st.pad if crop else 0
        width = max(self._width(label, st) + 2 * st.pad, bar_row if names else 0, crop_w)
        rows = 1 + len(bars) + (1 + len(crop) if crop else 0)
        return width, rows * st.row + st.pad

    def _place(
        self, frame: np.ndarray, box: _Rect, size: tuple[int, int], taken: list[_Rect], others: Sequence[_Rect] = ()
    ) -> _Rect:
        """Above the box, else below, inside, right, left (then further out): the first that fits the frame,
        covers no earlier panel and hides none of the ``others`` boxes.

        A place that hides another box, then a place pushed back inside the frame, come after every place
        that does neither; when all of them cover a panel, the one that covers least.
        """
        h, w = frame.shape[:2]
        pw, ph = min(size[0], w), min(size[1], h)
        x0, y0, x1, y1 = box
        tries = [(x0, y0 - ph), (x0, y1 + 1), (x0, y0), (x1 + 1, y0), (x0 - pw - 1, y0)]
        for k in (1, 2, 3):  # crowded: further out, stacked away from the box
            tries += [(x0, y0 - (k + 1) * ph), (x0, y1 + 1 + k * ph), (x1 + 1, y0 + k * ph), (x0 - pw - 1, y0 + k * ph)]
            tries += [(x1 + 1 + k * pw, y0), (x0 - (k + 1) * pw - 1, y0)]
        ranked: list[tuple[int, bool, bool, int, _Rect]] = []
        for order, (tx, ty) in enumerate(tries):
            px, py = min(max(tx, 0), w - pw), min(max(ty, 0), h - ph)
            r = (px, py, px + pw, py + ph)
            hides = any(_overlap(r, o) for o in others if o != box)
            ranked.append((sum(_overlap(r, t) for t in taken), hides, (px, py) != (tx, ty), order, r))
        free = [t for t in ranked if t[0] == 0]
        if free:
            return min(free, key=lambda t: (t[1], t[2], t[3]))[4]
        return min(ranked, key=lambda t: (t[0], t[3]))[4]

    def _draw_panel(
        self, frame: np.ndarray, st: _Style, box: Box, rows: tuple[str, list[TopClass], list[TopClass]], r: _Rect
    ) -> None:
        """The box's label, bars and classifier bars on the dark panel ``r``."""
        label, bars, crop = rows
        color = self.color(box.cls)
        # The label row on the box's colour, as detection tools draw it; the rest on a darkened panel.
        label_r = (r[0], r[1], r[2], r[1] + st.row)
        cv2.rectangle(frame, label_r[:2], (label_r[2] - 1, label_r[3] - 1), color, -1)
        ink = (0, 0, 0) if sum(c * k for c, k in zip(color, (0.114, 0.587, 0.299), strict=True)) > 150 else (255,) * 3
        baseline = st.row - st.pad - 1
        self._text(frame, label, (r[0] + st.pad, r[1] + baseline), st, ink)  # type: ignore[arg-type]
        self._darken(frame, (r[0], label_r[3], r[2], r[3]))
        uncertain = self.min_prob is not None and box.top1conf < self.min_prob
        if uncertain:
            cv2.rectangle(frame, r[:2], (r[2] - 1, r[3] - 1), self.uncertain_color, max(2, st.thick), cv2.LINE_AA)
        y = label_r[3]
        for i, c in enumerate(bars):
            self._bar(frame, st, r, y, c, color if i == 0 else self.bar_color)
            y += st.row
        if crop:
            self._text(frame, "crop", (r[0] + st.pad, y + baseline), st, self.classifier_color)
            y += st.row
            for c in crop:
                self._bar(frame, st, r, y, c, self.classifier_color)
                y += st.row

    def _bar(self, frame: np.ndarray, st: _Style, panel: _Rect, y: int, c: TopClass, fill: _Color) -> None:
        """One row: the class name, a bar of its probability, the percent."""
        baseline = st.row - st.pad - 1
        x1 = panel[2] - st.pad - st.pct_w - st.pad
        x0 = x1 - st.bar_w
        bh = max(2, int(st.row * 0.55))
        by0 = y + (st.row - bh) // 2
        cv2.rectangle(frame, (x0, by0), (x1, by0 + bh), self.track_color, -1)
        filled = x0 + round((x1 - x0) * min(max(c.prob, 0.0), 1.0))
        if filled > x0:
            cv2.rectangle(frame, (x0, by0), (filled, by0 + bh), fill, -1)
        self._text(frame, self._short(c.name), (panel[0] + st.pad, y + baseline), st, self.text_color)
        pct = percent(c.prob)
        self._text(frame, pct, (panel[2] - st.pad - self._width(pct, st), y + baseline), st, self.text_color)

    def _header(
        self, frame: np.ndarray, st: _Style, detections: Detections, *, fps: float | None, paused: bool
    ) -> tuple[str, _Rect]:
        """Temperature (or the calibration method), boxes, frame rate, PAUSED, and its place in the top-left corner."""
        n = len(detections.boxes)
        how = f"T {detections.temperature:.2f}"
        if detections.calibration != "temperature":
            how = detections.calibration
        text = f"{how}  {n} box{'es' if n != 1 else ''}"
        if fps is not None:
            text += f"  {fps:.1f} fps"
        if paused:
            text += "  PAUSED"
        return text, (
            0,
            0,
            min(frame.shape[1], self._width(text, st) + 2 * st.pad),
            min(frame.shape[0], st.row + st.pad),
        )
