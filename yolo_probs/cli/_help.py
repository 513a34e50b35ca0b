"""Help pages that show what a command accepts: ``predict [OPTIONS] SOURCE...``, not ``{SOURCE...}...``.

Typer marks required arguments as ``{NAME}`` in the usage line and prints their Python type
(``<list[str]>``) beside them; for a shell user both read like syntax to type. This command class
rewrites only those two things in the finished help text.

Example:
    >>> _tidy("Usage: yolo-probs predict [OPTIONS] {SOURCE...}...\\n  SOURCE... <list[str]>  Images.")
    'Usage: yolo-probs predict [OPTIONS] SOURCE...\\n  SOURCE...  Images.'
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperCommand

_USAGE_ARG = re.compile(r"\{([A-Z][A-Z_]*)((?:\.\.\.)?)\}(\.\.\.)?")
_ARG_TYPE = re.compile(r"^(  [A-Z][A-Z_]*(?:\.\.\.)?) <[^>]+>( *)", re.MULTILINE)


def _tidy(text: str) -> str:
    text = _USAGE_ARG.sub(lambda m: m.group(1) + ("..." if m.group(2) or m.group(3) else ""), text)
    # Keep the help column aligned: the removed type label becomes spaces.
    return _ARG_TYPE.sub(lambda m: m.group(1) + " " * (len(m.group(0)) - len(m.group(1))), text).replace("  \n", "\n")


class HelpCommand(TyperCommand):
    """A Typer command whose usage line and argument list show the argument names only."""

    def get_usage(self, ctx: Any) -> str:
        return _tidy(super().get_usage(ctx))

    def get_help(self, ctx: Any) -> str:
        return _tidy(super().get_help(ctx))
