"""The drift monitor of a deployment profile, fed by predictions (:class:`Monitor`).

A profile written by ``yolo-probs calibrate`` holds the references (``decisions.monitor``, see
:mod:`yolo_probs.decisions.monitor`). :meth:`Monitor.from_profile` builds a monitor from them; feed it the
predictions of the classifier built from the same profile and ask for a :class:`MonitorReport`. A
classifier built from such a profile also monitors itself as it predicts (:func:`monitor_of`), which is
how ``yolo-probs predict`` and the overlay report drift.

Example:
    >>> import tempfile, pathlib
    >>> from yolo_probs import Profile, save_profile
    >>> path = save_profile(Profile(model="m.pt", temperature=1.0), pathlib.Path(tempfile.mkdtemp()) / "p.yaml")
    >>> Monitor.from_profile(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yolo_probs.errors.ConfigError: profile ... has no drift-monitor references ...; re-run 'yolo-probs calibrate' ...
"""

from __future__ import annotations

import os
from typing import Any

from yolo_probs.api.profile import Profile, load_profile
from yolo_probs.decisions.monitor import DEFAULT_ALPHA, DriftMonitor, MonitorRule
from yolo_probs.errors import ConfigError

__all__ = ["Monitor", "monitor_entry", "monitor_of"]


def monitor_entry(profile: Profile, source: str = "the profile") -> dict[str, Any]:
    """The profile's ``decisions.monitor``, else one ConfigError line saying to re-run ``calibrate``."""
    entry = (profile.decisions or {}).get("monitor")
    if entry is None:
        raise ConfigError(
            f"{source} has no drift-monitor references (decisions.monitor; profiles written before 0.2 lack "
            "them); re-run 'yolo-probs calibrate' to add them",
            option="profile",
        )
    return dict(entry)


class Monitor(DriftMonitor):
    """Label-free drift monitoring against a profile's calibration images.

    ``update(prediction)`` adds one prediction (of the classifier built from the same profile);
    :meth:`report` gives a :class:`MonitorReport`; :attr:`alarm` is the stream alarm (a conformal test
    martingale: false alarm with probability at most ``alpha`` over the whole stream).

    Example:
        >>> # monitor = Monitor.from_profile("deploy/line-3.yaml")
        >>> # with YoloProbs.from_profile("deploy/line-3.yaml") as clf:
        >>> #     for p in clf.predict("new_images/", stream=True):
        >>> #         monitor.update(p)
        >>> # monitor.report().drift
    """

    @classmethod
    def from_profile(
        cls, profile: Profile | str | os.PathLike[str], *, alpha: float = DEFAULT_ALPHA, seed: int | None = 0
    ) -> Monitor:
        """The monitor of ``profile`` (a :class:`Profile` or its path).

        Raises:
            ConfigError: the profile has no monitor references (re-run ``yolo-probs calibrate``), or is invalid.
        """
        if isinstance(profile, Profile):
            return cls(monitor_entry(profile), alpha=alpha, seed=seed)
        if not isinstance(profile, str | os.PathLike):
            raise ConfigError(f"profile must be a Profile or a path, got {profile!r}", option="profile")
        loaded = load_profile(profile, check_model=False)
        return cls(monitor_entry(loaded, f"profile {os.fspath(profile)}"), alpha=alpha, seed=seed)


def monitor_of(classifier: Any) -> DriftMonitor | None:
    """The monitor a classifier built from a profile feeds as it predicts (None: its profile has none, or
    the classifier's calibrator overrides the profile's)."""
    rule = next((r for r in getattr(classifier, "decisions", []) if isinstance(r, MonitorRule) and r.active), None)
    return None if rule is None else rule.monitor
