"""MkDocs hooks of the docs site (``mkdocs.yml``): pages and files made at build time.

- ``cli.md``, the CLI reference, is generated from the Typer app: each command's ``--help`` text, so it
  never drifts from the code.
- The pictures the pages show are the ones in ``examples/`` (the README shows them too); they are added
  to the site under ``examples/`` instead of being copied into ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from griffe import DocstringSectionKind
from griffe._internal.docstrings import google
from mkdocs.structure.files import File, Files

from yolo_probs.cli import app

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 80
# The package's docstrings head their doctests "Example:", which griffe's Google parser reads as a
# note (Markdown text) rather than as "Examples:" (code): teach it the singular. Private to griffe, so
# if it moves, the strict build fails on the doctests instead of rendering them wrongly.
google._section_kind.setdefault("example", DocstringSectionKind.examples)

#: A Sphinx role before an inline code span, as the docstrings write them (``:class:`~a.b.C```).
ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc|obj):<code>(~?)([^<]*)</code>")

PICTURES = ("overlay_digits.png", "overlay_decisions.png", "reliability_digits.png")


def command_help(command: Any, name: str, parent: Any = None) -> str:
    """The ``--help`` text of one command, as ``yolo-probs ... --help`` prints it, WIDTH columns wide.

    ``command`` is a click command of the app (Typer ships its own copy of click, so its own
    ``context_class`` makes the context).
    """
    ctx = command.context_class(command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH)
    return str(command.get_help(ctx))


def cli_reference() -> str:
    """The Markdown of the CLI reference: the root help, then one section per command, in --help order.

    Example:
        >>> "## yolo-probs predict" in cli_reference()
        True
    """
    root = typer.main.get_command(app)
    root_ctx = root.context_class(root, info_name="yolo-probs", terminal_width=WIDTH, max_content_width=WIDTH)
    parts = [
        "# CLI reference\n",
        "Generated from the command line itself when the site is built: each section is what",
        "`yolo-probs COMMAND --help` prints. The task pages ([Predict](predict.md),",
        "[Calibrate](calibrate.md), ...) show the commands at work.\n",
        "```text",
        command_help(root, "yolo-probs").rstrip(),
        "```\n",
    ]
    for name in root.list_commands(root_ctx):  # type: ignore[attr-defined]
        command = root.get_command(root_ctx, name)  # type: ignore[attr-defined]
        parts += [f"## yolo-probs {name}\n", "```text", command_help(command, name, root_ctx).rstrip(), "```\n"]
    return "\n".join(parts)


def plain_roles(html: str) -> str:
    """The docstrings' Sphinx roles as plain code: ``:class:`~a.b.C``` shows ``C``, ``:mod:`a.b``` ``a.b``.

    Example:
        >>> plain_roles(":class:<code>~yolo_probs.core.Prediction</code> and :mod:<code>yolo_probs.api</code>")
        '<code>Prediction</code> and <code>yolo_probs.api</code>'
    """
    return ROLE.sub(lambda m: f"<code>{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}</code>", html)


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """The API reference pages with the docstrings' Sphinx roles shown as plain code."""
    return plain_roles(html)


def on_files(files: Files, config: Any) -> Files:
    """Add the generated CLI reference and the pictures of ``examples/`` to the site."""
    files.append(File.generated(config, "cli.md", content=cli_reference()))
    for picture in PICTURES:
        files.append(
            File(
                f"examples/{picture}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
