"""The core: the probability math and what every other layer passes around.

- :mod:`~yolo_probs.core.probs`: temperature softmax, log-softmax and top-k (numpy, or torch when given tensors);
- :mod:`~yolo_probs.core.prediction`: :class:`~yolo_probs.core.prediction.Prediction`, the result for one image;
- :mod:`~yolo_probs.core.boxes`: :class:`~yolo_probs.core.boxes.Detections`, the per-box result of a detector;
- :mod:`~yolo_probs.core.metrics`: accuracy, NLL, Brier, ECE and friends;
- :mod:`~yolo_probs.core.checks`: checks on logits and labels;
- :mod:`~yolo_probs.core.names`: class names from lists, mappings, files or the model;
- :mod:`~yolo_probs.core.capture`: the forward hook that captures a model's logits.
"""
