"""Bounded influence end to end: one of four parties sends a model-replacement update (its
update scaled by N, with a slot-bound proof the real prover made from the scaled digits). A
real Celery worker, Daphne and four party agents over REST (512-bit keys, ``tiny`` model): the
Trading verifier refuses it with the failed check on chain, the party is penalised like a bad
Proof_PK, the round's result is exactly the honest parties' aggregate, and the chain audits
clean (the auditor re-decides every gradient with the same rule). The same with an L2 bound: a
party whose update is within the L-infinity bound in every coordinate but over the L2 bound is
refused with the failed "norm" check."""

from __future__ import annotations

import numpy as np
import pytest

from deepchain.crypto.encoding import PackingScheme, square_norm
from deepchain.wire import ints_from_bytes
from ledger_app import selectors
from ledger_app import services as ledger
from ledger_app.models import Account, Transaction
from tests.integration.test_audit_protocol_training import _wait_for_blocks
from tests.integration.test_training_protocol import DATA_SIZE, DEPOSIT, _record, _run, _users
from training_app import services
from training_app.models import Round, Submission

pytestmark = pytest.mark.django_db(transaction=True)

#: a bound the honest updates reach (the group chooses it near its honest range), so the
#: model-replacement update, N times an honest one, lies far outside it
CLIP = 0.02
#: an L2 bound the honest updates reach (they are scaled down to it), so the stretched update,
#: N times an honest one clipped back into the L-infinity bound, lies far outside it
L2_CLIP = 0.05


def _bounded_group(users, url: str, behaviours: list[str], l2_clip: float | None = None):
    g = services.create_group(
        initiator=users[0], name="bounded", n_parties=len(users), threshold=3, rounds=1,
        deposit=DEPOSIT, model_name="tiny", local_iterations=40, learning_rate=0.3,
        batch_size=32, deadlines={"T1": 90_000, "T2": 60_000, "T5": 90_000}, data_limit=2000,
        seed=7, api_url=url, update_clip=CLIP, l2_clip=l2_clip, simulated=True,
        key_origin="dealer",
    )  # fmt: skip
    for u, b in zip(users, behaviours, strict=True):
        services.join_group(group=g, user=u, data_size=DATA_SIZE, simulated=True, behaviour=b)
    services.start_group(group=g, by=users[0])
    return g


def test_a_party_scaling_its_update_by_n_is_penalised_and_the_result_is_the_honest_sum(
    celery_worker, live_server_url
):
    users = _users("bnd", 4)
    g = _run(_bounded_group(users, live_server_url, ["honest", "honest", "honest", "scaled"]))
    r = Round.objects.get(group=g, number=1)
    assert r.result_blob and r.n_accepted == 3, r.status_reason
    scheme = PackingScheme.from_json(g.packing)
    assert scheme.bound == round(g.update_clip * scheme.scale)

    # the poisoner's update really is N times over the bound where it matters
    bad = np.load(_record(users[3], g, 1))
    assert int(np.max(np.abs(bad))) > scheme.bound
    poisoner = Account.objects.get(user=users[3]).address
    sub = Submission.objects.get(round=r, membership__account__address=poisoner, kind="gradient")
    assert sub.status == Submission.Status.REJECTED
    assert sub.reason == "slot-bound proof does not verify (bits)"
    verdicts = Transaction.objects.filter(group_ref=g.address, kind="verify")
    refused = [t.payload for t in verdicts if not t.payload["ok"]]
    assert [p["reason"] for p in refused] == ["slot-bound proof does not verify (bits)"]
    assert r.settlements["gradient_submission"]["penalised"] == {poisoner: "penalty:invalid_proof"}

    # the round's result is exactly the honest parties' aggregate
    honest = [np.load(_record(u, g, 1)) for u in users[:3]]
    assert int(max(np.max(np.abs(q)) for q in honest)) == scheme.bound  # clipped to it
    result = ints_from_bytes(ledger.blob_store().get(r.result_blob))
    assert np.array_equal(result, np.sum(honest, axis=0))

    # the auditor, from the chain and the blobs, reaches the same verdicts
    _wait_for_blocks()
    verdict = selectors.verify_chain(processes=2)
    assert verdict.ok, verdict.verdict()
    assert verdict.report.counts["protocol"]["proof_pk"]["count"] == 4


def test_a_party_over_the_l2_bound_within_the_l_infinity_bound_is_penalised(
    celery_worker, live_server_url
):
    users = _users("l2b", 4)
    behaviours = ["honest", "honest", "honest", "stretched"]
    g = _run(_bounded_group(users, live_server_url, behaviours, l2_clip=L2_CLIP))
    r = Round.objects.get(group=g, number=1)
    assert r.result_blob and r.n_accepted == 3, r.status_reason
    scheme = PackingScheme.from_json(g.packing)
    c2 = scheme.l2_bound
    assert c2 == round(L2_CLIP * scheme.scale) and scheme.bound == round(CLIP * scheme.scale)

    # the poisoner's update: every coordinate within the L-infinity bound, the norm over L2
    bad = np.load(_record(users[3], g, 1))
    assert int(np.max(np.abs(bad))) <= scheme.bound and square_norm(bad) > c2 * c2
    poisoner = Account.objects.get(user=users[3]).address
    sub = Submission.objects.get(round=r, membership__account__address=poisoner, kind="gradient")
    reason = "slot-bound proof does not verify (norm: over the L2 bound)"
    assert sub.status == Submission.Status.REJECTED and sub.reason == reason
    verdicts = Transaction.objects.filter(group_ref=g.address, kind="verify")
    assert [t.payload["reason"] for t in verdicts if not t.payload["ok"]] == [reason]
    assert r.settlements["gradient_submission"]["penalised"] == {poisoner: "penalty:invalid_proof"}

    # the honest updates are clipped to the L2 bound, and the result is exactly their sum
    honest = [np.load(_record(u, g, 1)) for u in users[:3]]
    assert all(square_norm(q) <= c2 * c2 for q in honest)
    assert max(square_norm(q) for q in honest) > (0.99 * c2) ** 2  # the bound binds
    result = ints_from_bytes(ledger.blob_store().get(r.result_blob))
    assert np.array_equal(result, np.sum(honest, axis=0))

    # the auditor, from the chain and the blobs, reaches the same verdicts
    _wait_for_blocks()
    verdict = selectors.verify_chain(processes=2)
    assert verdict.ok, verdict.verdict()
    assert verdict.report.counts["protocol"]["proof_pk"]["count"] == 4
