"""The duplicate-ciphertext rule live: a party that resubmits another party's update blob is
refused at submission (409, VERIFY not ok with the reason on chain, its deposit forfeited at
T2), and the chain it leaves behind still audits clean (real services, real 512-bit keys,
real proofs; the protocol auditor replays the platform's transactions)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from deepchain.audit.protocol import ProtocolAuditor
from deepchain.blobs import blob_hash
from deepchain.crypto.vector import encrypt_update, proof_context
from deepchain.learning.models import build_model, param_count
from deepchain.ledger.transactions import Transaction as CoreTx
from deepchain.ledger.transactions import TxKind, make_tx
from deepchain_web.api_errors import DomainError


def _gradient(services, ledger, g, m, blob):
    m.account.refresh_from_db()
    tx = make_tx(ledger.party_identity(m.account), TxKind.GRADIENT, m.account.nonce + 2,
                 {"update_blob": blob_hash(blob), "deposit": int(g.deposit)},
                 group=g.address, round=1, phase="gradient_submission",
                 timestamp_ms=int(time.time() * 1000)).to_dict()  # fmt: skip
    return services.submit_gradient(group=g, round_number=1, membership=m, update_blob=blob,
                                    signed_tx=tx)  # fmt: skip


def _update(services, g, m, seed):
    from training_app import selectors

    pk, scheme = selectors.public_key_of(g), selectors.scheme_of(g)
    length = param_count(build_model(g.model_name))
    q = scheme.quantize(np.random.default_rng(seed).normal(0, 0.01, length))
    ctx = proof_context(pk, g.address, 1, "gradient_submission", m.party_index, m.account.address)
    return encrypt_update(pk, scheme, q, ctx=ctx).to_bytes(pk)


def _audit(ledger_models):
    """The protocol auditor over every transaction the platform wrote, in order."""
    from ledger_app import services as ledger

    aud = ProtocolAuditor(ledger.blob_store())
    for row in ledger_models.Transaction.objects.order_by("id"):
        if row.status == ledger_models.Transaction.Status.REJECTED:
            continue  # refused transactions never reach the chain
        aud.check(1, CoreTx.from_dict(json.loads(row.raw)))
    return aud.findings + aud.finish(), aud


@pytest.mark.django_db
def test_it_refuses_a_copied_update_and_the_chain_still_audits_clean(make_user, make_group):
    from ledger_app import models as ledger_models
    from ledger_app import services as ledger
    from training_app import services
    from training_app.models import CooperativeGroup, Membership, Round, Submission

    # four parties: after the copier's rejection three accepted updates remain, enough
    # (min_contributors = 3) for the round to go on to its aggregate
    users = [make_user() for _ in range(4)]
    g = make_group(users[0], n_parties=4, threshold=2, model_name="tiny")
    for u in users:
        services.join_group(group=g, user=u, simulated=True)
    services.start_group(group=g, by=users[0])
    assert services.run_key_ceremony(g.id)
    g = CooperativeGroup.objects.get(pk=g.pk)
    members = Membership.objects.filter(group=g).select_related("account")
    a, b, c, e = members.order_by("party_index")

    blob_a = _update(services, g, a, 0)
    sub_a = _gradient(services, ledger, g, a, blob_a)
    assert services.verify_gradient(sub_a.id)
    before = b.account.__class__.objects.get(pk=b.account.pk).balance
    with pytest.raises(DomainError) as refused:
        _gradient(services, ledger, g, b, blob_a)  # party B posts party A's blob
    assert refused.value.code == "duplicate_ciphertext" and refused.value.status_code == 409
    sub_b = Submission.objects.get(round__group=g, membership=b)
    assert sub_b.status == Submission.Status.REJECTED
    assert sub_b.reason.startswith("copied ciphertext")
    verify = ledger_models.Transaction.objects.get(
        kind=TxKind.VERIFY, payload__subject=sub_b.transaction.tx_hash
    )
    assert verify.payload["ok"] is False and "copied ciphertext" in verify.payload["reason"]
    assert verify.payload["duplicate_of"] == sub_a.transaction.tx_hash

    for m, seed in ((c, 2), (e, 3)):
        sub = _gradient(services, ledger, g, m, _update(services, g, m, seed))
        assert services.verify_gradient(sub.id)
    r = Round.objects.get(group=g, number=1)
    services.advance_round(r.id)  # every gradient in, none pending: T1, T2 (settlement), T3
    r.refresh_from_db()
    assert {"gradient_submission", "verification", "upload"} <= set(r.closed_phases)
    assert r.n_accepted == 3 and not r.status_reason
    penalty = ledger_models.Transaction.objects.get(
        kind=TxKind.PENALTY, payload__party=b.account.address
    )
    assert penalty.payload["reason"] == "penalty:invalid_proof"
    assert b.account.__class__.objects.get(pk=b.account.pk).balance == before - g.deposit

    findings, aud = _audit(ledger_models)
    assert findings == [], [str(f) for f in findings]
    assert aud.costs["proof_pk"][0] == 4 and aud.costs["verify"][0] == 4  # all re-checked
    assert aud.costs["settlement"][0] >= 4  # the paybacks and the copier's penalty
