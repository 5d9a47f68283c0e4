"""The test process plays the beat: the protocol clock and Blockwise-BA (real worker tasks).

Party agents act only on what is final on chain, so a run needs blocks: each beat closes the
due phases and, at most once a second, asks the worker to drive consensus at the next height.
"""

from __future__ import annotations

import time

from ledger_app import tasks as ledger_tasks
from training_app import services

_last = [0.0]


def drive_consensus(period_s: float = 1.0) -> None:
    """Enqueue one ``run_consensus`` (it opens, or times out, the next height's round)."""
    now = time.monotonic()
    if now - _last[0] >= period_s:
        _last[0] = now
        ledger_tasks.run_consensus.delay(timeout_s=5.0)


def beat() -> None:
    """One beat: close every due phase, keep consensus going."""
    services.close_due_phases()
    drive_consensus()


def settle_chain(timeout: float = 180) -> None:
    """Drive consensus until every transaction is final and no consensus round is open, so a
    check that reads the blocks and then the mempool sees one consistent ledger."""
    from ledger_app.models import ConsensusAttempt, Transaction

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pending = Transaction.objects.filter(status=Transaction.Status.PENDING).exists()
        busy = ConsensusAttempt.objects.filter(status=ConsensusAttempt.Status.OPEN).exists()
        if not pending and not busy:
            return
        drive_consensus()
        time.sleep(0.5)
    raise AssertionError("the chain did not settle: transactions still pending")
