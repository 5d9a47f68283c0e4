"""Issue 7 acceptance: encrypted collaborative rounds end to end on a real Celery worker, Redis
and Daphne, with simulated parties running the same party agent as the CLI (REST only).

512-bit keys (settings.DEEPCHAIN_KEY_BITS in tests), the ``tiny`` model and a 2,000-image
MNIST subset keep a round to a few seconds. The test process plays the beat: it calls
``close_due_phases`` periodically and drives consensus (agents act only on final blocks; in
the fault test, it holds the clock back on purpose).
CI runs the whole suite on 2 busy cores: every phase closes as soon as its inputs are in, so
the deadlines below are generous bounds (only the silent party waits for them), and every wait
is a bounded poll of the database, never a fixed sleep.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from deepchain.incentives.payoff import contribution_weights, payoff
from deepchain.wire import ints_from_bytes
from ledger_app import selectors as ledger_selectors
from ledger_app import services as ledger
from ledger_app.models import Account, LedgerEntry, Transaction
from training_app import services
from training_app.models import CooperativeGroup, Metric, Round, Submission
from training_app.tasks import agent_dir

from .beat import beat as protocol_beat
from .beat import drive_consensus, settle_chain

pytestmark = pytest.mark.django_db(transaction=True)

GRANT = 10_000
DEPOSIT = 50
DATA_SIZE = 400


def _users(prefix: str, n: int = 4):
    User = get_user_model()
    out = []
    for i, name in enumerate(["alice", "bob", "carol", "dave", "erin"][:n]):
        u = User.objects.create_user(username=f"{prefix}-{name}-{i}", password="x")
        ledger.create_party_account(user=u, grant=GRANT)
        out.append(u)
    return out


def _group(users, url: str, *, rounds: int, deadlines: dict, behaviours=None, threshold=3):
    g = services.create_group(
        initiator=users[0], name="acceptance", n_parties=len(users), threshold=threshold,
        rounds=rounds, deposit=DEPOSIT, model_name="tiny", local_iterations=40,
        learning_rate=0.3, batch_size=32, deadlines=deadlines, data_limit=2000, seed=7,
        api_url=url, simulated=True, key_origin="dealer",
    )  # fmt: skip
    for u, b in zip(users, behaviours or ["honest"] * len(users), strict=True):
        services.join_group(group=g, user=u, data_size=DATA_SIZE, simulated=True, behaviour=b)
    services.start_group(group=g, by=users[0])
    return g


def _run(g, timeout: float = 480, beat=lambda: True) -> CooperativeGroup:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        g.refresh_from_db()
        if g.status in (
            CooperativeGroup.Status.FINISHED,
            CooperativeGroup.Status.ABORTED,
            CooperativeGroup.Status.FAILED,
        ):
            return g
        if beat():
            protocol_beat()
        else:
            drive_consensus()
        time.sleep(0.5)
    rounds = list(Round.objects.filter(group=g).values("number", "phase", "status_reason"))
    raise AssertionError(f"group did not finish: {g.status} {rounds}")


def _record(u, g, number: int):
    """Where the simulated party's agent recorded its quantized update of a round."""
    address = Account.objects.get(user=u).address
    return agent_dir(address) / "updates" / f"group{g.id}-round{number}.npy"


def _balance(u) -> int:
    return Account.objects.get(user=u).balance


def _fingerprint() -> tuple[int, int]:
    return Transaction.objects.count(), LedgerEntry.objects.count()


def test_four_parties_train_three_encrypted_rounds(celery_worker, live_server_url):
    users = _users("acc")
    fast = {"T1": 90_000, "T2": 60_000, "T5": 90_000}
    g = _run(_group(users, live_server_url, rounds=3, deadlines=fast))
    rounds = list(Round.objects.filter(group=g).order_by("number"))
    assert [r.number for r in rounds] == [1, 2, 3]
    assert all(not r.status_reason for r in rounds), [r.status_reason for r in rounds]

    # accuracy of the collaborative model rises above a bound
    accs = [r.accuracy for r in rounds]
    assert accs[-1] > 0.6 and accs[-1] >= accs[0] - 0.02, accs
    assert Metric.objects.filter(round__group=g, membership=None).count() == 3

    # every Proof_PK and Proof_CD verified; every party took part in every round
    subs = Submission.objects.filter(round__group=g)
    assert subs.count() == 3 * 4 * 2
    assert set(subs.values_list("status", flat=True)) == {Submission.Status.ACCEPTED}
    verifies = Transaction.objects.filter(group_ref=g.address, kind="verify")
    assert verifies.count() == 24 and all(t.payload["ok"] for t in verifies)
    assert Transaction.objects.filter(group_ref=g.address, kind="group_create").count() == 1
    assert Transaction.objects.filter(group_ref=g.address, kind="aggregate").count() == 3

    # the decrypted aggregate is exactly the sum of the parties' quantized updates
    store = ledger.blob_store()
    for r in rounds:
        local = [np.load(_record(u, g, r.number)) for u in users]
        assert np.array_equal(ints_from_bytes(store.get(r.result_blob)), np.sum(local, axis=0))
        assert r.n_accepted == 4

    # parties evaluated the combined model on their own validation data and reported it
    party_metrics = Metric.objects.filter(round__group=g).exclude(membership=None)
    deadline = time.monotonic() + 180  # the last round's reports follow the group's end
    while party_metrics.count() < 12 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert Metric.objects.filter(round__group=g).exclude(membership=None).count() == 12

    # honest parties: every deposit and the stake come back; nothing stays in escrow or pool
    assert [_balance(u) for u in users] == [GRANT] * 4
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0
    assert ledger_selectors.balance(f"pool:{g.address}") == 0
    total, supply = ledger_selectors.total_supply_check()
    assert total == supply
    settle_chain()
    verdict = ledger_selectors.verify_chain()
    assert verdict.ok, verdict.verdict()

    # every task run again applies nothing
    before = _fingerprint()
    assert services.run_key_ceremony(g.id) is False
    for s in subs:
        fn = services.verify_gradient if s.kind == "gradient" else services.verify_share
        assert fn(s.id) is False
    for r in rounds:
        assert services.process_aggregate(r.id) is False
        assert services.combine_round(r.id) is False
        assert services.advance_round(r.id) == []
    assert services.close_due_phases() == 0
    assert _fingerprint() == before


