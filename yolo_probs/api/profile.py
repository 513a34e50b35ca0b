"""Deployment profiles: one YAML file per deployment holding its model, temperature and options.

A profile records the model path and its sha256 (so a retrained model is not silently paired with an
old temperature), the temperature, ``top_k``, ``min_prob``, ``imgsz`` and, when it was written by
``yolo-probs calibrate``, where the temperature came from (data, sample count, date, bins, metrics
before and after). A relative ``model`` path is relative to the profile's own folder, so a profile
and its model can be moved together. Profiles are written by the one file writer
(:mod:`yolo_probs.outputs.files`): atomically, keeping permissions, through symlinks.

Example:
    >>> import tempfile, pathlib
    >>> from yolo_probs.api.profile import Profile, load_profile, save_profile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = save_profile(Profile(name="line-3", model="yolo26n-cls.pt", temperature=1.7), folder / "p.yaml")
    >>> p = load_profile(path)
    >>> p.name, p.temperature, p.top_k
    ('line-3', 1.7, 5)
"""

from __future__ import annotations

import contextlib
import io
import numbers
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs._util.hashing import bytes_sha256, file_sha256
from yolo_probs.calibration import TemperatureScaling, calibrator_from_dict
from yolo_probs.calibration.box_base import box_calibrator_from_dict
from yolo_probs.calibration.storage import calibrator_file_name, load_calibrator, pack_calibrator, profile_folder
from yolo_probs.core.probs import check_min_prob, check_temperature, check_top_k
from yolo_probs.decisions.base import check_decisions
from yolo_probs.errors import ConfigError, ModelError
from yolo_probs.inputs.preprocess import check_size
from yolo_probs.outputs.files import check_output, resolve_output, write_bytes, write_text

__all__ = ["PROFILE_VERSION", "Profile", "bank_file_name", "load_profile", "save_profile", "side_files"]

PROFILE_VERSION = 1
_CALIBRATION_KEYS = {
    "data": str,
    "split": (str, type(None)),
    "samples": int,
    "skipped": int,
    "date": str,
    "bins": int,
    "binning": str,
    "method": str,
    "before": dict,
    "after": dict,
}


@dataclass
class Profile:
    """One deployment: model, temperature and prediction options, plus optional calibration provenance.

    ``model`` is a path (as resolved when loaded) or an Ultralytics model name.
    """

    model: str
    temperature: float
    name: str = ""
    model_sha256: str | None = None
    top_k: int = 5
    min_prob: float | None = None
    imgsz: int | None = None
    calibration: dict[str, Any] | None = None
    calibrator: dict[str, Any] | None = None
    decisions: dict[str, Any] | None = None
    engine: str | None = None
    box_calibrator: dict[str, Any] | None = None
    version: int = PROFILE_VERSION

    def __post_init__(self) -> None:
        """Check every field once, as loaded or built: types, ranges, NaN, the calibrator and each decision.

        Raises ConfigError naming the key and the value (``decisions.ood.k must be a whole number >= 1,
        got 'abc' (str)``).
        """
        if isinstance(self.model, os.PathLike):
            self.model = os.fspath(self.model)
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), _TOP_TYPES[f.name])
        if not self.model:
            raise ConfigError("model must name a model file or an Ultralytics model, got an empty string")
        self.version = int(self.version)
        if self.version != PROFILE_VERSION:
            raise ConfigError(
                f"profile version {self.version} is not supported (this yolo-probs reads {PROFILE_VERSION})"
            )
        self.temperature = check_temperature(self.temperature)
        self.top_k = check_top_k(self.top_k)
        self.min_prob = check_min_prob(self.min_prob)
        if isinstance(self.imgsz, np.integer):
            self.imgsz = int(self.imgsz)  # plain ints: numpy's are not YAML
        check_size(self.imgsz, "imgsz", hint="use e.g. 224 or null")
        if self.calibration is not None:
            _check_calibration_record(self.calibration)
        if self.calibrator is not None:
            calibrator_from_dict(self.calibrator)  # the method and its parameters, each named
        if self.decisions is not None:
            self.decisions = check_decisions(self.decisions, self)
        if self.box_calibrator is not None:
            box_calibrator_from_dict(self.box_calibrator)  # a detector's box-confidence calibrator, checked

    def model_kwargs(self, **explicit: Any) -> dict[str, Any]:
        """Keyword arguments for :class:`~yolo_probs.api.model.YoloProbs` (``model`` included), ``explicit`` on top.

        This is the one place where a profile meets explicit options: an option that is not None
        overrides the profile's value. An explicit ``temperature`` replaces the profile's calibrator by
        temperature scaling at that temperature; otherwise the profile's calibrator (or its temperature)
        applies.

        Example:
            >>> p = Profile(model="m.pt", temperature=1.5, top_k=3)
            >>> kw = p.model_kwargs(top_k=None, temperature=2.0, device="cpu")
            >>> kw["top_k"], kw["calibrator"], kw["device"]
            (3, TemperatureScaling(2.0), 'cpu')
        """
        given = {k: v for k, v in explicit.items() if v is not None}
        temperature = given.pop("temperature", None)
        if temperature is not None:
            calibrator: Any = TemperatureScaling(temperature)
        elif self.calibrator is not None:
            calibrator = calibrator_from_dict(self.calibrator)
        else:
            calibrator = TemperatureScaling(self.temperature)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "calibrator": calibrator,
            "top_k": self.top_k,
            "min_prob": self.min_prob,
            "imgsz": self.imgsz,
        }
        if self.engine is not None:
            kwargs["engine"] = self.engine
        if self.box_calibrator is not None:
            kwargs["box_calibrator"] = box_calibrator_from_dict(self.box_calibrator)
        return {**kwargs, **given}

    def check_model(self, source: str = "the profile") -> None:
        """Raise :class:`ModelError` if the model file's sha256 differs from the recorded one.

        Nothing is checked when no hash is recorded or the model is not a local file (a hub name).
        """
        if not self.model_sha256 or not Path(self.model).is_file():
            return
        actual = file_sha256(self.model)
        if actual != self.model_sha256:
            raise ModelError(
                f"{self.model} has sha256 {actual[:12]}... but {source} was calibrated for "
                f"{self.model_sha256[:12]}...; the model changed since calibration: re-run 'yolo-probs calibrate' "
                "(or point the profile at the right model)"
            )


