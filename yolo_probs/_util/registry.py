"""One registry shape for every extension point: backends, calibrators, decision rules, output formats.

A :class:`Registry` maps names to entries (a class, a factory, a small object) in a fixed order. Its
built-in entries are listed once, as ``"module:attribute"`` strings, and imported on first use: the
registry never imports its entries' modules at import time, so a module that defines an entry may
import the registry's module without a circle, and a torch-free path stays torch-free. Entries of
your own are added with :meth:`Registry.register` (also a decorator).

Example:
    >>> formats = Registry("format", {"json": "json:dumps"})
    >>> formats.register("upper", str.upper)
    <method 'upper' of 'str' objects>
    >>> list(formats), formats["json"]({"a": 1}), "csv" in formats
    (['json', 'upper'], '{"a": 1}', False)
    >>> formats["csv"]
    Traceback (most recent call last):
    ...
    yolo_probs.errors.ConfigError: unknown format 'csv'; choose one of json, upper
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar, overload

from yolo_probs.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Named entries of one kind, in order; built-ins are imported from ``"module:attribute"`` on first use.

    Args:
        kind: what an entry is, for messages (``"backend"``, ``"calibration method"``...).
        builtin: ``{name: "package.module:attribute"}``, in the order the entries are asked.
        option: the setting an unknown name is reported against (see :class:`~yolo_probs.errors.YoloProbsError`).
    """

    def __init__(self, kind: str, builtin: Mapping[str, str] | None = None, *, option: str | None = None) -> None:
        self.kind = kind
        self.option = option
        self._pending = dict(builtin or {})
        self._order = list(self._pending)
        self._entries: dict[str, T] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, T]:
        """Import the built-in entries not yet imported (once); the entries in their order.

        The import runs without the lock held: a module it imports may register entries of its own.
        """
        for name, target in list(self._pending.items()):
            module, _, attribute = target.partition(":")
            entry = getattr(importlib.import_module(module), attribute)
            with self._lock:
                if self._pending.pop(name, None) is not None:  # not replaced by register() meanwhile
                    self._entries[name] = entry
        with self._lock:
            return {name: self._entries[name] for name in self._order}

    @overload
    def register(self, name: str, entry: T, *, first: bool = False) -> T: ...

    @overload
    def register(self, name: str, entry: None = None, *, first: bool = False) -> Callable[[T], T]: ...

    def register(self, name: str, entry: T | None = None, *, first: bool = False) -> T | Callable[[T], T]:
        """Add ``entry`` under ``name`` (last, or ``first``), or replace the entry of that name in its place;
        without ``entry``, a decorator."""
        if entry is None:
            return lambda e: self.register(name, e, first=first)
        with self._lock:
            self._pending.pop(name, None)
            if first:
                if name in self._order:
                    self._order.remove(name)
                self._order.insert(0, name)
            elif name not in self._order:  # a replacement keeps its place (backends are asked in order)
                self._order.append(name)
            self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> T:
        entries = self._load()
        if name not in entries:
            choices = ", ".join(entries) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {choices}", option=self.option)
        return entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self._order})"
