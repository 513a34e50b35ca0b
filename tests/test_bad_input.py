"""Bad input never loses data silently and never escapes as a raw exception (issue 9).

Each case is one line naming the input and what to do; in a batch the good inputs are still processed.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.overlay.media import make_video
from yolo_probs import YoloProbs
from yolo_probs.cli import main
from yolo_probs.errors import ConfigError, ModelError, SourceError, YoloProbsError
from yolo_probs.inputs.sources import Frame, InputFailure, iter_frames

from .conftest import MODEL, ROOT

torch = pytest.importorskip("torch")
JSONL = ("-f", "jsonl", "-k", "1")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def png_header(width: int, height: int) -> bytes:
    """A small, valid PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def wipe_frames(path: Path, frames: list[int], size: int = 2000) -> Path:
    """Zero the start of the JPEG of each listed frame of an MJPG AVI, so those frames cannot be decoded."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for f in frames:
        data[starts[f] : starts[f] + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path


# -- 1. undecodable video frames: skipped, named, counted, exit 1 --
@pytest.mark.parametrize(
    ("bad", "frames_read", "failures"),
    [
        ([3], [0, 1, 2, 4, 5, 6, 7], [(3, 1)]),
        ([0], [1, 2, 3, 4, 5, 6, 7], [(0, 1)]),
        ([2, 3, 4], [0, 1, 5, 6, 7], [(2, 3)]),
        ([1, 5], [0, 2, 3, 4, 6, 7], [(1, 1), (5, 1)]),
        ([7], [0, 1, 2, 3, 4, 5, 6], [(7, 1)]),  # the last frame: reported from the announced count
        ([6, 7], [0, 1, 2, 3, 4, 5], [(6, 2)]),
    ],
)
def test_undecodable_frames_are_skipped_and_named(tmp_path: Path, bad, frames_read, failures) -> None:
    video = wipe_frames(make_video(tmp_path / "clip.avi", 8), bad)
    items = list(iter_frames(str(video)))
    assert [i.frame for i in items if isinstance(i, Frame)] == frames_read
    lost = [i for i in items if isinstance(i, InputFailure)]
    assert [(f.frame, f.frames) for f in lost] == failures
    assert all(str(f).startswith(f"{video}: frame") and "could not be decoded" in str(f) for f in lost)
    # the failures come in frame order, between the frames around them
    order = [i.frame for i in items]
    assert order == sorted(order)


def test_a_video_with_no_decodable_frame_is_one_failure(tmp_path: Path) -> None:
    video = wipe_frames(make_video(tmp_path / "clip.avi", 5), [0, 1, 2, 3, 4])
    (failure,) = iter_frames(str(video))
    assert "no frame could be decoded" in str(failure) and failure.frame is None


def test_predict_cli_goes_on_after_a_bad_frame_and_exits_1(tmp_path: Path, capsys, image_paths) -> None:
    video = wipe_frames(make_video(tmp_path / "clip.avi", 8), [3])
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "predict", str(video), str(image_paths[0]), "-m", str(MODEL), "-o", str(out))
    records = out.read_text().splitlines()
    assert code == 1 and len(records) == 8  # 7 frames + the image after the video
    lines = err.strip().splitlines()
    assert lines[0] == (
        f"yolo-probs: error: {video}: frame 3: could not be decoded; skipped, the other frames were read "
        "(re-encode the video to recover them)"
    )
    assert lines[-1] == "yolo-probs: error: 1 video frame was skipped (listed above); the others were written"


def test_predict_api_raises_on_a_bad_frame_and_predict_each_goes_on(tmp_path: Path, clf) -> None:
    video = wipe_frames(make_video(tmp_path / "clip.avi", 6), [2])
    with pytest.raises(SourceError, match=r"clip.avi: frame 2: could not be decoded"):
        clf.predict(str(video))
    items = list(clf.predict_each(str(video)))
    assert [type(i).__name__ for i in items] == ["Prediction"] * 2 + ["InputFailure"] + ["Prediction"] * 3


# -- 2. decompression bombs: one named failure, in every front end --
def test_decompression_bomb_is_one_named_failure(tmp_path: Path, image_paths, clf, capsys) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(100_000, 100_000))
    good = str(image_paths[0])
    items = list(iter_frames([str(bomb), good]))
    assert isinstance(items[0], InputFailure) and isinstance(items[1], Frame)
    assert str(items[0]).startswith(f"{bomb}: the image claims") and "above the limit of 178,956,970" in str(items[0])
    each = list(clf.predict_each([good, str(bomb), good]))  # the API: a failure in place, no exception
    assert [type(i).__name__ for i in each] == ["Prediction", "InputFailure", "Prediction"]
    with pytest.raises(SourceError, match=r"bomb\.png: the image claims"):
        clf.predict(str(bomb))
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "predict", str(bomb), good, "-m", str(MODEL), "-o", str(out))
    assert code == 1 and len(out.read_text().splitlines()) == 1 and f"error: {bomb}: the image claims" in err


def test_decompression_bomb_in_the_overlay(tmp_path: Path, image_paths, capsys) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a_bomb.png").write_bytes(png_header(100_000, 100_000))
    shutil.copy(image_paths[0], folder / "b.png")
    code, _, err = run(capsys, "overlay", str(folder), "-m", str(MODEL), "--no-show", "--save", str(tmp_path / "o.avi"))
    assert code == 1 and f"yolo-probs: error: {folder / 'a_bomb.png'}: the image claims" in err


def test_the_pixel_limit_is_a_setting(monkeypatch, image_paths) -> None:
    from PIL import Image

    import yolo_probs.inputs.sources as sources

    monkeypatch.setattr(sources, "MAX_IMAGE_PIXELS", 64 * 64 - 1)
    (failure,) = iter_frames(str(image_paths[0]))  # a 64 x 64 digit
    assert "claims 64 x 64 = 4,096 pixels, above the limit of 4,095" in str(failure)
    (failure,) = iter_frames([Image.new("RGB", (64, 64))])
    assert "claims 64 x 64" in str(failure)


def test_opencv_decoder_errors_are_failures(monkeypatch, image_paths) -> None:
    import cv2

    def broken(*args, **kwargs):
        raise cv2.error("OpenCV(5.0.0) loadsave.cpp:79: (-215:Assertion failed) pixels <= CV_IO_MAX_IMAGE_PIXELS")

    monkeypatch.setattr(cv2, "imdecode", broken)
    (failure,) = iter_frames(str(image_paths[0]))
    assert "OpenCV cannot decode it" in str(failure) and "\n" not in str(failure)


# -- 3. the output is one of the inputs: refused before anything is opened --
@pytest.mark.parametrize("which", ["image", "video", "model", "symlink to the image", "same file via ./"])
def test_output_that_is_an_input_is_refused(tmp_path: Path, capsys, image_paths, which) -> None:
    image = tmp_path / "a.png"
    shutil.copy(image_paths[0], image)
    video = make_video(tmp_path / "clip.avi", 3)
    model = tmp_path / "m.pt"
    shutil.copy(MODEL, model)
    (tmp_path / "link.png").symlink_to(image)
    output = {
        "image": image,
        "video": video,
        "model": model,
        "symlink to the image": tmp_path / "link.png",
        "same file via ./": Path(os.path.relpath(image)).parent / "." / image.name,
    }[which]
    before = {p: p.read_bytes() for p in (image, video, model)}
    code, out, err = run(capsys, "predict", str(image), str(video), "-m", str(model), "-o", str(output), "-f", "json")
    assert code == 2 and out == ""
    assert err.startswith(f"yolo-probs: error: {output} is also an input of this run") and len(err.splitlines()) == 1
    assert {p: p.read_bytes() for p in before} == before  # nothing was truncated


# -- 4. imgsz has an upper bound, everywhere --
@pytest.mark.parametrize("flag", ["--imgsz", "--resize"])
def test_cli_imgsz_limit(capsys, image_paths, flag) -> None:
    code, _, err = run(capsys, "predict", str(image_paths[0]), "-m", str(MODEL), flag, "100000")
    assert code == 2 and "100000 is above the limit of 4096 pixels" in err and len(err.splitlines()) == 1


def test_api_and_profile_imgsz_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="imgsz 100000 is above the limit of 4096"):
        YoloProbs(MODEL, imgsz=100_000)
    profile = tmp_path / "p.yaml"
    profile.write_text(f"model: {MODEL}\ntemperature: 1.0\nimgsz: 100000\n")
    with pytest.raises(ConfigError, match=r"p.yaml: imgsz 100000 is above the limit of 4096"):
        YoloProbs.from_profile(profile)


# -- 5. FIFOs and other non-regular files: a named failure, never a hang --
def test_fifo_in_a_folder_is_a_named_failure(tmp_path: Path, image_paths, capsys) -> None:
    import threading

    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(image_paths[0], folder / "a.png")
    os.mkfifo(folder / "b.png")
    os.mkfifo(folder / "c.fifo")
    shutil.copy(image_paths[1], folder / "d.png")
    result: list[int] = []
    args = ["predict", str(folder), str(folder / "b.png"), "-m", str(MODEL), *JSONL]
    worker = threading.Thread(target=lambda: result.append(main(args)), daemon=True)
    worker.start()
    worker.join(timeout=120)  # a FIFO that is opened would block forever
    assert result == [1], "predict hung on a FIFO"
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2  # a.png and d.png
    errors = err.splitlines()
    assert errors.count(f"yolo-probs: error: {folder / 'b.png'}: is a FIFO (named pipe), not a regular file; "
                        "skipped (reading it could wait forever): pass image or video files") == 2  # fmt: skip
    assert any(str(folder / "c.fifo") in line for line in errors)
    assert "3 of 5 inputs failed" in errors[-1]


# -- errors that used to escape --
@pytest.mark.parametrize("device", ["0", "cuda:7", "tpu", "mps", "0,3"])
def test_devices_that_do_not_exist(capsys, image_paths, device) -> None:
    needed = {"0": 1, "0,3": 4, "cuda:7": 8}.get(device, 10**6)
    if torch.cuda.device_count() >= needed:
        pytest.skip("this machine has that GPU")
    code, _, err = run(capsys, "predict", str(image_paths[0]), "-m", str(MODEL), "--device", device)
    assert code == 2 and len(err.splitlines()) == 1
    assert "devices on this machine: cpu" in err and "please report" not in err and err.rstrip().endswith("(--device)")
    with pytest.raises(ConfigError, match="devices on this machine"):
        YoloProbs(MODEL, device=device)


def test_a_classification_checkpoint_renamed_pth_still_loads(tmp_path: Path, image_paths) -> None:
    renamed = tmp_path / "best.pth"
    shutil.copy(MODEL, renamed)
    with YoloProbs(renamed, device="cpu") as clf:
        p = clf.predict(str(ROOT / "examples" / "images" / "digit_3.png"))[0]
    assert p.names[p.top1] == "3"


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("junk-cls.pth", b"garbage", "is not a model file Ultralytics can read"),
        ("junk-cls.jpg", b"garbage", "is not a model file Ultralytics can read"),
        ("junk-cls", b"garbage", "is not a model file Ultralytics can read"),
        ("junk-cls.pt", b"garbage", "is not a model file Ultralytics can read"),
        ("empty-cls.pt", b"", "is not a model file Ultralytics can read"),
        ("junk-cls.yaml", b"nc: [", "is not a model file Ultralytics can read"),
        ("junk-cls.onnx", b"garbage", "cannot load exported model"),
        ("folder-cls.pt/", None, "is a folder, not a model file"),
        ("folder-cls.onnx/", None, "is a folder, not a model file"),
    ],
)
def test_names_ending_in_cls_that_are_not_models(tmp_path: Path, capsys, image_paths, name, content, needle) -> None:
    path = tmp_path / name.rstrip("/")
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=needle):
        YoloProbs(path)
    code, _, err = run(capsys, "predict", str(image_paths[0]), "-m", str(path))
    assert code == 2 and len(err.splitlines()) == 1 and needle in err and "unexpected" not in err


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (None, "None: unsupported source type NoneType"),
        (3.5, "unsupported source type float"),
        (5, "5: cannot open the webcam"),  # an int is a webcam index, as in Ultralytics
        ([None], "image0: unsupported input type NoneType"),
        (np.zeros((8, 8, 3), np.float32), "expected uint8 pixels (0-255), got a float32 array"),
        (np.zeros((8, 8, 3), np.uint16), "got a uint16 array; convert it, e.g. (img >> 8)"),
        (np.full((8, 8, 3), np.nan), "got a float64 array"),
        (np.zeros((8, 8, 4), np.uint8), "drop the alpha channel"),
        (np.zeros((3, 32, 32), np.uint8), "it looks channels-first"),
        (np.zeros((0, 8), np.uint8), "got shape (0, 8)"),
        ("tensor:3hw", "tensor: got one image of shape (3, 32, 32) without a batch dimension; pass t.unsqueeze(0)"),
        ("tensor:1ch", "it has 1 channel: repeat it"),
        ("tensor:last", "it looks channels-last: pass t.permute(0, 3, 1, 2)"),
        ("tensor:scalar", "tensor: got a scalar"),
        ("tensor:empty", "tensor: the batch is empty (shape (0, 3, 32, 32))"),
        ("tensor:uint8", "got torch.uint8 values"),
        ("tensor:nan", "tensor0: holds NaN or infinite values"),
    ],
)
def test_api_bad_inputs_are_source_errors(clf, source, needle, no_webcams: list[int]) -> None:
    if isinstance(source, str) and source.startswith("tensor:"):
        source = {
            "tensor:3hw": torch.zeros(3, 32, 32),
            "tensor:1ch": torch.zeros(2, 1, 32, 32),
            "tensor:last": torch.zeros(2, 32, 32, 3),
            "tensor:scalar": torch.tensor(1.0),
            "tensor:empty": torch.zeros(0, 3, 32, 32),
            "tensor:uint8": torch.zeros(1, 3, 32, 32, dtype=torch.uint8),
            "tensor:nan": torch.full((1, 3, 32, 32), float("nan")),
        }[source]
    with pytest.raises(SourceError) as caught:
        clf.predict(source)
    assert needle in str(caught.value) and "\n" not in str(caught.value)
    (failure,) = list(clf.predict_each(source))
    assert isinstance(failure, InputFailure) and needle in str(failure)
    assert no_webcams == ([source, source] if type(source) is int else [])  # never the machine's own cameras


def test_gray_arrays_are_accepted(clf) -> None:
    gray = np.full((32, 32), 255, np.uint8)
    a, b = clf.predict([gray, gray[..., None]])
    np.testing.assert_allclose(a.probs, b.probs)


def test_nan_rows_of_a_tensor_fail_alone(clf) -> None:
    batch = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    batch[1, 0, 0, 0] = float("inf")
    items = list(clf.predict_each(batch))
    assert [type(i).__name__ for i in items] == ["Prediction", "InputFailure", "Prediction"]
    assert [i.source for i in items] == ["tensor0", "tensor1", "tensor2"]
    alone = clf.predict(batch[[0, 2]])
    np.testing.assert_allclose(items[2].probs, alone[1].probs, atol=1e-6)
    assert all(np.isfinite(i.probs).all() for i in items if not isinstance(i, InputFailure))


def test_nan_logits_from_a_model_are_a_failure_not_nan_probabilities(image_paths) -> None:
    from yolo_probs.backends import BackendOutput

    class NanModel:
        names = ("a", "b")
        folded_temperature = None
        device_type = "cpu"

        def run(self, images, *, features=False):
            rows = [[np.nan, 0.0] if im.mean() > 128 else [1.0, 0.0] for im in images]
            return BackendOutput(np.float32(rows), "output")

        def run_tensor(self, batch, *, features=False):
            raise AssertionError

        def close(self):
            pass

    clf = YoloProbs(NanModel(), batch=4)
    dark, light = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    items = list(clf.predict_each([dark, light, dark]))
    assert [type(i).__name__ for i in items] == ["Prediction", "InputFailure", "Prediction"]
    assert "image1: the model returned NaN or infinite logits" in str(items[1])
    with pytest.raises(SourceError, match="NaN"):
        clf.predict(light)


def test_a_newline_in_a_file_name_stays_on_one_line(tmp_path: Path, capsys, image_paths) -> None:
    odd = tmp_path / "bad\nname.jpg"
    odd.write_text("not an image")
    code, _, err = run(capsys, "predict", str(odd), str(image_paths[0]), "-m", str(MODEL), "-f", "jsonl")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 2
    assert lines[0].startswith(f"yolo-probs: error: {tmp_path}/bad\\nname.jpg: not a readable image")
    (failure,) = iter_frames(str(odd))
    error = failure.error()
    assert "\n" not in str(error) and "\n" not in str(failure) and error.source == str(odd)


def test_library_silences_opencv_while_opening_a_camera(capfd, no_webcams: list[int]) -> None:
    import cv2

    log = cv2.utils.logging
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_WARNING)  # OpenCV's default: a missing camera is logged unless silenced
    try:
        (failure,) = iter_frames("7")
    finally:
        log.setLogLevel(level)
    assert "cannot open the webcam" in str(failure) and no_webcams == [7]
    assert "WARN" not in capfd.readouterr().err


@pytest.mark.parametrize(("fmt", "out"), [("torchscript", "x.onnx"), ("onnx", "x.torchscript"), ("onnx", "x.ts")])
def test_export_format_and_suffix_must_agree(tmp_path: Path, capsys, fmt, out) -> None:
    target = tmp_path / out
    code, _, err = run(capsys, "export", "-m", str(MODEL), "-t", "1.5", "-f", fmt, "-o", str(target))
    assert code == 2 and f"format {fmt} does not match the output" in err and len(err.splitlines()) == 1
    assert not target.exists()


def test_export_never_overwrites_its_model(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.pt"
    shutil.copy(MODEL, model)
    code, _, err = run(capsys, "export", "-m", str(model), "-t", "1.5", "-f", "onnx", "-o", str(model))
    assert code == 2 and "is also an input of this run" in err
    assert model.read_bytes() == MODEL.read_bytes()


def test_overlay_plus_key_never_drives_t_to_infinity() -> None:
    from yolo_probs.calibration.temperature import T_MAX, T_MIN
    from yolo_probs.overlay.controls import Controls

    c = Controls(temperature=1.0, top_k=3, num_classes=10)
    for _ in range(10_000):
        c.handle(ord("+"))
    assert c.temperature == T_MAX
    for _ in range(10_000):
        c.handle(ord("-"))
    assert c.temperature == T_MIN
    high = Controls(temperature=500.0, top_k=3, num_classes=10)  # started above the range: never raised further
    high.handle(ord("+"))
    assert high.temperature == 500.0
    high.handle(ord("-"))
    assert high.temperature == pytest.approx(500.0 / 1.1)


def test_yolo_probs_error_family() -> None:
    from yolo_probs.errors import OutputError

    assert issubclass(OutputError, YoloProbsError) and OutputError("x").exit_code == 1


def test_streams_skip_bad_frames_too(tmp_path: Path, monkeypatch) -> None:
    """A stream announces no frame count: a failed read followed by a good one is a skipped frame; failed reads
    at the end are the end of the stream, not lost frames."""
    from yolo_probs.inputs.sources import StreamInput

    monkeypatch.setattr(StreamInput, "frame_count", lambda self: None)
    video = wipe_frames(make_video(tmp_path / "clip.avi", 8), [3, 7])
    items = list(iter_frames(str(video)))
    assert [i.frame for i in items if isinstance(i, Frame)] == [0, 1, 2, 4, 5, 6]
    assert [(i.frame, i.frames) for i in items if isinstance(i, InputFailure)] == [(3, 1)]


@pytest.mark.skipif(
    not shutil.which("Xvfb") or not sys.platform.startswith("linux"), reason="needs Xvfb (apt-get install xvfb)"
)
def test_no_qt_font_notices_in_the_overlay_window(tmp_path: Path, display: str) -> None:
    """opencv-python's Qt has no fonts and says so on stderr each time it draws; the CLI keeps that off."""
    video = make_video(tmp_path / "clip.avi", 4)
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)}
    env.pop("QT_LOGGING_RULES", None)
    done = subprocess.run(
        [sys.executable, "-m", "yolo_probs", "overlay", str(video), "-m", str(MODEL), "--max-frames", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "QFont" not in done.stderr and "fonts" not in done.stderr and "WARN" not in done.stderr


def test_native_library_lines_never_reach_the_terminal(tmp_path: Path, image_paths) -> None:
    """A damaged PNG makes libpng print 'libpng error: ...' straight to descriptor 2, and a file that is no
    video makes FFmpeg print lines of its own (``[mov,mp4,... @ 0x...] moov atom not found``) unless
    silenced; the console script shows only our lines, one per problem."""
    data = bytearray(image_paths[0].read_bytes())
    at = data.index(b"IDAT")
    data[at + 10 : at + 40] = bytes(30)  # damaged compressed data, CRC left stale
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(bytes(data))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")}
    env["PYTHONPATH"] = str(ROOT)
    # The native lines are real: OpenCV alone, without yolo-probs, lets them through.
    opencv_alone = "import cv2, sys; cv2.imread(sys.argv[1]); cv2.VideoCapture(sys.argv[2])"
    native = subprocess.run(
        [sys.executable, "-c", opencv_alone, str(damaged), str(junk)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "libpng error" in native.stderr, native.stderr
    sources = [str(junk), str(damaged), str(image_paths[0])]
    done = subprocess.run(
        [sys.executable, "-m", "yolo_probs", "predict", *sources, "-m", str(MODEL), *JSONL],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1 and len(done.stdout.splitlines()) == 1
    assert done.stderr.splitlines() == [
        f"yolo-probs: error: {junk}: cannot open the video; check that it exists and that OpenCV can decode it",
        f"yolo-probs: error: {damaged}: not a readable image (OpenCV cannot decode it); check that it is really an "
        "image",
        "yolo-probs: error: 2 of 3 inputs failed (listed above); the others were written",
    ]


@pytest.mark.parametrize(
    ("line", "noise"),
    [
        ("libpng error: IDAT: invalid code lengths set", True),
        ("libpng warning: iCCP: known incorrect sRGB profile", True),
        ("[ WARN:0@0.110] global cap_v4l.cpp:914 open VIDEOIO(V4L2:/dev/video5): can't open camera by index", True),
        ("[ERROR:0@0.111] global obsensor_uvc_stream_channel.cpp:163 getStreamChannelGroup Camera index", True),
        ("[mjpeg @ 0x562fad279380] No JPEG data found in image", True),
        ("Corrupt JPEG data: 12 extraneous bytes before marker 0xd9", True),
        ("QFontDatabase: Cannot find font directory /x/cv2/qt/fonts.", True),
        ("[2026-12-06 12:42:01,795 E 10286 10286] core_worker.cc:2465: Actor with class name: 'MapWorker'", True),
        ("[2026-12-06 12:42:22,588 I 10796 10796] logging.cc:303: Set ray log level from environment variable", True),
        ("[2026-12-06 12:42:22,588 F 10796 10796] raylet_client.cc:42: Check failed", False),
        ("yolo-probs: error: x.png: not a readable image", False),
        ("Traceback (most recent call last):", False),
        ("Segmentation fault", False),
    ],
)
def test_what_counts_as_native_noise(line: str, noise: bool) -> None:
    from yolo_probs.cli.quiet_stderr import is_noise

    assert is_noise(line) is noise
