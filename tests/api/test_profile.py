"""Deployment profiles: round trip, validation, atomic writes, model hash, YoloProbs.from_profile."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import shutil
from pathlib import Path

import pytest
import yaml

from yolo_probs._util.hashing import file_sha256
from yolo_probs.api.profile import Profile, load_profile, save_profile
from yolo_probs.errors import ConfigError, ModelError

MODEL = Path(__file__).resolve().parents[2] / "examples" / "models" / "digits-yolo26n-cls.pt"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_with_provenance(tmp_path: Path) -> None:
    cal = {"data": "d", "split": "val", "samples": 10, "skipped": 1, "date": "2025-01-01T00:00:00+00:00",
           "bins": 15, "binning": "b", "before": {"ece": 0.1}, "after": {"ece": 0.01}}  # fmt: skip
    p = Profile(
        model="yolo26n-cls.pt", temperature=1.25, name="cam-2", top_k=3, min_prob=0.1, imgsz=64, calibration=cal
    )
    back = load_profile(save_profile(p, tmp_path / "sub" / "p.yaml"))
    assert back == p


def test_model_path_is_relative_to_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models").mkdir()
    model = shutil.copy(MODEL, tmp_path / "models" / "m.pt")
    save_profile(Profile(model=str(model), temperature=2.0, model_sha256=file_sha256(model)), tmp_path / "p.yaml")
    assert yaml.safe_load((tmp_path / "p.yaml").read_text())["model"] == "models/m.pt"
    monkeypatch.chdir("/")
    assert Path(load_profile(tmp_path / "p.yaml").model).resolve() == Path(model).resolve()


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "p.yaml"
    save_profile(Profile(model="a.pt", temperature=1.5), target)
    before = target.read_bytes()

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_profile(Profile(model="b.pt", temperature=3.0), target)
    assert target.read_bytes() == before  # the old profile is intact...
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p.yaml"]  # ...and no temporary file is left


BASE = "model: a.pt\ntemperature: 1.5\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model: a.pt\ntemperature: [1.5\n", "not valid YAML at line"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("", "must be a YAML mapping"),
        (BASE + "temprature: 2\n", "unknown keys temprature"),
        (BASE + "calibration:\n  sampels: 3\n", "unknown keys under calibration: sampels"),
        ("model: a.pt\n", "missing required keys temperature"),
        ("model: a.pt\ntemperature: hot\n", "temperature must be float"),
        ("model: a.pt\ntemperature: true\n", "temperature must be float"),
        ("model: a.pt\ntemperature: 0\n", "temperature must be a finite number > 0"),
        ("model: a.pt\ntemperature: -1.5\n", "temperature must be a finite number > 0"),
        ("model: a.pt\ntemperature: .nan\n", "temperature must be a finite number > 0"),
        (BASE + "top_k: 2.5\n", "top_k must be int"),
        (BASE + "top_k: 0\n", "top-k must be a whole number >= 1"),
        (BASE + "imgsz: big\n", "imgsz must be int or null"),
        (BASE + "min_prob: 2\n", r"min_prob must be a number in \[0, 1\]"),
        (BASE + "name: 7\n", "name must be str"),
        (BASE + "model_sha256: 12\n", "model_sha256 must be str or null"),
        (BASE + "calibration:\n  samples: many\n", "calibration.samples must be int"),
        (BASE + "version: 2\n", "version 2 is not supported"),
        ("model: 3\ntemperature: 1.5\n", "model must be str"),
    ],
)
def test_bad_profiles(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=match) as info:
        load_profile(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; create one with 'yolo-probs calibrate"):
        load_profile(tmp_path / "nope.yaml")


def test_model_hash_mismatch(tmp_path: Path) -> None:
    model = shutil.copy(MODEL, tmp_path / "m.pt")
    path = save_profile(Profile(model=str(model), temperature=2.0, model_sha256="0" * 64), tmp_path / "p.yaml")
    with pytest.raises(ModelError, match="the model changed since calibration"):
        load_profile(path)
    assert load_profile(path, check_model=False).temperature == 2.0


def test_from_profile_uses_and_overrides_the_profile(tmp_path: Path) -> None:
    from yolo_probs import YoloProbs

    path = save_profile(
        Profile(model=str(MODEL), temperature=0.8, top_k=2, imgsz=64, model_sha256=file_sha256(MODEL)),
        tmp_path / "p.yaml",
    )
    with YoloProbs.from_profile(path, device="cpu") as clf:
        assert (clf.temperature, clf.top_k) == (0.8, 2)
        pred = clf.predict(MODEL.parents[1] / "images" / "digit_3.png")[0]
        assert pred.temperature == 0.8 and len(pred.top) == 2
    with YoloProbs.from_profile(path, temperature=2.5, top_k=None, device="cpu") as clf:
        assert (clf.temperature, clf.top_k) == (2.5, 2)  # None leaves the profile's value


def test_from_profile_refuses_a_changed_model(tmp_path: Path) -> None:
    from yolo_probs import YoloProbs

    model = shutil.copy(MODEL, tmp_path / "m.pt")
    path = save_profile(Profile(model=str(model), temperature=2.0, model_sha256="f" * 64), tmp_path / "p.yaml")
    with pytest.raises(ModelError, match="sha256"):
        YoloProbs.from_profile(path)
