"""Ultralytics detection data YAMLs: splits, labels, negatives, clipping, and one-line refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import example
from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.inputs.detection_data import data_notes, is_detection_yaml, load_detection_data

NAMES = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("det") / "digits-det"
    counts = example("make_detection_data").build_detection_dataset(root, n_train=3, n_val=4, n_test=3, seed=1)
    assert counts["val"]["images"] == 4 and counts["val"]["boxes"] >= 4
    return root


def test_reads_the_split_and_its_boxes_as_written(tiny: Path) -> None:
    data = load_detection_data(tiny / "data.yaml", NAMES, "val")
    assert len(data.files) == 4 and data.names == tuple(NAMES) and is_detection_yaml(tiny / "data.yaml")
    first = (tiny / "labels" / "val" / "val_0000.txt").read_text().split("\n")[0].split()
    cx, cy, w, h = map(float, first[1:])
    np.testing.assert_allclose(data.boxes[0][0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], atol=1e-9)
    assert data.classes[0][0] == int(first[0]) and data.unlabelled == data.clipped == data.dropped == 0
    assert data.ground_truth == sum(len(c) for c in data.classes) and data_notes(data) == []


def test_missing_and_empty_labels_are_counted_negatives_and_outside_boxes_clipped(tiny: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "d"
    shutil.copytree(tiny, copy)
    (copy / "data.yaml").write_text((copy / "data.yaml").read_text().replace(str(tiny.resolve()), str(copy)))
    (copy / "labels" / "val" / "val_0001.txt").unlink()
    (copy / "labels" / "val" / "val_0002.txt").write_text("")
    (copy / "labels" / "val" / "val_0003.txt").write_text("3 0.95 0.5 0.2 0.2\n4 1.5 1.5 0.1 0.1\n")
    data = load_detection_data(copy / "data.yaml", NAMES, "val")
    assert data.unlabelled == 1 and data.negatives == 2 and data.clipped == 1 and data.dropped == 1
    np.testing.assert_allclose(data.boxes[3], [[0.85, 0.4, 1.0, 0.6]])
    notes = data_notes(data)
    assert len(notes) == 3 and "1 of 4 images have no label file" in notes[0] and "clipped" in notes[1]


@pytest.mark.parametrize(
    ("line", "message"),
    [("12 0.5 0.5 0.1 0.1", "class 12 is not one of the YAML's 10 classes"), ("1 a b c d", "not numbers"),
     ("1 0.5 0.5", "a line is 'class cx cy w h'"), ("1 0.5 0.5 -0.1 0.1", "negative box width")],
)  # fmt: skip
def test_bad_label_lines_are_one_line_errors_naming_file_and_line(tiny: Path, tmp_path: Path, line: str,
                                                                  message: str) -> None:  # fmt: skip
    (tmp_path / "images" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "images" / "val" / "a.png").write_bytes((tiny / "images" / "val" / "val_0000.png").read_bytes())
    (tmp_path / "labels" / "val" / "a.txt").write_text(f"0 0.5 0.5 0.1 0.1\n{line}\n")
    (tmp_path / "d.yaml").write_text(f"path: {tmp_path}\nval: images/val\nnames: {NAMES}\n")
    with pytest.raises(SourceError, match=rf"a\.txt:2: .*{message}") as info:
        load_detection_data(tmp_path / "d.yaml", NAMES)
    assert "\n" not in str(info.value)


def test_yaml_level_refusals(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"its 10 classes differ from the model's 80 \(class 0: '0' in the data, "
                                          r"'person' in the model\)"):  # fmt: skip
        load_detection_data(tiny / "data.yaml", ["person", *[f"c{i}" for i in range(79)]])
    with pytest.raises(SourceError, match="no split 'holdout' \\(it has train, val, test\\); pass --split"):
        load_detection_data(tiny / "data.yaml", NAMES, "holdout")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.png").write_bytes((tiny / "images" / "val" / "val_0000.png").read_bytes())
    (tmp_path / "d.yaml").write_text(f"path: {tmp_path}\nval: images\nnames: {{0: a}}\n")
    with pytest.raises(SourceError, match="no labels folder for split 'val'"):
        load_detection_data(tmp_path / "d.yaml")
    (tmp_path / "e.yaml").write_text("val: images\n")
    with pytest.raises(SourceError, match="no 'names' mapping of classes"):
        load_detection_data(tmp_path / "e.yaml")
    with pytest.raises(SourceError, match="no such file"):
        load_detection_data(tmp_path / "none.yaml")
