"""The size of an honest update blob is known from the packing alone: every honest proven
update fits ``update_max_bytes``, within a few kilobytes of framing."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import encrypt_update, update_max_bytes
from tests.proofctx import grad_ctx

FRAMING = 256  # the proofs' variable-length integers: an honest blob is at most this shorter


@pytest.fixture(scope="module")
def pk():
    return generate_threshold_keypair(512, 4, 2, rng=random.Random(5))[0]


@pytest.mark.parametrize(("bound", "length"), [(None, 61), (100, 61), (1, 3), (255, 27)])
def test_an_honest_update_fits_its_computed_size(pk, bound, length):
    scheme = dataclasses.replace(PackingScheme(512, Q=8, N_max=4, scale=2.0**4), bound=bound)
    rng = np.random.default_rng(length)
    hi = bound if bound is not None else 200
    q = rng.integers(-hi, hi + 1, size=length)
    q[0] = hi  # one coordinate exactly at the bound
    upd = encrypt_update(pk, scheme, q, rng=random.Random(length), ctx=grad_ctx(pk))
    size = len(upd.to_bytes(pk))
    assert update_max_bytes(scheme, length) - FRAMING <= size <= update_max_bytes(scheme, length)


@pytest.mark.parametrize(("c2", "length"), [(1, 61), (300, 61), (2**40, 27)])
def test_an_honest_update_with_an_l2_bound_fits_its_computed_size(pk, c2, length):
    scheme = PackingScheme(512, Q=8, N_max=4, scale=2.0**4, bound=100, l2_bound=c2)
    q = scheme.quantize(np.random.default_rng(length).normal(0, 8, length))
    upd = encrypt_update(pk, scheme, q, rng=random.Random(length), ctx=grad_ctx(pk))
    size = len(upd.to_bytes(pk))
    assert update_max_bytes(scheme, length) - FRAMING <= size <= update_max_bytes(scheme, length)
    plain = dataclasses.replace(scheme, l2_bound=None)
    extra = 4 * 48 + 2 * 32 + 4 + (c2 * c2).bit_length() * 21  # the L2 part, at most 5.6 kB
    assert update_max_bytes(scheme, length) - update_max_bytes(plain, length) == extra


def test_the_slot_bound_proof_dominates_the_size_and_grows_with_the_bound():
    base = PackingScheme(2048, Q=14, N_max=16, scale=2.0**10)
    plain = update_max_bytes(base, 252_398)
    small = update_max_bytes(dataclasses.replace(base, bound=1), 252_398)
    large = update_max_bytes(dataclasses.replace(base, bound=8192), 252_398)
    assert plain < 2 * 1024 * 1024 < small < large
    assert large > 16 * 1024 * 1024  # the paper CNN's proven update: over 16 MiB