_FIELDS = {f.name: f for f in fields(Profile)}


def _check_type(key: str, value: Any, kind: Any) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = any(
        (k is int and isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_))
        or (k is float and isinstance(value, numbers.Real) and not isinstance(value, bool))
        or (k not in (int, float) and isinstance(value, k))
        for k in kinds
    )
    if not ok:
        want = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise ConfigError(f"{key} must be {want}, got {value!r} ({type(value).__name__})")


_TOP_TYPES: dict[str, Any] = {
    "model": str,  # a path object is made a str first
    "temperature": float,
    "name": str,
    "model_sha256": (str, type(None)),
    "top_k": int,
    "min_prob": (float, type(None)),
    "imgsz": object,  # checked by check_size, the one check of every size option
    "calibration": (dict, type(None)),
    "calibrator": (dict, type(None)),
    "decisions": (dict, type(None)),
    "engine": (str, type(None)),
    "box_calibrator": (dict, type(None)),
    "version": int,
}


def load_profile(path: str | os.PathLike[str], *, check_model: bool = True) -> Profile:
    """Read and validate a profile; with ``check_model`` compare the model file with its recorded sha256.

    Raises:
        ConfigError: missing file, bad YAML, not a mapping, unknown or missing keys, wrong types,
            temperature <= 0 (one line naming the file and the key).
        ModelError: the model file's sha256 differs from the recorded one.
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise ConfigError(f"path must be the path of a profile file, got {path!r} ({type(path).__name__})")
    source = os.fspath(path)
    if isinstance(source, bytes):
        source = os.fsdecode(source)
    data = _read_mapping(source)
    _check_keys(source, data)
    try:
        if isinstance(data.get("calibrator"), dict):  # large matrices live in a file beside the profile
            data["calibrator"] = load_calibrator(data["calibrator"], source)
        profile = Profile(**{**data, **_resolved_paths(data, source)})
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}", option=exc.option) from None
    if check_model:
        profile.check_model(f"profile {source}")
    return profile


def _read_mapping(source: str) -> dict[str, Any]:
    """The YAML mapping in the file ``source``; one ConfigError line for a missing, unreadable or bad file."""
    import yaml

    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = f"create one with 'yolo-probs calibrate ... --output {source}'"
        raise ConfigError(f"profile {source} not found; {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profile {source} ({exc}); check the path and permissions") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{source}: not valid YAML{where} ({problem}); fix the file or re-create it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a profile must be a YAML mapping (key: value lines), got {type(data).__name__}")
    return data


def _check_keys(source: str, data: dict[str, Any]) -> None:
    """Known keys only, the required ones present (the values are checked by :class:`Profile`)."""
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown keys {', '.join(unknown)}; allowed keys: {', '.join(_FIELDS)} (check the spelling)"
        )
    missing = [k for k in ("model", "temperature") if k not in data]
    if missing:
        raise ConfigError(f"{source}: missing required keys {', '.join(missing)}")


def _check_calibration_record(cal: dict[str, Any]) -> None:
    """The ``calibration:`` record: known keys, each of its type."""
    bad = sorted(str(k) for k in cal if k not in _CALIBRATION_KEYS)
    if bad:
        allowed = ", ".join(_CALIBRATION_KEYS)
        raise ConfigError(f"unknown keys under calibration: {', '.join(bad)}; allowed: {allowed}")
    for key, value in cal.items():
        _check_type(f"calibration.{key}", value, _CALIBRATION_KEYS[key])


def _resolved_paths(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``model`` and the decisions' feature banks with relative paths resolved from the profile's folder
    (so a profile and its files move together)."""
    home = profile_folder(source)
    model = data["model"]
    if isinstance(model, str) and model and not Path(model).is_absolute() and (home / model).exists():
        model = os.path.normpath(home / model)
    decisions = data.get("decisions")
    if isinstance(decisions, dict):
        decisions = {
            key: {**entry, "bank": os.path.normpath(home / entry["bank"])}
            if isinstance(entry, dict) and isinstance(entry.get("bank"), str) and not Path(entry["bank"]).is_absolute()
            else entry
            for key, entry in decisions.items()
        }
    return {"model": model, "decisions": decisions} if "decisions" in data else {"model": model}


