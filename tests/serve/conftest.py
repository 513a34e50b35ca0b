"""Fixtures of the server tests: a profile with decisions, JPEG and PNG uploads, bad uploads, record checks."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import IMAGES, MODEL
from yolo_probs.cli import main

KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def decisions_profile(tmp_path_factory: pytest.TempPathFactory, digits_data: Path) -> Path:
    """A profile with an unknown-input rule (knn on features) and conformal sets, fitted on the digits."""
    out = tmp_path_factory.mktemp("serve-profile") / "digits.yaml"
    args = ["calibrate", str(digits_data), "-m", str(MODEL), "-o", str(out), "--device", "cpu", "--batch", "32"]
    assert main([*args, "--ood-tpr", "0.95", "--conformal", "0.1"]) == 0
    return out


@pytest.fixture(scope="session")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example PNGs, the same digits as JPEGs (the engines' Pillow decode path) and a photo."""
    from skimage import data

    folder = tmp_path_factory.mktemp("uploads")
    paths = sorted(IMAGES.glob("*.png"))
    for png in paths[:3]:
        jpeg = folder / f"{png.stem}.jpg"
        cv2.imwrite(str(jpeg), cv2.resize(cv2.imread(str(png)), (120, 90)), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(jpeg)
    photo = folder / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return [*paths, photo]


def png_claiming(width: int, height: int) -> bytes:
    """A small, complete PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = cv2.imencode(".jpg", cv2.imread(str(IMAGES / "digit_0.png")))[1].tobytes()
    return data[: len(data) // 2]


def files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart ``file`` fields for ``paths``, each named as the CLI names it (the path)."""
    kind = {".png": "image/png", ".jpg": "image/jpeg"}
    return [("file", (str(p), p.read_bytes(), kind[p.suffix])) for p in paths]


def assert_same_records(served: list[dict[str, Any]], expected: list[dict[str, Any]], tol: float = 1e-6) -> None:
    """Records equal field by field: names, indices, flags exactly; probabilities to ``tol``.

    The unknown-input score is a distance between float32 features, which ONNX Runtime computes with
    other kernels for other batch sizes: it agrees to 1e-5 (a few float32 ulps), not 1e-6.
    """
    assert len(served) == len(expected)
    for got, want in zip(served, expected, strict=True):
        assert set(got) == set(want), (got, want)
        for key in want:
            if key in ("top", "set"):
                assert [(c["index"], c["name"]) for c in got[key]] == [(c["index"], c["name"]) for c in want[key]]
                np.testing.assert_allclose([c["prob"] for c in got[key]], [c["prob"] for c in want[key]], atol=tol)
            elif key == "ood_score":  # a feature distance: float32 features differ by a few ulps with batch size
                assert got[key] == pytest.approx(want[key], abs=1e-5)
            elif key == "temperature":
                assert got[key] == pytest.approx(want[key], abs=tol)
            else:
                assert got[key] == want[key], key
