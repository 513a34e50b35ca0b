"""What yolo-probs writes, and how: the one file writer, the record formats, Parquet and plots.

- :mod:`~yolo_probs.outputs.files`: every file goes through it (atomic replacement, links followed,
  devices and FIFOs streamed into, nothing else replaced; see its docstring);
- :mod:`~yolo_probs.outputs.formats`: the record formats of ``predict`` (table, JSON, JSON Lines,
  CSV, Parquet), listed once in :data:`~yolo_probs.outputs.formats.WRITERS`;
- :mod:`~yolo_probs.outputs.parquet`: the Arrow schema of prediction records;
- :mod:`~yolo_probs.outputs.plots`: reliability diagrams and risk-coverage curves.

Example:
    >>> from yolo_probs.outputs import WRITERS
    >>> list(WRITERS)
    ['table', 'json', 'jsonl', 'csv', 'parquet']
"""

from __future__ import annotations

from yolo_probs.outputs.files import check_not_input, open_output
from yolo_probs.outputs.formats import WRITERS, make_writer, register_writer

__all__ = ["WRITERS", "check_not_input", "make_writer", "open_output", "register_writer"]
