"""The Python API: :class:`~yolo_probs.api.model.YoloProbs`, deployment profiles, calibrate and evaluate.

- :mod:`~yolo_probs.api.model`: one backend, a calibrator and decision rules around it, and the prediction loop;
- :mod:`~yolo_probs.api.profile`: deployment profiles (one YAML file per deployment);
- :mod:`~yolo_probs.api.monitor`: label-free drift monitoring against a profile's calibration images;
- :mod:`~yolo_probs.api.workflow`: :func:`~yolo_probs.api.workflow.calibrate` and
  :func:`~yolo_probs.api.workflow.evaluate` on labelled folders.

The names users need are re-exported by :mod:`yolo_probs` itself (``from yolo_probs import YoloProbs``).
"""
