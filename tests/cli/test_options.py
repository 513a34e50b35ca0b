"""Each command-line option is declared once, every command's --help works, and option groups reach the model.

- every flag (``--imgsz``) and every argument (``DATA``) appears in exactly one ``typer.Option(...)`` or
  ``typer.Argument(...)`` of ``yolo_probs/cli``; one that more than one command takes is declared in
  ``yolo_probs/cli/options.py``; the scan finds every flag the built commands have (it is not blind);
- ``yolo-probs COMMAND --help`` answers for every registered command, every option has a help text,
  and none shows ``[default: ...]`` twice (checked in the rendered help: Typer adds its own default
  there, after one a tailored help text already gives);
- a command shows the flags of its :class:`~yolo_probs.cli.options.OptionGroup` and gets them back as
  one object; options that some commands require are required there and optional elsewhere.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections import defaultdict
from typing import Annotated

import pytest
import typer

from tests.conftest import IMAGES, ROOT
from yolo_probs.cli import app, main
from yolo_probs.cli._help import HelpCommand
from yolo_probs.cli.options import BATCH, MODEL, tailored

CLI = ROOT / "yolo_probs" / "cli"
predict_module = importlib.import_module("yolo_probs.cli.predict")  # the name predict is the command, in cli
COMMANDS = sorted(typer.main.get_command(app).commands.items())  # type: ignore[attr-defined]


def _declarations() -> dict[str, list[str]]:
    """``{flag or ARGUMENT: ["module.py:line", ...]}`` for every typer.Option / typer.Argument in the CLI's source."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "typer"):
                continue
            where = f"{path.name}:{node.lineno}"
            if node.func.attr == "Option":
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("-"):
                        for flag in arg.value.split("/"):  # --show/--no-show declares both
                            found[flag].append(where)
            elif node.func.attr == "Argument":
                metavar = next((k.value for k in node.keywords if k.arg == "metavar"), None)
                assert isinstance(metavar, ast.Constant), f"{where}: a typer.Argument needs a literal metavar"
                found[metavar.value].append(where)
    return dict(found)


def _flags_by_command() -> dict[str, set[str]]:
    """``{flag or ARGUMENT: {commands that take it}}`` from the built Click commands."""
    used: dict[str, set[str]] = defaultdict(set)
    for name, command in COMMANDS:
        for param in command.params:
            if param.param_type_name == "argument":
                names = [param.metavar or param.name.upper()]
            else:
                names = [*param.opts, *param.secondary_opts]
            for flag in names:
                if flag != "--help":
                    used[flag].add(name)
    return dict(used)


def test_each_flag_and_argument_is_declared_in_one_place() -> None:
    twice = {flag: where for flag, where in _declarations().items() if len(where) > 1}
    assert not twice, f"declared more than once (declare it in yolo_probs/cli/options.py, then tailor it): {twice}"


def test_the_scan_sees_every_flag_and_shared_ones_live_in_options() -> None:
    declared = _declarations()
    used = _flags_by_command()
    assert "--imgsz" in used and "SOURCE..." in used  # the walk over the commands found both kinds
    unseen = sorted(set(used) - set(declared))
    assert not unseen, f"the commands take flags the source scan did not find: {unseen}"
    shared_elsewhere = {
        flag: (sorted(commands), declared[flag][0])
        for flag, commands in used.items()
        if len(commands) > 1 and not declared[flag][0].startswith("options.py:")
    }
    assert not shared_elsewhere, f"taken by several commands, so declare them in options.py: {shared_elsewhere}"


def _doubled_defaults(rendered: str) -> list[str]:
    """The places where a rendered --help shows a ``[default: ...]`` right after another one (whitespace collapsed)."""
    flat = " ".join(rendered.split())
    return [flat[max(0, m.start() - 60) : m.end() + 20] for m in re.finditer(r"\] \[default:", flat)]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_works_for_every_command(name: str, command: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"Usage: yolo-probs {name} [OPTIONS]") and err == ""
    for param in command.params:  # type: ignore[attr-defined]
        text = getattr(param, "help", None) or ""
        assert text.strip(), f"{name} {param.name}: no help text"
    assert not _doubled_defaults(out), f"{name} --help shows two defaults for one option: {_doubled_defaults(out)}"


