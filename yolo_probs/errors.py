"""The one exception family of yolo-probs.

Every message says what was expected, what arrived, and what to do, so that front ends can print it
as a single line.

Example:
    >>> from yolo_probs.errors import ConfigError, YoloProbsError
    >>> issubclass(ConfigError, YoloProbsError) and issubclass(ConfigError, ValueError)
    True
"""

from __future__ import annotations

__all__ = ["ConfigError", "ModelError", "OutputError", "SourceError", "YoloProbsError", "first_line", "printable"]


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none (for one-line errors).

    Example:
        >>> first_line(ValueError("bad header\\nmore detail")), first_line(KeyError())
        ('bad header', 'KeyError')
    """
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def printable(text: str) -> str:
    """``text`` with control characters (newlines, tabs, escapes) written as ``\\n``-style escapes.

    A file name may hold a newline; shown raw it would split a one-line error over two lines.

    Example:
        >>> print(printable("bad\\nname.jpg"))
        bad\\nname.jpg
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class YoloProbsError(Exception):
    """Base class of every error raised on purpose by yolo-probs.

    ``option`` names the setting the message is about (``"model"``, ``"output"``, ``"device"``...), so a
    front end can add its own spelling of it (the CLI adds ``--model PATH``); library messages speak
    library terms.
    """

    #: Why, in a few words, where the message has one cause a front end may show in its own sentence:
    #: the operating system's reason when a file cannot be written (``"No space left on device"``), the
    #: reason and what to do for a :class:`SourceError`; None otherwise.
    reason: str | None = None

    def __init__(self, *args: object, option: str | None = None) -> None:
        super().__init__(*args)
        self.option = option


class ConfigError(YoloProbsError, ValueError):
    """An option is out of range: temperature, top-k, min_prob, batch size, image size."""


class SourceError(YoloProbsError):
    """An input (image, folder, glob, video, stream) is missing, unreadable or unsupported.

    ``str(error)`` is ``"<source>: <reason and what to do>"``.
    """

    reason: str

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{printable(source)}: {reason}", option="source")
        self.source = source
        self.reason = reason


class ModelError(YoloProbsError):
    """A model is missing, corrupt, not a classifier, or has no layer whose output are logits."""


class OutputError(YoloProbsError):
    """An output file could not be written (disk full, permissions, a folder): the records were not all saved.

    Unlike a usage error it happens after the work started, so the CLI exits with status 1.
    """

    exit_code = 1
    #: True for a broken pipe on stdout (``yolo-probs ... | head``): nothing to tell the user.
    quiet = False

    def __init__(self, *args: object, option: str | None = "output") -> None:
        super().__init__(*args, option=option)
