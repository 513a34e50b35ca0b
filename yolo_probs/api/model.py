"""The model layer: one backend, the calibrator and decision rules around it, and the prediction loop.

:class:`YoloProbs` resolves its model to one backend (:mod:`yolo_probs.backends`: Ultralytics'
predictor, a plain PyTorch module, ONNX, TorchScript, or an object of your own), turns each batch of
logits into :class:`~yolo_probs.core.prediction.Prediction` objects with the math core, and applies the
profile's decision rules. It has no per-kind branches.

Example:
    >>> from yolo_probs import YoloProbs
    >>> with YoloProbs("examples/models/digits-yolo26n-cls.pt", temperature=1.5, top_k=3) as clf:
    ...     p = clf.predict("examples/images/digit_3.png")[0]
    >>> p.names[p.top1], len(p.top)
    ('3', 3)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from yolo_probs._util.prefetch import prefetched
from yolo_probs._util.threads import decode_workers
from yolo_probs.api.profile import load_profile
from yolo_probs.api.smoothing import SmoothedStream, smooth_each
from yolo_probs.backends import BackendOptions, resolve_backend
from yolo_probs.backends.devices import check_device
from yolo_probs.backends.ultralytics import DEFAULT_MODEL
from yolo_probs.calibration import TemperatureScaling
from yolo_probs.calibration.folded import resolve_folded
from yolo_probs.core.checks import describe
from yolo_probs.core.prediction import Prediction
from yolo_probs.core.probs import check_min_prob, check_probability_map, check_top_k
from yolo_probs.decisions import decisions_from_profile
from yolo_probs.errors import ConfigError, ModelError
from yolo_probs.inputs.readahead import pipelined
from yolo_probs.inputs.sources import Frame, InputFailure, frame_batches, iter_frames
from yolo_probs.inputs.tensor import nan_failures, run_checked

if TYPE_CHECKING:
    from ultralytics import YOLO

    from yolo_probs.api.profile import Profile
    from yolo_probs.backends import Backend, BackendOutput
    from yolo_probs.calibration import Calibrator
    from yolo_probs.inputs.preprocess import Preprocess

__all__ = ["YoloProbs"]


class YoloProbs:
    """Calibrated, top-k filtered probabilities from an image classifier.

    Args:
        model: checkpoint path, model YAML, Ultralytics hub name, a loaded ``ultralytics.YOLO``, any
            ``torch.nn.Module``, an exported ``.onnx``/``.torchscript`` file, or a backend object of your
            own (see :mod:`yolo_probs.backends.base`).
        temperature: divides the original model's logits before the softmax; 1 gives the model's own
            probabilities, above 1 softens them, below 1 sharpens them. Finite and > 0. None: the
            temperature folded into a yolo-probs export, else 1.
        top_k: how many classes each :attr:`Prediction.top` keeps (clipped to the number of classes).
        min_prob: drop classes below this probability from :attr:`Prediction.top` (None keeps all k).
        imgsz: inference size; None uses the checkpoint's own (640 for a model built from YAML).
        device: ``"cpu"``, ``"0"``, ``"cuda:0"``...; None lets the backend choose.
        batch: images per forward pass.
        half: run in float16 on GPU.
        layer: plain PyTorch models: name of the layer whose output are the logits (default: found).
        preprocess: plain PyTorch and exported models: a :class:`~yolo_probs.inputs.preprocess.Preprocess`.
        names: class names (list, mapping or file) replacing the model's own.
        calibrator: a fitted calibrator (see :mod:`yolo_probs.calibration`) used instead of
            ``temperature``; setting :attr:`temperature` later replaces it by temperature scaling.
        decisions: decision rules applied to every prediction (see :mod:`yolo_probs.decisions`).
        engine: ``"torch"`` (default), ``"auto"`` or a fast engine's name, for Ultralytics checkpoints.

    The backend's hooks are removed by :meth:`close` (or on leaving a ``with`` block); a later call
    sets them up again. Several threads may call :meth:`predict` at once: each gets its own logits.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | YOLO | Any = DEFAULT_MODEL,
        *,
        temperature: float | None = None,
        top_k: int = 5,
        min_prob: float | None = None,
        imgsz: int | None = None,
        device: str | None = None,
        batch: int = 1,
        half: bool = False,
        layer: str | None = None,
        preprocess: Preprocess | None = None,
        names: Any = None,
        calibrator: Calibrator | None = None,
        decisions: list[Any] | None = None,
        engine: str | None = None,
    ) -> None:
        self.top_k = top_k
        self.min_prob = min_prob
        if calibrator is not None and temperature is not None:
            raise ConfigError("pass temperature or calibrator, not both", option="calibrator")
        if calibrator is not None:  # every argument is checked before the (slow) model load
            check_probability_map(calibrator)
        if temperature is not None:
            calibrator = TemperatureScaling(temperature)
        if model is None or isinstance(model, bool | int | float | bytes):
            raise ModelError(
                f"model must be a checkpoint or export path, a YOLO or torch model, or a backend object, "
                f"got {describe(model)}; pass e.g. 'yolo26n-cls.pt'"
            )
        rules = _check_decisions(decisions)
        if not isinstance(half, bool):
            raise ConfigError(f"half must be True or False, got {describe(half)}", option="half")
        options = BackendOptions(
            layer=layer,
            preprocess=preprocess,
            names=names,
            imgsz=imgsz,
            device=device,
            batch=batch,
            half=half,
            engine=engine,
        )
        self.batch = options.batch
        if engine in (None, "torch", "auto"):  # the CPU engines say themselves that they do not take a GPU
            check_device(device)  # before the model loads: a device this machine lacks, and the ones it has
        self.backend: Backend = resolve_backend(model, options)
        self.names: tuple[str, ...] = tuple(self.backend.names)
        self.calibrator = _calibrator_for(self.backend, calibrator)
        self.decisions: list[Any] = rules
        self.profile: Profile | None = None  # set by from_profile

    @classmethod
    def from_profile(cls, path: str | os.PathLike[str], **overrides: Any) -> YoloProbs:
        """Build from a deployment profile (see :mod:`yolo_probs.api.profile`); keyword arguments override it.

        The profile's model file is checked against its recorded sha256 (:class:`ModelError` if it
        changed) unless ``model`` is overridden. ``None`` overrides are ignored, so CLI flags left
        unset keep the profile's values.

        Example:
            >>> YoloProbs.from_profile("missing.yaml")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            yolo_probs.errors.ConfigError: profile missing.yaml not found; create one with 'yolo-probs calibrate ...'
        """
        if not isinstance(path, str | os.PathLike):
            raise ConfigError(
                f"path must be the path of a profile (.yaml), got {describe(path)}; pass e.g. 'profile.yaml'",
                option="profile",
            )
        explicit_model = overrides.get("model") is not None
        profile = load_profile(path, check_model=not explicit_model)
        kwargs = profile.model_kwargs(**overrides)
        decisions = kwargs.pop("decisions", None)
        clf = cls(kwargs.pop("model"), **kwargs)
        if decisions is None and profile.decisions:
            decisions = decisions_from_profile(profile, clf)
        clf.decisions = _check_decisions(decisions)
        clf.profile = profile
        return clf

    # -- options, validated on every change (the overlay changes them live) --
    @property
    def temperature(self) -> float:
        """The temperature applied to every new prediction (the calibrator's, 1.0 if it has none).

        Setting it replaces the calibrator by temperature scaling at that temperature.
        """
        t = self.calibrator.temperature
        return 1.0 if t is None else t

    @temperature.setter
    def temperature(self, value: float) -> None:
        self.calibrator = TemperatureScaling(value)

    @property
    def calibrator(self) -> Calibrator:
        """The calibrator that turns logits into probabilities (temperature scaling unless told otherwise)."""
        return self._calibrator

    @calibrator.setter
    def calibrator(self, value: Calibrator) -> None:
        self._calibrator = cast("Calibrator", check_probability_map(value))

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

    def close(self) -> None:
        """Release the backend's hooks and sessions; a later :meth:`predict` sets them up again."""
        self.backend.close()

    def __enter__(self) -> YoloProbs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- prediction --
    @property
    def wants_features(self) -> bool:
        """Whether a decision rule needs the features that enter the final layer."""
        return any(getattr(d, "needs_features", False) for d in self.decisions)

    def _predictions(self, out: BackendOutput, frames: list[tuple[str, int | None]]) -> list[Prediction | InputFailure]:
        out, frames, failures = nan_failures(out, frames)  # NaN logits: a failure, never NaN probabilities
        feats = out.features if out.features is not None else [None] * len(frames)
        preds = [
            Prediction.from_logits(
                row,
                self.names,
                top_k=self._top_k,
                min_prob=self._min_prob,
                source=source,
                frame=frame,
                logits_source=out.how,
                calibrator=self.calibrator,
                features=feat,
            )
            for (source, frame), row, feat in zip(frames, out.logits, feats, strict=True)
        ]
        for rule in self.decisions:
            preds = rule.apply(preds, out)
        if not failures:
            return list(preds)
        merged: list[Prediction | InputFailure] = list(preds)
        for index, failure in failures:  # back in input order
            merged.insert(index, failure)
        return merged

    def predictions_for(
        self, output: BackendOutput, frames: list[tuple[str, int | None]]
    ) -> list[Prediction | InputFailure]:
        """Predictions (calibrated, top-k, decisions applied) for a batch the backend has already run.

        For callers that batch on their own (``yolo-probs serve`` gathers images from many requests):
        ``output`` is what ``backend.run`` or ``backend.run_tensor`` gave for the images, ``frames`` their
        ``(source, frame)`` in the same order. A row of NaN logits becomes an :class:`InputFailure`.
        """
        return self._predictions(output, frames)

    def _run(self, frames: list[Frame], features: bool) -> list[Prediction | InputFailure]:
        out = self.backend.run([f.image for f in frames], features=features)
        return self._predictions(out, [(f.source, f.frame) for f in frames])

    def predict_each(
        self, source: Any, *, features: bool = False, smooth: float | None = None
    ) -> Iterator[Prediction | InputFailure]:
        """Stream a prediction per image or frame, and an :class:`InputFailure` in place of each bad input.

        Never raises for a bad input, so a batch job can report failures and carry on; order follows
        the inputs. Accepts what :meth:`predict` accepts. With ``features`` each prediction also carries
        the input of the model's final layer (:attr:`Prediction.features`) where the backend has one.
        ``smooth`` is as in :meth:`predict`.
        """
        if smooth is not None:
            yield from smooth_each(self, source, SmoothedStream(smooth), features=features)
            return
        features = features or self.wants_features
        if type(source).__module__.split(".", 1)[0] == "torch":  # a BCHW float tensor in [0, 1], as Ultralytics takes
            yield from run_checked(self.backend, source, features, self._predictions)
        elif getattr(self.backend, "prepare", None) is not None:  # fast engines: decode + preprocess overlap inference
            batches = pipelined(self.backend, source, batch=self.batch, features=features)
            with contextlib.closing(batches):
                for done in batches:
                    if isinstance(done, InputFailure):
                        yield done
                    else:
                        yield from self._predictions(*done)
        else:
            yield from self._each_batch(source, features)

    def _each_batch(self, source: Any, features: bool) -> Iterator[Prediction | InputFailure]:
        """The plain loop: read frames, run them a batch at a time (see :meth:`predict_each`)."""
        items = iter_frames(source, workers=decode_workers(self.batch))
        if self.backend.device_type == "cuda":  # decode while the GPU works
            items = prefetched(items, depth=2 * self.batch)
        try:
            for batch in frame_batches(items, self.batch):
                if isinstance(batch, InputFailure):
                    yield batch
                else:
                    yield from self._run(batch, features)
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # stop a read-ahead thread when the consumer stops early
                close()

    @overload
    def predict(
        self, source: Any, *, stream: Literal[False] = False, smooth: float | None = None
    ) -> list[Prediction]: ...

    @overload
    def predict(self, source: Any, *, stream: Literal[True], smooth: float | None = None) -> Iterator[Prediction]: ...

    def predict(
        self, source: Any, *, stream: bool = False, smooth: float | None = None
    ) -> list[Prediction] | Iterator[Prediction]:
        """Classify ``source`` and return one :class:`Prediction` per image or video frame.

        ``source`` may be a path, folder, glob, video file, webcam index (``"0"``), stream or image URL,
        a numpy BGR array, a PIL image, a BCHW tensor, or a list of these. With ``stream=True`` a
        generator is returned, so long videos use flat memory. A bad input raises
        :class:`~yolo_probs.errors.SourceError` naming it; use :meth:`predict_each` to skip past it.

        ``smooth`` (seconds, a half-life) smooths the probabilities of video and stream frames over time
        (:mod:`yolo_probs.api.smoothing`): each prediction's fields are then the smoothed ones and
        :attr:`Prediction.raw` holds the frame's own; still images are left as they are (with a
        warning). A ``smooth`` that is not a number of seconds in (0, 3600] raises :class:`ConfigError`.
        """
        if smooth is not None:
            SmoothedStream(smooth)  # checks it now, not at the first frame of a stream
        gen = self._predict_raising(source, smooth)
        return gen if stream else list(gen)

    def _predict_raising(self, source: Any, smooth: float | None = None) -> Iterator[Prediction]:
        for item in self.predict_each(source, smooth=smooth):
            if isinstance(item, InputFailure):
                raise item.error()
            yield item

    __call__ = predict


