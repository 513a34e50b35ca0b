"""The box drawer on synthetic frames: outlines in class colours where the boxes are, one panel per box, bars."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from yolo_probs.core.boxes import Detections
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import ConfigError
from yolo_probs.overlay.boxes import PALETTE, BoxDrawer

NAMES = tuple(f"class{i}" for i in range(6))
SIZES = [(240, 320), (480, 640), (1080, 1920), (2160, 3840)]


def _detections(xyxy: list[list[float]], classes: list[int], shape: tuple[int, int], top_k: int = 3) -> Detections:
    logits = np.full((len(xyxy), len(NAMES)), -2.0, np.float32)
    for i, c in enumerate(classes):
        logits[i, c] = 3.0
        logits[i, (c + 1) % len(NAMES)] = 1.0
    conf = 1 / (1 + np.exp(-logits.max(axis=1)))
    return Detections.from_logits(xyxy, conf, classes, logits, NAMES, shape=shape, top_k=top_k)


def _mask(frame: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    return np.all(frame == np.array(color, np.uint8), axis=2)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize(("h", "w"), SIZES)
def test_each_box_is_outlined_in_its_class_colour_where_it_is(h: int, w: int) -> None:
    boxes = [[0.1 * w, 0.5 * h, 0.3 * w, 0.9 * h], [0.6 * w, 0.4 * h, 0.9 * w, 0.8 * h]]
    d = _detections(boxes, [1, 4], (h, w))
    frame = np.full((h, w, 3), 128, np.uint8)
    out = BoxDrawer(header=False).draw(frame, d)
    assert out is frame
    for box, cls in zip(boxes, [1, 4], strict=True):
        colour = np.all(frame == np.array(PALETTE[cls], np.uint8), axis=2)
        # Each box's colour shows on its edges (the label row shares it), and never inside the other box.
        x0, y0, x1, y1 = (round(v) for v in box)
        assert colour[(y0 + y1) // 2, x0 - 1 : x0 + 2].any() and colour[(y0 + y1) // 2, x1 - 1 : x1 + 2].any()
        assert colour[y1 - 1 : y1 + 2, (x0 + x1) // 2].any()
    assert PALETTE[1] != PALETTE[4]
    left_inside = frame[int(0.65 * h) : int(0.85 * h), int(0.15 * w) : int(0.25 * w)]
    assert (left_inside == 128).all()  # the scene inside a box stays visible


@pytest.mark.parametrize(("h", "w"), SIZES)
def test_the_panel_sits_above_the_box_and_its_first_bar_is_as_long_as_the_probability(h: int, w: int) -> None:
    d = _detections([[0.4 * w, 0.5 * h, 0.6 * w, 0.7 * h]], [2], (h, w))
    frame = np.full((h, w, 3), 128, np.uint8)
    BoxDrawer(header=False, track_color=(1, 2, 3)).draw(frame, d)
    colour = _mask(frame, PALETTE[2])
    px0, py0, px1, _ = _bbox(colour)
    assert px0 <= round(0.4 * w) < px1
    assert py0 < 0.5 * h  # the label row is above the box
    track = _mask(frame, (1, 2, 3))
    tx0, ty0, tx1, _ = _bbox(track)
    assert ty0 < 0.5 * h
    # The first bar: the box's colour on the track's first row, as long as its probability.
    row = colour[ty0 + 1, tx0:tx1] | track[ty0 + 1, tx0:tx1]
    filled = int(colour[ty0 + 1, tx0:tx1].sum())
    p = d.boxes[0].top[0].prob
    assert row.all() and abs(filled / row.size - p) < 0.05


def test_boxes_are_scaled_from_the_image_to_an_enlarged_canvas() -> None:
    d = _detections([[8, 16, 40, 56]], [0], (64, 64))
    frame = np.full((480, 480, 3), 128, np.uint8)
    BoxDrawer(header=False, bars=0).draw(frame, d)
    colour = _mask(frame, PALETTE[0])
    # 7.5 times the image's coordinates: the outline's right and bottom edges.
    assert colour[300, 298:303].any() and colour[418:423, 150].any()
    assert not colour[300, 310:].any() and not colour[430:, 150].any()


def test_panels_of_neighbours_do_not_cover_each_other_when_there_is_room() -> None:
    h, w = 480, 640
    d = _detections([[100, 200, 200, 300], [210, 200, 310, 300], [320, 200, 420, 300]], [0, 1, 2], (h, w))
    drawer = BoxDrawer(header=False)
    st = drawer._style(h, w)
    taken: list[tuple[int, int, int, int]] = []
    for b in d.boxes:
        taken.append(drawer._place(np.zeros((h, w, 3), np.uint8), tuple(int(v) for v in b.xyxy), (150, 80), taken))
    for i, a in enumerate(taken):
        for b in taken[i + 1 :]:
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]), (a, b)
        assert 0 <= a[0] < a[2] <= w and 0 <= a[1] < a[3] <= h
    assert st.row > 0


def test_a_box_at_the_top_edge_gets_its_panel_below_it() -> None:
    drawer = BoxDrawer()
    r = drawer._place(np.zeros((480, 640, 3), np.uint8), (100, 0, 200, 100), (150, 80), [])
    assert r[1] >= 100


def test_calibrated_confidence_and_the_classifier_add_to_the_panel() -> None:
    h, w = 480, 640
    d = _detections([[200, 250, 400, 400]], [3], (h, w))
    crop = Prediction.from_logits(np.array([2.0, 0.0, -1.0]), names=("cat", "dog", "owl"), top_k=2)
    plain, rich = np.full((h, w, 3), 128, np.uint8), np.full((h, w, 3), 128, np.uint8)
    drawer = BoxDrawer(header=False, classifier_color=(7, 8, 9))
    drawer.draw(plain, d)
    box = replace(d.boxes[0], conf_calibrated=0.42, classifier=crop)
    drawer.draw(rich, replace(d, boxes=[box]))
    assert not _mask(plain, (7, 8, 9)).any()
    assert _mask(rich, (7, 8, 9)).sum() > 50  # the crop's bars, in the classifier's colour
    above_plain = _bbox(np.any(plain[:244] != 128, axis=2))
    above_rich = _bbox(np.any(rich[:244] != 128, axis=2))
    assert above_rich[3] - above_rich[1] > above_plain[3] - above_plain[1]  # the crop's rows make it taller
    assert drawer._rows(box)[0] == "class3 0.95 cal 0.42"


def test_uncertain_boxes_get_an_edge_and_empty_detections_only_the_header() -> None:
    d = _detections([[200, 250, 400, 400]], [3], (480, 640))
    frame = np.full((480, 640, 3), 128, np.uint8)
    BoxDrawer(min_prob=0.99, uncertain_color=(5, 6, 7), header=False).draw(frame, d)
    assert _mask(frame, (5, 6, 7)).any()
    empty = replace(d, boxes=[])
    frame = np.full((480, 640, 3), 128, np.uint8)
    BoxDrawer().draw(frame, empty, fps=12.0)
    x0, y0, x1, y1 = _bbox(np.any(frame != 128, axis=2))
    assert (x0, y0) == (0, 0) and x1 < 320 and y1 < 60


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: BoxDrawer().draw(np.zeros((4, 4), np.uint8), _detections([], [], (4, 4))), "frame must be"),
        (lambda: BoxDrawer().draw(np.zeros((4, 4, 3), np.uint8), "boxes"), "detections must be"),
        (lambda: BoxDrawer().draw(np.zeros((4, 4, 3), np.uint8), _detections([], [], (4, 4)), fps=np.nan), "fps"),
        (lambda: BoxDrawer(bars=-1), "bars must be"),
        (lambda: BoxDrawer(bars=True), "bars must be"),
        (lambda: BoxDrawer(alpha=2.0), "alpha"),
        (lambda: BoxDrawer(classifier_color=(0, 0)), "classifier_color"),
        (lambda: BoxDrawer(min_prob=1.5), "min_prob"),
    ],
)
def test_bad_arguments_raise_one_config_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        call()


def test_a_panel_goes_where_it_hides_no_other_box() -> None:
    drawer = BoxDrawer()
    frame = np.zeros((480, 640, 3), np.uint8)
    box, above = (300, 200, 400, 300), (300, 100, 420, 190)  # another box sits just where the panel would go
    r = drawer._place(frame, box, (150, 80), [], [box, above])
    assert not (min(r[2], above[2]) > max(r[0], above[0]) and min(r[3], above[3]) > max(r[1], above[1])), r
    assert r == (300, 301, 450, 381)  # the next choice: just below the box
