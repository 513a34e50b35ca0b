"""The package's import graph stays as designed: layered, without circles, imports at module top.

- import-linter's contracts (``[tool.importlinter]`` in pyproject.toml) hold: each layer imports only
  the layers below it, no package has an import circle among its modules, and private modules are
  imported only inside their own package;
- an import inside a function is only ever one of an optional or heavy dependency (torch, Ultralytics,
  OpenVINO, Ray, matplotlib, ...), so that ``import yolo_probs`` and ``yolo-probs --help`` stay light;
  everything else is imported at the top of the module, where a reader sees it;
- no module imports a private name (``_name``) from another package;
- ``yolo-probs --help`` never imports torch, and the CLI sets OpenCV's log level before OpenCV loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "yolo_probs"

#: What may be imported inside a function, and why: each is heavy to import, optional, or reads its
#: settings when imported, and each is needed by a few paths only.
LAZY_ALLOWED = {
    "torch": "heavy (seconds); the ONNX-only and --help paths never need it",
    "torchvision": "imports torch",
    "ultralytics": "heavy; only Ultralytics models need it",
    "onnx": "only exports and exported models need it",
    "onnxruntime": "only the ONNX backends need it",
    "openvino": "optional extra",
    "ray": "optional extra",
    "matplotlib": "only plots need it",
    "pyarrow": "only Parquet needs it",
    "PIL": "only decoding and preprocessing paths need it",
    "cv2": "reads its log settings when imported (yolo_probs.cli._env sets them first); keeps imports light",
    "yaml": "only profiles and name files need it",
    "rich": "only the terminal tables and progress bar need it",
    "urllib": "only image URLs need it",
    "fastapi": "optional extra (serve); only the HTTP server needs it",
    "starlette": "FastAPI's base (serve extra)",
    "uvicorn": "optional extra (serve)",
    "prometheus_client": "optional extra (serve); only the server's metrics need it",
    "httpx": "optional extra (serve); only the HTTP client needs it",
}
#: Modules of yolo_probs that import a heavy dependency at their top: importing them is importing it.
HEAVY_MODULES = {"yolo_probs.distill._trainer": "subclasses Ultralytics' trainer"}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _function_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Imports inside functions (not under ``if TYPE_CHECKING:``)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if inside and isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child, inside)

    visit(tree, False)
    return found


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_inside_functions_are_heavy_dependencies_only(module: str, path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wrong = []
    for node in _function_imports(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [_absolute(module, path, node)]
        for name in names:
            if name.split(".")[0] not in LAZY_ALLOWED and name not in HEAVY_MODULES:
                wrong.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not wrong, f"{module} imports inside functions what belongs at its top: {wrong}"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_no_private_name_is_imported_from_another_package(module: str, path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    wrong = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        source = _absolute(module, path, node)
        if not source.startswith("yolo_probs"):
            continue
        source_package = source if (ROOT / source.replace(".", "/")).is_dir() else source.rpartition(".")[0]
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__") and source_package != package:
                wrong.append(f"line {node.lineno}: {alias.name} from {source}")
    assert not wrong, f"{module} imports private names of another package: {wrong}"


def test_help_does_not_import_torch_and_opencv_is_quiet_before_it_loads() -> None:
    code = (
        "import os, sys\n"
        "seen = {}\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'cv2' and 'cv2' not in seen:\n"
        "            seen['cv2'] = os.environ.get('OPENCV_LOG_LEVEL')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Spy())\n"
        "from yolo_probs.cli import main\n"
        "code = main(['--help'])\n"
        "print(code, 'torch' in sys.modules, 'ultralytics' in sys.modules, seen.get('cv2', 'not imported'))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENCV_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] in ("0 False False OFF", "0 False False not imported")
