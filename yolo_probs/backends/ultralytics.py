"""Ultralytics classifiers (checkpoint, YAML, hub name, ``YOLO`` object), run by Ultralytics' own predictor.

The backend runs Ultralytics' ``preprocess`` and ``inference`` on a private predictor (which deep-copies
the model), and hooks the final linear layer of the copy that really runs. So preprocessing is
Ultralytics' own (resize the short side, centre-crop, /255) and at T = 1 the probabilities are
Ultralytics' own.

Example:
    >>> from yolo_probs.backends import BackendOptions
    >>> from yolo_probs.backends.ultralytics import UltralyticsBackend
    >>> backend = UltralyticsBackend("examples/models/digits-yolo26n-cls.pt", BackendOptions(device="cpu"))
    >>> import cv2
    >>> out = backend.run([cv2.imread("examples/images/digit_3.png")], features=True)
    >>> out.logits.shape, out.how, out.features.shape[0], backend.names[int(out.logits.argmax())]
    ((1, 10), 'hook', 1, '3')
    >>> backend.close()
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.backends.base import BackendOptions, BackendOutput
from yolo_probs.backends.device_preprocess import DevicePreprocess
from yolo_probs.backends.identify import checkpoint_kind, is_ultralytics
from yolo_probs.core.capture import LogitCapture, find_logits_layer, linear_weights
from yolo_probs.core.names import load_names
from yolo_probs.errors import ConfigError, ModelError, first_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ultralytics import YOLO

__all__ = ["DEFAULT_MODEL", "SHIPPED_MODEL", "UltralyticsBackend", "load_classifier"]

DEFAULT_MODEL = "yolo26n-cls.pt"
SHIPPED_MODEL = "examples/models/digits-yolo26n-cls.pt"


def check_options(options: BackendOptions) -> None:
    """ConfigError for options an Ultralytics model cannot take (its head and transforms are its own)."""
    if options.layer is not None or options.preprocess is not None:
        raise ConfigError(
            "layer and preprocessing options apply to plain PyTorch and exported models; "
            "an Ultralytics model uses its own head and transforms"
        )


def load_classifier(model: str | os.PathLike[str] | YOLO) -> YOLO:
    """Load an Ultralytics model (checkpoint, YAML, hub name or a ``YOLO`` object) and check it classifies.

    Raises :class:`ModelError` with one line that says what to pass instead.
    """
    from ultralytics import YOLO

    if isinstance(model, YOLO):
        yolo = model
        name = str(getattr(model, "ckpt_path", None) or getattr(model, "model_name", None) or "the model")
    else:
        name = os.fspath(model)
        yolo = _load_named(name)
    if yolo.task != "classify":
        raise ModelError(
            f"{name} is a {yolo.task!r} model, not a classifier; "
            f"pass a classification (-cls) model such as {DEFAULT_MODEL}",
            option="model",
        )
    return yolo


def _load_named(name: str) -> YOLO:
    """A checkpoint path, model YAML or hub name; ModelError saying what to pass instead when it is none."""
    from ultralytics import YOLO

    local = Path(name)
    if not local.exists() and (local.parent != Path(".") or local.suffix not in {".pt", ".yaml", ".yml"}):
        raise ModelError(f"model file not found: {name}; pass the path of a classification checkpoint", option="model")
    if local.exists() and not local.is_file():
        raise ModelError(
            f"{name} is a folder, not a model file; pass the path of a classification checkpoint", option="model"
        )
    # an image, a text file, a state dict: not a model
    if local.is_file() and local.suffix.lower() not in {".yaml", ".yml"} and checkpoint_kind(local) != "ultralytics":
        raise ModelError(
            f"{name} is not a model file Ultralytics can read (no Ultralytics checkpoint inside); "
            "pass an Ultralytics -cls checkpoint (.pt) or model YAML",
            option="model",
        )
    try:
        if local.is_file() and local.suffix.lower() not in {".pt", ".yaml", ".yml"}:
            return _load_renamed(local)  # checked above: an Ultralytics checkpoint inside
        return YOLO(name, verbose=False)
    except (ConnectionError, FileNotFoundError) as exc:
        raise ModelError(
            f"cannot get model {name}: it is not a local file and could not be downloaded ({first_line(exc)}); "
            f"pass a local checkpoint, e.g. {SHIPPED_MODEL}",
            option="model",
        ) from None
    except Exception as exc:  # corrupt files fail deep inside torch.load / the YAML parser
        raise ModelError(
            f"{name} is not a model file Ultralytics can read ({type(exc).__name__}: {first_line(exc)}); "
            "pass an Ultralytics -cls checkpoint (.pt) or model YAML",
            option="model",
        ) from None


def _load_renamed(path: Path) -> YOLO:
    """An Ultralytics checkpoint saved under another suffix (``best.pth``): Ultralytics picks its loader by
    suffix and would treat it as an export of a detection model, so load it through a ``.pt`` link."""
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory(prefix="yolo-probs-") as folder:
        link = Path(folder) / f"{path.stem}.pt"
        try:
            link.symlink_to(path.resolve())
        except OSError:
            shutil.copyfile(path, link)
        return YOLO(str(link), verbose=False)


class UltralyticsBackend:
    """Runs an Ultralytics classifier through its own predictor and captures the logits with a hook.

    Args:
        model: checkpoint path, model YAML, hub name or a loaded ``ultralytics.YOLO``.
        options: ``imgsz``, ``device``, ``batch``, ``half`` and ``names`` apply; ``layer`` and
            ``preprocess`` do not (Ultralytics uses its own head and transforms).
    """

    name = "ultralytics"
    folded_temperature: float | None = None
    #: Resize/crop/scale on the model's device (:mod:`~yolo_probs.backends.device_preprocess`) instead of
    #: Ultralytics' per-image PIL transforms: None means on CUDA only; True forces it (also on CPU).
    device_preprocess: bool | None = None

    @classmethod
    def can_load(cls, model: Any, options: BackendOptions) -> bool:
        """Ultralytics objects, and any path or name (the last resort: Ultralytics says what is wrong with it)."""
        return is_ultralytics(model) or isinstance(model, str | os.PathLike)

    def __init__(self, model: Any, options: BackendOptions) -> None:
        check_options(options)
        self.yolo = load_classifier(model)
        own = self.yolo.names
        self.names: tuple[str, ...] = load_names(options.names, len(own), default=own)
        self.options = options
        self._predictor: Any = None
        self._capture: LogitCapture | None = None
        self._setup_lock = threading.Lock()

    @property
    def device_type(self) -> str:
        """``"cuda"`` or ``"cpu"``: where the predictor runs (sets it up if needed)."""
        return str(self.predictor().device.type)

    def predictor(self) -> Any:
        """Ultralytics' predictor this backend runs (set up, with the logit hook, on first use)."""
        with self._setup_lock:
            if self._predictor is None:
                cls = self.yolo.task_map["classify"]["predictor"]
                opts = self.options
                chosen = {"imgsz": opts.imgsz, "device": opts.device, "quantize": 16 if opts.half else None}
                overrides = {
                    **self.yolo.overrides,
                    "conf": 0.25,
                    "batch": opts.batch,
                    "save": False,
                    "mode": "predict",
                    "rect": True,
                    "verbose": False,
                    **{k: v for k, v in chosen.items() if v is not None},
                }
                predictor = cls(overrides=overrides)
                predictor.setup_model(model=self.yolo.model, verbose=False)
                module = predictor.model.model
                from torch import nn

                if not isinstance(module, nn.Module):
                    raise ModelError(
                        f"{predictor.model.format} models have no PyTorch layer to hook; pass the .pt checkpoint"
                    )
                _, layer = find_logits_layer(module)
                # Once, not per batch: Ultralytics sets its transforms and checked imgsz up in setup_source.
                predictor.setup_source([np.zeros((32, 32, 3), np.uint8)])
                self._capture = LogitCapture(layer)
                self._predictor = predictor
            return self._predictor

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput:
        """Run Ultralytics' own preprocess and inference on a list of BGR frames or a BCHW tensor.

        This is the body of Ultralytics' ``stream_inference`` for one batch, minus its per-call source
        set-up and the ``Results`` objects that only hold the softmax. No lock: the capture is per
        thread, so concurrent calls each read their own logits.
        """
        import torch

        predictor = self.predictor()
        capture = self._capture
        assert capture is not None
        with torch.inference_mode():  # as Ultralytics' stream_inference: no autograd bookkeeping
            im = predictor.preprocess(batch)
            if not predictor.done_warmup:  # on GPU this runs the first batch again; the capture keeps the latest
                predictor.model.warmup(im=im)
                predictor.done_warmup = True
            predictor.inference(im)
        logits, feats = capture.pop_with_input()
        if logits.shape[0] != im.shape[0]:
            raise ModelError(f"captured {logits.shape[0]} rows of logits for a batch of {im.shape[0]} images")
        out_feats = feats.float().flatten(1).cpu().numpy() if features and feats is not None else None
        return BackendOutput(logits.float().cpu().numpy(), "hook", out_feats)

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput:
        """BGR frames -> logits (and the features entering the final layer, if asked)."""
        predictor = self.predictor()
        use_device = self.device_preprocess
        if use_device is None:
            use_device = predictor.device.type == "cuda"
        if use_device:
            pre = DevicePreprocess.for_predictor(predictor)
            if pre is not None:  # None: non-standard transforms, keep Ultralytics' own
                return self.run_tensor(pre(images, predictor.device), features=features)
        return self.run_tensor(list(images), features=features)

    def final_layer(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The final layer's ``(weight (C, D), bias (C,))`` when it is an ``nn.Linear``, else None."""
        self.predictor()
        return None if self._capture is None else linear_weights(self._capture.module)

    def close(self) -> None:
        """Remove the hook and drop the predictor; a later :meth:`run` sets them up again."""
        with self._setup_lock:
            if self._capture is not None:
                self._capture.close()
            self._capture = None
            self._predictor = None
