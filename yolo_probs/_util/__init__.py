"""Private helpers shared by every layer: nothing here is public API, and nothing here imports the rest of yolo_probs
(but :mod:`yolo_probs.errors`)."""
