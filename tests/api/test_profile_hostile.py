"""Hostile profiles: each bad edit of a valid profile is refused in one line naming the key, by the library and the CLI.

A profile is a file people edit and copy between machines. Every edit below once ended in the CLI's
catch-all "unexpected ..." (exit 1), or was accepted and made every record wrong. Each is applied to a
valid profile with all three decisions; ``load_profile`` must raise a ConfigError naming the key, and
``predict --profile`` must exit 2 with that one line.
"""

from __future__ import annotations

import copy
import io
import os
import re
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np
import pytest
import yaml

from yolo_probs import YoloProbs
from yolo_probs._util.hashing import bytes_sha256
from yolo_probs.api.profile import Profile, load_profile, save_profile
from yolo_probs.cli import main
from yolo_probs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
IMAGE = ROOT / "examples" / "images" / "digit_3.png"
AT = {"method": "temperature", "temperature": 1.25}
VECTOR = {"method": "vector", "scale": [0.9 + 0.02 * i for i in range(10)], "bias": [0.01 * i for i in range(10)]}


def valid() -> dict[str, Any]:
    """A valid profile (as YAML data) with an unknown-input rule, conformal sets and a reject threshold."""
    return {
        "version": 1,
        "name": "hostile",
        "model": str(MODEL),
        "temperature": 1.25,
        "top_k": 5,
        "min_prob": 0.5,
        "decisions": {
            "ood": {"score": "energy", "tpr": 0.95, "threshold": 5.0, "n": 300, "calibrator": dict(AT)},
            "conformal": {"alpha": 0.1, "score": "raps", "qhat": 0.9, "n": 300, "randomized": False,
                          "class_conditional": False, "penalty": 0.1, "k_reg": 1, "calibrator": dict(AT)},
            "reject": {"min_prob": 0.5, "target_accuracy": 0.99, "delta": 0.1, "n": 300, "calibrator": dict(AT)},
        },
    }  # fmt: skip