def _bank_entry(key: str, entry: Any, stem: str, folder: Path | None, side: dict[str, bytes]) -> Any:
    """A decision entry as stored: an in-memory ``bank`` array becomes a float16 ``.npy`` beside the profile
    (added to ``side``; the entry names it and its sha256), a bank file is named relative to the profile's
    folder when under it (absolute when ``folder`` is None: a profile written into a stream)."""
    if not isinstance(entry, dict) or "bank" not in entry:
        return entry
    bank = entry["bank"]
    if not isinstance(bank, str | os.PathLike):
        name = bank_file_name(stem, key)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(bank, dtype=np.float16), allow_pickle=False)
        side[name] = buffer.getvalue()
        return {**entry, "bank": name, "bank_sha256": bytes_sha256(side[name])}
    return {**entry, "bank": _relative(bank, folder)}


def bank_file_name(stem: str, key: str) -> str:
    """The name of the feature bank of decision ``key`` beside the profile ``<stem>.yaml``.

    Example:
        >>> bank_file_name("line-3", "ood")
        'line-3.ood-bank.npy'
    """
    return f"{stem}.{key}-bank.npy"


def _relative(path: str | os.PathLike[str], folder: Path | None) -> str:
    """``path`` relative to ``folder`` when it lies under it, else absolute."""
    absolute = Path(path).resolve()
    if folder is None:
        return str(absolute)
    relative = os.path.relpath(absolute, folder.resolve())
    return relative if not relative.startswith("..") else str(absolute)


