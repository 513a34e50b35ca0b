"""The README and the docs site work as written: every command and code block runs, offline, in a fresh
clone of the repository, which stays clean; ``mkdocs build --strict`` passes.

Block conventions (README.md and every page of ``mkdocs.yml``'s nav, in nav order):

- ``bash`` blocks are run, one logical line at a time (``\\`` continues a line), by bash, with the
  venv's programs first on ``PATH``: the docs are written for the activated venv, so the commands say
  ``yolo-probs`` and ``python``. The set-up prefix ``bash scripts/setup.sh && source .../activate &&``
  is what this test run already is, and is dropped; so is the test command itself.
- ``python`` blocks are run as scripts, after every command (they use what the commands wrote).
- ``shell``, ``text``, ``yaml`` and ``json`` blocks are illustrations (webcams, your own files, output) and are
  not run.

A command that appears on several pages (the quick start repeats the calibration walk-through) runs
once. Everything runs in one clone of HEAD, with the working tree's package on ``PYTHONPATH``; after it,
``git status --porcelain`` must be empty: docs commands and example scripts write under ``runs/``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

SETUP = "bash scripts/setup.sh"
ACTIVATE = "source ~/.cache/yolo-probs-venv/bin/activate"
VENV_BIN = "~/.cache/yolo-probs-venv/bin/"
#: The one command that spells out the venv's Python: exactly what CI (.ci/run) runs.
TEST_COMMAND = f"{SETUP} && {VENV_BIN}python -m pytest"
LANGUAGES = {"bash", "python", "shell", "text", "yaml", "json"}
#: What a documented command may start with (with the venv active); anything else is a new convention.
HEADS = {"yolo-probs", "python", "yolo", "mkdir", "cp"}


def doc_pages() -> list[Path]:
    """README.md, then the site's pages in the order of ``mkdocs.yml``'s nav."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def walk(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav] if nav.endswith(".md") else []
        items = nav.values() if isinstance(nav, dict) else nav
        return [page for item in items for page in walk(item)]  # type: ignore[union-attr]

    pages = [ROOT / "docs" / page for page in walk(config["nav"])]
    return [ROOT / "README.md", *(page for page in pages if page.exists())]  # cli.md is generated