def test_the_doubled_default_check_sees_a_tailored_default_beside_typers_own() -> None:
    """A tailored ``[default: ...]`` on an option with a Python default: Typer renders its own after it."""
    app = typer.Typer(rich_markup_mode=None)

    @app.command(cls=HelpCommand)
    def shown(batch: Annotated[int, tailored(BATCH, default="sixteen")] = 16, other: int = 3) -> None:
        """A command whose --batch says its default twice."""

    @app.command(cls=HelpCommand)
    def unused() -> None:
        """A second command, so that the first keeps its name."""

    command = typer.main.get_command(app).commands["shown"]  # type: ignore[attr-defined]
    rendered = command.get_help(typer.Context(command, info_name="shown"))
    assert len(_doubled_defaults(rendered)) == 1 and "[default: 3]" in rendered  # --other's one default is fine


@pytest.mark.parametrize(
    ("name", "param", "says", "not_said"),
    [
        ("distill", "data", "DATA/train/<class>/", "DATA/<class>/*.jpg"),  # distill needs the dataset root
        ("distill", "batch", "training batch", "forward pass"),
        ("calibrate", "profile", "name)", "calibration,"),  # the name is kept, the calibration fitted anew
        ("evaluate", "profile", "decisions", "top-k"),  # evaluate has no top-k
        ("soft-labels", "profile", "-t replaces its calibration", "calibration,"),  # -t is required there
        ("export", "profile", "calibration", "top-k"),
        ("predict", "profile", "top-k, min-prob", "not kept"),
        ("calibrate", "name", "[default: the --profile's, else the output file's stem]", "; default:"),
    ],
)
def test_a_shared_option_says_what_it_does_in_each_command(name: str, param: str, says: str, not_said: str) -> None:
    command = dict(COMMANDS)[name]
    (found,) = [p for p in command.params if p.name == param]  # type: ignore[attr-defined]
    record = found.get_help_record(typer.Context(command, info_name=name))
    text = " ".join(record[1].split()) if record else found.help or ""
    assert says in text and not_said not in text, text


@pytest.mark.parametrize(
    ("args", "needed"),
    [
        (["soft-labels", "x.png", "-o", "x.jsonl"], "'--temperature' / '-t'"),
        (["distill", "data", "--teacher", "a.pt", "--student", "b.yaml", "-o", "s.pt"], "'--temperature' / '-t'"),
        (["calibrate", "data", "-m", "a.pt"], "'--output' / '-o'"),
        (["export", "-m", "a.pt"], "'--output' / '-o'"),
    ],
)
def test_an_option_one_command_requires_is_required_there(
    args: list[str], needed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"Missing option {needed}" in err and err.count("\n") == 1


def test_the_same_option_stays_optional_where_it_has_a_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """predict takes -t optionally, and hands the preprocessing group's flags to the classifier as one object."""
    seen: dict[str, object] = {}

    def capture(**kwargs: object) -> None:
        seen.update(kwargs)
        raise typer.Exit(0)

    monkeypatch.setattr(predict_module, "build_classifier", capture)
    args = ["predict", str(IMAGES / "digit_3.png"), "--imgsz", "32", "--stretch", "--std", "none", "--bgr"]
    assert main(args) == 0
    pre = seen["preprocess"]
    assert seen["temperature"] is None and seen["imgsz"] == 32 and seen["layer"] is None
    assert (pre.size, pre.mode, pre.std, pre.rgb) == (32, "stretch", (1.0, 1.0, 1.0), False)  # type: ignore[attr-defined]
    assert capsys.readouterr().err == ""


def test_a_bad_group_option_is_a_usage_error_before_the_model_loads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(predict_module, "build_classifier", lambda **kw: pytest.fail("the model was loaded"))
    assert main(["predict", str(IMAGES / "digit_3.png"), "--mean", "0.5,0.5"]) == 2
    assert "--mean needs 'imagenet', 'none' or three numbers" in capsys.readouterr().err


def test_tailoring_keeps_the_flags_and_the_shared_help() -> None:
    shown = tailored(MODEL, detail="Here: the teacher.", default="none")
    assert shown.param_decls == MODEL.param_decls and shown.help.startswith(MODEL.help)
    assert shown.help.endswith("Here: the teacher. [default: none]") and "[default" not in MODEL.help
    own = tailored(MODEL, help="The teacher.", default="none")  # where the shared help is not true
    assert own.param_decls == MODEL.param_decls and own.help == "The teacher. [default: none]"
    with pytest.raises(ValueError, match="keeps the flags"):
        tailored(MODEL, param_decls=("--other",))


def test_every_module_of_the_cli_was_scanned() -> None:
    scanned = {where.split(":")[0] for places in _declarations().values() for where in places}
    assert {"options.py", "serve.py", "calibrate.py", "overlay.py", "distill.py"} <= scanned
