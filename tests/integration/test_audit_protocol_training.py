"""Protocol audit of a real training run: a short group (real Celery worker, Daphne, party
agents over REST, 512-bit keys) with one cheating party; the exported ledger + the blob store
alone re-verify every Proof_PK, VERIFY verdict, aggregate, Proof_CD, the published result and
the contracts' settlements, through ``manage.py audit_chain`` and ``python -m deepchain.audit``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.management import call_command

from deepchain.audit.protocol import audit_protocol
from deepchain.blobs import BlobStore
from ledger_app import selectors
from ledger_app import tasks as ledger_tasks
from ledger_app.models import Transaction
from tests.integration.test_training_protocol import _group, _run, _users
from training_app.models import Round, Submission

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for_blocks(timeout: float = 240) -> None:
    """Drive Blockwise-BA (real worker tasks) until everything the run wrote is final on
    chain: the protocol audit reads blocks only."""
    end = time.monotonic() + timeout
    while Transaction.objects.filter(status=Transaction.Status.PENDING).exists():
        assert time.monotonic() < end, "transactions still pending"
        ledger_tasks.run_consensus.delay(timeout_s=5.0)
        time.sleep(1.0)


def test_a_real_round_with_a_cheater_audits_clean_from_ledger_and_blobs(
    celery_worker, live_server_url, tmp_path
):
    users = _users("aud", 4)  # three accepted updates: min_contributors = 3 is met
    fast = {"T1": 90_000, "T2": 60_000, "T5": 90_000}
    g = _run(_group(users, live_server_url, rounds=1, deadlines=fast, threshold=2,
                    behaviours=["honest", "honest", "honest", "cheat"]))  # fmt: skip
    r = Round.objects.get(group=g, number=1)
    assert r.result_blob and r.n_accepted == 3, r.status_reason
    assert Submission.objects.filter(round=r, status=Submission.Status.REJECTED).count() == 1
    _wait_for_blocks()

    verdict = selectors.verify_chain(processes=2)
    assert verdict.ok, verdict.verdict()
    costs = verdict.report.counts["protocol"]
    assert costs["proof_pk"]["count"] == 4 and costs["proof_cd"]["count"] == 4
    assert costs["aggregate"]["count"] == 1 and costs["result"]["count"] == 1
    assert costs["settlement"]["count"] >= 6  # paybacks, the cheater's penalty, extra pay

    # offline: the export + the blob directory, no Django, no database
    path = tmp_path / "ledger.json"
    call_command("audit_chain", export=str(path))
    doc = json.loads(path.read_text())
    store = BlobStore(settings.DEEPCHAIN_BLOBS)
    rep = audit_protocol(doc, store)
    assert rep.ok, [str(f) for f in rep.findings]
    cli = subprocess.run(
        [sys.executable, "-m", "deepchain.audit", str(path), "--blobs", str(store.root)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "protocol checks: " in cli.stdout and cli.stdout.strip().endswith(doc_tip(doc))

    # the published result is what the auditor re-combines: a different S is caught
    fake = store.put(b"\x00" * len(store.get(r.result_blob)))
    for b in doc["blocks"]:
        for t in b["transactions"]:
            if t["kind"] == "clock" and t["payload"].get("result_blob") == r.result_blob:
                t["payload"]["result_blob"] = fake  # (breaks the signature too: protocol pass only)
    bad = audit_protocol(doc, store)
    assert [f.check for f in bad.findings] == ["result"], [str(f) for f in bad.findings]


def doc_tip(doc: dict) -> str:
    from deepchain.ledger.blocks import Block

    return Block.from_dict(doc["blocks"][-1]).block_hash
