"""``export_folded`` writes through the one file writer: devices, FIFOs and symlinks kept, failures leave no file."""

from __future__ import annotations

import io
import json
import os
import stat
import warnings
from pathlib import Path

import onnx
import pytest
import torch

from tests.targets import KINDS, STALE, special_target
from yolo_probs.backends.exported import META_PREFIX, TORCHSCRIPT_META
from yolo_probs.errors import ConfigError, OutputError
from yolo_probs.export.exporter import export_folded


def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4)).eval()


def temperature_of(data: bytes, fmt: str) -> float:
    """The folded temperature recorded in an export's metadata."""
    if fmt == "onnx":
        props = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
        return float(props[f"{META_PREFIX}temperature"])
    extra = {TORCHSCRIPT_META: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch >= 2.9, still works
        torch.jit.load(io.BytesIO(data), _extra_files=extra)
    return float(json.loads(extra[TORCHSCRIPT_META])[f"{META_PREFIX}temperature"])


@pytest.mark.parametrize("kind", KINDS)
def test_export_to_special_targets(tmp_path: Path, kind: str) -> None:
    with special_target(kind, tmp_path, "m.onnx") as target:
        if kind == "full":
            with pytest.raises(OutputError, match=rf"cannot write {target.path} \(No space left on device\)"):
                export_folded(tiny(), output=target.path, temperature=2.0, imgsz=16)
        else:
            assert export_folded(tiny(), output=target.path, temperature=2.0, imgsz=16).path == target.path
        target.assert_kept()
        written = target.received()
    assert target.leftovers() == []
    if kind in ("fifo", "symlink"):
        assert written != STALE and temperature_of(written, "onnx") == 2.0


def test_torchscript_streams_into_a_fifo(tmp_path: Path) -> None:
    with special_target("fifo", tmp_path, "m.torchscript") as target:
        export_folded(tiny(), output=target.path, temperature=3.0, imgsz=16)
        assert temperature_of(target.received(), "torchscript") == 3.0


def test_export_follows_the_umask_and_keeps_old_bits(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    old = os.umask(0o022)
    try:
        export_folded(tiny(), output=out, temperature=2.0, imgsz=16)
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        out.chmod(0o640)
        export_folded(tiny(), output=out, temperature=2.5, imgsz=16)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and temperature_of(out.read_bytes(), "onnx") == 2.5


def test_a_failed_export_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old export")

    def broken(*args: object) -> None:
        raise RuntimeError("the exporter crashed")

    monkeypatch.setattr("yolo_probs.export.exporter._write_metadata", broken)
    with pytest.raises(RuntimeError):
        export_folded(tiny(), output=out, temperature=2.0, imgsz=16)
    assert out.read_bytes() == b"old export" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_folder_is_refused_before_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the export ran")

    monkeypatch.setattr("yolo_probs.export.exporter._export_module", never)
    with pytest.raises(ConfigError, match=rf"{tmp_path}: it is a folder; name a file in it, e.g. .*/model.onnx"):
        export_folded(tiny(), output=tmp_path, temperature=2.0, imgsz=16)
