"""yolo-probs inside other tools: an existing ``ultralytics.YOLO`` object (:mod:`~yolo_probs.integrations.plugin`)
and Ray clusters (:mod:`~yolo_probs.integrations.ray`, optional extra ``yolo-probs[ray]``)."""
