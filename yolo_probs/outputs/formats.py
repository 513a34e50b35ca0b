"""Output writers, listed once: :data:`WRITERS` maps each format name to its class.

Every writer takes ``(stream, logits=False)``, receives predictions one by one with ``write`` and
finishes the document with ``close``; its ``suffixes`` say which ``--output`` file names pick it. The
CLI's ``--format`` choices and its suffix-to-format map come from :data:`WRITERS`, so adding a format
is one class plus one :func:`register_writer` line. Records are written as they arrive and flushed.
Output files are opened by :func:`open_records`, through the one file writer
(:mod:`yolo_probs.outputs.files`): a file is written under a temporary name and renamed into place at
the end, so a failed run never leaves half a document in place of a good one (on Ctrl-C the records
so far are kept, as a complete document); stdout, a FIFO or a device get the records as they come.

Example:
    >>> import io, numpy as np
    >>> from yolo_probs.core.prediction import Prediction
    >>> buf = io.StringIO()
    >>> w = make_writer("jsonl", buf)
    >>> w.write(Prediction.from_logits(np.array([0.0, 1.0]), names=("a", "b"), top_k=1, source="x.jpg"))
    >>> w.close()
    >>> buf.getvalue().rstrip()
    '{"source": "x.jpg", "frame": null, "temperature": 1.0, "top": [{"index": 1, "name": "b", "prob": 0.731...}]}'
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Protocol, TextIO

from yolo_probs._util.display import cut_left, percent
from yolo_probs._util.registry import Registry
from yolo_probs.outputs.files import open_output
from yolo_probs.outputs.parquet import box_schema, records_table, schema

if TYPE_CHECKING:
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "BOX_CSV_COLUMNS",
    "CSV_COLUMNS",
    "WRITERS",
    "ParquetWriter",
    "Writer",
    "format_for_path",
    "make_writer",
    "open_records",
    "register_writer",
]

CSV_COLUMNS = ("source", "frame", "temperature", "rank", "index", "name", "prob")
#: The CSV columns of detection records: one row per (image, box, ranked class); an image without boxes
#: has one row with the box columns empty, so every input appears.
BOX_CSV_COLUMNS = (
    "source", "frame", "temperature", "box", "x1", "y1", "x2", "y2", "conf", "cls", "rank", "index", "name", "prob"
)  # fmt: skip
#: The last CSV columns of detection records: with ``--classifier``, the top class of the box's crop and
#: its probability (empty without one).
CROP_COLUMNS = ("classifier_name", "classifier_prob")


class Writer(Protocol):
    """Receives predictions one by one; ``close`` completes the output.

    ``binary`` writers (Parquet) get a binary stream; the others a text stream.
    """

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]
    binary: ClassVar[bool]

    def write(self, prediction: Prediction) -> None: ...

    def close(self) -> None: ...


class JsonLinesWriter:
    """One JSON object per line."""

    name: ClassVar[str] = "jsonl"
    suffixes: ClassVar[tuple[str, ...]] = (".jsonl",)
    binary: ClassVar[bool] = False

    def __init__(self, stream: TextIO, logits: bool = False) -> None:
        self.stream, self.logits = stream, logits

    def write(self, prediction: Prediction) -> None:
        self.stream.write(json.dumps(prediction.to_dict(self.logits)) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class JsonWriter(JsonLinesWriter):
    """A JSON array of records, streamed element by element."""

    name: ClassVar[str] = "json"
    suffixes: ClassVar[tuple[str, ...]] = (".json",)

    def __init__(self, stream: TextIO, logits: bool = False) -> None:
        super().__init__(stream, logits)
        self.count = 0

    def write(self, prediction: Prediction) -> None:
        self.stream.write(("[\n  " if self.count == 0 else ",\n  ") + json.dumps(prediction.to_dict(self.logits)))
        self.stream.flush()
        self.count += 1

    def close(self) -> None:
        self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


class CsvWriter:
    """One row per (source, frame, rank); with ``logits`` a ``logit`` column holds that class's logit.

    When the predictions carry decisions (a profile with them), ``ood_score`` and ``unknown`` columns
    and an ``in_set`` column (whether that class is in the conformal set) follow; predictions smoothed
    over time (``--smooth``) have a ``raw_prob`` column after ``prob``: the frame's own probability of
    that class. The header is written with the first prediction so it can say which.
    """

    name: ClassVar[str] = "csv"
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    binary: ClassVar[bool] = False

    def __init__(self, stream: TextIO, logits: bool = False) -> None:
        self.stream, self.logits = stream, logits
        self.csv = csv.writer(stream, lineterminator="\n")
        self.header: tuple[str, ...] | None = None

    def _start(self, prediction: Prediction | None) -> None:
        if prediction is not None and hasattr(prediction, "boxes"):  # detections: one row per box and class
            self.header = BOX_CSV_COLUMNS + (("logit",) if self.logits else ()) + ("conf_calibrated",) + CROP_COLUMNS
            self.csv.writerow(self.header)
            return
        ood = prediction is not None and prediction.ood_score is not None
        sets = prediction is not None and prediction.set is not None
        smoothed = prediction is not None and prediction.raw is not None
        self.header = (
            CSV_COLUMNS
            + (("raw_prob",) if smoothed else ())
            + (("logit",) if self.logits else ())
            + (("ood_score", "unknown") if ood else ())
            + (("in_set",) if sets else ())
        )
        self.csv.writerow(self.header)

    def write(self, prediction: Prediction) -> None:
        if self.header is None:
            self._start(prediction)
        assert self.header is not None
        if hasattr(prediction, "boxes"):
            self._write_boxes(prediction)
            return
        frame = "" if prediction.frame is None else prediction.frame
        members = {c.index for c in prediction.set or ()}
        for rank, c in enumerate(prediction.top, start=1):
            row: list[Any] = [prediction.source, frame, prediction.temperature, rank, c.index, c.name, c.prob]
            if "raw_prob" in self.header:  # smoothed over time: the frame's own probability beside it
                row += [float(prediction.raw.probs[c.index]) if prediction.raw is not None else c.prob]
            row += [float(prediction.logits[c.index])] if self.logits else []
            if "ood_score" in self.header:
                row += [prediction.ood_score, prediction.unknown]
            if "in_set" in self.header:
                row += [c.index in members if prediction.set is not None else None]
            self.csv.writerow(row)
        self.stream.flush()

    def _write_boxes(self, detections: Any) -> None:
        """Detections: one row per box and ranked class (``box`` is the box's index in the image)."""
        frame = "" if detections.frame is None else detections.frame
        head = [detections.source, frame, detections.temperature]
        if not detections.boxes:
            self.csv.writerow(head + [""] * (len(self.header or ()) - 3))
        for b in detections.boxes:
            for rank, c in enumerate(b.top, start=1):
                row: list[Any] = [*head, b.index, *b.xyxy, b.conf, b.cls, rank, c.index, c.name, c.prob]
                row += [float(b.logits[c.index])] if self.logits else []
                row += ["" if b.conf_calibrated is None else b.conf_calibrated]
                crop = b.classifier.top[0] if b.classifier is not None and b.classifier.top else None
                row += ["", ""] if crop is None else [crop.name, crop.prob]
                self.csv.writerow(row)
        self.stream.flush()

    def close(self) -> None:
        if self.header is None:
            self._start(None)
        self.stream.flush()


class TableWriter:
    """A readable table (rich), printed when the run ends.

    The ``frame`` column appears only when some record is a video frame; probabilities below 0.1%
    read ``<0.1%``; a long source path is cut from the left so that the file name stays readable.
    """

    name: ClassVar[str] = "table"
    suffixes: ClassVar[tuple[str, ...]] = ()
    binary: ClassVar[bool] = False
    #: The narrowest the source column gets before the table wraps instead.
    min_source_width: ClassVar[int] = 24

    def __init__(self, stream: TextIO, logits: bool = False) -> None:
        self.stream, self.logits = stream, logits
        self.records: list[tuple[str, str, str, str, str]] = []

    def write(self, prediction: Prediction) -> None:
        if hasattr(prediction, "boxes"):
            self._write_boxes(prediction)
            return
        top = "  ".join(f"{c.name} {percent(c.prob)}" for c in prediction.top) or "(none above min-prob)"
        if prediction.set is not None:
            top += "  set {" + ", ".join(c.name for c in prediction.set) + "}"
        if prediction.unknown:
            top = f"UNKNOWN (ood {prediction.ood_score:.3g})  " + top
        if prediction.raw is not None and prediction.raw.top:  # smoothed: the frame's own top class too
            first = prediction.raw.top[0]
            top += f"  (frame alone: {first.name} {percent(first.prob)})"
        logits = " ".join(f"{x:.3g}" for x in prediction.logits) if self.logits else ""
        frame = "" if prediction.frame is None else str(prediction.frame)
        self.records.append((prediction.source, frame, f"{prediction.temperature:g}", top, logits))

    def _write_boxes(self, detections: Any) -> None:
        """Detections: one line per box (its index, box, the model's class and conf, then the top classes)."""
        frame = "" if detections.frame is None else str(detections.frame)
        t = f"{detections.temperature:g}"
        if not detections.boxes:
            self.records.append((detections.source, frame, t, "(no boxes)", ""))
        for b in detections.boxes:
            x1, y1, x2, y2 = (round(v) for v in b.xyxy)
            top = "  ".join(f"{c.name} {percent(c.prob)}" for c in b.top) or "(none above min-prob)"
            cal = "" if b.conf_calibrated is None else f" (calibrated {b.conf_calibrated:.3f})"
            text = f"#{b.index} [{x1},{y1},{x2},{y2}] {b.name} conf {b.conf:.3f}{cal}: {top}"
            if b.classifier is not None:  # detect, then classify: the crop's own top classes
                text += "  crop: " + "  ".join(f"{c.name} {percent(c.prob)}" for c in b.classifier.top)
            logits = " ".join(f"{x:.3g}" for x in b.logits) if self.logits else ""
            self.records.append((detections.source, frame, t, text, logits))

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table

        if not self.records:
            return
        console = Console(file=self.stream, width=None if self.stream.isatty() else 200)
        frames = any(r[1] for r in self.records)
        columns = [("source", "left"), ("frame", "right"), ("T", "right"), ("top classes", "left"), ("logits", "left")]
        keep = [True, frames, True, True, self.logits]
        # Room left for the source once the other columns (and 3 characters of border per column) fit.
        others = sum(
            max(len(name), *(len(r[i]) for r in self.records)) + 3
            for i, (name, _) in enumerate(columns)
            if keep[i] and i > 0
        )
        source_width = max(self.min_source_width, console.width - others - 4)
        table = Table(show_lines=False, header_style="bold")
        for (name, justify), wanted in zip(columns, keep, strict=True):
            if wanted:
                table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for record in self.records:
            row = [cut_left(record[0], source_width), *record[1:]]
            table.add_row(*(cell for cell, wanted in zip(row, keep, strict=True) if wanted))
        console.print(table)


class ParquetWriter:
    """A Parquet file (pyarrow): one row per prediction, the JSON record's fields as columns.

    The schema is fixed (see :mod:`yolo_probs.outputs.parquet`): optional fields are null where they do not
    apply. Rows are buffered and written in row groups of ``row_group_rows``; the file is complete
    when :meth:`close` writes the footer (the CLI closes it on errors and interruptions too).
    """

    name: ClassVar[str] = "parquet"
    suffixes: ClassVar[tuple[str, ...]] = (".parquet", ".pq")
    binary: ClassVar[bool] = True
    row_group_rows: ClassVar[int] = 8192

    def __init__(self, stream: BinaryIO, logits: bool = False) -> None:
        import pyarrow.parquet as pq

        self.stream, self.logits = stream, logits
        self.pending: list[dict[str, Any]] = []
        self._pq = pq
        self.parquet: Any = None  # made at the first record: a classifier's or a detector's schema

    def write(self, prediction: Prediction) -> None:
        self.write_record(prediction.to_dict(self.logits))

    def write_record(self, record: dict[str, Any]) -> None:
        """Add one JSON record (what :meth:`Prediction.to_dict` gives), e.g. one read back from a Ray job."""
        if self.parquet is None:
            self._open(box_schema(self.logits) if "boxes" in record else schema(self.logits))
        self.pending.append(record)
        if len(self.pending) >= self.row_group_rows:
            self._flush()

    def _open(self, chosen: Any) -> None:
        self.schema = chosen
        self.parquet = self._pq.ParquetWriter(self.stream, chosen)

    def _flush(self) -> None:
        if self.pending:
            self.parquet.write_table(records_table(self.pending, self.logits))
            self.pending = []

    def close(self) -> None:
        if self.parquet is None:  # no record: an empty file with the classifier schema
            self._open(schema(self.logits))
        self._flush()
        self.parquet.close()
        self.stream.flush()


#: Format name -> writer class, in the order ``--format`` lists them.
WRITERS: Registry[type[Any]] = Registry(
    "output format",
    {
        "table": "yolo_probs.outputs.formats:TableWriter",
        "json": "yolo_probs.outputs.formats:JsonWriter",
        "jsonl": "yolo_probs.outputs.formats:JsonLinesWriter",
        "csv": "yolo_probs.outputs.formats:CsvWriter",
        "parquet": "yolo_probs.outputs.formats:ParquetWriter",
    },
    option="format",
)


def register_writer(cls: type[Any]) -> type[Any]:
    """Add a writer class under its ``name`` (usable as a decorator)."""
    return WRITERS.register(cls.name, cls)


def format_for_path(path: str | os.PathLike[str] | None, default: str = "table") -> str:
    """The format an output file name asks for by its suffix, else ``default``.

    Example:
        >>> format_for_path("out.JSONL"), format_for_path("out.txt"), format_for_path(None)
        ('jsonl', 'table', 'table')
    """
    if path is None:
        return default
    suffix = Path(path).suffix.lower()
    return next((name for name, cls in WRITERS.items() if suffix in cls.suffixes), default)


def make_writer(fmt: str, stream: Any, logits: bool = False) -> Writer:
    """The writer for ``fmt`` (a key of :data:`WRITERS`)."""
    return WRITERS[fmt](stream, logits)  # type: ignore[no-any-return]


def open_records(
    path: str | os.PathLike[str] | None, fmt: str, *, inputs: Iterable[str | os.PathLike[str] | None] = ()
) -> AbstractContextManager[Any]:
    """The stream a ``fmt`` writer writes to (stdout when ``path`` is None), opened by :func:`open_output`:
    binary for binary formats; a file is renamed into place at the end, stdout, a FIFO or a device are
    written into as the records come."""
    cls = WRITERS[fmt]
    example = f"predictions{cls.suffixes[0] if cls.suffixes else '.txt'}"
    # On Ctrl-C the writer completes its document in a finally block: the records so far are kept.
    return open_output(path, binary=cls.binary, inputs=inputs, example=example, keep_on_interrupt=True)