def edited(path: str, value: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """``data`` (default: :func:`valid`) with the dotted key ``path`` set to ``value`` (``DELETE``: removed)."""
    out = copy.deepcopy(data or valid())
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return out


DELETE = object()
NAN = float("nan")

# (dotted key, value written there, what the one-line error must say)
EDITS: list[tuple[str, Any, str]] = [
    ("decisions.ood.k", "abc", "decisions.ood.k must be a whole number >= 1, got 'abc'"),
    ("decisions.ood.k", 0, "decisions.ood.k must be a whole number >= 1, got 0"),
    ("decisions.ood.k", 2.5, "decisions.ood.k must be a whole number"),
    ("decisions.ood.threshold", NAN, "decisions.ood.threshold must be a finite number, got nan"),
    ("decisions.ood.threshold", "high", "decisions.ood.threshold must be a finite number"),
    ("decisions.ood.threshold", DELETE, "decisions.ood lacks threshold"),
    ("decisions.ood.score", "magic", "decisions.ood.score must be one of knn, energy"),
    ("decisions.ood.score", "knn", "decisions.ood uses the knn score but names no feature bank"),
    ("decisions.ood.tpr", 1.5, r"decisions.ood.tpr must be a finite number in \(0, 1\), got 1.5"),
    ("decisions.ood.treshold", 1.0, "decisions.ood has unknown keys treshold"),
    ("decisions.ood", 5, "decisions.ood must be a mapping"),
    ("decisions.ood.calibrator", "temperature", "decisions.ood.calibrator must be a calibrator mapping"),
    ("decisions.ood.calibrator.temperature", 2.0, "decisions.ood.calibrator is temperature scaling at T=2"),
    ("decisions.ood.calibrator.temperature", NAN, "temperature must be a finite number > 0"),
    ("decisions.conformal.penalty", "x", "decisions.conformal.penalty must be a finite number >= 0, got 'x'"),
    ("decisions.conformal.penalty", -1.0, "decisions.conformal.penalty must be a finite number >= 0"),
    ("decisions.conformal.k_reg", "x", "decisions.conformal.k_reg must be a whole number >= 0, got 'x'"),
    ("decisions.conformal.qhat", NAN, "decisions.conformal.qhat must be a finite number, got nan"),
    ("decisions.conformal.qhat", [0.9] * 9 + [NAN], r"decisions.conformal.qhat\[9\] must be a finite number"),
    ("decisions.conformal.qhat", [], "decisions.conformal.qhat must be a number or a list"),
    ("decisions.conformal.qhat", "0.9", "decisions.conformal.qhat must be a finite number, got '0.9'"),
    ("decisions.conformal.class_conditional", True, "decisions.conformal.qhat must be a list with one q-hat per class"),
    ("decisions.conformal.randomized", "no", "decisions.conformal.randomized must be true or false, got 'no'"),
    ("decisions.conformal.alpha", 0, r"decisions.conformal.alpha must be a finite number in \(0, 1\), got 0"),
    ("decisions.conformal.score", ["lac"], "decisions.conformal.score must be one of lac, aps, raps"),
    (
        "decisions.reject.target_accuracy",
        "x",
        r"decisions.reject.target_accuracy must be a finite number in \(0, 1\), got 'x'",
    ),
    ("decisions.reject.min_prob", 2.0, r"decisions.reject.min_prob must be a finite number in \[0, 1\], got 2.0"),
    ("decisions.reject.min_prob", NAN, r"decisions.reject.min_prob must be a finite number in \[0, 1\], got nan"),
    ("decisions.reject.min_prob", True, "decisions.reject.min_prob must be a finite number"),
    ("decisions.sets", {}, "unknown decision entries sets"),
    ("decisions", [1, 2], r"decisions must be dict or null, got \[1, 2\]"),
    ("calibrator", {"method": ["vector"]}, r"calibrator.method must be one of temperature, ets, vector, dirichlet"),
    ("calibrator", {"method": "vector", "scale": [1.0] * 10, "bias": [0.0] * 9 + ["x"]}, "bias must be numbers"),
    ("temperature", NAN, "temperature must be a finite number > 0"),
    ("min_prob", NAN, r"min_prob must be a number in \[0, 1\]"),
    ("model", 5, "model must be str"),
    ("model", "", "model must name a model file"),
]


def write(tmp_path: Path, data: dict[str, Any], name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_valid_profile_loads_and_predicts(tmp_path: Path) -> None:
    """The starting point of every edit below is itself valid, so each refusal is the edit's."""
    profile = load_profile(write(tmp_path, valid()))
    assert set(profile.decisions or {}) == {"ood", "conformal", "reject"}
    with YoloProbs.from_profile(write(tmp_path, valid()), device="cpu") as clf:
        p = clf.predict(str(IMAGE))[0]
    assert p.set is not None and p.unknown is not None


@pytest.mark.parametrize(("key", "value", "match"), EDITS, ids=[f"{k}={v!r}" for k, v, _ in EDITS])
def test_a_bad_edit_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: Any, match: str
) -> None:
    path = write(tmp_path, edited(key, value))
    with pytest.raises(ConfigError, match=match) as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    assert "drop the temperature" not in str(caught.value)  # no override was given
    code = main(["predict", str(IMAGE), "--profile", str(path), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "unexpected" not in err
    assert f"{path}: " in err and re.search(match, err)


def test_the_api_refuses_the_same_edits_in_a_profile_object() -> None:
    """``Profile(...)`` runs the same checks as ``load_profile`` (a profile built in code is no safer)."""
    data = edited("decisions.conformal.randomized", "no")
    data.pop("version")
    with pytest.raises(ConfigError, match=r"decisions\.conformal\.randomized must be true or false"):
        Profile(**data)
    with pytest.raises(ConfigError, match="model must be str"):
        Profile(model=5, temperature=1.0)  # type: ignore[arg-type]


def test_an_edited_calibrator_names_the_edit_not_an_override(tmp_path: Path) -> None:
    """Once: "made at vector calibration, but the model now uses vector calibration; drop the temperature override"."""
    data = valid()
    data["calibrator"] = copy.deepcopy(VECTOR)
    for entry in data["decisions"].values():
        entry["calibrator"] = copy.deepcopy(VECTOR)
    assert load_profile(write(tmp_path, data)).calibrator == VECTOR
    data["calibrator"]["bias"][3] = 0.5
    with pytest.raises(ConfigError) as caught:
        load_profile(write(tmp_path, data))
    message = str(caught.value)
    assert "decisions.ood.calibrator is vector calibration, but the profile's calibrator is vector calibration " \
           "with another bias" in message  # fmt: skip
    assert "edited" in message and "override" not in message


def test_an_override_is_named_as_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="drop the temperature"):
        YoloProbs.from_profile(write(tmp_path, valid()), temperature=2.0, device="cpu")


def test_a_calibrator_file_of_other_bytes_with_its_hash_updated(tmp_path: Path, capsys) -> None:
    big = {"method": "vector", "scale": [1.0] * 150, "bias": [0.0] * 150}
    path = save_profile(Profile(model=str(MODEL), temperature=1.0, calibrator=big), tmp_path / "big.yaml")
    npz = tmp_path / "big.calibrator.npz"
    for garbage in (b"this is not a zip file at all", b"PK\x03\x04 truncated", _npy(np.zeros(3))):
        npz.write_bytes(garbage)
        data = yaml.safe_load(path.read_text())
        data["calibrator"]["sha256"] = bytes_sha256(garbage)
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError, match=rf"{path}: cannot read calibrator file {npz}"):
            load_profile(path)
        assert main(["predict", str(IMAGE), "--profile", str(path)]) == 2
        err = capsys.readouterr().err
        assert "cannot read calibrator file" in err and "unexpected" not in err


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("bank", [np.full((20, 8), np.nan), np.zeros((0, 8)), np.ones(8)])
def test_a_feature_bank_of_nans_or_the_wrong_shape_is_refused(tmp_path: Path, capsys, bank: np.ndarray) -> None:
    """A bank of NaNs once gave records with ``"ood_score": NaN`` (not JSON)."""
    data = valid()
    name = "p.ood-bank.npy"
    (tmp_path / name).write_bytes(_npy(bank.astype(np.float16)))
    data["decisions"]["ood"].update(
        score="knn", k=1, bank=name, bank_sha256=bytes_sha256(_npy(bank.astype(np.float16)))
    )
    path = write(tmp_path, data)
    code = main(["predict", str(IMAGE), "--profile", str(path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "decisions.ood.bank" in err and "unexpected" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("bad", [None, 5, b"", ""])
def test_load_profile_of_no_path(bad: Any) -> None:
    with pytest.raises(ConfigError, match="path must be the path of a profile file"):
        load_profile(bad)


def test_from_profile_of_no_path() -> None:
    with pytest.raises(ConfigError, match="path must be the path of a profile"):
        YoloProbs.from_profile(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "path", "match"),
    [
        ("x", "p.yaml", "profile must be a Profile, got 'x'"),
        (None, "p.yaml", "profile must be a Profile, got None"),
        ("good", None, "path must be a file path"),
        ("good", 5, "path must be a file path"),
        ("good", ".", "it is a folder"),
        ("changed", "p.yaml", "temperature must be a finite number > 0, got nan"),
        ("bad decisions", "p.yaml", "decisions.reject.min_prob must be a finite number"),
    ],
)
def test_save_profile_refuses_bad_arguments_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: Any, path: Any, match: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if profile in ("good", "changed", "bad decisions"):
        made = Profile(model=str(MODEL), temperature=1.25)
        if profile == "changed":
            made.temperature = NAN  # changed after it was made
        if profile == "bad decisions":
            made.decisions = edited("decisions.reject.min_prob", NAN)["decisions"]
        profile = made
    with pytest.raises(ConfigError, match=match):
        save_profile(profile, path)
    assert list(tmp_path.iterdir()) == []
