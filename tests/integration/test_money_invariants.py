"""DeepCoin invariants: supply fixed at genesis, no negative balance, one LedgerEntry per
change, chain replay == Account table; under random operations and 20 concurrent clients."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from deepchain.incentives.money import escrow_account as escrow
from deepchain.incentives.money import pool_account as pool
from deepchain.ledger.transactions import TxKind
from deepchain_web.api_errors import DomainError
from ledger_app import selectors, services
from ledger_app.models import Account, LedgerEntry, Transaction
from tests.integration import test_ledger_helpers as h

pytestmark = pytest.mark.django_db(transaction=True)

amounts = st.integers(min_value=-5, max_value=400)


def check_money_invariants() -> None:
    total, supply = selectors.total_supply_check()
    assert total == supply, "supply changed"
    assert not Account.objects.filter(balance__lt=0).exists(), "negative balance"
    for acct in Account.objects.all():
        s = LedgerEntry.objects.filter(account=acct).aggregate(s=Sum("delta"))["s"] or 0
        assert s == acct.balance, f"{acct} balance {acct.balance} but entries sum to {s}"
    for tx in Transaction.objects.filter(kind__in=["transfer", "deposit", "payout", "penalty"]):
        n = tx.entries.count()
        assert n == (2 if tx.status != "rejected" else 0), (tx.kind, tx.status, n)


class Economy(RuleBasedStateMachine):
    """Deposits, penalties, paybacks, extra pay, worker fees, transfers, in random order,
    including refused moves and a failure midway (rolled back)."""

    counter = 0

    @initialize()
    def setup(self):
        Economy.counter += 1
        tag = f"e{Economy.counter}"
        self.parties = [h.party(f"{tag}p{i}", grant=300) for i in range(3)]
        self.group = f"group-{tag}"
        self.auth = services.authority_identity()
        self.worker = Account.objects.filter(kind="worker").first()
        self.refused = 0

    def _try(self, **kw) -> None:
        try:
            services.move_money(**kw)
        except DomainError:
            self.refused += 1

    @rule(i=st.integers(0, 2), j=st.integers(0, 2), amount=amounts)
    def transfer(self, i, j, amount):
        a, b = self.parties[i], self.parties[j]
        self._try(source=a.address, destination=b.address, amount=amount, kind=TxKind.TRANSFER,
                  reason="transfer", signer=services.party_identity(a))  # fmt: skip

    @rule(i=st.integers(0, 2), amount=amounts)
    def deposit(self, i, amount):
        a = self.parties[i]
        self._try(source=a.address, destination=escrow(self.group), amount=amount,
                  kind=TxKind.DEPOSIT, reason="stake", signer=services.party_identity(a),
                  group=self.group, round=1, phase="gradient")  # fmt: skip

    @rule(i=st.integers(0, 2), amount=amounts)
    def penalty(self, i, amount):
        self._try(source=escrow(self.group), destination=pool(self.group), amount=amount,
                  kind=TxKind.PENALTY, reason="late gradient", signer=self.auth, group=self.group,
                  extra={"party": self.parties[i].address})  # fmt: skip

    @rule(i=st.integers(0, 2), amount=amounts, from_pool=st.booleans())
    def payout(self, i, amount, from_pool):
        src = pool(self.group) if from_pool else escrow(self.group)
        self._try(source=src, destination=self.parties[i].address, amount=amount,
                  kind=TxKind.PAYOUT, signer=self.auth, group=self.group,
                  reason="extra pay" if from_pool else "payback")  # fmt: skip

    @rule(amount=amounts)
    def worker_fee(self, amount):
        self._try(source=pool(self.group), destination=self.worker.address, amount=amount,
                  kind=TxKind.PAYOUT, signer=self.auth, group=self.group,
                  reason="worker fee")  # fmt: skip

    @rule(i=st.integers(0, 2), amount=st.integers(1, 50))
    def failure_midway(self, i, amount):
        a, b = self.parties[i], self.parties[(i + 1) % 3]
        balance = Account.objects.get(address=a.address).balance
        if balance == 0:  # a move it could not make is the refused case, covered above
            return
        with pytest.raises(RuntimeError), transaction.atomic():
            services.move_money(source=a.address, destination=b.address,
                                amount=min(amount, balance),
                                kind=TxKind.TRANSFER, reason="crashes",
                                signer=services.party_identity(a))  # fmt: skip
            raise RuntimeError("crash after the move, before commit")

    @invariant()
    def money_is_conserved(self):
        check_money_invariants()


def test_random_money_operations_keep_supply_entries_and_chain_replay_consistent():
    services.bootstrap_chain()
    Economy.TestCase.settings = settings(
        max_examples=8, stateful_step_count=12, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    Economy.TestCase().runTest()
    verdict = selectors.verify_chain()  # balances re-derived from chain + pending == DB
    assert verdict.ok, verdict.verdict()
    assert Transaction.objects.filter(status="rejected").exists()


def test_twenty_concurrent_clients_lose_no_update_and_never_deadlock():
    services.bootstrap_chain()
    accts = [h.party(f"c{i}", grant=200) for i in range(6)]
    start = {a.address: a.balance for a in Account.objects.all()}
    n_clients, per_client = 20, 8
    barrier = threading.Barrier(n_clients)
    done: list[tuple[str, str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait()
            for _ in range(per_client):
                a, b = rng.sample(accts, 2)  # opposite directions between the same pairs
                amount = rng.randint(1, 120)
                try:
                    services.move_money(
                        source=a.address, destination=b.address, amount=amount,
                        kind=TxKind.TRANSFER, reason="concurrent",
                        signer=services.party_identity(a),
                    )  # fmt: skip
                except DomainError as exc:
                    assert exc.code == "insufficient_balance", exc.message
                    continue
                with lock:
                    done.append((a.address, b.address, amount))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung (deadlock?)"
    assert not errors, errors[0]
    expected = dict(start)
    for a, b, amount in done:
        expected[a] -= amount
        expected[b] += amount
    actual = dict(Account.objects.values_list("address", "balance"))
    assert {k: v for k, v in actual.items() if k in expected} == expected, "lost update"
    assert len(done) >= n_clients  # most transfers went through
    check_money_invariants()
    verdict = selectors.verify_chain()
    assert verdict.ok, verdict.verdict()
