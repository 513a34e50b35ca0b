"""ONNX Runtime as an engine for Ultralytics checkpoints: the exported logits graph on one CPU session.

The session uses :func:`~yolo_probs._util.threads.engine_threads` intra-op threads (one on a
2-core machine, so the decoder keeps the other core) and a dynamic batch axis.

Example:
    >>> from yolo_probs.backends import BackendOptions
    >>> from yolo_probs.backends.engines.ort import OnnxRuntimeEngine
    >>> engine = OnnxRuntimeEngine()
    >>> engine.name, engine.can_load("model.pt", BackendOptions(engine="onnxruntime")), engine.batch_shape(8)
    ('onnxruntime', True, 'dynamic')
    >>> engine.run_batch(8), engine.run_batch(1)
    (2, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs._util.onnxruntime_env import import_onnxruntime
from yolo_probs.backends.engines.base import EngineFactory

if TYPE_CHECKING:
    from yolo_probs.backends.engines.cache import CacheEntry

__all__ = ["ENGINE", "OnnxRuntimeEngine"]


class OnnxRuntimeEngine(EngineFactory):
    """Runs the logits graph with ONNX Runtime's CPU execution provider."""

    name = "onnxruntime"
    import_name = "onnxruntime"
    install = "install it with: pip install onnxruntime"
    delegates_to = frozenset({"onnx"})

    def version(self) -> str:
        """ONNX Runtime's version."""
        return str(import_onnxruntime().__version__)

    def run_batch(self, batch: int) -> int:
        """At most 2 images per run: on the CPU a larger batch is not faster per image, only later.

        Measured on the 2-core machine (yolo26n-cls, imgsz 224, one intra-op thread): the forward
        alone does 450, 487, 455 and 461 img/s at batch 1, 2, 4 and 8, while the pipeline that
        overlaps decoding with it does 423, 432, 418 and 401 img/s over 200 JPEGs: a batch of 8
        keeps the engine waiting for 8 decoded images at the start and the reader idle for 8
        forwards at the end. The records do not depend on it (each image's logits are its own).
        """
        return min(batch, 2)

    def open(self, entry: CacheEntry, batch: int, threads: int) -> Any:
        """One CPU session with ``threads`` intra-op threads and no inter-op pool."""
        ort = import_onnxruntime()  # its own notices (telemetry...) would break the one-line-per-message promise
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(str(entry.path("logits.onnx")), options, providers=["CPUExecutionProvider"])

        def run(x: np.ndarray, features: bool) -> tuple[np.ndarray, np.ndarray | None]:
            if features:
                logits, feats = session.run(["logits", "features"], {"images": x})
                return logits, feats
            return session.run(["logits"], {"images": x})[0], None

        return run


#: The instance listed in :data:`~yolo_probs.backends.base.BACKENDS`.
ENGINE = OnnxRuntimeEngine()
