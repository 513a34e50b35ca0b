"""The one registry shape: built-ins imported on first use in their listed order, replacements kept in place."""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path

import pytest

from yolo_probs._util.registry import Registry
from yolo_probs.errors import ConfigError


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module that registers a second entry while the registry imports it (as a decorator would)."""
    (tmp_path / "yp_test_plugin.py").write_text(
        textwrap.dedent(
            """
            from tests._util.test_registry import SHARED

            def first():
                return "first"

            @SHARED.register("second")
            def second():
                return "second"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "yp_test_plugin"
    sys.modules.pop("yp_test_plugin", None)


SHARED: Registry[object] = Registry("thing", {"first": "yp_test_plugin:first"})


def test_builtins_load_on_first_use_in_their_listed_order() -> None:
    reg: Registry[object] = Registry("format", {"b": "json:dumps", "a": "json:loads"})
    reg.register("c", len)
    assert list(reg) == ["b", "a", "c"] and reg["a"].__name__ == "loads" and len(reg) == 3


def test_a_replacement_keeps_its_place_unless_it_asks_to_go_first() -> None:
    reg: Registry[object] = Registry("backend", {"a": "json:dumps", "b": "json:loads", "c": "json:dump"})
    reg.register("a", len)
    assert list(reg) == ["a", "b", "c"] and reg["a"] is len
    reg.register("c", max, first=True)
    assert list(reg) == ["c", "a", "b"] and reg["c"] is max


def test_a_module_may_register_while_the_registry_imports_it(plugin_module: str) -> None:
    done: list[list[str]] = []
    worker = threading.Thread(target=lambda: done.append(list(SHARED)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done == [["first", "second"]], "the registry deadlocked while importing its entries"


def test_an_unknown_name_is_one_line_listing_the_known_ones() -> None:
    reg: Registry[object] = Registry("calibration method", {"temperature": "json:dumps"}, option="method")
    with pytest.raises(ConfigError, match=r"unknown calibration method 'x'; choose one of temperature") as err:
        reg["x"]
    assert err.value.option == "method"


def test_register_backend_replaces_a_builtin_in_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from yolo_probs.backends import BACKENDS, register_backend

    order = list(BACKENDS)
    original = BACKENDS["onnx"]
    monkeypatch.setattr(BACKENDS, "_entries", dict(BACKENDS._entries))
    monkeypatch.setattr(BACKENDS, "_order", list(BACKENDS._order))

    class MyOnnx(original):  # type: ignore[misc, valid-type]
        name = "onnx"

    register_backend(MyOnnx)
    assert list(BACKENDS) == order and BACKENDS["onnx"] is MyOnnx  # still asked before Ultralytics
