"""Writers for ``yolo-probs predict --format table|json|jsonl|csv``.

Records are written as they arrive and flushed, so whatever succeeded before a failure or an
interruption is on disk; ``close()`` finishes the document (the closing ``]`` of JSON, the table).

Example:
    >>> import io, numpy as np
    >>> from yolo_probs.prediction import Prediction
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
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from yolo_probs.prediction import Prediction

FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = ("source", "frame", "temperature", "rank", "index", "name", "prob")


class Writer(Protocol):
    """Receives predictions one by one; ``close`` completes the output."""

    def write(self, prediction: Prediction) -> None: ...

    def close(self) -> None: ...


class JsonLinesWriter:
    """One JSON object per line."""

    def __init__(self, stream: TextIO, logits: bool = False) -> None:
        self.stream, self.logits = stream, logits

    def write(self, prediction: Prediction) -> None:
        self.stream.write(json.dumps(prediction.to_dict(self.logits)) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class JsonWriter(JsonLinesWriter):
    """A JSON array of records, streamed element by element."""

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
    """One row per (source, frame, rank); with ``logits`` a ``logit`` column holds that class's logit."""

    def __init__(self, stream: TextIO, logits: bool = False) -> None:
        self.stream, self.logits = stream, logits
        self.csv = csv.writer(stream, lineterminator="\n")
        self.csv.writerow(CSV_COLUMNS + (("logit",) if logits else ()))

    def write(self, prediction: Prediction) -> None:
        frame = "" if prediction.frame is None else prediction.frame
        for rank, c in enumerate(prediction.top, start=1):
            row = [prediction.source, frame, prediction.temperature, rank, c.index, c.name, c.prob]
            self.csv.writerow(row + ([float(prediction.logits[c.index])] if self.logits else []))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A readable table (rich), printed when the run ends."""

    def __init__(self, stream: TextIO, logits: bool = False) -> None:
        from rich.table import Table

        self.stream, self.logits = stream, logits
        self.table = Table(show_lines=False, header_style="bold")
        for name, justify in (("source", "left"), ("frame", "right"), ("T", "right"), ("top classes", "left")):
            self.table.add_column(name, justify=justify)  # type: ignore[arg-type]
        if logits:
            self.table.add_column("logits", justify="left")
        self.rows = 0

    def write(self, prediction: Prediction) -> None:
        top = "  ".join(f"{c.name} {c.prob:.1%}" for c in prediction.top) or "(none above min-prob)"
        row = [
            prediction.source,
            "" if prediction.frame is None else str(prediction.frame),
            f"{prediction.temperature:g}",
            top,
        ]
        if self.logits:
            row.append(" ".join(f"{x:.3g}" for x in prediction.logits))
        self.table.add_row(*row)
        self.rows += 1

    def close(self) -> None:
        from rich.console import Console

        if self.rows:
            Console(file=self.stream, width=None if self.stream.isatty() else 200).print(self.table)


def make_writer(fmt: str, stream: TextIO, logits: bool = False) -> Writer:
    """The writer for ``fmt`` (one of :data:`FORMATS`)."""
    writers: dict[str, type[Writer]] = {
        "table": TableWriter,
        "json": JsonWriter,
        "jsonl": JsonLinesWriter,
        "csv": CsvWriter,
    }
    return writers[fmt](stream, logits)  # type: ignore[call-arg]
