"""Fast CPU engines for Ultralytics checkpoints: the model exported once as a logits graph and cached.

- :mod:`~yolo_probs.backends.engines.base`: what every engine shares (export, cache, check, fall back to torch);
- :mod:`~yolo_probs.backends.engines.cache`: the validated on-disk cache of exported graphs;
- :mod:`~yolo_probs.backends.engines.graph`: the logits graph and the one ONNX tracer;
- :mod:`~yolo_probs.backends.engines.ort`, :mod:`~yolo_probs.backends.engines.openvino`: one engine each;
- :mod:`~yolo_probs.backends.engines.auto`: the fastest engine installed for the device.
"""
