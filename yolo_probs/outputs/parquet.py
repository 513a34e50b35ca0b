"""Predictions as Arrow tables and Parquet files: one row per image or frame, the JSON record's fields as columns.

The columns are fixed, so every file a run writes (the local ``predict``, each Ray block) has the
same schema and files from several runs concatenate: ``source``, ``frame``, ``temperature``, ``top``
(a list of ``{index, name, prob}``), then the optional fields of
:meth:`~yolo_probs.core.prediction.Prediction.to_dict` (``calibration``, ``ood_score``, ``unknown``,
``set``, and for predictions smoothed over time ``smooth`` and ``raw``) as nullable columns, and
``logits`` when asked for. :func:`read_records` turns a file back
into exactly the dicts the JSON writer writes.

Example:
    >>> import io, numpy as np
    >>> from yolo_probs.core.prediction import Prediction
    >>> p = Prediction.from_logits(np.array([0.0, 1.0]), names=("a", "b"), top_k=1, source="x.jpg")
    >>> table = records_table([p.to_dict()])
    >>> table.num_rows, table.column_names[:4]
    (1, ['source', 'frame', 'temperature', 'top'])
    >>> buf = io.BytesIO()
    >>> import pyarrow.parquet as pq
    >>> pq.write_table(table, buf)
    >>> read_records(io.BytesIO(buf.getvalue())) == [p.to_dict()]
    True
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from yolo_probs.core.checks import check_path
from yolo_probs.errors import SourceError, first_line

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["box_schema", "read_records", "records_table", "schema", "to_record"]


def schema(logits: bool = False) -> pa.Schema:
    """The Arrow schema of prediction records (``logits``: with the raw logits column)."""
    import pyarrow as pa

    ranked = pa.list_(pa.struct([("index", pa.int64()), ("name", pa.string()), ("prob", pa.float64())]))
    fields = [
        ("source", pa.string()),
        ("frame", pa.int64()),
        ("temperature", pa.float64()),
        ("top", ranked),
        ("calibration", pa.string()),
        ("ood_score", pa.float64()),
        ("unknown", pa.bool_()),
        ("set", ranked),
        ("smooth", pa.struct([("half_life", pa.float64()), ("time", pa.float64()), ("reset", pa.bool_())])),
        (
            "raw",
            pa.struct([("top", ranked), ("ood_score", pa.float64()), ("unknown", pa.bool_()), ("set", ranked)]),
        ),
    ]
    if logits:
        fields.append(("logits", pa.list_(pa.float64())))
    return pa.schema(fields)


def box_schema(logits: bool = False) -> pa.Schema:
    """The Arrow schema of detection records (:meth:`~yolo_probs.core.boxes.Detections.to_dict`): one row per
    image or frame, its boxes a list column (``logits``: each box with its raw class logits)."""
    import pyarrow as pa

    ranked = pa.list_(pa.struct([("index", pa.int64()), ("name", pa.string()), ("prob", pa.float64())]))
    box = [
        ("index", pa.int64()),
        ("xyxy", pa.list_(pa.float64())),
        ("conf", pa.float64()),
        ("cls", pa.int64()),
        ("name", pa.string()),
        ("top", ranked),
        ("conf_calibrated", pa.float64()),
        # A second-stage classifier's record for the crop (predict --classifier), null without one.
        ("classifier", pa.struct([("temperature", pa.float64()), ("calibration", pa.string()), ("top", ranked)])),
    ]
    if logits:
        box.append(("logits", pa.list_(pa.float64())))
    fields = [
        ("source", pa.string()),
        ("frame", pa.int64()),
        ("task", pa.string()),
        ("shape", pa.list_(pa.int64())),
        ("temperature", pa.float64()),
        ("calibration", pa.string()),
        ("boxes", pa.list_(pa.struct(box))),
    ]
    return pa.schema(fields)


def records_table(records: list[dict[str, Any]], logits: bool | None = None) -> pa.Table:
    """An Arrow table of JSON records (:meth:`Prediction.to_dict`); missing optional fields become null.

    ``logits`` None: include the logits column when the first record has one.
    """
    import pyarrow as pa

    boxes = bool(records) and "boxes" in records[0]
    if logits is None:
        first = records[0]["boxes"][:1] if boxes else records[:1]
        logits = bool(first) and "logits" in first[0]
    return pa.Table.from_pylist(records, schema=box_schema(logits) if boxes else schema(logits))


def read_records(path: Any) -> list[dict[str, Any]]:
    """The records of a predictions Parquet file (a path or binary file), as the JSON writer writes them.

    Raises:
        ConfigError: ``path`` is neither a path nor a binary file.
        SourceError: the file is missing or not a readable Parquet file.

    Example:
        >>> read_records("missing.parquet")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.SourceError: missing.parquet: no such file; ...
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not callable(getattr(path, "read", None)):
        check_path(path, "path", "predictions.parquet")
        if not os.path.isfile(path):
            raise SourceError(os.fspath(path), "no such file; pass a Parquet file written by 'yolo-probs predict'")
    shown = os.fspath(path) if isinstance(path, str | os.PathLike) else "the file"
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(
            shown, f"not a readable Parquet file ({first_line(exc)}); pass a file written by 'yolo-probs predict'"
        ) from None
    return [to_record(row) for row in table.to_pylist()]


def to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A table row as the JSON record: null optional fields dropped, as :meth:`Prediction.to_dict` leaves them out.

    Example:
        >>> to_record({"source": "a.jpg", "frame": None, "calibration": None, "ood_score": None, "unknown": None})
        {'source': 'a.jpg', 'frame': None}
    """
    for key in ("calibration", "set", "smooth", "raw"):
        if key in row and row[key] is None:
            del row[key]
    raw = row.get("raw")
    if raw is not None:  # the frame's own fields, as to_dict leaves them out
        for key in ("ood_score", "unknown", "set"):
            if raw.get(key) is None:
                raw.pop(key, None)
    if "ood_score" in row and row["ood_score"] is None:
        del row["ood_score"]
        row.pop("unknown", None)
    for box in row.get("boxes") or ():  # a detection record: the optional per-box fields as to_dict leaves them out
        for key in ("conf_calibrated", "classifier"):
            if box.get(key) is None:
                box.pop(key, None)
        if box.get("classifier") is not None and box["classifier"].get("calibration") is None:
            box["classifier"].pop("calibration", None)
    return row
