"""The set-up script installs every tool the Development section runs (pytest, ruff, mypy, lint-imports)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

#: tool -> the distribution that brings it
TOOLS = {"pytest": "pytest", "ruff": "ruff", "mypy": "mypy", "lint-imports": "import-linter"}


def _installed_extras() -> list[str]:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    (extras,) = re.findall(r'pip install [^\n]*-e "\.\[([\w,-]+)\]"', setup)
    return extras.split(",")


def test_setup_installs_the_extras_that_hold_every_dev_tool() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    extras = _installed_extras()
    assert "dev" in extras and set(extras) <= set(declared)
    wanted = {re.split(r"[<>=\[ ]", d, maxsplit=1)[0] for extra in extras for d in declared[extra]}
    assert set(TOOLS.values()) <= wanted, set(TOOLS.values()) - wanted


def test_the_tools_are_in_this_environment() -> None:
    """Beside the interpreter that runs the tests (the set-up's venv in CI), not only somewhere on PATH."""
    bin_dir = Path(sys.executable).parent
    missing = [tool for tool in TOOLS if not (bin_dir / tool).exists()]
    assert not missing, f"{missing} not in {bin_dir}: run bash scripts/setup.sh"
