"""Issue 7 scale-out: two Celery worker processes, each consuming every queue (so two per
queue), run a 4-party group; one worker is killed with SIGKILL (with its pool children) while
it executes a training task. Late acks + a short broker visibility timeout
(DEEPCHAIN_VISIBILITY_TIMEOUT_S in the workers' env) re-deliver its unacknowledged tasks to the
survivor (kombu restores overdue unacked messages about every 100 s); a message popped but not
yet recorded as unacked when the worker died is re-enqueued by the clock's
``rekick_stale_work``. The rounds still complete, nothing is paid twice, and no task's effect
is applied twice (the services are idempotent under row locks). A task the broker held
unacknowledged when the worker died is never lost: by the end it was re-delivered, or the broker
still holds it for its next restore (the rekick often finishes the work first).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections import Counter

import psutil
import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from deepchain_web.celery import app
from ledger_app import selectors as ledger_selectors
from ledger_app import services as ledger
from ledger_app.models import Account, LedgerEntry, Transaction
from tests import services as procs
from training_app import services
from training_app.models import CooperativeGroup, Round, Submission

from .beat import beat as protocol_beat
from .beat import settle_chain

pytestmark = pytest.mark.django_db(transaction=True)

GRANT = 10_000
DEPOSIT = 40
VISIBILITY_S = 20
RECEIVED = re.compile(r"\[([0-9a-f-]{36})\] received")
FINISHED = re.compile(r"\[([0-9a-f-]{36})\] (?:succeeded|failed|raised|retry)")


def _kill_tree(proc) -> None:
    """SIGKILL a worker and its pool processes: the host vanishes mid-task, nothing is acked."""
    parent = psutil.Process(proc.pid)
    victims = [*parent.children(recursive=True), parent]
    for p in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait(timeout=30)
    psutil.wait_procs(victims, timeout=30)


def _wait_ready(names: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        seen = {k.split("@")[0] for r in replies for k in r}
        if set(names) <= seen:
            return
        time.sleep(0.5)
    raise AssertionError(f"workers {names} did not answer")


def _busy_worker(names: list[str]) -> str | None:
    """One of ``names`` executing a party's step (local training, encryption) right now."""
    active = app.control.inspect(timeout=0.3).active() or {}
    for host, tasks in active.items():
        name = host.split("@")[0]
        if name in names and any(t.get("name", "").endswith(".party_step") for t in tasks):
            return name
    return None


