"""Old module paths and names that moved keep working for one release, with a :class:`DeprecationWarning`.

:func:`alias_modules` installs one import hook for a package: ``import yolo_probs.model`` then gives a
module that reads every name from its new home (``yolo_probs.api.model``) and warns once where it is
imported. :func:`moved_names` makes a module ``__getattr__`` for single names that moved to another
module. Nothing is copied: the old path reads the new module's objects, so both stay the same objects.
:func:`no_longer_needed` stands in for a function whose work now happens by itself: calling it only warns.

Example:
    >>> import sys, warnings
    >>> _ = sys.modules.pop("yolo_probs.probs", None)  # imported before in this process: import it afresh
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     from yolo_probs.probs import softmax
    >>> softmax.__module__, caught[0].category.__name__, str(caught[0].message).split(";")[0]
    ('yolo_probs.core.probs', 'DeprecationWarning', 'yolo_probs.probs moved to yolo_probs.core.probs')
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["alias_modules", "moved_names", "no_longer_needed"]

#: The release after which the old paths go away.
REMOVED_IN = "0.3"


class _AliasModule(types.ModuleType):
    """An old module path: every attribute is read from the modules it moved to, in order."""

    def __init__(self, name: str, targets: Sequence[str]) -> None:
        super().__init__(name, f"Deprecated alias of {', '.join(targets)}.")
        self._targets = tuple(targets)

    def __getattr__(self, attr: str) -> Any:
        if attr == "__all__":  # what ``from old.path import *`` imports: the public names of every target
            return list(dict.fromkeys(n for t in self._targets for n in _public(importlib.import_module(t))))
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (now {', '.join(self._targets)}) has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        return sorted({n for t in self._targets for n in dir(importlib.import_module(t))})


def _public(module: types.ModuleType) -> list[str]:
    """The names ``from module import *`` would import."""
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if not n.startswith("_")]


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old module paths of one package and loads each as an :class:`_AliasModule`."""

    def __init__(self, moved: Mapping[str, Sequence[str]]) -> None:
        self.moved = {old: tuple(new) for old, new in moved.items()}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moved:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        targets = self.moved[spec.name]
        warnings.warn(
            f"{spec.name} moved to {' and '.join(targets)}; import it from there "
            f"(the old path goes away in yolo-probs {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=_caller_level(),
        )
        return _AliasModule(spec.name, targets)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the alias reads the new modules on demand."""


def _caller_level() -> int:
    """The stack level of the first frame outside the import machinery (the ``import`` statement)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen") or frame.f_globals.get("__name__") == __name__
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def alias_modules(moved: Mapping[str, Sequence[str]]) -> None:
    """Keep the old module paths in ``moved`` (``{"pkg.old": ["pkg.new", ...]}``) importable, with a warning."""
    if not any(isinstance(f, _AliasFinder) and f.moved.keys() == moved.keys() for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder(moved))


def moved_names(module: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for names that moved out of ``module`` (``{name: "new.module"}``), with a warning."""

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(
            f"{module}.{name} moved to {moved[name]}.{name}; import it from there "
            f"(the old path goes away in yolo-probs {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(moved[name]), name)

    return __getattr__


def no_longer_needed(module: str, name: str, why: str) -> Callable[..., None]:
    """A function ``module.name`` that does nothing but warn that calling it is no longer needed, and ``why``.

    Example:
        >>> import warnings
        >>> load = no_longer_needed("pkg", "load", "it loads on first use")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     load()
        >>> str(caught[0].message).split(";")[0]
        'pkg.load() is no longer needed: it loads on first use'
    """

    def shim(*args: Any, **kwargs: Any) -> None:
        warnings.warn(
            f"{module}.{name}() is no longer needed: {why}; remove the call (it goes away in yolo-probs {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )

    shim.__name__ = shim.__qualname__ = name
    shim.__module__ = module
    shim.__doc__ = f"Deprecated, does nothing: {why}."
    return shim
