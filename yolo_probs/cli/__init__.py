"""The ``yolo-probs`` command line. ``yolo-probs --help`` answers without importing torch.

Every error ends in one line on stderr and an exit code: 0 all inputs succeeded, 1 some inputs
failed (the others were still written), 2 a usage error (bad option, model that cannot be used).

Example:
    >>> from yolo_probs.cli import main
    >>> main(["predict", "--temperature", "0", "x.jpg"])
    2
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any

import typer

from yolo_probs import __version__
from yolo_probs._util.console import error, warn
from yolo_probs.cli import (
    _env,  # noqa: F401  (first: OpenCV and Ultralytics read these settings when imported)
    calibrate,
    distill,
    export,
    overlay,
    predict,
    serve,
    soft_labels,
)
from yolo_probs.cli._habits import Flag, ultralytics_habit
from yolo_probs.cli._help import HelpCommand
from yolo_probs.cli.quiet_stderr import filtered_stderr
from yolo_probs.errors import YoloProbsError

app = typer.Typer(
    name="yolo-probs",
    help="Honest, temperature-scaled class probabilities from image classifiers (Ultralytics YOLO -cls first).",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"yolo-probs {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """Honest, temperature-scaled class probabilities from image classifiers.

    Run 'yolo-probs COMMAND --help' for a command's options.
    """
    if ctx.invoked_subcommand is None:  # bare 'yolo-probs': the help, as a successful answer
        print(ctx.get_help())
        raise typer.Exit(0)


# One module per command; registered here, in the order --help lists them.
# (the modules, not their functions, are names here: yolo_probs.cli.predict stays the module)
# HelpCommand: usage lines that read 'SOURCE...', not '{SOURCE...}...'.
app.command("calibrate", cls=HelpCommand)(calibrate.calibrate)
app.command("evaluate", cls=HelpCommand)(calibrate.evaluate)
app.command("distill", cls=HelpCommand)(distill.distill_command)
app.command("export", cls=HelpCommand)(export.export_command)
app.command("overlay", cls=HelpCommand)(overlay.overlay)
app.command("predict", cls=HelpCommand)(predict.predict)
app.command("serve", cls=HelpCommand)(serve.serve_command)
app.command("soft-labels", cls=HelpCommand)(soft_labels.soft_labels_command)


#: How the CLI spells the setting a library error is about (:attr:`YoloProbsError.option`).
OPTION_HINTS = {
    "model": "--model PATH",
    "profile": "--profile PATH",
    "output": "--output PATH",
    "plot": "--plot PATH",
    "save": "--save PATH",
    "device": "--device",
    "imgsz": "--imgsz N",
    "engine": "--engine",
    "teacher": "--teacher PATH",
    "student": "--student MODEL",
    "alpha": "--alpha A",
    "temperature": "--temperature T",
    "ood_tpr": "--ood-tpr",
    "ood_score": "--ood-score",
    "ood_data": "--ood-data DIR",
    "conformal": "--conformal ALPHA",
    "score": "--score",
    "target_accuracy": "--target-accuracy",
    "delta": "--delta",
    "ray": "--ray",
    "extra_outputs": "--logits",
    "smooth": "--smooth SECONDS",
    "api_key": "--api-key KEY",
}


def _bare_ray(argv: list[str]) -> list[str]:
    """A bare ``--ray`` (last, or before another option) means ``--ray ""``: Typer has no optional values.

    ``""`` is Ray's own default: ``$RAY_ADDRESS`` if set, else a new local cluster
    (:func:`yolo_probs.integrations.ray.resolve_address`).
    """
    out = list(argv)
    for i in range(len(out) - 1, -1, -1):
        if out[i] == "--ray" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out.insert(i + 1, "")
    return out


def _options() -> dict[str, dict[str, Flag]]:
    """Each command's options by Ultralytics-style key (``top_k`` for ``--top-k``), for :func:`ultralytics_habit`."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    found: dict[str, dict[str, Flag]] = {}
    for name, command in commands.items():
        for p in command.params:
            longs = [o for o in p.opts if o.startswith("--")] if p.param_type_name == "option" else []
            for flag in longs:
                off = (p.secondary_opts[0] if p.secondary_opts else "") if getattr(p, "is_flag", False) else None
                found.setdefault(name, {})[flag[2:].replace("-", "_")] = Flag(flag, off)
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script exits with it)."""
    args = _bare_ray(sys.argv[1:] if argv is None else argv)
    habit = ultralytics_habit(args, _options)
    if habit is not None:
        error(habit)
        return 2
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        result = app(args=args, prog_name="yolo-probs", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error("interrupted")
        return 130
    except YoloProbsError as exc:
        if getattr(exc, "quiet", False):  # stdout's reader went away: stop writing to it, say nothing
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return int(getattr(exc, "exit_code", 1))
        hint = OPTION_HINTS.get(exc.option or "")
        error(f"{exc} ({hint})" if hint else str(exc))
        return int(getattr(exc, "exit_code", 2))  # 2: usage; an OutputError (disk full) is 1
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # Typer's / Click's usage errors
            ctx = getattr(exc, "ctx", None)
            hint = f" (see 'yolo-probs {ctx.info_name} --help')" if ctx is not None and ctx.parent else ""
            error(f"{exc.format_message()}{hint}")
            return int(exc.exit_code)
        if os.environ.get("YOLO_PROBS_DEBUG"):
            raise
        error(
            f"unexpected {type(exc).__name__}: {exc} (set YOLO_PROBS_DEBUG=1 to see the traceback and please report it)"
        )
        return 1
    finally:
        warnings.showwarning = shown
    return result if isinstance(result, int) else 0


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """The library's own warnings (engine fell back, cache moved...) as one ``yolo-probs: warning:`` line."""
    if category.__module__.startswith("yolo_probs"):
        warn(str(message))
    else:
        _SHOW_WARNING(message, category, *args, **kwargs)


_SHOW_WARNING = warnings.showwarning


def run() -> None:
    """Console-script entry point: :func:`main` with native libraries' own stderr lines filtered out."""
    with filtered_stderr():
        code = main()
    sys.exit(code)