def _log(name: str) -> str:
    path = procs.LOG_DIR / f"test-{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _broker_unacked() -> set[str]:
    """Ids of the tasks the Redis broker holds as delivered but not acknowledged (kombu keeps
    them in its ``unacked`` hash until an ack, or a restore after the visibility timeout)."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    held = set()
    for raw in client.hvals("unacked"):
        message = json.loads(raw)[0]
        held.add(message.get("headers", {}).get("id") or message["properties"]["correlation_id"])
    return held


def _unfinished(name: str) -> set[str]:
    """Tasks a worker received (executing, or reserved under late ack) but never finished."""
    text = _log(name)
    return set(RECEIVED.findall(text)) - set(FINISHED.findall(text))


def test_a_killed_worker_loses_nothing_and_nothing_happens_twice(
    live_server_url, test_db_name, settings
):
    # a message the worker popped from Redis but died before recording as unacked is gone:
    # the beat (played by this test) re-enqueues overdue verifications/aggregations
    settings.DEEPCHAIN_REKICK_S = 15
    tag = f"{os.getpid()}-{int(time.time())}"
    names = [f"scale-a-{tag}", f"scale-b-{tag}"]
    env = procs.child_env(
        test_db_name, DEEPCHAIN_VISIBILITY_TIMEOUT_S=str(VISIBILITY_S), PYTHONUNBUFFERED="1"
    )
    workers = {n: procs.start_celery_worker(env, n, concurrency=2) for n in names}
    try:
        _wait_ready(names)
        User = get_user_model()
        users = []
        for i, name in enumerate(("alice", "bob", "carol", "dave")):
            u = User.objects.create_user(username=f"so-{name}-{tag}-{i}", password="x")
            ledger.create_party_account(user=u, grant=GRANT)
            users.append(u)
        total_before, supply = ledger_selectors.total_supply_check()
        g = services.create_group(
            initiator=users[0], name="scale-out", n_parties=4, threshold=3, rounds=2,
            deposit=DEPOSIT, model_name="tiny", local_iterations=40, learning_rate=0.3,
            batch_size=32, deadlines={"T1": 150_000, "T2": 120_000, "T5": 150_000},
            data_limit=2000, seed=3, api_url=live_server_url, simulated=True,
            key_origin="dealer",
        )  # fmt: skip
        for u in users:
            services.join_group(group=g, user=u, data_size=400, simulated=True)
        services.start_group(group=g, by=users[0])

        # kill a worker while it executes a party's step of round 1
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline:
            busy = _busy_worker(names)
            if busy is not None and _unfinished(busy):  # still running as we pull the plug
                victim = busy
                _kill_tree(workers[victim])
            else:
                protocol_beat()
        assert victim is not None, "no worker ever ran a party step"
        lost = _unfinished(victim)  # executing or reserved (acks_late: still in Redis, unacked)
        assert lost, "the killed worker held no task"
        held = lost & _broker_unacked()  # the rest were popped but never recorded as unacked
        assert held, "the broker held none of the killed worker's tasks (late acks?)"
        survivor = next(n for n in names if n != victim)
        assert workers[victim].returncode == -9 and workers[survivor].poll() is None

        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            g.refresh_from_db()
            if g.status in ("finished", "aborted"):
                break
            protocol_beat()
            time.sleep(0.5)
        rounds = list(Round.objects.filter(group=g).order_by("number"))
        assert g.status == CooperativeGroup.Status.FINISHED, (
            g.status, [(r.number, r.phase, r.status_reason) for r in rounds])  # fmt: skip
        assert workers[survivor].poll() is None

        # the killed worker's unacked tasks were re-delivered (to the survivor, or another
        # consumer) or are still held by the broker for its next restore: none is lost
        redelivered = set(RECEIVED.findall(_log(survivor) + _log("test-worker")))
        missing = held - redelivered - _broker_unacked()
        assert not missing, f"lost by the broker: {sorted(missing)}"

        # the rounds completed with every party's update
        assert [r.n_accepted for r in rounds] == [4, 4], [r.status_reason for r in rounds]
        assert all(r.result_blob and not r.status_reason for r in rounds)
        subs = Submission.objects.filter(round__group=g)
        assert subs.count() == 2 * 4 * 2
        assert set(subs.values_list("status", flat=True)) == {Submission.Status.ACCEPTED}

        # no task's effect applied twice: one VERIFY per submission, one AGGREGATE per round,
        # one CLOCK per phase close, one key ceremony
        txs = Transaction.objects.filter(group_ref=g.address).exclude(status="rejected")
        verify = Counter(t.payload["subject"] for t in txs.filter(kind="verify"))
        assert len(verify) == subs.count() and set(verify.values()) == {1}, verify
        assert Counter(txs.filter(kind="aggregate").values_list("round", flat=True)) == {1: 1, 2: 1}
        clocks = Counter(txs.filter(kind="clock").values_list("round", "phase"))
        assert clocks and set(clocks.values()) == {1}, clocks
        assert txs.filter(kind="group_create").count() == 1

        # nothing paid twice: each account's ledger entries per (round, phase, reason) unique
        for acct in Account.objects.filter(user__in=users):
            keys = Counter(
                LedgerEntry.objects.filter(account=acct, transaction__group_ref=g.address)
                .values_list("transaction__round", "transaction__phase", "reason")
            )  # fmt: skip
            assert keys and set(keys.values()) == {1}, (acct.address[:12], keys)
        fees = Counter(
            LedgerEntry.objects.filter(transaction__group_ref=g.address, reason="worker_fee",
                                       delta__gt=0)
            .values_list("account_id", "transaction__round")
        )  # fmt: skip
        assert fees and set(fees.values()) == {1}, fees
        assert [Account.objects.get(user=u).balance for u in users] == [GRANT] * 4
        assert ledger_selectors.balance(f"escrow:{g.address}") == 0
        total_after, supply_after = ledger_selectors.total_supply_check()
        assert total_after == supply_after == supply and total_before == supply
        settle_chain()
        verdict = ledger_selectors.verify_chain()
        assert verdict.ok, verdict.verdict()
    finally:
        for p in workers.values():
            procs.stop(p)
