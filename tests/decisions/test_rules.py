"""Decision rules from a profile, on the shipped digits model: API, records, refusals, the feature bank."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import example
from yolo_probs import YoloProbs
from yolo_probs.api.profile import load_profile, save_profile
from yolo_probs.api.workflow import calibrate
from yolo_probs.decisions.requested import DecisionOptions
from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.inputs.labelled import list_unknowns

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, digits_data: Path) -> dict[str, Path]:
    """A small digits val/test set and a folder of unknown photos, built by the example scripts."""
    root = tmp_path_factory.mktemp("dec")
    example("make_unknowns").write_unknowns(root / "unknowns", count=40)
    return {"digits": digits_data, "unknowns": root / "unknowns", "root": root}


@pytest.fixture(scope="module")
def profile(data: dict[str, Path]) -> Path:
    """A profile with all three decisions, fitted on the val split by the library's calibrate workflow."""
    asked = DecisionOptions(ood_tpr=0.95, conformal=0.1, score="aps", target_accuracy=0.95, delta=0.1)
    with YoloProbs(MODEL, device="cpu", batch=32) as clf:
        result = calibrate(clf, data["digits"], decisions=asked.to_workflow())
    path = data["root"] / "prof" / "digits.yaml"
    save_profile(result.to_profile(MODEL), path)
    return path


def test_profile_entries_and_bank(profile: Path) -> None:
    p = load_profile(profile)
    ood, conf, rej = p.decisions["ood"], p.decisions["conformal"], p.decisions["reject"]
    assert ood["score"] == "knn" and ood["tpr"] == 0.95 and ood["n"] > 300
    assert ood["calibrator"] == {"method": "temperature", "temperature": p.temperature}
    bank = np.load(ood["bank"])
    assert bank.dtype == np.float16 and bank.shape[0] == ood["n"]
    assert Path(ood["bank"]).parent == profile.parent  # stored relative, beside the profile
    assert "bank: digits.ood-bank.npy" in profile.read_text()
    assert conf["alpha"] == 0.1 and conf["score"] == "aps" and 0 < conf["qhat"] <= 1
    assert rej["min_prob"] == p.min_prob and rej["target_accuracy"] == 0.95 and rej["error_bound"] <= 0.05


def test_predictions_carry_decisions(profile: Path, data: dict[str, Path]) -> None:
    digits = sorted((data["digits"] / "test" / "3").glob("*.png"))[:6]
    unknowns = sorted(data["unknowns"].glob("*.png"))
    with YoloProbs.from_profile(profile, device="cpu", batch=4) as clf:
        assert clf.wants_features
        preds = clf.predict([*map(str, digits), *map(str, unknowns)])
    known, unknown = preds[: len(digits)], preds[len(digits) :]
    assert all(p.ood_score is not None and p.set is not None for p in preds)
    assert sum(p.unknown for p in known) <= 1
    assert sum(p.unknown for p in unknown) >= 0.6 * len(unknown)
    for p in known:
        assert p.set and p.set[0].index == p.top1  # APS sets hold the top class, best first
        probs = [c.prob for c in p.set]
        assert probs == sorted(probs, reverse=True)
    record = json.loads(json.dumps(preds[0].to_dict()))
    assert isinstance(record["ood_score"], float) and record["unknown"] in (True, False)
    assert record["set"][0].keys() == {"index", "name", "prob"}


def test_rejected_predictions_keep_an_empty_top(profile: Path, data: dict[str, Path]) -> None:
    unknowns = sorted(data["unknowns"].glob("*.png"))
    with YoloProbs.from_profile(
        profile, device="cpu", batch=8, min_prob=0.0
    ) as clf:  # a lower min_prob: the rule holds
        preds = clf.predict(list(map(str, unknowns)))
    threshold = load_profile(profile).min_prob
    low = [p for p in preds if p.top1conf < threshold]
    assert low, "some photo should fall below the guaranteed threshold"
    assert all(p.top == [] for p in low)
    assert all(p.top for p in preds if p.top1conf >= threshold)


def test_another_temperature_is_refused(profile: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"decisions\.\w+ was made at temperature scaling at T=.*drop the temperature"
    ):
        YoloProbs.from_profile(profile, temperature=2.0, device="cpu")


def test_live_temperature_change_leaves_predictions_without_decisions(profile: Path) -> None:
    image = str(ROOT / "examples" / "images" / "digit_3.png")
    with YoloProbs.from_profile(profile, device="cpu") as clf:
        assert clf.predict(image)[0].set is not None
        clf.temperature = clf.temperature * 2  # what the overlay's '+' key does
        p = clf.predict(image)[0]
    assert p.set is None and p.ood_score is None and p.unknown is None


def test_changed_or_missing_bank_is_refused(profile: Path, tmp_path: Path) -> None:
    copy = tmp_path / "p.yaml"
    bank_path = tmp_path / "other.npy"
    np.save(bank_path, np.zeros((3, 4), np.float16))
    copy.write_text(profile.read_text().replace("bank: digits.ood-bank.npy", f"bank: {bank_path}"))
    with pytest.raises(ConfigError, match="changed since calibration"):
        YoloProbs.from_profile(copy, device="cpu")
    bank_path.unlink()
    with pytest.raises(ConfigError, match="not found"):
        YoloProbs.from_profile(copy, device="cpu")


def test_bad_options_fail_before_inference() -> None:
    for kwargs, match in (
        ({"conformal": 1.0}, "strictly between 0 and 1"),
        ({"conformal": 0.0}, "strictly between 0 and 1"),
        ({"ood_tpr": 1.5}, "strictly between 0 and 1"),
        ({"target_accuracy": 1.0}, "strictly between 0 and 1"),
        ({"delta": 0.0}, "strictly between 0 and 1"),
        ({"ood_score": "mahalanobis"}, "unknown OOD score"),
        ({"score": "topk"}, "unknown conformal score"),
    ):
        with pytest.raises(ConfigError, match=match):
            DecisionOptions(**kwargs)  # type: ignore[arg-type]


def test_ood_folder_checks(data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no images"):
        list_unknowns(tmp_path, ["0", "1"])
    (tmp_path / "3").mkdir()
    src = next((data["digits"] / "test" / "3").glob("*.png"))
    (tmp_path / "3" / src.name).write_bytes(src.read_bytes())
    with pytest.warns(UserWarning, match="named like the model's classes"):
        assert len(list_unknowns(tmp_path, [str(i) for i in range(10)])) == 1


def test_plugin_mode_applies_the_decisions(profile: Path, data: dict[str, Path]) -> None:
    from ultralytics import YOLO

    import yolo_probs

    photo = str(sorted(data["unknowns"].glob("*.png"))[0])
    model = yolo_probs.attach(YOLO(MODEL), profile=profile)
    try:
        results = model([str(ROOT / "examples" / "images" / "digit_3.png"), photo], verbose=False, device="cpu")
        p = results[0].prediction
        assert p.ood_score is not None and p.unknown is False and p.set and p.set[0].name == "3"
        assert results[1].prediction.ood_score is not None
        with pytest.raises(ConfigError, match="was made at"):
            yolo_probs.attach(model, temperature=2.0, profile=profile)
    finally:
        yolo_probs.detach(model)
