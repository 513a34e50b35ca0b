"""Check an output file before long work (an export, a recording), so a bad path fails in one line first."""

from __future__ import annotations

import os
from pathlib import Path

from yolo_probs.errors import ConfigError


def claim_output(path: str | os.PathLike[str], option: str) -> bool:
    """Make sure ``path`` can be written by opening it for append; return whether it existed before.

    The file is created if it was missing: a caller whose work then fails removes it again when this
    returned False. ``option`` names the command-line option in the message.

    Example:
        >>> claim_output("/no/such/folder/out.onnx", "--output")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: --output /no/such/folder/out.onnx: cannot write it (...); choose a writable path
    """
    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"{option} {out}: cannot write it, it is a folder; name a file in it")
    existed = out.exists()
    try:
        with out.open("ab"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {out}: cannot write it ({exc.strerror}); choose a writable path") from None
    return existed
