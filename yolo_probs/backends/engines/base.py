"""What the fast engines share: export once, cache, check, run, and fall back to torch when that fails.

An engine module (:mod:`~yolo_probs.backends.engines.ort`, :mod:`~yolo_probs.backends.engines.openvino`)
is one :class:`EngineFactory` subclass that says how to turn the exported logits graph into its own
format (:meth:`EngineFactory.build`) and how to run it (:meth:`EngineFactory.open`), plus its instance
``ENGINE``, which :data:`~yolo_probs.backends.base.BACKENDS` names. :func:`load_engine` does the rest
for every engine:

1. the checkpoint is hashed and the cache entry for (sha256, imgsz, batch shape, engine version) is
   looked up and validated (:mod:`yolo_probs.backends.engines.cache`); a missing, stale or corrupt one is built
   from the module Ultralytics' predictor really runs;
2. a fresh build is checked against the hook path: the numpy preprocessing must give the same pixels
   and the probabilities must agree to 1e-5 on random input, else the engine is not used;
3. an export that fails for any reason falls back to the torch hook path with one
   :class:`EngineWarning` line.

The backend it returns preprocesses with numpy/PIL only (:mod:`yolo_probs.inputs.fast_preprocess`) and
exposes :meth:`EngineBackend.prepare`, which :mod:`yolo_probs.inputs.readahead` runs in another thread.

Example:
    >>> intra, workers = engine_threads(2)
    >>> intra, workers
    (1, 1)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs._util.console import note
from yolo_probs._util.hashing import file_sha256
from yolo_probs._util.threads import engine_threads
from yolo_probs.backends.base import BACKENDS, BackendOptions, BackendOutput
from yolo_probs.backends.engines.cache import (
    CacheEntry,
    DamagedEntry,
    entry_key,
    open_entry,
    writable_root,
    write_entry,
)
from yolo_probs.backends.engines.graph import export_logits_onnx
from yolo_probs.backends.identify import shown_model
from yolo_probs.backends.ultralytics import UltralyticsBackend, check_options
from yolo_probs.core.checks import float32_batch
from yolo_probs.core.names import load_names
from yolo_probs.core.probs import softmax
from yolo_probs.errors import ConfigError, ModelError, first_line
from yolo_probs.inputs.fast_decode import read_for_engine
from yolo_probs.inputs.fast_preprocess import fast_preprocess
from yolo_probs.inputs.preprocess import Preprocess

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL import Image

__all__ = ["EngineBackend", "EngineFactory", "EngineWarning", "claimed_elsewhere", "load_engine", "load_torch"]

log = logging.getLogger("yolo_probs")

#: A runner takes a float32 (N, 3, H, W) batch and whether features are wanted; returns (logits, features).
Runner = Any

#: Probabilities of a fresh engine build must match the hook path this closely on random input.
BUILD_TOLERANCE = 1e-5


class EngineWarning(UserWarning):
    """A fast engine could not be used as asked (it fell back to torch or to a temporary cache)."""


def _described(exc: BaseException) -> str:
    """``"Type: first line of the message"``, for one-line warnings and log lines."""
    return f"{type(exc).__name__}: {first_line(exc)}"


class EngineBackend:
    """Runs an exported logits graph: numpy/PIL preprocessing, then the engine's runner.

    Attributes:
        engine: the engine's name (``"onnxruntime"``, ``"openvino"``).
        preprocess: the recipe :meth:`prepare` reproduces bit for bit.
        entry: the cache folder the graph was loaded from.
        run_batch: images per engine run in :mod:`yolo_probs.inputs.readahead` (at most the asked batch; see
            :meth:`EngineFactory.run_batch`).
    """

    folded_temperature: float | None = None
    device_type = "cpu"

    def __init__(
        self,
        runner: Runner,
        *,
        names: tuple[str, ...],
        preprocess: Preprocess,
        engine: str,
        entry: Path,
        run_batch: int | None = None,
    ) -> None:
        self._runner = runner
        self.run_batch = run_batch
        self.names = names
        self.preprocess = preprocess
        self.engine = engine
        self.entry = entry

    @staticmethod
    def read(source: str) -> np.ndarray | Image.Image:
        """Decode an image file for :meth:`prepare`: Pillow for plain JPEGs where its pixels equal OpenCV's.

        See :mod:`yolo_probs.inputs.fast_decode`; :mod:`yolo_probs.inputs.readahead` reads files with it.
        """
        return read_for_engine(source)

    def prepare(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        """BGR uint8 frames (or Pillow images from :meth:`read`) -> the float32 (N, 3, H, W) batch.

        numpy/PIL only; safe to call from any thread.
        """
        return fast_preprocess(self.preprocess, images)

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput:
        """A preprocessed batch (numpy or torch) -> logits, and the features entering the final layer if asked."""
        logits, feats = self._runner(float32_batch(batch), features)
        return BackendOutput(np.asarray(logits, np.float32), "output", None if feats is None else np.asarray(feats))

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput:
        """BGR frames -> logits."""
        return self.run_tensor(self.prepare(images), features=features)

    def close(self) -> None:
        """Nothing to release: the session holds no hooks and stays usable."""


class EngineFactory:
    """One fast engine: registered in :data:`~yolo_probs.backends.BACKENDS`, it loads Ultralytics models.

    Subclasses set ``name``, ``import_name`` and ``install`` and implement :meth:`version`,
    :meth:`build` and :meth:`open`.
    """

    name = ""
    import_name = ""
    install = ""
    is_engine = True
    #: Backends that already run what they load on this engine: a model they claim goes to them.
    delegates_to: frozenset[str] = frozenset()

    def available(self) -> bool:
        """Whether the engine's package is installed (checked without importing it)."""
        return importlib.util.find_spec(self.import_name) is not None

    def version(self) -> str:
        """The engine's version: part of the cache key."""
        raise NotImplementedError

    def batch_shape(self, batch: int) -> str:
        """How the graph's batch axis is exported for ``batch``: ``"dynamic"`` or ``"static-N"``."""
        return "dynamic"

    def run_batch(self, batch: int) -> int:
        """Images per engine run when :mod:`yolo_probs.inputs.readahead` feeds it (``batch`` by default)."""
        return batch

    def build(self, onnx_path: Path, scratch: Path, batch: int, imgsz: int) -> list[str]:
        """Turn the logits graph in ``onnx_path`` (inside ``scratch``) into the files this engine loads."""
        return [onnx_path.name]

    def open(self, entry: CacheEntry, batch: int, threads: int) -> Runner:
        """Load an entry; returns ``runner(batch, features) -> (logits, features or None)``."""
        raise NotImplementedError

    def can_load(self, model: Any, options: BackendOptions) -> bool:
        """This engine was asked for by name."""
        return options.engine == self.name

    def __call__(self, model: Any, options: BackendOptions) -> Any:
        other = claimed_elsewhere(model, options)
        if other is not None:
            if other.name in self.delegates_to:
                return other(model, options)  # e.g. an .onnx file: the onnx backend already runs it on ONNX Runtime
            raise ConfigError(
                f"engine {self.name!r} runs Ultralytics checkpoints (.pt, .yaml); {shown_model(model)} is run by the "
                f"{other.name!r} backend: leave engine unset",
                option="engine",
            )
        return load_engine(self, model, options)