def test_late_and_silent_parties_are_penalised_and_the_round_decrypts_with_t(
    celery_worker, live_server_url
):
    users = _users("flt", 5)  # N = 5: three accepted updates meet min_contributors
    # deadlines are cumulative from the round start and the silent party makes T1 and T5 run
    # to theirs: T1 leaves the honest parties ample time under load, the rest stays short (the
    # T5 window opens when the aggregate is appended, long before its cumulative deadline)
    deadlines = {"T1": 40_000, "T2": 30_000, "T3": 2_000, "T7": 30_000, "T8": 5_000,
                 "T9": 5_000, "T4": 2_000, "T5": 20_000}  # fmt: skip
    g = _group(users, live_server_url, rounds=1, deadlines=deadlines,
               behaviours=["honest", "honest", "honest", "late", "silent"])  # fmt: skip
    carol = Account.objects.get(user=users[3])  # the late party

    def beat() -> bool:
        # the beat is held back until carol's late gradient has been refused by the clock
        # check of the submission itself (T1 still open, its deadline passed)
        return Submission.objects.filter(
            round__group=g, membership__account=carol, kind="gradient"
        ).exists()

    g = _run(g, timeout=420, beat=beat)
    r = Round.objects.get(group=g, number=1)
    assert not r.status_reason and r.result_blob, r.status_reason

    late = Submission.objects.get(round=r, membership__account=carol, kind="gradient")
    assert late.status == Submission.Status.LATE and "late" in late.reason
    refused = Transaction.objects.filter(status="rejected", sender=carol.address, kind="gradient")
    assert refused.exists() and refused.first().reason.startswith("late")

    addrs = [Account.objects.get(user=u).address for u in users]
    t1 = r.settlements["gradient_submission"]
    assert t1["penalised"] == {addrs[3]: "penalty:late", addrs[4]: "penalty:absent"}
    t5 = r.settlements["decryption_share"]
    assert t5["decryptable"] is True and set(t5["honest"]) == set(addrs[:4])
    assert r.n_accepted == 3

    # decrypted with t = 3 of N = 5 shares, equal to the three accepted updates' sum
    local = [np.load(_record(u, g, 1)) for u in users[:3]]
    assert np.array_equal(ints_from_bytes(ledger.blob_store().get(r.result_blob)), sum(local))

    # balances follow the payoff rule: forfeits d, split among the honest by contribution
    w = contribution_weights({a: 1 for a in addrs[:3]}, {a: DATA_SIZE for a in addrs})
    expected = payoff(deposit=DEPOSIT, honest=addrs[:3], penalised=addrs[3:],
                      contributions=w, worker_blocks={})  # fmt: skip
    for u, a in zip(users, addrs, strict=True):
        assert _balance(u) == GRANT + expected.parties[a], (u.username, expected.parties)
    assert expected.parties[addrs[4]] == -DEPOSIT and sum(w.values()) == Fraction(1)
    settle_chain()
    verdict = ledger_selectors.verify_chain()
    assert verdict.ok, verdict.verdict()


def test_two_accepted_updates_of_four_decrypt_nothing_and_the_round_says_why(
    celery_worker, live_server_url
):
    users = _users("few")
    fast = {"T1": 90_000, "T2": 60_000, "T5": 90_000}
    g = _run(_group(users, live_server_url, rounds=1, deadlines=fast,
                    behaviours=["honest", "honest", "cheat", "cheat"]))  # fmt: skip
    r = Round.objects.get(group=g, number=1)
    assert r.n_accepted == 2 and "min_contributors = 3" in r.status_reason, r.status_reason
    # no aggregate, no share, no decrypted result: nobody learns the two honest updates
    assert not r.aggregate_blob and not r.result_blob
    assert not Transaction.objects.filter(group_ref=g.address, kind="aggregate").exists()
    assert not Submission.objects.filter(round=r, kind="decryption_share").exists()
    assert "decryption_share" not in r.settlements
    # deposits settle as the Trading contract says: the cheaters forfeit d to the honest
    addrs = [Account.objects.get(user=u).address for u in users]
    t1 = r.settlements["gradient_submission"]
    assert t1["penalised"] == {addrs[2]: "penalty:invalid_proof", addrs[3]: "penalty:invalid_proof"}
    assert [_balance(u) for u in users] == [GRANT + DEPOSIT] * 2 + [GRANT - DEPOSIT] * 2
    # the API and the dashboard snapshot say why
    from rest_framework.test import APIClient

    from frontend.selectors import dashboard_snapshot
    from training_app.selectors import group_snapshot

    client = APIClient()
    client.force_authenticate(users[0])
    snap = client.get(f"/api/groups/{g.id}/").json()
    done = snap["rounds_done"][0]
    assert done["reason"] == r.status_reason and snap["group"]["min_contributors"] == 3
    assert group_snapshot(g)["rounds_done"][0]["reason"] == r.status_reason
    assert dashboard_snapshot(g)["outcome"]["rounds"][0]["reason"] == r.status_reason
    settle_chain()
    verdict = ledger_selectors.verify_chain()
    assert verdict.ok, verdict.verdict()
