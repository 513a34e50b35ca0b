"""Expanding and reading inputs: every bad input becomes a one-line failure, good ones still come."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from yolo_probs.inputs.sources import Frame, InputFailure, StreamInput, expand, iter_frames

EXPECTED = {
    "missing path": "no such file or folder",
    "empty directory": "the folder holds no images",
    "zero-byte file": "the file is empty",
    "truncated JPEG": "truncated JPEG",
    "text file named .jpg": "not a readable image",
    "unsupported extension": "unsupported file type '.txt'",
    "unreadable video": "cannot open the video",
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_bad_input_is_one_named_line_and_good_inputs_still_come(kind, bad_inputs, image_paths):
    bad = str(bad_inputs[kind])
    items = list(iter_frames([str(image_paths[0]), bad, str(image_paths[1])]))
    failures = [i for i in items if isinstance(i, InputFailure)]
    frames = [i for i in items if isinstance(i, Frame)]
    assert len(failures) == 1 and len(frames) == 2
    (failure,) = failures
    message = str(failure)
    assert message.startswith(bad) and EXPECTED[kind] in message and "\n" not in message
    assert ";" in message  # ... and says what to do
    assert [f.source for f in frames] == [str(image_paths[0]), str(image_paths[1])]


def test_folders_and_globs_are_sorted_and_skip_other_files(tmp_path, image_paths):
    for p in image_paths[:3]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "README.txt").write_text("ignored inside folders")
    names = [x.path for x in expand(str(tmp_path))]
    assert names == sorted(str(tmp_path / p.name) for p in image_paths[:3])
    assert [x.path for x in expand(str(tmp_path / "*.png"))] == names
    (failure,) = expand(str(tmp_path / "*.gif"))
    assert "matched no file" in str(failure)


def test_video_frames_are_numbered(video, image_paths):
    frames = list(iter_frames(str(video)))
    assert [f.frame for f in frames] == list(range(len(image_paths)))
    assert all(f.source == str(video) and f.image.shape == (64, 96, 3) for f in frames)


def test_webcam_index_and_urls_are_streams():
    (cam,) = expand("0")
    assert isinstance(cam, StreamInput) and cam.target == 0
    (rtsp,) = expand("rtsp://127.0.0.1:8554/live")
    assert isinstance(rtsp, StreamInput)


def test_arrays_and_pil_images(image_paths):
    bgr = np.zeros((10, 12, 3), np.uint8)
    bgr[..., 2] = 255  # red in BGR
    pil = Image.fromarray(bgr[..., ::-1].copy())  # the same red, as RGB
    a, b, c = iter_frames([bgr, pil, bgr[..., 0]])
    assert np.array_equal(a.image, bgr) and np.array_equal(b.image, bgr)
    assert c.image.shape == (10, 12, 3)
    (failure,) = iter_frames([np.zeros((4, 4, 5), np.uint8)])
    assert "expected an HxWx3 BGR array" in str(failure)


def test_threaded_decoding_keeps_the_order_and_the_failures(bad_inputs, image_paths, video):
    names = [str(image_paths[0]), str(bad_inputs["truncated JPEG"]), *map(str, image_paths[1:]), str(video)]
    one = list(iter_frames(names))
    many = list(iter_frames(names, workers=4))
    assert [(type(i).__name__, i.source, getattr(i, "frame", None)) for i in many] == [
        (type(i).__name__, i.source, getattr(i, "frame", None)) for i in one
    ]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(one, many, strict=True) if isinstance(a, Frame))


def test_a_folder_of_class_folders_says_how_to_read_them(tmp_path, image_paths):
    """``predict DATASET/test`` on class folders: the failure names the recursive pattern, and it works."""
    for cls, image in zip("ab", image_paths[:2], strict=True):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / image.name).write_bytes(image.read_bytes())
    (failure,) = list(expand(str(tmp_path)))
    pattern = str(tmp_path / "**" / "*")
    assert str(failure).endswith(
        f"its subfolders (a, b) are not read; to include them, pass the quoted pattern '{pattern}'"
    )
    found = [x.path for x in expand(pattern)]
    assert found == [str(tmp_path / "a" / image_paths[0].name), str(tmp_path / "b" / image_paths[1].name)]