def claimed_elsewhere(model: Any, options: BackendOptions) -> Any:
    """The non-Ultralytics backend class that loads ``model`` (exports, plain modules), else None."""
    torch_opts = options.with_(engine=None)
    for factory in BACKENDS.values():
        if getattr(factory, "is_engine", False) or factory.name == "ultralytics":
            continue
        if factory.can_load(model, torch_opts):
            return factory
    return None


def _checkpoint_digest(model: Any) -> str | None:
    """sha256 of a ``.pt`` checkpoint file; None for YAML and in-memory models (nothing stable to key on)."""
    path = os.fspath(model) if isinstance(model, str | os.PathLike) else None
    if path is None or not path.lower().endswith(".pt") or not os.path.isfile(path):
        return None
    return file_sha256(path)


def load_torch(model: Any, options: BackendOptions) -> UltralyticsBackend:
    """The torch hook path for ``model`` (Ultralytics' own predictor), whatever engine ``options`` name.

    What an engine falls back to, and what ``engine="auto"`` picks on a GPU.
    """
    return UltralyticsBackend(model, options.with_(engine=None))


def load_engine(engine: EngineFactory, model: Any, options: BackendOptions) -> Any:
    """Load ``model`` with ``engine`` (see the module docstring); the torch backend if the export fails.

    Raises:
        ConfigError: the engine is not installed (the message names the extra), or a GPU was asked for.
        ModelError: the model cannot be loaded at all (same errors as the torch path).
    """
    _check_engine_options(engine, options)
    intra, _ = engine_threads()
    digest = _checkpoint_digest(model)
    expect = {
        "engine": engine.name,
        "version": engine.version(),
        "checkpoint": digest,
        "imgsz_option": options.imgsz,
        "batch_shape": engine.batch_shape(options.batch),
    }
    folder = _entry_folder(engine, options, expect)
    entry, runner, damaged = _open_cached(engine, folder, expect, options.batch, intra)
    if entry is None:
        if damaged:  # one line says both why and what happens
            warnings.warn(
                f"engine cache entry {folder} {damaged}; rebuilding it (several seconds)", EngineWarning, stacklevel=4
            )
        else:
            _say_building(engine, model, folder.parent if digest is not None else None)
        # Built and checked on the CPU, where the engine runs (a GPU's TF32 convolutions would differ by 1e-3).
        hook = load_torch(model, options.with_(device="cpu"))  # ModelError: the model is unusable
        try:
            entry = _build(engine, hook, folder, expect, options.batch)
            runner = engine.open(entry, options.batch, intra)
            _check_against_torch(hook, runner, entry)
        except (ModelError, ConfigError):
            raise
        except Exception as exc:
            warnings.warn(
                f"engine {engine.name} could not run {shown_model(model)} ({_described(exc)}); using torch instead",
                EngineWarning,
                stacklevel=4,
            )
            return hook if options.device == "cpu" else load_torch(model, options)
        finally:
            hook.close()
    log.info("engine %s: %s (cache %s)", engine.name, shown_model(model), entry.folder)
    if digest is None:  # a private export: the session holds what it needs, so the files can go now
        shutil.rmtree(folder.parent, ignore_errors=True)
    return _engine_backend(engine, entry, runner, options)


