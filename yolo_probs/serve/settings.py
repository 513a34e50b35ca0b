"""What a ``yolo-probs serve`` server is told: the model, batching, limits and the API key.

:class:`ServeSettings` is the one place these settings live: the CLI builds it from its options,
:func:`yolo_probs.serve.app.create_app` and a Ray Serve deployment read it. Every value is checked
when the settings are made, so a bad one is a :class:`~yolo_probs.errors.ConfigError` naming its
option before any model loads.

Example:
    >>> s = ServeSettings(model="examples/models/digits-yolo26n-cls.pt", max_batch=16)
    >>> s.max_batch, s.max_wait_ms, s.api_key is None
    (16, 5.0, True)
    >>> ServeSettings(max_batch=0)
    Traceback (most recent call last):
    ...
    yolo_probs.errors.ConfigError: max_batch must be a whole number in [1, 1024], got 0
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo_probs.core.checks import check_whole, describe
from yolo_probs.errors import ConfigError

__all__ = ["API_KEY_ENV", "ServeSettings"]

#: The environment variable read for the API key when none is given.
API_KEY_ENV = "YOLO_PROBS_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """How a server loads its model, batches requests and protects itself.

    Attributes:
        model: checkpoint or export (as ``YoloProbs`` takes it); None with a profile: the profile's.
        profile: a deployment profile (checked against its model's sha256, reloaded on SIGHUP).
        model_options: other ``YoloProbs`` keyword arguments (``temperature``, ``top_k``, ``imgsz``,
            ``device``, ``engine``...); None values keep the profile's (or the library's) own.
        max_batch: most images one model run takes from the requests waiting.
        max_wait_ms: how long the first image of a batch waits for others to join it.
        max_queue: most images waiting for the model; past it a request gets 503 at once.
        api_key: every endpoint but ``/health`` asks for ``Authorization: Bearer KEY``; None: no key
            (use :meth:`with_env_key` to read ``$YOLO_PROBS_API_KEY``).
        max_body_bytes: largest request body; a larger one gets 413 before it is read.
        max_files: most images in one request.
        timeout_s: per request: reading the body (408 past it) and waiting for the model (504).
        decode_threads: threads that decode and preprocess images (None: from the core count).
    """

    model: str | None = None
    profile: Path | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    max_batch: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 1024
    api_key: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    max_files: int = 64
    timeout_s: float = 30.0
    decode_threads: int | None = None

    def __post_init__(self) -> None:
        check_whole(self.max_batch, "max_batch", low=1, high=1024, option="max_batch")
        check_whole(self.max_queue, "max_queue", low=1, option="max_queue")
        check_whole(self.max_body_bytes, "max_body_bytes", low=1, option="max_body_bytes")
        check_whole(self.max_files, "max_files", low=1, option="max_files")
        if self.decode_threads is not None:
            check_whole(self.decode_threads, "decode_threads", low=1, high=256, option="decode_threads")
        _check_seconds(self.max_wait_ms, "max_wait_ms", high=10_000.0, zero=True)
        _check_seconds(self.timeout_s, "timeout_s", high=86_400.0, zero=False)
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            raise ConfigError(
                f"api_key must be a non-empty string, got {describe(self.api_key)}; pass a long random key",
                option="api_key",
            )
        if self.profile is not None and not isinstance(self.profile, str | os.PathLike):
            raise ConfigError(f"profile must be a path, got {describe(self.profile)}", option="profile")
        if not isinstance(self.model_options, dict):
            raise ConfigError(
                f"model_options must be a dict of YoloProbs keyword arguments, got {describe(self.model_options)}",
                option="model_options",
            )

    def with_env_key(self) -> ServeSettings:
        """These settings with the API key from ``$YOLO_PROBS_API_KEY`` when none was given.

        Example:
            >>> os.environ[API_KEY_ENV] = "s3cret"
            >>> ServeSettings().with_env_key().api_key
            's3cret'
            >>> del os.environ[API_KEY_ENV]
        """
        if self.api_key is not None or not os.environ.get(API_KEY_ENV):
            return self
        return dataclasses.replace(self, api_key=os.environ[API_KEY_ENV])


def _check_seconds(value: Any, name: str, *, high: float, zero: bool) -> None:
    """``value`` is a finite number in ``[0, high]`` (``(0, high]`` unless ``zero``), else ConfigError."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if zero else value > 0) and value <= high
    if not ok:
        low = "0" if zero else "above 0"
        raise ConfigError(f"{name} must be a number {low} and at most {high:g}, got {describe(value)}", option=name)
