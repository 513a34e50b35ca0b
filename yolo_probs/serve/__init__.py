"""``yolo-probs serve``: calibrated probabilities and decisions over HTTP, with dynamic batching.

- :mod:`yolo_probs.serve.settings`: :class:`ServeSettings`, what a server is told;
- :mod:`yolo_probs.serve.batcher`: :class:`Batcher`, images from many requests in one model run
  (no web framework; a Ray Serve deployment reuses it);
- :mod:`yolo_probs.serve.app`: :func:`~yolo_probs.serve.app.create_app`, the FastAPI app
  (needs ``pip install 'yolo-probs[serve]'``).
"""

from __future__ import annotations

from yolo_probs.serve.batcher import Batcher, BusyError, ServedModel
from yolo_probs.serve.settings import API_KEY_ENV, ServeSettings

__all__ = ["API_KEY_ENV", "Batcher", "BusyError", "ServeSettings", "ServedModel"]