def _say_building(engine: EngineFactory, model: Any, cache: Path | None) -> None:
    """One line on stderr before the export, which takes seconds with no other sign of life."""
    when = (
        f"once: later runs load it from {cache}" if cache is not None else "in every run: only checkpoints are cached"
    )
    note(f"building the {engine.name} engine for {shown_model(model)} (several seconds, {when})")


def _check_engine_options(engine: EngineFactory, options: BackendOptions) -> None:
    """ConfigError when the engine is not installed, a GPU is asked for, or the options do not apply."""
    if not engine.available():
        raise ConfigError(f"engine {engine.name!r} is not installed; {engine.install}", option="engine")
    if options.device not in (None, "", "cpu"):
        raise ConfigError(
            f"engine {engine.name!r} runs on the CPU; for device {options.device!r} leave engine unset (torch)",
            option="engine",
        )
    check_options(options)


def _entry_folder(engine: EngineFactory, options: BackendOptions, expect: dict[str, Any]) -> Path:
    """The cache folder of a checkpoint's entry; a private temporary one when there is no checkpoint to key on."""
    digest = expect["checkpoint"]
    if digest is None:  # YAML or in-memory weights: nothing stable to key on, so a private folder for this process
        return Path(tempfile.mkdtemp(prefix=f"yolo-probs-{engine.name}-")) / "entry"
    root, notice = writable_root()
    if notice:
        warnings.warn(notice, EngineWarning, stacklevel=5)
    key = entry_key(
        checkpoint=digest,
        imgsz=options.imgsz,
        batch_shape=expect["batch_shape"],
        engine=engine.name,
        version=expect["version"],
    )
    return root / key


