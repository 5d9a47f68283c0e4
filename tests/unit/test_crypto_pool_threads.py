"""Multi-process crypto stays correct inside a threaded host (workers are never forked)."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import (
    combine_vector,
    decryption_share,
    encrypt_update,
    verify_decryption_share,
    verify_update,
)
from deepchain.procpool import pool_context
from tests.proofctx import grad_ctx, share_ctx

#: every test runs on the native modexp kernel and on gmpy2 (DEEPCHAIN_NATIVE=0)
pytestmark = pytest.mark.usefixtures("modexp_backend")


@pytest.fixture
def another_thread():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    yield
    stop.set()
    t.join()


def test_pool_workers_are_never_forked_from_the_host_process():
    assert pool_context().get_start_method() in {"forkserver", "spawn"}


def test_parallel_encryption_and_shares_match_the_sum_in_a_threaded_process(another_thread):
    pk, shares = generate_threshold_keypair(512, 3, 2, rng=random.Random(7))
    scheme = PackingScheme(512, N_max=8)
    q = np.arange(-40, 40, dtype=np.int64)
    upd = encrypt_update(pk, scheme, q, processes=2, ctx=grad_ctx(pk))
    assert verify_update(pk, scheme, upd, processes=2, ctx=grad_ctx(pk))
    dss = [
        decryption_share(pk, k, upd.ciphertexts, processes=2, ctx=share_ctx(pk, k.i))
        for k in shares[:2]
    ]
    assert all(verify_decryption_share(pk, upd.ciphertexts, d, ctx=share_ctx(pk, d.i)) for d in dss)
    total = scheme.unpack(combine_vector(pk, dss), len(q), 1)
    assert np.array_equal(total, q)
