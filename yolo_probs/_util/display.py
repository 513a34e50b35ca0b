"""How numbers and names are shown to people (the table, the overlay): one place, so both agree."""

from __future__ import annotations

__all__ = ["cut_left", "percent"]


def percent(prob: float) -> str:
    """A probability as the table shows it: one decimal, and ``<0.1%`` rather than a false ``0.0%``.

    Example:
        >>> percent(0.9371), percent(0.0004), percent(0.0), percent(0.9996)
        ('93.7%', '<0.1%', '0.0%', '>99.9%')
    """
    if 0.0 < prob < 0.0005:
        return "<0.1%"
    if 0.9995 <= prob < 1.0:
        return ">99.9%"
    return f"{prob:.1%}"


def cut_left(text: str, width: int) -> str:
    """Keep the end of ``text`` (a path's file name) within ``width`` characters, marking the cut with '…'.

    Example:
        >>> cut_left("/data/cameras/site-4/2024/frame_000123.jpg", 24)
        '…4/2024/frame_000123.jpg'
    """
    if len(text) <= width:
        return text
    return "…" + text[len(text) - max(1, width - 1) :]
