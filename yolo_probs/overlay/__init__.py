"""The live overlay: a drawer for one frame and a loop that captures, predicts, draws, shows and records.

Example:
    >>> from yolo_probs.overlay import OverlayDrawer, model_view
    >>> model_view(480, 640)
    (80, 0, 560, 480)
"""

from __future__ import annotations

from yolo_probs.overlay.draw import HELP_TEXT, OverlayDrawer, model_view

__all__ = ["HELP_TEXT", "OverlayDrawer", "model_view"]