def blocks(path: Path) -> list[tuple[str, str]]:
    """The fenced code blocks of one page, indented ones (in a list or a definition) too: ``(language, body)``."""
    found = re.findall(r"^( *)```(\w*)\n(.*?)^\1```", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [(lang, textwrap.dedent(body)) for _, lang, body in found]


BLOCKS = [(page, lang, body) for page in doc_pages() for lang, body in blocks(page)]


def logical_lines(body: str) -> list[str]:
    """A bash block's commands: continued lines joined, blank lines and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = [line.strip() for line in joined.splitlines()]
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


def _commands() -> list[str]:
    """Every distinct command of the bash blocks, in page order, set-up prefixes dropped."""
    commands: list[str] = []
    for _, lang, body in BLOCKS:
        if lang != "bash":
            continue
        for line in logical_lines(body):
            if line == TEST_COMMAND:
                continue  # the test command itself: that is this run
            for prefix in (f"{SETUP} && ", f"{ACTIVATE} && "):
                line = line.removeprefix(prefix)
            if line not in commands:
                commands.append(line)
    return commands


COMMANDS = _commands()
PYTHON_BLOCKS = [body for _, lang, body in BLOCKS if lang == "python"]


@dataclass
class Walkthrough:
    """One fresh clone where the documented commands and examples run, each at most once."""

    clone: Path
    env: dict[str, str]
    done: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        if command not in self.done:
            argv = ["bash", "-c", command]
            self.done[command] = subprocess.run(
                argv, cwd=self.clone, env=self.env, capture_output=True, text=True, timeout=600
            )
        return self.done[command]

    def run_python(self, code: str) -> subprocess.CompletedProcess[str]:
        self.run_commands()  # the examples read what the commands wrote (profiles, the dataset)
        if code not in self.done:
            self.done[code] = subprocess.run(
                [sys.executable, "-c", code], cwd=self.clone, env=self.env, capture_output=True, text=True, timeout=600
            )
        return self.done[code]

    def run_commands(self) -> None:
        for command in COMMANDS:
            self.run(command)


def _is_git_checkout() -> bool:
    return shutil.which("git") is not None and (ROOT / ".git").exists()


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> Walkthrough:
    clone = tmp_path_factory.mktemp("docs") / "yolo-probs"
    if _is_git_checkout():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", head.stdout.strip()], check=True)
    else:  # an unpacked sdist: the examples are enough to run the commands
        shutil.copytree(ROOT / "examples", clone / "examples", ignore=shutil.ignore_patterns("data"))
    bin_dir = str(Path(sys.executable).parent)  # the venv's yolo-probs, python and yolo: "activated"
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "VIRTUAL_ENV": str(Path(sys.executable).parents[1]),
        "PYTHONPATH": str(ROOT),
        "YOLO_OFFLINE": "1",
        "MPLBACKEND": "Agg",
    }
    return Walkthrough(clone, env)


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_command() -> None:
    readme = [body.strip() for page, lang, body in BLOCKS if page.name == "README.md" and lang == "bash"]
    quick_start = [b for b in readme if b.startswith(f"{SETUP} && {ACTIVATE} && yolo-probs predict examples/")]
    assert len(quick_start) == 1, "the README's quick start installs and runs predict on examples/ in one command"
    assert TEST_COMMAND in readme, f"the README's test command must be exactly {TEST_COMMAND!r}"
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for section in ("## Install", "## Quick start", "## License"):
        assert section in readme.splitlines(), section


def test_blocks_follow_one_convention() -> None:
    """Every block has a known language; bash commands assume the activated venv and nothing else."""
    for page, lang, body in BLOCKS:
        where = f"{page.relative_to(ROOT)}: ```{lang}\n{body}"
        assert lang in LANGUAGES, f"{where}\nlabel the block bash/python (run) or shell/text/yaml/json (shown)"
        if lang not in ("bash", "shell"):
            continue
        for line in logical_lines(body):
            line = re.sub(r"^\$ ", "", line)
            assert "python3" not in shlex.split(line, comments=True), f"{where}\nsay python (the venv's)"
            if line != TEST_COMMAND:
                assert VENV_BIN not in line.replace(ACTIVATE, ""), f"{where}\nthe docs assume the activated venv"
            if lang == "bash" and line != TEST_COMMAND:
                words = shlex.split(line, comments=True)
                heads = [w for i, w in enumerate(words) if i == 0 or words[i - 1] in ("&&", "||", ";", "|")]
                if line.startswith(f"{SETUP} && {ACTIVATE} && "):
                    heads = heads[2:]
                assert set(heads) <= HEADS, f"{where}\n{line}: runs {heads}, not only {sorted(HEADS)}"


def _id(command: str) -> str:
    """A short test id: the command without its model path, cut at 60 characters."""
    short = command.split("#")[0].replace("examples/models/digits-yolo26n-cls.pt", "M").strip()
    return re.sub(r"[^\w./=-]+", "_", short)[:60]


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{i:02d}-{_id(c)}" for i, c in enumerate(COMMANDS)])
def test_bash_command(command: str, walkthrough: Walkthrough) -> None:
    done = walkthrough.run(command)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr, f"{command}\n{done.stderr[-2000:]}"


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_example(index: int, walkthrough: Walkthrough) -> None:
    code = PYTHON_BLOCKS[index]
    done = walkthrough.run_python(code)
    assert done.returncode == 0, f"{code}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


@pytest.mark.slow
def test_following_the_docs_leaves_the_clone_clean(walkthrough: Walkthrough) -> None:
    """After every documented command and example (run here if not yet), git sees no change."""
    if not _is_git_checkout():
        pytest.skip("not a git checkout: there is no clone to compare")
    for code in PYTHON_BLOCKS:
        walkthrough.run_python(code)
    assert (walkthrough.clone / "runs").is_dir(), "the docs write under runs/"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=walkthrough.clone,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == "", f"following the docs changed the clone (write under runs/ instead):\n{status.stdout}"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds offline with --strict: a broken link, anchor or API reference fails it."""
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("predict", "calibrate", "evaluate", "overlay", "export", "soft-labels", "distill"):
        assert f"yolo-probs {command}" in cli, command
    assert "fonts.googleapis.com" not in (site / "index.html").read_text(encoding="utf-8")
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "from_profile" in api  # generated from the docstrings
    assert ":class:<code>" not in api and ":mod:<code>" not in api  # Sphinx roles shown as plain code
