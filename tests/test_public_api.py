"""The public names are declared once, and what the docs name exists (httpx keeps a test like this).

- ``yolo_probs.__all__``, the lazy-import table ``_LAZY`` and the type-checking imports of
  ``yolo_probs/__init__.py`` list the same names, and each lazy name comes from the module the
  table names;
- every module's ``__all__`` names what the module has; a module lists only what it defines, and a
  package's ``__init__`` only re-exports its own modules' names, so each public name has one home;
- every ``yolo_probs`` path the README, the docs pages and the docstrings name (``:mod:``, ``:func:``, ``:class:``...)
  resolves, without going through a deprecated alias;
- the module paths of the flat layout before 0.2 still import, with a DeprecationWarning, and give
  the very objects of their new homes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import yolo_probs
from tests.conftest import ROOT

PACKAGE = ROOT / "yolo_probs"
INIT = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
#: Names in the README that are not module paths: keys of the soft-label Parquet metadata and the
#: TorchScript extra file of an export.
NOT_PATHS = {"yolo_probs.names", "yolo_probs.temperature", "yolo_probs.model", "yolo_probs.json"}


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _resolve(dotted: str) -> Any:
    """The object a dotted path names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _top_imports(tree: ast.Module, *, type_checking: bool) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            body = node.body if type_checking else []
        else:
            body = [node] if not type_checking else []
        for stmt in body:
            if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith("yolo_probs"):
                names |= {a.asname or a.name for a in stmt.names}
    return names


def test_all_the_lazy_table_and_the_type_checking_imports_agree() -> None:
    lazy = yolo_probs._LAZY
    eager = _top_imports(INIT, type_checking=False) - {"alias_modules"}
    assert _top_imports(INIT, type_checking=True) == set(lazy)
    assert set(yolo_probs.__all__) == eager | set(lazy) | {"__version__"}
    assert len(yolo_probs.__all__) == len(set(yolo_probs.__all__))
    for name, module in lazy.items():
        obj = getattr(yolo_probs, name)
        assert getattr(importlib.import_module(module), name) is obj
        if hasattr(obj, "__module__") and callable(obj):
            assert obj.__module__ == module, f"{name} is defined in {obj.__module__}, the table says {module}"


