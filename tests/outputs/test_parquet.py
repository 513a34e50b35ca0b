"""Parquet output: the JSON records, column for column, from the writer and from the CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import IMAGES, MODEL
from yolo_probs.cli import main
from yolo_probs.core.prediction import Prediction
from yolo_probs.core.probs import TopClass
from yolo_probs.outputs.formats import WRITERS, ParquetWriter, format_for_path, make_writer
from yolo_probs.outputs.parquet import read_records, records_table, schema


def _predictions() -> list[Prediction]:
    rng = np.random.default_rng(0)
    names = ("cat", "dog", "owl", "yak")
    plain = [
        Prediction.from_logits(rng.normal(size=4), names, temperature=1.5, top_k=3, source=f"im{i}.jpg")
        for i in range(5)
    ]
    video = Prediction.from_logits(np.array([0.0, -np.inf, 1.0, 2.0]), names, top_k=2, source="v.mp4", frame=7)
    decided = Prediction.from_logits(rng.normal(size=4), names, source="x.png", min_prob=0.2)
    decided = Prediction(
        **{k: getattr(decided, k) for k in decided.__dataclass_fields__}
        | {"calibration": "ets", "ood_score": -1.5, "unknown": True, "set": [TopClass(2, "owl", 0.5)]}
    )
    return [*plain, video, decided]


@pytest.mark.parametrize("logits", [False, True])
def test_writer_rows_are_the_json_records(logits, monkeypatch):
    monkeypatch.setattr(ParquetWriter, "row_group_rows", 3)  # several row groups and a partial last one
    preds = _predictions()
    buf = io.BytesIO()
    writer = make_writer("parquet", buf, logits)
    for p in preds:
        writer.write(p)
    writer.close()
    buf.seek(0)
    expected = [json.loads(json.dumps(p.to_dict(logits))) for p in preds]
    assert read_records(io.BytesIO(buf.getvalue())) == expected
    meta = pq.ParquetFile(io.BytesIO(buf.getvalue())).metadata
    assert meta.num_rows == len(preds) and meta.num_row_groups == 3
    table = pq.read_table(io.BytesIO(buf.getvalue()))
    assert table.schema.equals(schema(logits))
    if logits:  # -inf (an underflowed export) is null, as in JSON
        assert table.column("logits").to_pylist()[5][1] is None


def test_empty_run_is_a_valid_file_with_the_schema():
    buf = io.BytesIO()
    make_writer("parquet", buf).close()
    table = pq.read_table(io.BytesIO(buf.getvalue()))
    assert table.num_rows == 0 and table.schema.equals(schema(False))


def test_registered_as_binary_with_its_suffixes():
    assert WRITERS["parquet"].binary and not WRITERS["json"].binary
    assert format_for_path("out.parquet") == format_for_path("OUT.PQ") == "parquet"
    assert records_table([]).num_rows == 0


def test_cli_parquet_equals_cli_json(tmp_path, capsys):
    out_pq, out_json = tmp_path / "out.parquet", tmp_path / "out.json"
    common = [str(IMAGES), "-m", str(MODEL), "--logits", "-k", "3", "-t", "1.7"]
    assert main(["predict", *common, "-o", str(out_pq)]) == 0
    assert main(["predict", *common, "-o", str(out_json)]) == 0
    records = json.loads(out_json.read_text())
    assert len(records) == len(list(IMAGES.glob("*.png"))) > 0
    assert read_records(out_pq) == records


def test_cli_parquet_needs_an_output_file(capsys):
    assert main(["predict", str(IMAGES), "-m", str(MODEL), "-f", "parquet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--output out.parquet" in err


def test_cli_parquet_with_a_failed_input_keeps_the_others(tmp_path, capsys):
    out = tmp_path / "o.bin"
    rc = main(
        [
            "predict",
            str(IMAGES / "digit_3.png"),
            str(tmp_path / "missing.png"),
            "-m",
            str(MODEL),
            "-f",
            "parquet",
            "-o",
            str(out),
        ]
    )
    assert rc == 1
    assert [r["source"] for r in read_records(out)] == [str(IMAGES / "digit_3.png")]
    assert "missing.png" in capsys.readouterr().err
