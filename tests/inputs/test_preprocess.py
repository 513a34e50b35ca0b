"""One size check for every option that is an image side: imgsz (API, profile) and the preprocessing sizes."""

from __future__ import annotations

from typing import Any

import pytest

from yolo_probs.api.profile import Profile
from yolo_probs.backends.base import BackendOptions
from yolo_probs.errors import ConfigError
from yolo_probs.inputs.preprocess import MAX_IMGSZ, Preprocess, check_size


@pytest.mark.parametrize("value", [None, 1, 224, MAX_IMGSZ])
def test_check_size_passes_sizes_in_range(value: int | None) -> None:
    assert check_size(value, "imgsz") == value


PASS, NULL = r"; pass e\.g\. 224$", r"; use e\.g\. 224 or null$"
PROFILE = {"model": "m.pt", "temperature": 1.0}


@pytest.mark.parametrize(
    ("cls", "kwargs", "match", "option"),
    [
        (BackendOptions, {"imgsz": 0}, r"^imgsz must be a whole number >= 1, got 0" + PASS, "imgsz"),
        (BackendOptions, {"imgsz": 5000}, r"^imgsz 5000 is above the limit of 4096 pixels" + PASS, "imgsz"),
        (Profile, {**PROFILE, "imgsz": True}, r"^imgsz must be a whole number >= 1, got True" + NULL, None),
        (Profile, {**PROFILE, "imgsz": 5000}, r"^imgsz 5000 is above the limit of 4096 pixels" + NULL, None),
        (Preprocess, {"size": 2.5}, r"^preprocess size must be a whole number >= 1, got 2\.5" + PASS, None),
        (Preprocess, {"resize": 5000}, r"^preprocess resize 5000 is above the limit of 4096 pixels" + PASS, None),
    ],
)
def test_each_size_option_reports_through_the_one_check(cls: Any, kwargs: dict, match: str, option: str | None) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        cls(**kwargs)
    assert e.value.option == option