def _defined_here(tree: ast.Module) -> set[str]:
    """Names a module binds itself: definitions and assignments (not imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("module", _module_names())
def test_each_public_name_has_one_home(module: str) -> None:
    mod = importlib.import_module(module)
    public = getattr(mod, "__all__", None)
    if public is None:
        return
    missing = [n for n in public if not hasattr(mod, n)]
    assert not missing, f"{module}.__all__ names what it does not have: {missing}"
    path = Path(mod.__file__ or "")
    if module == "yolo_probs":
        return  # checked against its lazy table above
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if path.name == "__init__.py":  # a package re-exports its own modules' names only
        foreign = [n for n in public if n not in _defined_here(tree) and not _from_own_modules(getattr(mod, n), module)]
        assert not foreign, f"{module} re-exports names of other packages: {foreign}"
        return
    borrowed = sorted(set(public) - _defined_here(tree))
    assert not borrowed, f"{module}.__all__ lists names it imports (declare them where they are defined): {borrowed}"


def _from_own_modules(obj: Any, package: str) -> bool:
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return bool(obj.__module__ == package or obj.__module__.startswith(package + "."))
    return any(
        getattr(importlib.import_module(m), "__all__", None) and obj is getattr(importlib.import_module(m), n, None)
        for m in _module_names()
        if m.startswith(package + ".")
        for n in getattr(importlib.import_module(m), "__all__", ())
    )


def _documented_paths() -> dict[str, str]:
    """``{dotted path: where}`` for every yolo_probs path in the README, docs/ and docstring cross-references."""
    found: dict[str, str] = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for m in re.finditer(r"\byolo_probs(?:\.[A-Za-z_][A-Za-z0-9_]*)+", page.read_text(encoding="utf-8")):
            found.setdefault(m.group(0).rstrip("."), str(page.relative_to(ROOT)))
    role = re.compile(r":(?:mod|func|class|meth|data|attr|exc):`~?(?:[^`<]*<)?(yolo_probs[\w.]*)>?`")
    for path in sorted(PACKAGE.rglob("*.py")):
        for m in role.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(m.group(1), str(path.relative_to(ROOT)))
    return {k: v for k, v in found.items() if k not in NOT_PATHS}


@pytest.mark.parametrize(("dotted", "where"), sorted(_documented_paths().items()))
def test_every_documented_path_resolves_without_a_deprecated_alias(dotted: str, where: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            _resolve(dotted)
        except (AttributeError, ModuleNotFoundError, DeprecationWarning) as exc:
            pytest.fail(f"{where} names {dotted}, which does not resolve: {type(exc).__name__}: {exc}")


OLD_PATHS = {
    "yolo_probs.model": ("YoloProbs", "yolo_probs.api.model"),
    "yolo_probs.profile": ("load_profile", "yolo_probs.api.profile"),
    "yolo_probs.sources": ("iter_frames", "yolo_probs.inputs.sources"),
    "yolo_probs.metrics": ("evaluate_logits", "yolo_probs.core.metrics"),
    "yolo_probs.probs": ("softmax", "yolo_probs.core.probs"),
    "yolo_probs.fast_preprocess": ("fast_preprocess", "yolo_probs.inputs.fast_preprocess"),
    "yolo_probs.ray": ("score_dataset", "yolo_probs.integrations.ray"),
    "yolo_probs.dataset": ("load_labelled_folder", "yolo_probs.inputs.labelled"),
    "yolo_probs.backends.ort_engine": ("OnnxRuntimeEngine", "yolo_probs.backends.engines.ort"),
}


@pytest.mark.parametrize("old", sorted(yolo_probs._ALIASES))
def test_old_module_paths_import_with_a_deprecation_warning(old: str) -> None:
    sys.modules.pop(old, None)  # imported before in this session: import it afresh
    with pytest.warns(DeprecationWarning, match=re.escape(old) + " moved to"):
        mod = importlib.import_module(old)
    new = importlib.import_module(yolo_probs._ALIASES[old][0])
    shared = [n for n in getattr(new, "__all__", []) if not n.startswith("_")]
    assert shared and all(getattr(mod, n) is getattr(new, n) for n in shared)


@pytest.mark.parametrize(("old", "name_and_new"), sorted(OLD_PATHS.items()))
def test_documented_old_names_are_the_same_objects(old: str, name_and_new: tuple[str, str]) -> None:
    name, new = name_and_new
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_moved_names_of_kept_modules_warn_and_still_work() -> None:
    import yolo_probs.export

    with pytest.warns(DeprecationWarning, match="fold_temperature moved to yolo_probs.calibration.fold"):
        fold = yolo_probs.export.fold_temperature
    from yolo_probs.calibration.fold import fold_temperature

    assert fold is fold_temperature


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("yolo_probs.backends", "MAX_IMGSZ", "yolo_probs.inputs.preprocess"),
        ("yolo_probs.calibration", "check_logits_labels", "yolo_probs.core.checks"),
        ("yolo_probs.decisions.selective", "plot_risk_coverage", "yolo_probs.outputs.plots"),
    ],
)
def test_names_removed_from_kept_modules_warn_and_are_the_same_objects(old: str, name: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=re.escape(f"{old}.{name} moved to {new}.{name}")):
        got = getattr(importlib.import_module(old), name)
    assert got is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        _ = importlib.import_module(old).no_such_name  # the shim answers only for what moved


@pytest.mark.parametrize("package", ["yolo_probs.backends", "yolo_probs.calibration", "yolo_probs.decisions"])
def test_load_builtin_is_a_no_op_that_warns(package: str) -> None:
    module = importlib.import_module(package)
    message = f"{package}.load_builtin() is no longer needed: the built-in"
    with pytest.warns(DeprecationWarning, match=re.escape(message)):
        assert module.load_builtin() is None


def test_star_import_of_an_old_module_path_imports_its_public_names() -> None:
    sys.modules.pop("yolo_probs.probs", None)
    namespace: dict[str, Any] = {}
    with pytest.warns(DeprecationWarning, match="yolo_probs.probs moved to"):
        exec("from yolo_probs.probs import *", namespace)
    from yolo_probs.core import probs

    assert namespace["softmax"] is probs.softmax
    assert {n for n in namespace if n != "__builtins__"} == set(probs.__all__)
