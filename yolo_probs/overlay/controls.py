"""The overlay window's keys: ``+``/``-`` temperature, ``[``/``]`` k, ``r`` reset, space pause, ``s``, ``q``.

``s`` asks for a snapshot and ``q`` (or Esc) to quit; :class:`Controls` says so, the loop does it.

Example:
    >>> c = Controls(temperature=1.0, top_k=3, num_classes=10)
    >>> c.handle(ord("+")), round(c.temperature, 2), c.handle(ord("]")), c.top_k
    ('temperature', 1.1, 'top_k', 4)
    >>> c.handle(ord("r")), c.temperature, c.handle(ord(" ")), c.paused
    ('temperature', 1.0, 'pause', True)
"""

from __future__ import annotations

from dataclasses import dataclass

from yolo_probs.calibration.temperature import T_MAX, T_MIN

__all__ = ["NEXT_KEYS", "T_STEP", "Controls"]

#: Each ``+`` multiplies the temperature by this, each ``-`` divides it.
T_STEP = 1.1
#: Keys that move on from a still image: space, n, Enter.
NEXT_KEYS = (ord(" "), ord("n"), 13, 10)


@dataclass
class Controls:
    """Keyboard state of the overlay window: temperature, k, pause.

    ``reset_temperature`` is what ``r`` goes back to (the temperature the overlay started with).
    """

    temperature: float
    top_k: int
    num_classes: int
    paused: bool = False
    reset_temperature: float | None = None

    def __post_init__(self) -> None:
        if self.reset_temperature is None:
            self.reset_temperature = self.temperature

    def handle(self, key: int) -> str | None:
        """Apply one key code from ``cv2.waitKey``; return what changed (or ``"quit"``, ``"snapshot"``)."""
        if key < 0:
            return None
        ch = chr(key & 0xFF)
        if ch in "+=":  # '=' is '+' without shift on most keyboards
            self.temperature = min(self.temperature * T_STEP, max(T_MAX, self.temperature))
            return "temperature"
        if ch in "-_":  # both clamped to the range calibration searches: T never reaches 0 or infinity
            self.temperature = max(self.temperature / T_STEP, min(T_MIN, self.temperature))
            return "temperature"
        if ch == "r":
            assert self.reset_temperature is not None
            self.temperature = self.reset_temperature
            return "temperature"
        if ch in "[]":
            self.top_k = min(max(1, self.top_k + (1 if ch == "]" else -1)), self.num_classes)
            return "top_k"
        if ch == " ":
            self.paused = not self.paused
            return "pause"
        if ch == "s":
            return "snapshot"
        if ch == "q" or key & 0xFF == 27:
            return "quit"
        return None
