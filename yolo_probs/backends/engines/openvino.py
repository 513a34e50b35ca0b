"""OpenVINO as an engine for Ultralytics checkpoints (``pip install 'yolo-probs[openvino]'``).

The logits graph is converted to OpenVINO IR with float32 weights and compiled with a float32
precision hint: OpenVINO's default on CPUs with bfloat16 support is bfloat16, which moves
probabilities by 2-5e-2 (Ultralytics' own OpenVINO backend runs that way). The batch is static (the
cache key records it); a short last batch is padded.

Example:
    >>> from yolo_probs.backends.engines.openvino import OpenVinoEngine
    >>> OpenVinoEngine().batch_shape(8), OpenVinoEngine.CONFIG["INFERENCE_PRECISION_HINT"]
    ('static-8', 'f32')
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from yolo_probs.backends.engines.base import EngineFactory

if TYPE_CHECKING:
    from pathlib import Path

    from yolo_probs.backends.engines.cache import CacheEntry

__all__ = ["ENGINE", "OpenVinoEngine"]


class OpenVinoEngine(EngineFactory):
    """Runs the logits graph with OpenVINO on the CPU, in float32."""

    name = "openvino"
    import_name = "openvino"
    install = "install it with: pip install 'yolo-probs[openvino]'"
    #: Compile settings besides the thread count: f32 always, one stream, latency first, no core pinning
    #: (pinned threads stall when another process holds their core).
    CONFIG: ClassVar[dict[str, str]] = {
        "INFERENCE_PRECISION_HINT": "f32",
        "NUM_STREAMS": "1",
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": "NO",
    }

    def version(self) -> str:
        """OpenVINO's version."""
        import openvino as ov

        return str(ov.get_version())

    def batch_shape(self, batch: int) -> str:
        """Static batches: OpenVINO's CPU plugin is fastest on fixed shapes."""
        return f"static-{batch}"

    def build(self, onnx_path: Path, scratch: Path, batch: int, imgsz: int) -> list[str]:
        """Convert to IR (``model.xml`` + ``model.bin``) keeping float32 weights."""
        import openvino as ov

        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(scratch / "model.xml"), compress_to_fp16=False)
        onnx_path.unlink()
        return ["model.xml", "model.bin"]

    def open(self, entry: CacheEntry, batch: int, threads: int) -> Any:
        """Compile for the CPU; one infer request per calling thread."""
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(
            str(entry.path("model.xml")), "CPU", {**self.CONFIG, "INFERENCE_NUM_THREADS": str(threads)}
        )
        local = threading.local()
        logits_out, feats_out = compiled.output("logits"), compiled.output("features")

        def run(x: np.ndarray, features: bool) -> tuple[np.ndarray, np.ndarray | None]:
            request = getattr(local, "request", None)
            if request is None:
                request = local.request = compiled.create_infer_request()
            n = x.shape[0]
            if n > batch:
                parts = [run(x[i : i + batch], features) for i in range(0, n, batch)]
                feats = np.concatenate([p[1] for p in parts]) if features else None  # type: ignore[misc]
                return np.concatenate([p[0] for p in parts]), feats
            if n < batch:  # pad a short last batch; the extra rows are dropped
                x = np.concatenate([x, np.zeros((batch - n, *x.shape[1:]), np.float32)])
            result = request.infer({0: x})
            logits = np.array(result[logits_out][:n])
            return logits, np.array(result[feats_out][:n]) if features else None

        return run


#: The instance listed in :data:`~yolo_probs.backends.base.BACKENDS`.
ENGINE = OpenVinoEngine()
