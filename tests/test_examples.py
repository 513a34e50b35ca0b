"""The example scripts leave the clone as it was: their outputs go under git-ignored folders (``runs/``).

Also: the sample photos read without libpng's iCCP warning, and the torchvision example says when its
weights are random and loads a state dict when given one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import IMAGES, ROOT, example

SCRIPTS = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))


def _ignored(path: Path) -> bool:
    done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", str(path)], check=False)
    return done.returncode == 0


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_default_output_of_an_example_is_git_ignored(script: str) -> None:
    module = example(script)
    defaults = {k: v for k, v in vars(module).items() if k.startswith("DEFAULT_") and isinstance(v, Path)}
    for name, path in defaults.items():
        assert path.resolve().is_relative_to(ROOT), (name, path)
        assert _ignored(path), f"examples/{script}.py writes {name} = {path} by default, which git does not ignore"


def test_overlay_screenshot_writes_under_runs_and_leaves_the_docs_image(tmp_path: Path) -> None:
    """Run from a copy of the checkout's examples: the picture lands in runs/, the tracked one is untouched."""
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns("data", "__pycache__"))
    tracked = (work / "examples" / "overlay_digits.png").read_bytes()
    env = {**os.environ, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "examples/overlay_screenshot.py"], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {work / 'runs' / 'overlay_digits.png'}" in done.stdout
    assert cv2.imread(str(work / "runs" / "overlay_digits.png")).shape == (480, 968, 3)
    assert (work / "examples" / "overlay_digits.png").read_bytes() == tracked
    assert sorted(p.name for p in work.iterdir()) == ["examples", "runs"]


def test_sample_photos_read_without_libpng_warnings(capfd: pytest.CaptureFixture[str]) -> None:
    make_unknowns = example("make_unknowns")
    photos = make_unknowns.sample_photos()
    assert "libpng" not in capfd.readouterr().err
    import skimage

    original = cv2.imread(str(Path(skimage.__file__).parent / "data" / "chelsea.png"), cv2.IMREAD_COLOR)
    capfd.readouterr()
    assert np.array_equal(photos["chelsea"], original)  # the profile is dropped, not the pixels


def test_without_iccp_drops_only_that_chunk() -> None:
    strip = example("make_unknowns").without_iccp
    png = (IMAGES / "digit_3.png").read_bytes()
    chunk = b"iCCP" + b"name\x00\x00" + b"profile"
    with_profile = png[:33] + (len(chunk) - 4).to_bytes(4, "big") + chunk + b"CRC!" + png[33:]  # after IHDR
    assert strip(with_profile) == png
    assert strip(png) == png and strip(b"not a png") == b"not a png"


def test_torchvision_example_says_its_weights_are_random(capsys: pytest.CaptureFixture[str]) -> None:
    example("torchvision_classifier").main([])
    out, err = capsys.readouterr()
    assert "random weights" in err and "mean nothing" in err and "--weights" in err
    assert "random weights" in out  # on the line of every result, too


def test_torchvision_example_loads_a_state_dict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = example("torchvision_classifier")
    torch.manual_seed(0)
    trained = module.build(None, 3)
    with torch.no_grad():
        trained.fc.bias.copy_(torch.tensor([0.0, 50.0, 0.0]))  # "trained" to say class b
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    module.main(["--weights", str(tmp_path / "w.pt"), "--classes", "a", "b", "c"])
    out, err = capsys.readouterr()
    assert err == "" and "random" not in out
    assert out.startswith("digit_3.png: top b ")  # the loaded bias decides
