"""`yolo-probs predict -m DETECTOR --classifier MODEL|PROFILE`: both distributions per box, bad pairs refused."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import IMAGES, MODEL
from yolo_probs.api.profile import Profile, save_profile
from yolo_probs.cli import main
from yolo_probs.outputs.parquet import read_records

DETECTOR = ["-m", "yolo26n.yaml", "--conf", "0.0001", "--imgsz", "64", "--device", "cpu"]
DIGITS = [str(d) for d in range(10)]


def test_each_box_carries_the_calibrated_classifiers_top_k(capsys, tmp_path: Path) -> None:
    profile = save_profile(Profile(name="crops", model=str(MODEL), temperature=2.5, top_k=2), tmp_path / "p.yaml")
    images = [str(IMAGES / "digit_3.png"), str(IMAGES / "digit_7.png")]
    code = main(["predict", *images, *DETECTOR, "-k", "3", "--classifier", str(profile), "-f", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    records = json.loads(out)
    assert [r["source"] for r in records] == images
    for record in records:
        assert record["boxes"]
        for box in record["boxes"]:
            assert len(box["top"]) == 3  # the detector's own distribution, its -k
            crop = box["classifier"]
            assert crop["temperature"] == 2.5 and len(crop["top"]) == 2  # the profile's temperature and top_k
            assert all(c["name"] in DIGITS for c in crop["top"]) and crop["top"][0]["prob"] >= crop["top"][1]["prob"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", str(MODEL), "--classifier", str(MODEL)], "the model is a 'classify' model"),
        ([*DETECTOR, "--classifier", "yolo26n.yaml"], "the classifier yolo26n.yaml is a 'detect' model"),
        ([*DETECTOR, "--classifier", str(MODEL), "--ray"], "--classifier crops the boxes on this machine"),
        ([*DETECTOR, "--classifier", "missing-cls.pt"], "missing-cls.pt: it is not a local file"),
    ],
)
def test_a_classifier_that_is_not_one_or_a_model_that_is_not_a_detector_is_one_line(capsys, args, message) -> None:
    code = main(["predict", str(IMAGES / "digit_3.png"), *args])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out == ""


def test_parquet_keeps_each_boxs_classifier(capsys, tmp_path: Path) -> None:
    image = str(IMAGES / "digit_3.png")
    out = tmp_path / "crops.parquet"
    code = main(["predict", image, *DETECTOR, "--classifier", str(MODEL), "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    code = main(["predict", image, *DETECTOR, "--classifier", str(MODEL), "-f", "json"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert read_records(out) == json.loads(printed)  # the same records as JSON, classifier included
    assert "classifier" in read_records(out)[0]["boxes"][0]


def test_csv_and_table_show_each_crops_top_class(capsys) -> None:
    image = str(IMAGES / "digit_3.png")
    code = main(["predict", image, *DETECTOR, "-k", "2", "--classifier", str(MODEL), "-f", "csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["classifier_name"] in DIGITS and 0 < float(r["classifier_prob"]) <= 1 for r in rows)
    code = main(["predict", image, *DETECTOR, "--classifier", str(MODEL), "-f", "table"])
    out, err = capsys.readouterr()
    assert code == 0 and "crop: " in out, err
