"""The model layer: load an Ultralytics classifier, run its own predictor, capture the logits.

:class:`YoloProbs` wraps an Ultralytics ``YOLO`` classification model. It runs Ultralytics' own
predictor (same preprocessing, same batching) on a private copy, hooks the final linear layer of the
module that really runs, and turns each result into a :class:`~yolo_probs.prediction.Prediction`
with the math core.

Example:
    >>> from yolo_probs import YoloProbs
    >>> with YoloProbs("examples/models/digits-yolo26n-cls.pt", temperature=1.5, top_k=3) as clf:
    ...     p = clf.predict("examples/images/digit_3.png")[0]
    >>> p.names[p.top1], len(p.top)
    ('3', 3)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from yolo_probs._prefetch import prefetched
from yolo_probs.backends import resolve_backend
from yolo_probs.capture import LogitCapture, find_logits_layer
from yolo_probs.errors import ConfigError, ModelError
from yolo_probs.names import load_names
from yolo_probs.prediction import Prediction
from yolo_probs.probs import check_min_prob, check_temperature, check_top_k
from yolo_probs.sources import Frame, InputFailure, iter_frames

if TYPE_CHECKING:
    from ultralytics import YOLO

    from yolo_probs.preprocess import Preprocess

__all__ = ["DEFAULT_MODEL", "YoloProbs", "load_classifier"]

DEFAULT_MODEL = "yolo26n-cls.pt"
SHIPPED_MODEL = "examples/models/digits-yolo26n-cls.pt"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
        local = Path(name)
        if not local.exists() and (local.parent != Path(".") or local.suffix not in {".pt", ".yaml", ".yml"}):
            raise ModelError(f"model file not found: {name}; pass --model PATH to a classification checkpoint")
        try:
            yolo = YOLO(name, verbose=False)
        except (ConnectionError, FileNotFoundError) as exc:
            raise ModelError(
                f"cannot get model {name}: it is not a local file and could not be downloaded ({_first_line(exc)}); "
                f"pass --model PATH, e.g. --model {SHIPPED_MODEL}"
            ) from None
        except Exception as exc:  # corrupt files fail deep inside torch.load / the YAML parser
            raise ModelError(
                f"cannot load model {name} ({type(exc).__name__}: {_first_line(exc)}); "
                "pass an Ultralytics -cls checkpoint (.pt) or model YAML"
            ) from None
    if yolo.task != "classify":
        raise ModelError(
            f"{name} is a {yolo.task!r} model, not a classifier; "
            f"pass a classification (-cls) model such as {DEFAULT_MODEL}"
        )
    return yolo


class YoloProbs:
    """Temperature-scaled, top-k filtered probabilities from an Ultralytics classifier.

    Args:
        model: checkpoint path, model YAML, Ultralytics hub name or a loaded ``ultralytics.YOLO``.
        temperature: divides the logits before the softmax; 1 gives Ultralytics' own probabilities,
            above 1 softens them, below 1 sharpens them. Finite and > 0.
        top_k: how many classes each :attr:`Prediction.top` keeps (clipped to the number of classes).
        min_prob: drop classes below this probability from :attr:`Prediction.top` (None keeps all k).
        imgsz: inference size; None uses the checkpoint's own (640 for a model built from YAML).
        device: ``"cpu"``, ``"0"``, ``"cuda:0"``...; None lets Ultralytics choose.
        batch: images per forward pass.
        half: run in float16 on GPU.
        layer: plain PyTorch models: name of the layer whose output are the logits (default: found).
        preprocess: plain PyTorch and exported models: a :class:`~yolo_probs.preprocess.Preprocess`.
        names: class names (list, mapping or file) replacing the model's own.

    The wrapper owns a private Ultralytics predictor (Ultralytics' own preprocessing and inference);
    its hook is removed by :meth:`close` (or on leaving a ``with`` block). Several threads may call
    :meth:`predict` at once: the hook keeps each thread's logits apart.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | YOLO = DEFAULT_MODEL,
        *,
        temperature: float = 1.0,
        top_k: int = 5,
        min_prob: float | None = None,
        imgsz: int | None = None,
        device: str | None = None,
        batch: int = 1,
        half: bool = False,
        layer: str | None = None,
        preprocess: Preprocess | None = None,
        names: Any = None,
    ) -> None:
        self.temperature = temperature
        self.top_k = top_k
        self.min_prob = min_prob
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be a whole number >= 1, got {batch!r}; pass e.g. 8")
        if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 1):
            raise ConfigError(f"imgsz must be a whole number >= 1, got {imgsz!r}; pass e.g. 224")
        self.batch = batch
        # Plain PyTorch modules and exported graphs get a backend; Ultralytics models keep their predictor.
        self._backend = resolve_backend(
            model, layer=layer, preprocess=preprocess, names=names, imgsz=imgsz, device=device
        )
        self.yolo: YOLO | None = None
        if self._backend is None:
            self.yolo = load_classifier(model)
            own = self.yolo.names
            self.names: tuple[str, ...] = load_names(names, len(own), default=own)
        else:
            self.names = self._backend.names
        self._overrides: dict[str, Any] = {"imgsz": imgsz, "device": device, "quantize": 16 if half else None}
        self._predictor: Any = None
        self._capture: LogitCapture | None = None
        self._setup_lock = threading.Lock()

    @classmethod
    def from_profile(cls, path: str | os.PathLike[str], **overrides: Any) -> YoloProbs:
        """Build from a deployment profile (see :mod:`yolo_probs.profile`); keyword arguments override it.

        The profile's model file is checked against its recorded sha256 (:class:`ModelError` if it
        changed) unless ``model`` is overridden. ``None`` overrides are ignored, so CLI flags left
        unset keep the profile's values.

        Example:
            >>> YoloProbs.from_profile("missing.yaml")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            yolo_probs.errors.ConfigError: profile missing.yaml not found; create one with 'yolo-probs calibrate ...'
        """
        from yolo_probs.profile import load_profile

        overrides = {k: v for k, v in overrides.items() if v is not None}
        profile = load_profile(path, check_model="model" not in overrides)
        kwargs = {**profile.model_kwargs(), **overrides}
        return cls(kwargs.pop("model"), **kwargs)

    # -- options, validated on every change (the overlay changes them live) --
    @property
    def temperature(self) -> float:
        """The temperature applied to every new prediction."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_temperature(value)

    @property
    def top_k(self) -> int:
        """How many classes :attr:`Prediction.top` keeps."""
        return self._top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        self._top_k = check_top_k(value)

    @property
    def min_prob(self) -> float | None:
        """Probability below which classes are left out of :attr:`Prediction.top`."""
        return self._min_prob

    @min_prob.setter
    def min_prob(self, value: float | None) -> None:
        self._min_prob = check_min_prob(value)

    # -- the Ultralytics predictor and the hook --
    def _ensure_predictor(self) -> Any:
        with self._setup_lock:
            if self._predictor is None:
                assert self.yolo is not None, "only Ultralytics models run through the predictor"
                cls = self.yolo.task_map["classify"]["predictor"]
                overrides = {
                    **self.yolo.overrides,
                    "conf": 0.25,
                    "batch": self.batch,
                    "save": False,
                    "mode": "predict",
                    "rect": True,
                    "verbose": False,
                    **{k: v for k, v in self._overrides.items() if v is not None},
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

    def _logits(self, batch: list[np.ndarray] | Any) -> np.ndarray:
        """Run Ultralytics' own preprocess and inference on one batch; return the hooked logits, (N, C).

        This is the body of Ultralytics' ``stream_inference`` for one batch, minus its per-call source
        set-up and the ``Results`` objects that only hold the softmax. No lock: the capture is per
        thread, so concurrent calls each read their own logits.
        """
        import torch

        predictor = self._ensure_predictor()
        assert self._capture is not None
        with torch.inference_mode():  # as Ultralytics' stream_inference: no autograd bookkeeping
            im = predictor.preprocess(batch)
            if not predictor.done_warmup:  # on GPU this runs the first batch again; the capture keeps the latest
                predictor.model.warmup(im=im)
                predictor.done_warmup = True
            predictor.inference(im)
        logits = self._capture.pop()
        if logits.shape[0] != im.shape[0]:
            raise ModelError(f"captured {logits.shape[0]} rows of logits for a batch of {im.shape[0]} images")
        return logits.float().cpu().numpy()

    def close(self) -> None:
        """Remove the hook and drop the predictor; a later :meth:`predict` sets them up again."""
        with self._setup_lock:
            if self._capture is not None:
                self._capture.close()
            if self._backend is not None:
                self._backend.close()
            self._capture = None
            self._predictor = None

    def __enter__(self) -> YoloProbs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- prediction --
    def _make(self, logits: np.ndarray, source: str, frame: int | None, how: str = "hook") -> Prediction:
        return Prediction.from_logits(
            logits,
            self.names,
            temperature=self._temperature,
            top_k=self._top_k,
            min_prob=self._min_prob,
            source=source,
            frame=frame,
            logits_source=how,
        )

    def _run(self, frames: list[Frame]) -> list[Prediction]:
        images = [f.image for f in frames]
        rows, how = self._backend.logits(images) if self._backend is not None else (self._logits(images), "hook")
        return [self._make(row, f.source, f.frame, how) for f, row in zip(frames, rows, strict=True)]

    def predict_each(self, source: Any) -> Iterator[Prediction | InputFailure]:
        """Stream a prediction per image or frame, and an :class:`InputFailure` in place of each bad input.

        Never raises for a bad input, so a batch job can report failures and carry on; order follows
        the inputs. Accepts what :meth:`predict` accepts.
        """
        if type(source).__module__.split(".", 1)[0] == "torch":  # a BCHW float tensor in [0, 1], as Ultralytics takes
            if self._backend is not None:
                rows, how = self._backend.logits_array(source.detach().float().cpu().numpy())
            else:
                rows, how = self._logits(source), "hook"
            for i, row in enumerate(rows):
                yield self._make(row, f"tensor{i}", None, how)
            return
        # Like Ultralytics' loader: decode image files in threads for batches of 8 or more.
        items = iter_frames(source, workers=min(8, max(1, (os.cpu_count() or 1) - 1)) if self.batch >= 8 else 1)
        if self._backend is None and self._ensure_predictor().device.type == "cuda":  # decode while the GPU works
            items = prefetched(items, depth=2 * self.batch)
        pending: list[Frame] = []
        for item in items:
            if isinstance(item, InputFailure):
                yield from self._run(pending) if pending else ()
                pending = []
                yield item
                continue
            pending.append(item)
            if len(pending) == self.batch:
                yield from self._run(pending)
                pending = []
        if pending:
            yield from self._run(pending)

    @overload
    def predict(self, source: Any, *, stream: Literal[False] = False) -> list[Prediction]: ...

    @overload
    def predict(self, source: Any, *, stream: Literal[True]) -> Iterator[Prediction]: ...

    def predict(self, source: Any, *, stream: bool = False) -> list[Prediction] | Iterator[Prediction]:
        """Classify ``source`` and return one :class:`Prediction` per image or video frame.

        ``source`` may be a path, folder, glob, video file, webcam index (``"0"``), stream or image URL,
        a numpy BGR array, a PIL image, a BCHW tensor, or a list of these. With ``stream=True`` a
        generator is returned, so long videos use flat memory. A bad input raises
        :class:`~yolo_probs.errors.SourceError` naming it; use :meth:`predict_each` to skip past it.
        """
        gen = self._predict_raising(source)
        return gen if stream else list(gen)

    def _predict_raising(self, source: Any) -> Iterator[Prediction]:
        for item in self.predict_each(source):
            if isinstance(item, InputFailure):
                raise item.error()
            yield item

    __call__ = predict
