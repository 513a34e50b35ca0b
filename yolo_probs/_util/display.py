"""How numbers and names are shown to people (the table, the overlay): one place, so both agree."""

from __future__ import annotations

__all__ = ["cut_left", "percent"]


def percent(prob: float) -> str:
    """A probability as the table shows it: one decimal, never a false ``100.0%`` nor a false ``0.0%``.

    Anything that would round to 100% (``>= 0.9995``, an exported model's float32 ``1.0``, a rounding
    edge such as the float just below 0.9995, float noise above 1) reads ``>99.9%``: a softmax of
    finite logits is never certain. A positive probability that would round to 0% reads ``<0.1%``;
    only an exact 0 reads ``0.0%``.

    Example:
        >>> percent(0.9371), percent(0.0004), percent(0.0), percent(0.9996), percent(1.0)
        ('93.7%', '<0.1%', '0.0%', '>99.9%', '>99.9%')
    """
    text = f"{prob:.1%}"
    if prob >= 0.9995 or text == "100.0%":
        return ">99.9%"
    if prob == 0:
        return "0.0%"  # also for -0.0, which would print '-0.0%'
    if 0 < prob < 0.0005 or text == "0.0%":
        return "<0.1%"
    return text


def cut_left(text: str, width: int) -> str:
    """Keep the end of ``text`` (a path's file name) within ``width`` characters, marking the cut with '…'.

    Example:
        >>> cut_left("/data/cameras/site-4/2024/frame_000123.jpg", 24)
        '…4/2024/frame_000123.jpg'
    """
    if len(text) <= width:
        return text
    return "…" + text[len(text) - max(1, width - 1) :]
