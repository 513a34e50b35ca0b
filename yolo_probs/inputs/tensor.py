"""Check a preprocessed tensor batch before it reaches a model: shape, dtype, emptiness, NaN.

A wrong tensor (one image without its batch dimension, channels-last, one channel, integers, NaN)
would otherwise fail deep inside a backend with a framework error, or give NaN probabilities. Each
problem here is one :class:`~yolo_probs.errors.SourceError` naming the tensor and saying what to do.

Example:
    >>> import torch
    >>> check_batch(torch.zeros(3, 32, 32))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yolo_probs.errors.SourceError: tensor: got one image of shape (3, 32, 32) without a batch dimension; ...
    >>> bad_rows(torch.stack([torch.zeros(3, 4, 4), torch.full((3, 4, 4), float("nan"))]))
    [1]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from yolo_probs.errors import SourceError
from yolo_probs.inputs.sources import InputFailure

__all__ = ["NAME", "bad_rows", "check_batch", "nan_failures", "run_checked"]

#: How a tensor batch is named in messages (its images are ``tensor0``, ``tensor1``...).
NAME = "tensor"
_WANT = "a float (N, 3, H, W) batch with values in [0, 1]"


def check_batch(batch: Any) -> None:
    """Raise :class:`SourceError` unless ``batch`` is a non-empty float ``(N, 3, H, W)`` tensor or array."""
    shape = tuple(int(d) for d in getattr(batch, "shape", ()))
    ndim = len(shape)
    if ndim == 0:
        raise SourceError(NAME, f"got a scalar, expected {_WANT}; pass a stack of images")
    if ndim == 3 and shape[0] in (1, 3):
        raise SourceError(
            NAME, f"got one image of shape {shape} without a batch dimension; pass t.unsqueeze(0) ({_WANT})"
        )
    if ndim != 4:
        raise SourceError(NAME, f"got shape {shape}, expected {_WANT}")
    if shape[1] != 3:
        if shape[3] == 3:
            hint = "it looks channels-last: pass t.permute(0, 3, 1, 2)"
        elif shape[1] == 1:
            hint = "it has 1 channel: repeat it with t.expand(-1, 3, -1, -1)"
        else:
            hint = f"expected {_WANT}"
        raise SourceError(NAME, f"got shape {shape}, not (N, 3, H, W); {hint}")
    if 0 in shape:
        raise SourceError(NAME, f"the batch is empty (shape {shape}); pass at least one image")
    dtype = str(getattr(batch, "dtype", ""))
    if "float" not in dtype:
        raise SourceError(NAME, f"got {dtype} values, expected {_WANT}; pass t.float() / 255 for 0-255 pixels")


def bad_rows(batch: Any) -> list[int]:
    """Indices of the images of ``batch`` holding NaN or infinite values (a model would give NaN)."""
    if hasattr(batch, "detach"):  # torch
        import torch

        finite = torch.isfinite(batch).flatten(1).all(dim=1).cpu().numpy()
    else:
        finite = np.isfinite(np.asarray(batch)).reshape(len(batch), -1).all(axis=1)
    return [int(i) for i in np.flatnonzero(~finite)]


def run_checked(
    backend: Any, batch: Any, features: bool, to_predictions: Callable[[Any, list[tuple[str, int | None]]], list[Any]]
) -> Iterator[Any]:
    """Check ``batch``, run its finite images through ``backend`` and yield predictions and failures in order.

    A badly shaped batch is one failure; an image holding NaN or infinity is a failure of its own
    (``tensor3``) and the other images are still classified.
    """
    try:
        check_batch(batch)
    except SourceError as exc:
        yield InputFailure(exc.source, exc.reason)
        return
    bad = set(bad_rows(batch))
    good = [i for i in range(int(batch.shape[0])) if i not in bad]
    results: list[Any] = []
    if good:
        subset = batch if not bad else batch[good]
        out = backend.run_tensor(subset, features=features)
        results = to_predictions(out, [(f"{NAME}{i}", None) for i in good])
    found = iter(results)
    for i in range(int(batch.shape[0])):
        if i in bad:
            yield InputFailure(f"{NAME}{i}", "holds NaN or infinite values; clean the input (e.g. torch.nan_to_num)")
        else:
            yield next(found)


def nan_failures(out: Any, frames: list[tuple[str, int | None]]) -> tuple[Any, list[tuple[str, int | None]], list[Any]]:
    """Split off the rows whose logits are NaN or +inf (a broken model or input): they become failures.

    Returns the backend output and frames of the good rows, and ``(position, InputFailure)`` pairs.
    ``-inf`` is kept: an export whose probability underflowed to 0 gives it, and it means probability 0.
    """
    logits = out.logits
    bad = np.isnan(logits).any(axis=1) | np.isposinf(logits).any(axis=1) | np.isneginf(logits).all(axis=1)
    if not bad.any():
        return out, frames, []
    failures = [
        (int(i), InputFailure(frames[i][0], "the model returned NaN or infinite logits for it; check the model "
                              "weights and the input", frames[i][1]))
        for i in np.flatnonzero(bad)
    ]  # fmt: skip
    keep = np.flatnonzero(~bad)
    feats = out.features[keep] if out.features is not None else None
    kept = dataclasses.replace(out, logits=logits[keep], features=feats)
    return kept, [frames[i] for i in keep], failures
