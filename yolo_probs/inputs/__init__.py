"""What goes into a model: sources, decoding, preprocessing, tensors, labelled folders and read-ahead.

- :mod:`~yolo_probs.inputs.sources`: files, folders, globs, videos, streams and arrays to frames, each bad
  input one :class:`~yolo_probs.inputs.sources.InputFailure`;
- :mod:`~yolo_probs.inputs.fast_decode`: Pillow decodes plain JPEGs where its pixels equal OpenCV's;
- :mod:`~yolo_probs.inputs.preprocess` and :mod:`~yolo_probs.inputs.fast_preprocess`: resize, crop and
  normalise, with torchvision or with numpy/PIL only (the same pixels);
- :mod:`~yolo_probs.inputs.tensor`: checks on preprocessed tensor batches;
- :mod:`~yolo_probs.inputs.labelled`: labelled folders in Ultralytics' classification layout;
- :mod:`~yolo_probs.inputs.readahead`: decoding and preprocessing overlapped with inference.
"""