def _open_cached(
    engine: EngineFactory, folder: Path, expect: dict[str, Any], batch: int, threads: int
) -> tuple[CacheEntry, Runner, None] | tuple[None, None, str | None]:
    """The valid cache entry in ``folder`` and its runner, or ``(None, None, why)``.

    ``why`` is None when there is no entry, else what is wrong with it (edited, truncated, a file where
    its folder should be, it does not load): the caller rebuilds it in place and says so in one line.
    """
    try:
        entry = open_entry(folder, expect)
    except DamagedEntry as exc:
        return None, None, str(exc)
    if entry is None:
        return None, None, None
    try:
        runner = engine.open(entry, batch, threads)
        size = int(entry.meta["imgsz"])
        logits, _ = runner(np.zeros((1, 3, size, size), np.float32), False)
        if logits.shape != (1, len(entry.meta["names"])):
            raise ValueError(f"output shape {list(logits.shape)}")
    except Exception as exc:  # a damaged entry whose files still hash right (engine upgrade in place...)
        return None, None, f"does not load ({_described(exc)})"
    return entry, runner, None


def _engine_backend(engine: EngineFactory, entry: CacheEntry, runner: Runner, options: BackendOptions) -> EngineBackend:
    """The backend that runs a loaded entry, with the entry's names (or the asked-for ones) and recipe."""
    own = tuple(str(n) for n in entry.meta["names"])
    return EngineBackend(
        runner,
        names=load_names(options.names, len(own), default=dict(enumerate(own))),
        preprocess=Preprocess(**entry.meta["preprocess"]),
        engine=engine.name,
        entry=entry.folder,
        run_batch=max(1, min(options.batch, engine.run_batch(options.batch))),
    )


def _build(
    engine: EngineFactory, hook: UltralyticsBackend, folder: Path, expect: dict[str, Any], batch: int
) -> CacheEntry:
    """Export the module the hook path runs, convert it for ``engine`` and store it as a cache entry."""
    predictor = hook.predictor()
    imgsz = [int(v) for v in predictor.imgsz]
    if imgsz[0] != imgsz[1]:
        raise ValueError(f"non-square inference size {imgsz}")
    pre = Preprocess.ultralytics(imgsz[0])
    frame = np.random.default_rng(0).integers(0, 256, (75, 101, 3), dtype=np.uint8)
    theirs = predictor.preprocess([frame]).float().cpu().numpy()
    if not np.array_equal(theirs, fast_preprocess(pre, [frame])):
        raise ValueError("the model's own transforms are not Ultralytics' default classify transforms")
    module = predictor.model.model
    fixed = None if engine.batch_shape(batch) == "dynamic" else batch

    def build(scratch: Path) -> list[str]:
        onnx_path = scratch / "logits.onnx"
        export_logits_onnx(module, imgsz[0], onnx_path, batch=fixed)
        return engine.build(onnx_path, scratch, batch, imgsz[0])

    own = hook.yolo.names
    names = [str(own[i]) for i in range(len(own))] if isinstance(own, dict) else [str(n) for n in own]
    meta = {**expect, "imgsz": imgsz[0], "names": names, "preprocess": dataclasses.asdict(pre)}
    return write_entry(folder, build, meta)


def _check_against_torch(hook: UltralyticsBackend, runner: Runner, entry: CacheEntry) -> None:
    """Probabilities of the new build vs the hook path on random input; raise if they differ."""
    import torch

    size = int(entry.meta["imgsz"])
    x = np.random.default_rng(1).random((2, 3, size, size), dtype=np.float32)
    ours, _ = runner(x, False)
    theirs = hook.run_tensor(torch.from_numpy(x)).logits
    gap = float(np.abs(softmax(np.asarray(ours, np.float64)) - softmax(theirs.astype(np.float64))).max())
    if not gap <= BUILD_TOLERANCE:
        shutil.rmtree(entry.folder, ignore_errors=True)
        raise ValueError(f"its probabilities differ from torch's by {gap:.1e}")
