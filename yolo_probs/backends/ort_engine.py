"""ONNX Runtime as an engine for Ultralytics checkpoints: the exported logits graph on one CPU session.

The session uses :func:`~yolo_probs.backends._engine.engine_threads` intra-op threads (one on a
2-core machine, so the decoder keeps the other core) and a dynamic batch axis.

Example:
    >>> from yolo_probs.backends import BackendOptions
    >>> from yolo_probs.backends.ort_engine import OnnxRuntimeEngine
    >>> engine = OnnxRuntimeEngine()
    >>> engine.name, engine.can_load("model.pt", BackendOptions(engine="onnxruntime")), engine.batch_shape(8)
    ('onnxruntime', True, 'dynamic')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.backends._engine import EngineFactory

if TYPE_CHECKING:
    from yolo_probs.engine_cache import CacheEntry

__all__ = ["OnnxRuntimeEngine"]


class OnnxRuntimeEngine(EngineFactory):
    """Runs the logits graph with ONNX Runtime's CPU execution provider."""

    name = "onnxruntime"
    import_name = "onnxruntime"
    install = "install it with: pip install onnxruntime"

    def version(self) -> str:
        """ONNX Runtime's version."""
        import onnxruntime as ort

        return str(ort.__version__)

    def open(self, entry: CacheEntry, batch: int, threads: int) -> Any:
        """One CPU session with ``threads`` intra-op threads and no inter-op pool."""
        import onnxruntime as ort

        ort.set_default_logger_severity(3)  # its telemetry notices would break the one-line-per-message promise
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
