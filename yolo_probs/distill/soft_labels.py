"""Soft labels for knowledge distillation: a teacher's full probability vector at a high temperature, per image.

Each row holds ``source``, ``frame``, ``label`` (the class folder the image sits in, when that folder is
a class of the model, else None), ``probs`` = ``softmax(logits / T)`` and the raw ``logits``. Rows come
from :meth:`YoloProbs.predict_each <yolo_probs.api.model.YoloProbs.predict_each>`, so sources, decoding and
failures are exactly those of ``predict``. Files are Parquet (pyarrow; the class names, temperature and
model are in the schema metadata) or JSON Lines, written by the one file writer
(:mod:`yolo_probs.outputs.files`): a regular file is replaced only when the run is complete (a temporary
file in the same folder, renamed over it, keeping its permission bits), a symlink's target is written,
and both formats stream into stdout, a FIFO or a device.

Example:
    >>> from yolo_probs import YoloProbs
    >>> from yolo_probs.distill.soft_labels import iter_soft_labels
    >>> with YoloProbs("examples/models/digits-yolo26n-cls.pt", temperature=4.0) as clf:
    ...     (row,) = iter_soft_labels(clf, "examples/images/digit_3.png")
    >>> row.label, round(float(row.probs.sum()), 5), int(row.probs.argmax())
    (None, 1.0, 3)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import numpy as np

from yolo_probs._util.registry import Registry
from yolo_probs.core.checks import check_path
from yolo_probs.core.probs import check_temperature
from yolo_probs.errors import ConfigError, ModelError, SourceError, first_line
from yolo_probs.inputs.sources import IMAGE_SUFFIXES, ImageInput, InputFailure, StreamInput, expand
from yolo_probs.outputs.files import open_output

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "SOFT_LABEL_FORMATS",
    "JsonLinesSink",
    "ParquetSink",
    "SoftLabel",
    "SoftLabelsResult",
    "expand_class_folders",
    "folder_label",
    "format_for_soft_labels",
    "iter_soft_labels",
    "read_soft_labels",
    "write_soft_labels",
]

#: Rows buffered before a Parquet row group is written (memory stays flat on long runs).
ROW_GROUP = 1024


@dataclass(frozen=True, eq=False)
class SoftLabel:
    """One image's soft label.

    Attributes:
        source: the image path (or ``video.mp4``, ``image0``...), as ``predict`` reports it.
        frame: the frame index within a video, None for still images.
        label: the class folder the image sits in when it is a class name of the model, else None.
        probs: ``softmax(logits / temperature)``, float32, sums to 1.
        logits: the raw logits, float32.
    """

    source: str
    frame: int | None
    label: str | None
    probs: np.ndarray
    logits: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """The JSON Lines record (a logit lost to underflow in an export, -inf, is written as null)."""
        return {
            "source": self.source,
            "frame": self.frame,
            "label": self.label,
            "probs": [float(p) for p in self.probs],
            "logits": [float(x) if math.isfinite(x) else None for x in self.logits],
        }


def folder_label(source: str, names: Iterable[str]) -> str | None:
    """The class an image's folder names, if its parent folder is one of ``names`` (dataset layout), else None.

    Example:
        >>> folder_label("data/val/3/0042.png", ["0", "3"]), folder_label("photos/x.png", ["0", "3"])
        ('3', None)
    """
    parent = Path(source).parent.name
    return parent if parent and parent in set(names) else None


def _holds_images(folder: Path) -> bool:
    try:
        return any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())
    except OSError:
        return False


def expand_class_folders(source: Any, names: Iterable[str]) -> Any:
    """Replace each folder of class folders (``data/train`` holding ``0/``, ``1/``...) by its sub-folders.

    ``predict`` reads the images of a folder, not of its sub-folders; a labelled dataset split keeps
    its images one level down, in folders named after the classes. A folder with no images of its own
    is read one level down: its class folders, and every other (not hidden) sub-folder that holds
    images, whose rows get no label, so that no image is left out. Other sources are kept as given.

    Example:
        >>> expand_class_folders(["photo.jpg"], ["cat", "dog"])
        ['photo.jpg']
    """
    if not isinstance(source, str | os.PathLike | list | tuple):
        return source
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    classes = set(names)
    out: list[Any] = []
    for item in items:
        folder = Path(item) if isinstance(item, str | os.PathLike) else None
        if folder is None or not folder.is_dir() or _holds_images(folder):
            out.append(item)
            continue
        subs = [
            p
            for p in sorted(folder.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p.name in classes or _holds_images(p))
        ]
        out.extend([str(p) for p in subs] if subs else [item])
    return out if isinstance(source, list | tuple) or len(out) != 1 else out[0]


def soft_label(prediction: Prediction, temperature: float) -> SoftLabel:
    """The soft label of one prediction; it must have been made by temperature scaling at ``temperature``.

    Raises:
        ConfigError: the prediction's probabilities were made another way (another calibrator or T).
    """
    if prediction.calibration != "temperature" or not math.isclose(prediction.temperature, temperature):
        raise ConfigError(
            f"soft labels need probabilities from temperature scaling at T={temperature:g}, got "
            f"{prediction.calibration} at T={prediction.temperature:g}; "
            f"build the model with temperature={temperature:g}"
        )
    return SoftLabel(
        source=prediction.source,
        frame=prediction.frame,
        label=folder_label(prediction.source, prediction.names) if prediction.frame is None else None,
        probs=np.asarray(prediction.probs, dtype=np.float32),
        logits=np.asarray(prediction.logits, dtype=np.float32),
    )


def _check_model(model: Any) -> None:
    """ConfigError naming ``model`` unless it is a classifier such as :class:`~yolo_probs.api.model.YoloProbs`."""
    if not all(hasattr(model, a) for a in ("predict_each", "names", "temperature", "decisions")):
        raise ConfigError(
            f"model must be a YoloProbs classifier, got {type(model).__name__}; "
            "pass e.g. YoloProbs('model.pt', temperature=4)",
            option="model",
        )
    task = getattr(model, "task", "classify")
    if task != "classify":
        raise ModelError(
            f"soft labels are one class distribution per image; this is a {task!r} model, which gives boxes: "
            "use a classifier",
            option="model",
        )


def iter_soft_labels(model: YoloProbs, source: Any) -> Iterator[SoftLabel | InputFailure]:
    """Stream a :class:`SoftLabel` per image or frame of ``source`` (an :class:`InputFailure` per bad input).

    ``model`` is a :class:`~yolo_probs.api.model.YoloProbs` built with the soft-label temperature
    (``YoloProbs(m, temperature=4)``); its decision rules are not applied.
    """
    _check_model(model)
    temperature = model.temperature
    source = expand_class_folders(source, model.names)
    rules, model.decisions = model.decisions, []  # soft labels are probabilities only: no decision rule runs
    try:
        for item in model.predict_each(source):
            yield item if isinstance(item, InputFailure) else soft_label(item, temperature)
    finally:
        model.decisions = rules


# -- files --
class JsonLinesSink:
    """One soft label per line, as JSON, into a binary stream (UTF-8)."""

    name: ClassVar[str] = "jsonl"
    suffixes: ClassVar[tuple[str, ...]] = (".jsonl",)

    def __init__(self, stream: BinaryIO, metadata: dict[str, Any]) -> None:
        del metadata  # JSON Lines has no header; each row is self-contained
        self.stream = stream

    def write(self, row: SoftLabel) -> None:
        self.stream.write((json.dumps(row.to_dict()) + "\n").encode("utf-8"))

    def close(self) -> None:
        """Nothing to finish: every line is a whole record (the stream belongs to the caller)."""


def parquet_schema(metadata: dict[str, Any] | None = None) -> Any:
    """The pyarrow schema of a soft-label Parquet file; ``metadata`` values are stored JSON-encoded.

    Example:
        >>> parquet_schema().names
        ['source', 'frame', 'label', 'probs', 'logits']
    """
    import pyarrow as pa

    return pa.schema(
        [
            ("source", pa.string()),
            ("frame", pa.int64()),
            ("label", pa.string()),
            ("probs", pa.list_(pa.float32())),
            ("logits", pa.list_(pa.float32())),
        ],
        metadata={f"yolo_probs.{k}": json.dumps(v) for k, v in (metadata or {}).items()},
    )


class ParquetSink:
    """Soft labels as Parquet row groups of :data:`ROW_GROUP` rows; class names, T and model in the schema metadata.

    Parquet is written front to back (the footer last), so the stream need not be seekable (a FIFO).
    """

    name: ClassVar[str] = "parquet"
    suffixes: ClassVar[tuple[str, ...]] = (".parquet", ".pq")

    def __init__(self, stream: BinaryIO, metadata: dict[str, Any]) -> None:
        import pyarrow.parquet as pq

        self.schema = parquet_schema(metadata)
        self.writer = pq.ParquetWriter(stream, self.schema)
        self.rows: list[SoftLabel] = []

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.rows:
            return
        columns = {
            "source": [r.source for r in self.rows],
            "frame": [r.frame for r in self.rows],
            "label": [r.label for r in self.rows],
            "probs": [r.probs.tolist() for r in self.rows],
            "logits": [r.logits.tolist() for r in self.rows],
        }
        self.writer.write_table(pa.Table.from_pydict(columns, schema=self.schema))
        self.rows = []

    def write(self, row: SoftLabel) -> None:
        self.rows.append(row)
        if len(self.rows) >= ROW_GROUP:
            self._flush()

    def close(self) -> None:
        """Write the last row group and the footer (the stream stays open: it belongs to the caller)."""
        self._flush()
        self.writer.close()


#: Soft-label file formats: name -> writer class (its ``suffixes`` pick it from the output name).
SOFT_LABEL_FORMATS: Registry[type[Any]] = Registry(
    "soft-label format",
    {"parquet": "yolo_probs.distill.soft_labels:ParquetSink", "jsonl": "yolo_probs.distill.soft_labels:JsonLinesSink"},
    option="format",
)


def format_for_soft_labels(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The soft-label format to write: ``fmt`` if given, else the one the output suffix names.

    Example:
        >>> format_for_soft_labels("t4.parquet"), format_for_soft_labels("t4.JSONL")
        ('parquet', 'jsonl')
    """
    if fmt is not None:
        SOFT_LABEL_FORMATS[fmt]  # ConfigError naming the formats
        return fmt
    suffix = Path(path).suffix.lower()
    for name, cls in SOFT_LABEL_FORMATS.items():
        if suffix in cls.suffixes:
            return name
    raise ConfigError(
        f"cannot tell the soft-label format of {os.fspath(path)!r} from its suffix; "
        "name it .parquet or .jsonl (or choose the format)",
        option="output",
    )


