"""A process that has used the Celery client can still run the multi-process crypto.

Forked pool workers used to inherit kombu's after-fork hook, which blocked forever closing
the parent's Redis broker connection; pool workers now start from a forkserver.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import decryption_share, encrypt_update, verify_update
from tests.proofctx import grad_ctx, share_ctx


@pytest.mark.timeout(300)
def test_parallel_crypto_after_using_the_broker_does_not_hang(celery_worker):
    from deepchain_web.celery import ping

    assert ping.delay("warm").get(timeout=60) == "warm"  # the broker pool now holds a socket
    pk, shares = generate_threshold_keypair(512, 3, 2, rng=random.Random(5))
    scheme = PackingScheme(512, N_max=8)
    upd = encrypt_update(
        pk, scheme, np.arange(-30, 30, dtype=np.int64), processes=2, ctx=grad_ctx(pk)
    )
    assert verify_update(pk, scheme, upd, processes=2, ctx=grad_ctx(pk))
    ds = decryption_share(
        pk, shares[0], upd.ciphertexts, processes=2, ctx=share_ctx(pk, shares[0].i)
    )
    assert len(ds.c_is) == len(upd.ciphertexts)
