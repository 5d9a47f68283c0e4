"""A group with a server optimizer and FedProx trains end to end (real Celery worker, Redis,
Daphne, party agents over REST, 512-bit keys): the platform's W_r, every agent's own W_r and the
offline auditor's W_r are the same bits, all re-derived from W_0 and the published aggregates."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from deepchain.audit.protocol import audit_protocol
from deepchain.blobs import BlobStore
from deepchain.learning.strategies import Strategy, replay_models, scale_bits_of
from deepchain.party import PartyAgent
from deepchain.wire import floats_from_bytes, ints_from_bytes
from ledger_app import services as ledger
from ledger_app.models import Transaction
from tests.integration.test_audit_protocol_training import _wait_for_blocks
from tests.integration.test_training_protocol import DATA_SIZE, DEPOSIT, _run, _users
from training_app import selectors, services
from training_app.models import Membership, Round
from training_app.tasks import simulated_agent

pytestmark = pytest.mark.django_db(transaction=True)

STRATEGY = Strategy("fedadam", server_lr=0.01, beta1=0.5, tau=0.01, mu=0.05)


def test_a_fedadam_fedprox_group_agrees_on_every_model_with_its_agents_and_the_auditor(
    celery_worker, live_server_url, tmp_path
):
    users = _users("strat", 3)
    g = services.create_group(
        initiator=users[0], name="skewed", n_parties=3, threshold=2, rounds=2,
        deposit=DEPOSIT, model_name="tiny", local_iterations=30, learning_rate=0.3,
        batch_size=32, deadlines={"T1": 90_000, "T2": 60_000, "T5": 90_000},
        data_limit=2000, seed=3, api_url=live_server_url, partition="dirichlet",
        strategy=STRATEGY, simulated=True, key_origin="dealer",
    )  # fmt: skip
    for u in users:
        services.join_group(group=g, user=u, data_size=DATA_SIZE, simulated=True)
    services.start_group(group=g, by=users[0])
    g = _run(g)
    rounds = list(Round.objects.filter(group=g).order_by("number"))
    assert [r.number for r in rounds] == [1, 2]
    assert all(r.result_blob for r in rounds), [r.status_reason for r in rounds]
    tran_co = Transaction.objects.get(group_ref=g.address, kind="group_create")
    assert Strategy.from_json(tran_co.payload["strategy"]) == STRATEGY

    # the platform's W_r is the strategy replayed from W_0 and the published aggregates
    store = ledger.blob_store()
    s_bits = scale_bits_of(selectors.scheme_of(g).scale)
    w0 = floats_from_bytes(store.get(g.initial_params))
    aggs = [(ints_from_bytes(store.get(r.result_blob)), r.n_accepted) for r in rounds]
    derived = replay_models(STRATEGY, w0, aggs, s_bits)
    published = [floats_from_bytes(store.get(r.params_blob)) for r in rounds]
    assert all(np.array_equal(a, b) for a, b in zip(derived, published, strict=True))
    fedavg = replay_models(Strategy(), w0, aggs, s_bits)
    assert not np.array_equal(fedavg[-1], published[-1])  # the strategy did something

    # a fresh agent (no cached state) re-derives each W_r over the API alone
    m = Membership.objects.filter(group=g, status=Membership.Status.ACTIVE).first()
    agent = PartyAgent(simulated_agent(m.pk).cfg)
    for r in rounds:
        mine, theirs = agent.combined_model(r.number)
        assert np.array_equal(mine, theirs)

    # the offline auditor re-derives the same models from the exported chain and blobs
    _wait_for_blocks()
    path = tmp_path / "ledger.json"
    call_command("audit_chain", export=str(path))
    rep_store = BlobStore(settings.DEEPCHAIN_BLOBS)
    from deepchain.audit.protocol import ProtocolAuditor
    from deepchain.ledger.blocks import Block

    doc = json.loads(path.read_text())
    assert audit_protocol(doc, rep_store).ok
    aud = ProtocolAuditor(rep_store)
    for raw in [doc["genesis"], *doc["blocks"]]:
        b = Block.from_dict(raw)
        for tx in b.transactions:
            assert aud.check(b.height, tx) == []
    assert aud.models[g.address] == {r.number: r.params_blob for r in rounds}