@dataclass(frozen=True)
class SoftLabelsResult:
    """What :func:`write_soft_labels` wrote: the file, its format, rows written and the failed inputs.

    ``unlabelled`` counts the rows of still images whose folder is not a class of the model (``label``
    null); video frames are not counted (they never have a label).
    """

    path: Path
    format: str
    rows: int
    failures: list[InputFailure]
    unlabelled: int = 0


def _inputs(source: Any) -> list[str]:
    """The local files a source names (never written over)."""
    if not isinstance(source, str | os.PathLike | list | tuple):
        return []
    names = [source] if isinstance(source, str | os.PathLike) else source
    if not all(isinstance(n, str | os.PathLike) for n in names):
        return []
    found: list[str] = []
    for item in expand(names):
        path = item.path if isinstance(item, ImageInput) else item.source if isinstance(item, StreamInput) else None
        if path is not None and os.path.exists(path):
            found.append(str(path))
    return found


def write_soft_labels(
    model: YoloProbs,
    source: Any,
    output: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    on_item: Callable[[SoftLabel | InputFailure], None] | None = None,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> SoftLabelsResult:
    """Write the soft labels of ``source`` to ``output`` (Parquet or JSON Lines) through the one file writer.

    A regular file is replaced only when the run ends (a crash leaves the old file as it was); a symlink's
    target is written; stdout (``-``), a FIFO or a device is written into as rows arrive (both formats
    stream). On Ctrl-C the rows written so far are kept, as ``predict`` keeps its records: the file is
    completed (Parquet's footer written) and put in place, then the KeyboardInterrupt goes on.

    Args:
        model: a :class:`~yolo_probs.api.model.YoloProbs` built with the soft-label temperature.
        source: what :meth:`~yolo_probs.api.model.YoloProbs.predict` accepts.
        output: the file to write; its suffix (``.parquet``, ``.jsonl``) picks the format unless ``fmt``.
        fmt: ``"parquet"`` or ``"jsonl"``.
        on_item: called with each row or failure as it arrives (progress, logging).
        protect: more files that must not be overwritten (the model, a profile); inputs are always protected.

    Returns:
        The file written, its format, the number of rows and the inputs that failed (the others are
        written). A run with failures still writes its file.

    Raises:
        ConfigError: ``output`` is one of the inputs, a folder, or cannot be written (before any image is read).
        OutputError: a write failed part-way (disk full...); a replaced file is left as it was.

    Example:
        >>> import tempfile, pathlib
        >>> from yolo_probs import YoloProbs
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "soft.parquet"
        >>> with YoloProbs("examples/models/digits-yolo26n-cls.pt", temperature=4.0) as clf:
        ...     result = write_soft_labels(clf, ["examples/images/digit_3.png", "missing.png"], out)
        >>> result.rows, [f.source for f in result.failures], read_soft_labels(out)[0]["source"]
        (1, ['missing.png'], 'examples/images/digit_3.png')
    """
    _check_model(model)
    check_path(output, "output", "soft-labels.parquet")
    check_temperature(model.temperature)
    chosen = format_for_soft_labels(output, fmt)
    inputs = [*_inputs(source), *protect]
    example = f"soft-labels{SOFT_LABEL_FORMATS[chosen].suffixes[0]}"
    metadata = {
        "names": list(model.names),
        "temperature": model.temperature,
        "model": str(getattr(getattr(model.backend, "yolo", None), "ckpt_path", "") or ""),
    }
    rows = unlabelled = 0
    failures: list[InputFailure] = []
    # opened (and checked: not an input, writable) before any image is read
    with open_output(output, binary=True, inputs=inputs, example=example, keep_on_interrupt=True) as stream:
        sink = SOFT_LABEL_FORMATS[chosen](stream, metadata)
        try:
            for item in iter_soft_labels(model, source):
                if isinstance(item, InputFailure):
                    failures.append(item)
                else:
                    sink.write(item)
                    rows += 1
                    unlabelled += item.label is None and item.frame is None
                if on_item is not None:
                    on_item(item)
        finally:
            sink.close()  # also on Ctrl-C: a whole file with the rows so far (the writer keeps it)
    return SoftLabelsResult(Path(output), chosen, rows, failures, unlabelled)


def read_soft_labels(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a soft-label file (Parquet or JSON Lines) back as a list of row dicts.

    Raises:
        SourceError: the file is missing, or is not a soft-label file of its format (corrupt, truncated).

    Example:
        >>> read_soft_labels("missing.parquet")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.SourceError: missing.parquet: no such file; ...
    """
    p = Path(check_path(path, "path", "soft-labels.parquet"))
    if not p.is_file():
        raise SourceError(str(p), "no such file; pass a file written by 'yolo-probs soft-labels'")
    fmt = format_for_soft_labels(p)
    if fmt == "jsonl":
        return _read_jsonl(p)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(str(p)).to_pylist()  # type: ignore[no-any-return]
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(
            str(p), f"not a readable Parquet file ({first_line(exc)}); pass a file written by 'yolo-probs soft-labels'"
        ) from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file; SourceError naming the first line that is not a JSON object."""
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    row = exc
                if not isinstance(row, dict):
                    raise SourceError(
                        str(path),
                        f"line {number} is not a JSON object; pass a file written by 'yolo-probs soft-labels'",
                    )
                rows.append(row)
    except UnicodeDecodeError:
        raise SourceError(str(path), "is not UTF-8 text; pass a file written by 'yolo-probs soft-labels'") from None
    return rows