def _profile_data(profile: Profile, stem: str, folder: Path | None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The YAML mapping of ``profile`` and the files to write beside it (name -> bytes)."""
    data: dict[str, Any] = {
        "version": profile.version,
        "name": profile.name,
        "model": _relative(profile.model, folder) if Path(profile.model).exists() else profile.model,
        "model_sha256": profile.model_sha256,
        "temperature": float(profile.temperature),
        "top_k": profile.top_k,
        "min_prob": profile.min_prob,
        "imgsz": profile.imgsz,
    }
    for key in ("engine", "calibrator", "box_calibrator", "decisions", "calibration"):
        if getattr(profile, key) is not None:
            data[key] = getattr(profile, key)
    side: dict[str, bytes] = {}
    if profile.calibrator is not None:  # large matrices go to a small file beside the profile
        name = calibrator_file_name(f"{stem}.yaml")
        data["calibrator"], npz = pack_calibrator(profile.calibrator, name)
        if npz is not None:
            side[name] = npz
    if profile.decisions:
        data["decisions"] = {k: _bank_entry(k, v, stem, folder, side) for k, v in profile.decisions.items()}
    return data, side


def side_files(profile: Profile, path: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """The files :func:`save_profile` writes beside the profile at ``path``, each with what it holds.

    Empty for a profile written into a stream (it may have none); beside a symlink's target for a link.

    Example:
        >>> side_files(Profile(model="m.pt", temperature=1.0), "deploy/line.yaml")
        []
    """
    profile = _checked_profile(profile, path)
    target = resolve_output(path, option="output", example="profile.yaml")
    if target.streamed or target.path is None:
        return []
    _, side = _profile_data(profile, target.path.stem, target.path.parent)
    return [(target.path.parent / name, _holds(name, profile)) for name in side]


def _holds(name: str, profile: Profile) -> str:
    """What a side file of ``profile`` holds, for people: ``p.calibrator.npz``, ``p.ood-bank.npy``."""
    if name.endswith(".npz"):
        return f"parameters of the {(profile.calibrator or {}).get('method')} calibrator"
    key = name.removesuffix("-bank.npy").rsplit(".", 1)[-1]
    return f"feature bank of decisions.{key}"


def _checked_profile(profile: Any, path: Any) -> Profile:
    """``profile`` checked again (its fields may have been changed since it was made) and ``path`` a path."""
    if not isinstance(profile, Profile):
        raise ConfigError(f"profile must be a Profile, got {profile!r} ({type(profile).__name__})", option="profile")
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise ConfigError(f"path must be a file path (or '-'), got {path!r} ({type(path).__name__})", option="output")
    return replace(profile)  # runs Profile.__post_init__: every field checked as on load


def save_profile(profile: Profile, path: str | os.PathLike[str]) -> Path:
    """Write ``profile`` as YAML, and its large arrays as files beside it, through the one file writer.

    Each file replaces the old one atomically (a temporary file renamed over it) with the old file's
    permission bits (a new one gets the umask's); a symlinked profile is written at its target, with the
    side files (a calibrator's ``.npz``, a feature bank's ``.npy``) beside the target. A local model path is
    written relative to the profile's folder when under it. A profile may be written to stdout (``-``), a
    FIFO or a device, with absolute paths, unless it has side files: that is refused in one line before
    anything is written. Missing folders are created. Returns ``path``.

    Raises:
        ConfigError: ``profile`` is not a valid :class:`Profile` (its fields are checked again), ``path`` is
            not a path, is a folder or cannot be written, or a profile with side files goes to a stream.
        OutputError: a write failed part-way (disk full...); the old file is left as it was.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "deploy" / "line.yaml"
        >>> save_profile(Profile(model="yolo26n-cls.pt", temperature=1.3), out).read_text().count("temperature: 1.3")
        1
    """
    import yaml

    profile = _checked_profile(profile, path)
    target = resolve_output(path, option="output", example="profile.yaml")
    folder = None if target.streamed or target.path is None else target.path.parent
    stem = target.path.stem if target.path is not None else "profile"  # stdout: named in the refusal only
    data, side = _profile_data(profile, stem, folder)
    if side and folder is None:  # always refused: a stream has no folder to put the side files in
        check_output(path, streams=False, what=f"a profile with side files ({', '.join(side)})")
    if folder is not None:
        with contextlib.suppress(OSError):  # a failure shows up as a clear error from the writer below
            folder.mkdir(parents=True, exist_ok=True)
        for name in side:  # every file checked before any is written, so a refusal changes nothing
            check_output(folder / name, streams=False, what=f"{name}, a file beside the profile", example=name)
        for name, content in side.items():
            write_bytes(folder / name, content, streams=False, what=f"{name}, a file beside the profile")
    text = "# yolo-probs deployment profile (written by yolo-probs; see docs/calibrate.md)\n"
    text += yaml.dump(data, Dumper=_dumper(), sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096)
    write_text(path, text, example="profile.yaml")
    return Path(path)


def _dumper() -> type:
    """A safe YAML dumper that writes a long list of numbers (the monitor's reference samples, a vector
    calibrator's weights) on one line, ``[0.91, 0.97, ...]``, instead of one line per number."""
    import yaml

    class ProfileDumper(yaml.SafeDumper):
        pass

    def sequence(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
        flow = len(data) > 8 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    ProfileDumper.add_representer(list, sequence)
    return ProfileDumper
