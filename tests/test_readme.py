"""Every runnable command and Python example in README.md works as written, offline.

``bash`` blocks are run line by line and ``python`` blocks as scripts, in a scratch folder holding a
copy of ``examples/`` (so nothing is written into the checkout). ``shell`` and ``text`` blocks are
illustrations (webcams, your own files) and are not run. Blocks run in README order, the shell
commands first (the Python examples use the profile the calibration walk-through writes).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
SETUP = "bash scripts/setup.sh"
VENV_BIN = "~/.cache/yolo-probs-venv/bin/"


def _commands() -> list[str]:
    commands = []
    for lang, body in BLOCKS:
        if lang != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():  # join continued lines
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p for p in line.split(" && ") if not p.startswith(SETUP)]
            parts = [p.replace(VENV_BIN, "") for p in parts]
            if any("pytest" in p for p in parts):
                continue  # the test command itself: that is this run
            commands.extend(parts)
    return commands


def _argv(command: str) -> list[str]:
    argv = shlex.split(command, comments=True)
    bin_dir = Path(sys.executable).parent
    heads = {
        "yolo-probs": [sys.executable, "-m", "yolo_probs"],
        "python": [sys.executable],
        "yolo": [str(bin_dir / "yolo")],
    }
    return heads[argv[0]] + argv[1:]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("readme")
    for part in ("models", "images"):
        shutil.copytree(ROOT / "examples" / part, work / "examples" / part)
    for script in (ROOT / "examples").glob("*.py"):
        shutil.copy(script, work / "examples" / script.name)
    return work


def _env() -> dict[str, str]:
    return {**os.environ, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_command():
    bash = [body.strip() for lang, body in BLOCKS if lang == "bash"]
    quick_start = [b for b in bash if b.startswith(SETUP) and "predict" in b]
    test_command = [b for b in bash if b.startswith(SETUP) and "pytest" in b]
    assert len(quick_start) == 1 and len(test_command) == 1
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command[0] in ci.splitlines()


@pytest.mark.parametrize("command", _commands())
def test_bash_command(command, scratch):
    done = subprocess.run(_argv(command), cwd=scratch, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("index", [i for i, (lang, _) in enumerate(BLOCKS) if lang == "python"])
def test_python_example(index, scratch):
    code = BLOCKS[index][1]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=scratch, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{code}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
