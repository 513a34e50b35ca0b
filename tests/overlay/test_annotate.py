"""Annotated copies (``predict --save DIR``) go through the one file writer: images and videos alike."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import write_video
from tests.targets import KINDS, STALE, special_target
from yolo_probs.core.prediction import Prediction
from yolo_probs.overlay.annotate import AnnotatedCopies

IMAGE = np.full((64, 64, 3), 200, np.uint8)


def prediction(source: str, frame: int | None = None) -> Prediction:
    return Prediction.from_logits(np.array([2.0, 0.0]), names=("cat", "dog"), top_k=2, source=source, frame=frame)


def frames_of(data: bytes, folder: Path) -> int:
    """Frames in a video held in memory (OpenCV reads files only)."""
    path = folder / "check.mp4"
    path.write_bytes(data)
    cap = cv2.VideoCapture(str(path))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return count


@pytest.mark.parametrize("kind", KINDS)
def test_image_copy_to_special_targets(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with special_target(kind, out, "cat.png") as target:
        copies = AnnotatedCopies(out)
        copies.add(IMAGE, prediction("photos/cat.png"))
        written = copies.close()
        target.assert_kept()
        data = target.received()
    assert target.leftovers() == []
    if kind == "full":
        assert written == {} and copies.failures == [
            f"cannot write {target.path} (No space left on device); free some space, or choose another output file"
        ]
        return
    assert written == {str(target.path): 1} and copies.failures == []
    if kind in ("fifo", "symlink"):
        assert data != STALE and cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (480, 480, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_video_to_special_targets(tmp_path: Path, image_paths: list[Path], kind: str) -> None:
    clip = write_video(tmp_path / "clip.avi", image_paths[:4])
    out = tmp_path / "out"
    out.mkdir()
    with special_target(kind, out, "clip.mp4") as target:
        copies = AnnotatedCopies(out)
        for i in range(4):
            copies.add(IMAGE, prediction(str(clip), frame=i))
        written = copies.close()
        target.assert_kept()
        data = target.received()
    assert target.leftovers() == []
    if kind == "full":
        assert written == {} and len(copies.failures) == 1
        assert copies.failures[0].startswith(f"cannot write {target.path} (No space left on device)")
        return
    assert written == {str(target.path): 4} and copies.failures == []
    if kind in ("fifo", "symlink"):
        assert frames_of(data, tmp_path) == 4


def test_a_codec_that_does_not_open_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = cv2.VideoWriter

    def no_mp4(path: str, fourcc: int, fps: float, size: tuple[int, int]) -> object:
        return real(path if not path.endswith(".mp4") else "/nonexistent/x.mp4", fourcc, fps, size)

    monkeypatch.setattr(cv2, "VideoWriter", no_mp4)
    monkeypatch.setattr(cv2.VideoWriter, "fourcc", real.fourcc, raising=False)
    copies = AnnotatedCopies(tmp_path)
    for i in range(3):
        copies.add(IMAGE, prediction("rtsp://cam", frame=i))
    assert copies.close() == {str(tmp_path / "stream-rtsp___cam.avi"): 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream-rtsp___cam.avi"]  # no temporary .mp4 left


def test_an_old_copy_is_replaced_atomically(tmp_path: Path) -> None:
    old = tmp_path / "cat.png"
    old.write_bytes(b"old copy")
    held = tmp_path / "held"
    held.hardlink_to(old)  # a viewer that has the old copy open keeps it whole
    copies = AnnotatedCopies(tmp_path)
    copies.add(IMAGE, prediction("elsewhere/cat.png"))
    copies.close()
    assert held.read_bytes() == b"old copy" and cv2.imread(str(old)).shape == (480, 480, 3)
