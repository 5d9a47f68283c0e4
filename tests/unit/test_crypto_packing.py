"""The platform's one packing object: every model's scheme represents every update the
training presets can produce, and the Q choice rule of ``bench packing`` is the stated one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepchain.bench.packing import choose_q
from deepchain.crypto.packing import PLATFORM_PACKING, Q_BY_MODEL, PlatformPacking
from deepchain.learning.models import PRESETS


@pytest.mark.parametrize("model", sorted(Q_BY_MODEL) + ["tiny"])
def test_every_clipped_update_coordinate_is_representable(model):
    clip = max(c.update_clip for c in PRESETS.values() if c.update_clip is not None)
    s = PLATFORM_PACKING.scheme(2048, model)
    assert s.max_abs >= clip
    q = s.quantize(np.array([clip, -clip, clip / 3]))
    assert np.abs(s.dequantize(q) - np.array([clip, -clip, clip / 3])).max() <= 0.5 / s.scale


def test_unmeasured_models_get_the_default_q():
    assert PLATFORM_PACKING.Q("no-such-model") == PLATFORM_PACKING.default_Q
    assert PlatformPacking(q_by_model={"m": 12}).scheme(2048, "m").Q == 12


def test_a_smaller_q_packs_more_slots_per_ciphertext():
    small, large = (PlatformPacking(q_by_model={"m": q}).scheme(2048, "m") for q in (12, 20))
    assert small.slots_per_ciphertext > large.slots_per_ciphertext
    assert small.max_abs == pytest.approx(large.max_abs, rel=1e-3)


@given(
    st.dictionaries(st.integers(4, 30), st.floats(0.5, 1.0), min_size=1, max_size=8),
    st.floats(0.5, 1.0),
)
def test_the_chosen_q_and_every_larger_one_are_within_tolerance(acc, ref):
    q = choose_q(ref, acc, 0.001)
    assert q in acc
    larger = [k for k in acc if k >= q]
    if all(abs(acc[k] - ref) <= 0.001 for k in larger):
        smaller = [k for k in acc if k < q]
        assert not smaller or abs(acc[max(smaller)] - ref) > 0.001
    else:  # nothing qualifies: the largest Q measured
        assert q == max(acc)


def test_a_q_below_the_range_is_refused():
    with pytest.raises(ValueError, match="range"):
        PlatformPacking(q_by_model={"m": 3}).scheme(2048, "m")
