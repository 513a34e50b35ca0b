"""How a probability is shown: one decimal, never a false 100.0% or 0.0% (checked on every float in [0, 1])."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from yolo_probs._util.display import percent


@given(st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
@example(1.0)
@example(float(np.float32(1.0)))
@example(math.nextafter(0.9995, 0.0))  # 99.95 after the x100 of '%': the edge that rounds up
@example(0.9995)
@example(math.nextafter(0.0005, 0.0))
@example(0.0005)
@example(5e-324)
@example(-0.0)
def test_percent_is_never_a_false_100_or_0(prob: float) -> None:
    shown = percent(prob)
    assert shown != "100.0%" and shown != "-0.0%"
    if shown == "0.0%":
        assert prob == 0
    elif shown == ">99.9%":
        assert prob > 0.999  # the plain rule would have printed 100.0% (or it is exactly 1)
        assert f"{prob:.1%}" == "100.0%" or prob >= 0.9995
    elif shown == "<0.1%":
        assert 0 < prob < 0.001
    else:  # a plain number: within half a unit of the last digit of the true value, as printed by Python
        assert shown.endswith("%")
        assert abs(float(shown[:-1]) - prob * 100) <= 0.05 + 1e-9
        assert 0.0 < float(shown[:-1]) < 100.0


def test_float32_probabilities_of_a_saturated_softmax() -> None:
    """An exported model's softmax in float32: the top class is exactly 1.0, the rest tiny."""
    logits = np.array([40.0, 0.0, 20.0, 15.0], np.float32)
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum(dtype=np.float32)
    assert p[0] == np.float32(1.0)
    assert [percent(float(v)) for v in p] == [">99.9%", "<0.1%", "<0.1%", "<0.1%"]
