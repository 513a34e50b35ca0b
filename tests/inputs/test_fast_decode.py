"""Pillow decodes plain JPEGs for the fast engines only where its pixels equal OpenCV's, bit for bit."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from yolo_probs.errors import SourceError
from yolo_probs.inputs import fast_decode
from yolo_probs.inputs.fast_decode import decode_for_engine, pillow_matches_opencv, read_for_engine
from yolo_probs.inputs.fast_preprocess import fast_preprocess
from yolo_probs.inputs.preprocess import Preprocess
from yolo_probs.inputs.sources import read_image

pytestmark = pytest.mark.skipif(not pillow_matches_opencv(), reason="Pillow and OpenCV decode differently here")


def _content(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth gradients with noise and an edge: what JPEG's chroma subsampling and IDCT must get right."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // max(width, 1), yy * 255 // max(height, 1), (xx + yy) % 256], axis=-1)
    base[: height // 2, : width // 3] = (20, 200, 90)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def _opencv_rgb(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def _pillow_jpeg(image_bgr: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    # Pillow gives libjpeg 2 bytes per pixel for a progressive file at quality >= 95; noise at 4:4:4
    # needs more ("Suspension not allowed here"), so make the buffer large enough for any content.
    saved, ImageFile.MAXBLOCK = ImageFile.MAXBLOCK, max(ImageFile.MAXBLOCK, 4 * image_bgr.size)
    try:
        Image.fromarray(image_bgr[:, :, ::-1]).save(buffer, "JPEG", **options)
    finally:
        ImageFile.MAXBLOCK = saved
    return buffer.getvalue()


def _assert_same_as_opencv(data: bytes) -> None:
    image = decode_for_engine(data, "x.jpg")
    assert isinstance(image, Image.Image), "a plain JPEG must take the Pillow route"
    ours = np.asarray(image)
    ours = np.dstack([ours] * 3) if ours.ndim == 2 else ours
    np.testing.assert_array_equal(ours, _opencv_rgb(data))


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 320),
    height=st.integers(1, 240),
    quality=st.integers(5, 100),
    subsampling=st.sampled_from([0, 1, 2]),
    progressive=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pillow_route_equals_opencv_for_pillow_encoded_jpegs(width, height, quality, subsampling, progressive, seed):
    data = _pillow_jpeg(
        _content(width, height, seed), quality=quality, subsampling=subsampling, progressive=progressive
    )
    _assert_same_as_opencv(data)


@settings(max_examples=30, deadline=None)
@given(
    width=st.integers(1, 320),
    height=st.integers(1, 240),
    quality=st.integers(5, 100),
    extra=st.sampled_from(["none", "progressive", "restart", "444", "422", "411", "gray"]),
    seed=st.integers(0, 2**16),
)
def test_pillow_route_equals_opencv_for_opencv_encoded_jpegs(width, height, quality, extra, seed):
    image = _content(width, height, seed)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    sampling = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR", None)
    if extra == "progressive":
        params += [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    elif extra == "restart":
        params += [cv2.IMWRITE_JPEG_RST_INTERVAL, 2]
    elif extra in ("444", "422", "411") and sampling is not None:
        params += [sampling, {"444": 0x111111, "422": 0x211111, "411": 0x411111}[extra]]
    elif extra == "gray":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    _assert_same_as_opencv(cv2.imencode(".jpg", image, params)[1].tobytes())


def test_photographs_preprocess_to_the_same_pixels_either_way(tmp_path):
    from skimage import data

    pre = Preprocess.ultralytics(224)
    for i, name in enumerate(("astronaut", "coffee", "chelsea", "rocket")):
        path = tmp_path / f"{name}.jpg"
        cv2.imwrite(
            str(path), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80 + i]
        )
        ours = read_for_engine(str(path))
        assert isinstance(ours, Image.Image)
        np.testing.assert_array_equal(fast_preprocess(pre, [ours]), fast_preprocess(pre, [read_image(str(path))]))


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def test_an_exif_rotated_jpeg_is_left_to_opencv_which_rotates_it():
    data = _pillow_jpeg(_content(40, 24, 1), exif=_exif(6))
    image = decode_for_engine(data, "rotated.jpg")
    assert isinstance(image, np.ndarray) and image.shape[:2] == (40, 24)  # turned upright, as Ultralytics sees it
    np.testing.assert_array_equal(image, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    _assert_same_as_opencv(_pillow_jpeg(_content(40, 24, 1), exif=_exif(1)))  # orientation 1: nothing to turn


def test_cmyk_and_non_jpeg_files_are_decoded_by_opencv(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(_content(32, 16, 2)[:, :, ::-1]).convert("CMYK").save(buffer, "JPEG")
    cmyk = decode_for_engine(buffer.getvalue(), "cmyk.jpg")
    assert isinstance(cmyk, np.ndarray)
    np.testing.assert_array_equal(cmyk, cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR))
    png = tmp_path / "a.png"
    cv2.imwrite(str(png), _content(20, 10, 3))
    ours = read_for_engine(str(png))
    assert isinstance(ours, np.ndarray)
    np.testing.assert_array_equal(ours, read_image(str(png)))


def _outcome(read, path):
    try:
        return read(path)
    except SourceError as exc:
        return str(exc)


@pytest.mark.parametrize("damage", ["empty", "truncated", "scan", "header"])
def test_damaged_files_give_what_read_image_gives(tmp_path, damage):
    data = bytearray(_pillow_jpeg(_content(64, 48, 4), quality=90))
    if damage == "empty":
        data = bytearray()
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "scan":  # bytes flipped inside the entropy-coded data; the end marker stays
        for i in range(len(data) // 2, len(data) // 2 + 40):
            data[i] ^= 0x5A
    else:
        data[2:6] = b"\x00\x00\x00\x00"
    path = tmp_path / "damaged.jpg"
    path.write_bytes(bytes(data))
    ours, theirs = _outcome(read_for_engine, str(path)), _outcome(read_image, str(path))
    if isinstance(theirs, str):
        assert ours == theirs
        return
    assert not isinstance(ours, str), ours
    pixels = np.asarray(ours)
    if isinstance(ours, Image.Image):  # Pillow decoded it (RGB or L): it must still be OpenCV's pixels
        pixels = np.dstack([pixels] * 3) if pixels.ndim == 2 else pixels[:, :, ::-1]
    np.testing.assert_array_equal(pixels, theirs)


def test_the_self_check_turns_pillow_off_when_the_decoders_disagree(monkeypatch):
    real = fast_decode._opencv_pixels
    monkeypatch.setattr(fast_decode, "_opencv_pixels", lambda data: real(data) ^ np.uint8(1))
    assert fast_decode.pillow_matches_opencv.__wrapped__() is False
    monkeypatch.setattr(fast_decode, "pillow_matches_opencv", lambda: False)
    assert isinstance(decode_for_engine(_pillow_jpeg(_content(8, 8, 5)), "x.jpg"), np.ndarray)


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (224, 224), (225, 300), (31, 17)])
def test_fast_preprocess_takes_pillow_images_and_arrays_alike(size):
    bgr = _content(*size, seed=6)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    for pre in (Preprocess.ultralytics(16), Preprocess.ultralytics(224), Preprocess.imagenet(32)):
        want = fast_preprocess(pre, [bgr, gray])
        got = fast_preprocess(pre, [Image.fromarray(bgr[:, :, ::-1]), Image.fromarray(gray)])
        np.testing.assert_array_equal(got, want)
        mixed = fast_preprocess(pre, [bgr, Image.fromarray(gray)])
        np.testing.assert_array_equal(mixed, want)
