"""Fixed-point quantization and BatchCrypt packing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.encoding import PackingScheme, SlotOverflowError
from deepchain.crypto.serialize import CryptoFormatError


def test_default_2048_bit_layout_leaves_room_for_the_batched_proof_slack():
    """84 slots (PROTOCOL.md's 85 reserved only the per-ciphertext proof's K + KAPPA bits; the
    batched Proof_PK needs L + log2 K + 1 = 26 more, which costs one slot)."""
    s = PackingScheme(2048)
    assert (s.slot_bits, s.slots_per_ciphertext, s.batch_log) == (22, 84, 18)
    assert s.proof_slack_bits == 128 + 40 + 18 + 7 + 1
    assert s.plaintext_bits + s.proof_slack_bits + s.log_n_max <= 2048 - 2
    assert 2 * 2048 / 8 / s.slots_per_ciphertext <= 8.0
    assert PackingScheme(2048, batch_log=19).slots_per_ciphertext == 83


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_bits=2048),
        dict(n_bits=2048, N_max=10, batch_log=0),
        dict(n_bits=3072, Q=12, N_max=100, batch_log=30),
        dict(n_bits=512, N_max=4),
        dict(n_bits=1024, Q=8, N_max=2, batch_log=7),
    ],
)
def test_slot_count_is_the_largest_that_fits_the_proof_slack(kw):
    """Exact: N_max proven plaintexts (|M*| < 2^(B + slack)) sum inside (-2^(|n|-2), 2^(|n|-2)),
    and one more slot would break that."""
    s = PackingScheme(**kw)
    budget = s.n_bits - 2 - s.proof_slack_bits - s.log_n_max
    assert s.plaintext_bits <= budget < s.plaintext_bits + s.slot_bits
    assert s.N_max * 2 ** (s.plaintext_bits + s.proof_slack_bits) <= 2 ** (s.n_bits - 2)


def test_scheme_json_without_batch_log_parses_with_the_default():
    d = PackingScheme(2048, batch_log=18).to_json()
    del d["batch_log"]
    assert PackingScheme.from_json(d) == PackingScheme(2048)
    with pytest.raises(CryptoFormatError):
        PackingScheme.from_json(PackingScheme(2048).to_json() | {"batch_log": 41})


def test_quantize_rounds_and_clips():
    s = PackingScheme(512, Q=8, scale=16.0)
    q = s.quantize(np.array([0.0, 1.0 / 16, -0.03, 100.0, -100.0, np.nan], dtype=np.float32))
    assert q.tolist() == [0, 1, 0, 255, -255, 0]
    assert s.dequantize(np.array([16, -8])).tolist() == [1.0, -0.5]
    assert s.dequantize(q).dtype == np.float32


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(
        st.lists(st.integers(-(2**16) + 1, 2**16 - 1), min_size=7, max_size=7),
        min_size=1,
        max_size=16,
    ),
)
def test_sum_of_packed_vectors_unpacks_to_the_exact_sum(data):
    s = PackingScheme(512)
    vecs = [np.array(v, dtype=np.int64) for v in data]
    packed = [s.pack(v) for v in vecs]
    summed = [sum(col) for col in zip(*packed, strict=True)]
    assert s.unpack(summed, 7, len(vecs)).tolist() == np.sum(vecs, axis=0).tolist()


@pytest.mark.parametrize("sign", [1, -1])
def test_no_slot_overflow_at_the_edge(sign):
    """N_max parties all at +-(2^Q - 1) in every slot still unpack exactly."""
    s = PackingScheme(512, Q=16, N_max=16)
    length = 2 * s.slots_per_ciphertext + 3
    v = np.full(length, sign * (2**16 - 1), dtype=np.int64)
    packed = s.pack(v)
    total = [m * s.N_max for m in packed]
    assert all(m.bit_length() <= s.plaintext_bits for m in total)
    assert s.unpack(total, length, s.N_max).tolist() == (v * 16).tolist()
    # the worst-case slot uses the top data bit but never the next slot
    assert max(total).bit_length() <= s.plaintext_bits


def test_one_more_party_than_n_max_is_refused():
    s = PackingScheme(512, N_max=4)
    with pytest.raises(ValueError):
        s.unpack(s.pack(np.zeros(3, dtype=np.int64)), 3, 5)


def test_pack_refuses_values_beyond_q():
    s = PackingScheme(512, Q=8)
    with pytest.raises(ValueError):
        s.pack(np.array([256], dtype=np.int64))
    with pytest.raises(ValueError):
        s.pack(np.array([0.5]))


def test_unpack_detects_an_out_of_range_slot():
    s = PackingScheme(512, N_max=4)
    m = s.pack(np.zeros(3, dtype=np.int64))[0]
    with pytest.raises(SlotOverflowError):
        s.unpack([m - (1 << 16)], 3, 1)  # slot 0 becomes 0: below any honest value
    with pytest.raises(SlotOverflowError):
        s.unpack([m + (1 << (3 * s.slot_bits))], 3, 1)  # bits beyond the used slots


def test_scheme_json_round_trip_and_rejection():
    s = PackingScheme(2048, Q=12, N_max=10, scale=1000.5)
    assert PackingScheme.from_json(s.to_json()) == s
    with pytest.raises(CryptoFormatError):
        PackingScheme.from_json(s.to_json() | {"version": 0})
    with pytest.raises(CryptoFormatError):
        PackingScheme.from_json(s.to_json() | {"scale": "zz"})
    with pytest.raises(CryptoFormatError):
        PackingScheme.from_json(s.to_json() | {"n_bits": 100})