def _check_decisions(decisions: Any) -> list[Any]:
    """``decisions`` (None or a list of rules, each with ``apply``) as a new list, else :class:`ConfigError`."""
    if decisions is None:
        return []
    if isinstance(decisions, str | bytes | dict) or not isinstance(decisions, list | tuple):
        raise ConfigError(
            f"decisions must be a list of decision rules (see yolo_probs.decisions), got {describe(decisions)}",
            option="decisions",
        )
    for rule in decisions:
        if not callable(getattr(rule, "apply", None)):
            raise ConfigError(
                f"decisions must be decision rules with an apply(predictions, output) method, got {describe(rule)}",
                option="decisions",
            )
    return list(decisions)


def _calibrator_for(backend: Backend, asked: Calibrator | None) -> Calibrator:
    """The calibrator for ``backend``'s logits: ``asked``, else the temperature an export has folded in, else 1.

    An export with another calibrator inside gets :func:`~yolo_probs.calibration.folded.resolve_folded`'s
    answer, so that calibrator is never applied twice.
    """
    folded = getattr(backend, "folded_calibrator", None)
    if folded is not None:
        asked = resolve_folded(asked, folded)
    if asked is None:
        asked = TemperatureScaling(getattr(backend, "folded_temperature", None) or 1.0)
    return asked
