"""Deployment profiles: round trip, validation, atomic writes, model hash, YoloProbs.from_profile."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import errno
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.targets import KINDS, FifoReader, special_target
from yolo_probs._util.hashing import file_sha256
from yolo_probs.api.profile import Profile, load_profile, save_profile
from yolo_probs.errors import ConfigError, ModelError, OutputError

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


# -- the one file writer: special targets, side files, permissions --
#: A calibrator too large for the YAML (its arrays go to p.calibrator.npz) and an in-memory k-NN bank (a .npy).
BIG = {"method": "vector", "scale": [1.5] * 150, "bias": [0.25] * 150}
BANK = {"ood": {"score": "knn", "k": 1, "threshold": -0.5, "bank": np.eye(4, 8), "calibrator": BIG}}


def with_side_files(model: str = "a.pt") -> Profile:
    return Profile(model=model, temperature=1.0, calibrator=dict(BIG), decisions={"ood": dict(BANK["ood"])})


@pytest.mark.parametrize("kind", KINDS)
def test_plain_profile_to_special_targets(tmp_path: Path, kind: str) -> None:
    (tmp_path / "real").mkdir()
    model = shutil.copy(MODEL, tmp_path / "real" / "m.pt")  # beside the symlink's target, not beside the link
    with special_target(kind, tmp_path, "p.yaml") as target:
        profile = Profile(model=str(model), temperature=1.7, name="line")
        if kind == "full":
            with pytest.raises(OutputError, match=rf"cannot write {target.path} \(No space left on device\)"):
                save_profile(profile, target.path)
        else:
            assert save_profile(profile, target.path) == target.path
        target.assert_kept()
        written = target.received()
    assert target.leftovers() == []
    if kind == "fifo":  # a profile in a stream has no folder: its model path is absolute
        data = yaml.safe_load(written)
        assert data["temperature"] == 1.7 and data["model"] == str(Path(model).resolve())
    if kind == "symlink":  # relative to the real file's folder, and loaded through the link
        assert target.real is not None and yaml.safe_load(written)["model"] == "m.pt"
        assert Path(load_profile(target.path).model).resolve() == Path(model).resolve()


@pytest.mark.parametrize("kind", ["null", "full", "fifo", "stdout"])
def test_profile_with_side_files_is_refused_in_a_stream(tmp_path: Path, kind: str) -> None:
    if kind == "stdout":
        with pytest.raises(ConfigError) as caught:
            save_profile(with_side_files(), "-")
        where = "stdout"
    else:
        with special_target(kind, tmp_path, "p.yaml") as target:
            with pytest.raises(ConfigError) as caught:
                save_profile(with_side_files(), target.path)
            target.assert_kept()
            assert target.received() == b""
        where = f"{target.path} (a FIFO or device)"
    stem = "profile" if kind == "stdout" else "p"
    assert str(caught.value) == (
        f"a profile with side files ({stem}.calibrator.npz, {stem}.ood-bank.npy) cannot be written as a stream "
        f"into {where}; name a regular file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if kind == "stdout" else ["p.yaml"])


def test_plain_profile_streams_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    save_profile(Profile(model="yolo26n-cls.pt", temperature=1.25), "-")
    assert yaml.safe_load(capsys.readouterr().out)["temperature"] == 1.25


def test_side_files_sit_beside_a_symlinked_profiles_target(tmp_path: Path) -> None:
    real = tmp_path / "v3" / "profile.yaml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "current.yaml"
    link.symlink_to(real)
    save_profile(with_side_files(), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert sorted(p.name for p in real.parent.iterdir()) == [
        "profile.calibrator.npz",
        "profile.ood-bank.npy",
        "profile.yaml",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.yaml", "v3"]
    for path in (link, real):  # the same profile, whichever name it is loaded by
        loaded = load_profile(path)
        assert loaded.calibrator is not None and loaded.calibrator["scale"].tolist() == BIG["scale"]
        assert loaded.decisions is not None and np.load(loaded.decisions["ood"]["bank"]).shape == (4, 8)


def test_side_file_hashes_are_those_of_the_files_written(tmp_path: Path) -> None:
    path = save_profile(with_side_files(), tmp_path / "p.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["calibrator"]["sha256"] == file_sha256(tmp_path / "p.calibrator.npz")
    assert data["decisions"]["ood"]["bank_sha256"] == file_sha256(tmp_path / "p.ood-bank.npy")


def test_profile_and_side_files_follow_the_umask_or_keep_their_bits(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_profile(with_side_files(), tmp_path / "p.yaml")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        assert modes == {"p.yaml": 0o644, "p.calibrator.npz": 0o644, "p.ood-bank.npy": 0o644}  # never 0o600
        (tmp_path / "p.yaml").chmod(0o640)
        save_profile(with_side_files(), tmp_path / "p.yaml")
        assert stat.S_IMODE((tmp_path / "p.yaml").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_a_side_file_that_is_a_fifo_is_refused_before_the_profile_is_written(tmp_path: Path) -> None:
    reader = FifoReader(tmp_path / "p.ood-bank.npy")  # read, so that a writer streaming into it fails, not hangs
    with pytest.raises(ConfigError, match=r"p.ood-bank.npy, a file beside the profile cannot be written as a stream"):
        save_profile(with_side_files(), tmp_path / "p.yaml")
    assert reader.close() == b"" and not (tmp_path / "p.yaml").exists()


def test_profile_to_a_full_disk_leaves_the_old_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = save_profile(Profile(model="a.pt", temperature=1.5), tmp_path / "p.yaml")
    before = target.read_bytes()

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=r"p.yaml \(No space left on device\); free some space"):
        save_profile(Profile(model="b.pt", temperature=3.0), target)
    assert target.read_bytes() == before and sorted(x.name for x in tmp_path.iterdir()) == ["p.yaml"]


def test_numpy_numbers_are_taken_and_written_as_plain_yaml(tmp_path: Path) -> None:
    made = Profile(model="m.pt", temperature=np.float32(1.5), top_k=np.int64(3), imgsz=np.int64(224),
                   min_prob=np.float64(0.25))  # fmt: skip
    back = load_profile(save_profile(made, tmp_path / "p.yaml"))
    assert (back.temperature, back.top_k, back.imgsz, back.min_prob) == (1.5, 3, 224, 0.25)
    assert "!!python" not in (tmp_path / "p.yaml").read_text()
