"""The decryptor's own Algorithm 2 (``agent_verify.recompute_aggregate``) on real Paillier
ciphertexts (512-bit keys): it passes the honest product and refuses one party's ciphertext,
a product missing an update, a product with an extra ciphertext and a blob that does not hash
to its transaction's; plus the agent's private files under umask 022 and the Decryption
contract's free refusal."""

from __future__ import annotations

import dataclasses
import os
import random
import stat

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.agent_verify import Refusal, recompute_aggregate
from deepchain.blobs import blob_hash
from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import EncryptedUpdate, aggregate
from deepchain.incentives.clock import Deadlines, LateError
from deepchain.incentives.contracts import DecryptionContract
from deepchain.private_files import private_dir, write_private

PK, _SHARES = generate_threshold_keypair(512, 4, 3, rng=random.Random(5))
SCHEME = PackingScheme(n_bits=512, Q=20, N_max=16, scale=2.0**16)
LENGTH = 40


def _update(seed: int) -> EncryptedUpdate:
    q = np.random.default_rng(seed).integers(-1000, 1000, LENGTH)
    cts = [PK.encrypt(m) for m in SCHEME.pack(q)]
    return EncryptedUpdate(ciphertexts=cts, proofs=[], length=LENGTH)


UPDATES = [_update(s) for s in range(4)]
BLOBS = [u.to_bytes(PK) for u in UPDATES]
INPUTS = [(f"{i:064x}", blob_hash(b), b) for i, b in enumerate(BLOBS)]


def _served(vectors: list[list[int]]) -> bytes:
    return EncryptedUpdate(ciphertexts=aggregate(PK, vectors), proofs=[], length=LENGTH).to_bytes(
        PK
    )


def test_the_honest_product_of_the_accepted_updates_verifies():
    served = _served([u.ciphertexts for u in UPDATES])
    agg = recompute_aggregate(PK, served, blob_hash(served), INPUTS)
    assert agg.ciphertexts == aggregate(PK, [u.ciphertexts for u in UPDATES])


@pytest.mark.parametrize(
    "forged, why",
    [
        ([UPDATES[1].ciphertexts], "not the product"),  # one party's ciphertext
        ([u.ciphertexts for u in UPDATES[:3]], "not the product"),  # missing one update
        ([u.ciphertexts for u in UPDATES] + [UPDATES[0].ciphertexts], "not the product"),
    ],
    ids=["one_party", "missing_one", "extra_one"],
)
def test_it_refuses_an_aggregate_that_is_not_the_product_of_the_accepted_updates(forged, why):
    served = _served(forged)
    with pytest.raises(Refusal, match=why):
        recompute_aggregate(PK, served, blob_hash(served), INPUTS)


def test_it_refuses_a_served_aggregate_other_than_the_one_on_chain():
    honest = _served([u.ciphertexts for u in UPDATES])
    other = _served([UPDATES[0].ciphertexts])
    with pytest.raises(Refusal, match="not the one on chain"):
        recompute_aggregate(PK, other, blob_hash(honest), INPUTS)


def test_it_refuses_an_update_blob_that_does_not_hash_to_its_gradient():
    served = _served([u.ciphertexts for u in UPDATES])
    swapped = [*INPUTS[:3], (INPUTS[3][0], INPUTS[3][1], BLOBS[0])]
    with pytest.raises(Refusal, match="does not hash"):
        recompute_aggregate(PK, served, blob_hash(served), swapped)


def test_the_decryptor_reads_the_ciphertexts_of_a_proved_update_and_refuses_a_non_unit():
    from deepchain.crypto.vector import encrypt_update, proof_context

    q = np.random.default_rng(9).integers(-1000, 1000, LENGTH)
    ctx = proof_context(PK, "co-test", 1, "gradient_submission", 1, "a" * 64)
    bounded = dataclasses.replace(SCHEME, bound=1000)  # with the slot-bound proof too
    proved = encrypt_update(PK, bounded, q, rng=random.Random(9), ctx=ctx).to_bytes(PK)
    assert EncryptedUpdate.ciphertexts_from_bytes(proved, PK) == (
        LENGTH, EncryptedUpdate.from_bytes(proved, PK).ciphertexts)  # fmt: skip
    assert EncryptedUpdate.from_bytes(proved, PK).bound_proof is not None
    zeroed = EncryptedUpdate(ciphertexts=[PK.n, *UPDATES[0].ciphertexts[1:]], proofs=[],
                             length=LENGTH).to_bytes(PK)  # fmt: skip
    served = _served([u.ciphertexts for u in UPDATES])
    bad = [(INPUTS[0][0], blob_hash(zeroed), zeroed), *INPUTS[1:]]
    with pytest.raises(Refusal, match="malformed"):
        recompute_aggregate(PK, served, blob_hash(served), bad)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=6))
def test_only_the_exact_multiset_of_accepted_updates_verifies(picks):
    """Any product other than each accepted update exactly once is refused."""
    served = _served([UPDATES[i].ciphertexts for i in picks])
    if sorted(picks) == [0, 1, 2, 3]:
        recompute_aggregate(PK, served, blob_hash(served), INPUTS)
    else:
        with pytest.raises(Refusal):
            recompute_aggregate(PK, served, blob_hash(served), INPUTS)


def test_private_files_are_0600_in_0700_folders_under_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_private(tmp_path / "ks" / "updates" / "q.npy", b"secret")
        private_dir(tmp_path / "ks")
        write_private(p, b"again")  # an existing file keeps 0600
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    for d in (tmp_path / "ks", tmp_path / "ks" / "updates"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert p.read_bytes() == b"again" and sorted(x.name for x in p.parent.iterdir()) == ["q.npy"]


def test_a_refusal_costs_the_refusing_party_nothing_and_a_late_one_is_penalised():
    parties = ["p1", "p2", "p3", "p4"]
    sched = Deadlines.default().schedule(0, group="g", round_no=1)
    c = DecryptionContract("g", parties, 10, sched, threshold=3, stakes={p: 10 for p in parties})
    t = sched.deadline(c.PHASE) - 1  # on time
    for p in parties[:3]:
        c.refuse(p, t)
    with pytest.raises(LateError):
        c.refuse("p4", sched.deadline(c.PHASE) + 1)
    s = c.close(sched.deadline(c.PHASE) + 1)
    assert s.penalised == {"p4": "penalty:late"} and not s.decryptable
    assert all(s.net(p) == 0 for p in parties[:3]) and s.honest == ()
    assert c.status("p1") == "refused"
