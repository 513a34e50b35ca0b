"""Shared fixtures: the shipped digits model, generated videos, bad inputs, a webcam that is never opened."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from types import ModuleType

os.environ.setdefault("YOLO_OFFLINE", "1")  # never let Ultralytics reach for the network in tests
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
IMAGES = ROOT / "examples" / "images"
DEVICE = os.environ.get("YOLO_PROBS_TEST_DEVICE", "cpu")  # set to 0 on a GPU machine to run the same checks there


def example(module: str) -> ModuleType:
    """A script of ``examples/`` as a module (``example("train_digits").build_dataset``), off sys.path after."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(f"examples.{module}")
    finally:
        sys.path.remove(str(ROOT))


@pytest.fixture(scope="session")
def model_path() -> Path:
    return MODEL


@pytest.fixture(scope="session")
def image_paths() -> list[Path]:
    return sorted(IMAGES.glob("*.png"))


@pytest.fixture(scope="session")
def clf():
    """One wrapper on the shipped model for read-only tests (T=1, k=5)."""
    from yolo_probs import YoloProbs

    with YoloProbs(MODEL, device=DEVICE) as c:
        yield c


class _MissingCamera:
    """What ``cv2.VideoCapture(index)`` gives for a webcam that does not exist: never opened, reads nothing."""

    def isOpened(self) -> bool:
        return False

    def read(self) -> tuple[bool, None]:
        return False, None

    def grab(self) -> bool:
        return False

    def get(self, prop: int) -> float:
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        return False

    def release(self) -> None:
        pass


@pytest.fixture
def no_webcams(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``cv2.VideoCapture`` that never opens a webcam, so that no test touches the machine's ``/dev/video*``.

    A webcam index gives a capture that is not opened, as OpenCV gives for a missing camera, and, like
    OpenCV, a ``[ WARN ]`` line on descriptor 2 unless OpenCV's log level is below warnings (so a test
    can see that yolo-probs silences it). Files and URLs open as usual. Yields the indices asked for.
    """
    real = cv2.VideoCapture
    asked: list[int] = []

    def capture(target: object, *args: object, **kwargs: object) -> object:
        if not isinstance(target, int):
            return real(target, *args, **kwargs)
        asked.append(target)
        log = cv2.utils.logging
        if log.getLogLevel() >= log.LOG_LEVEL_WARNING:
            os.write(2, f"[ WARN:0@0.001] global cap_v4l.cpp:914 VIDEOIO(V4L2:{target}): can't open camera\n".encode())
        return _MissingCamera()

    monkeypatch.setattr(cv2, "VideoCapture", capture)
    return asked


def write_video(path: Path, images: list[Path], size: tuple[int, int] = (96, 64), fps: float = 10.0) -> Path:
    """An mp4 whose frames are the given images resized to ``size`` (w, h)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for image in images:
        writer.write(cv2.resize(cv2.imread(str(image)), size))
    writer.release()
    return path


@pytest.fixture
def video(tmp_path: Path, image_paths: list[Path]) -> Path:
    return write_video(tmp_path / "digits.mp4", image_paths)


@pytest.fixture
def bad_inputs(tmp_path: Path, image_paths: list[Path]) -> dict[str, Path]:
    """Each kind of bad input the core issue lists, created fresh."""
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty_dir").mkdir()
    (d / "zero.jpg").write_bytes(b"")
    jpeg = cv2.imencode(".jpg", cv2.imread(str(image_paths[0])))[1].tobytes()
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "text.jpg").write_text("this is not an image\n")
    (d / "notes.txt").write_text("hello\n")
    (d / "broken.mp4").write_bytes(b"not a video" * 50)
    return {
        "missing path": d / "missing.jpg",
        "empty directory": d / "empty_dir",
        "zero-byte file": d / "zero.jpg",
        "truncated JPEG": d / "truncated.jpg",
        "text file named .jpg": d / "text.jpg",
        "unsupported extension": d / "notes.txt",
        "unreadable video": d / "broken.mp4",
    }


def random_frames(n: int, seed: int = 0, shape: tuple[int, int] = (48, 80)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def display() -> Iterator[str]:
    """A private virtual screen (``":N"``); Xvfb picks a free display number and writes it to our pipe."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits dataset's val/ and test/ class folders, built once by the example script (read only)."""
    root = tmp_path_factory.mktemp("digits-data") / "digits"
    example("train_digits").build_dataset(root)
    shutil.rmtree(root / "train")
    return root
