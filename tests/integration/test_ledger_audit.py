"""Tamper detection, replay protection, the REST API and the read-only auditor admin."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from deepchain.audit.chain import audit_ledger
from deepchain.crypto.identity import Identity
from deepchain.ledger.transactions import TxKind, make_tx
from deepchain_web.api_errors import DomainError
from ledger_app import selectors, services
from ledger_app.models import Block, Transaction
from tests.integration import test_ledger_helpers as h

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def built_chain(celery_worker):
    """A chain of two final blocks with transfers (real Celery consensus)."""
    services.bootstrap_chain()
    a, b = h.party("alice"), h.party("bob")
    h.pay(a, b, 25)
    assert h.drive(1) is not None
    h.pay(b, a, 7)
    assert h.drive(2) is not None
    assert selectors.verify_chain().ok
    return a, b


def _mutate(raw: str, pos: int) -> str:
    c = raw[pos]
    if c in "0123456789abcdef":
        new = "0123456789abcdef"[("0123456789abcdef".index(c) + 1) % 16]
    elif c.isalpha():
        new = "z" if c != "z" else "y"
    else:
        new = "x"
    return raw[:pos] + new + raw[pos + 1 :]


def _set_raw(table: str, pk: int, raw: str) -> None:
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {table} SET raw = %s WHERE id = %s", [raw, pk])


def _both_verifiers_fail(tmp_path) -> tuple[dict, dict]:
    verdict = selectors.verify_chain()
    assert not verdict.ok
    report = audit_ledger(selectors.export_ledger())
    assert not report.ok
    return verdict.first_bad, report.first_bad


def test_editing_any_byte_of_a_stored_block_is_detected_by_both_verifiers(built_chain, tmp_path):
    rng = random.Random(5)
    row = Block.objects.get(height=1)
    original = row.raw
    for pos in sorted(rng.sample(range(len(original)), 12)):
        _set_raw("ledger_app_block", row.pk, _mutate(original, pos))
        ours, theirs = _both_verifiers_fail(tmp_path)
        assert ours["block"] == 1, (pos, ours)
        assert theirs["block"] in (1, 2), (pos, theirs)  # a header edit breaks block 2's link
        _set_raw("ledger_app_block", row.pk, original)
    assert selectors.verify_chain().ok


def test_editing_any_byte_of_a_stored_transaction_is_detected_by_both_verifiers(
    built_chain, tmp_path
):
    rng = random.Random(6)
    tx = Transaction.objects.filter(block__height=1).exclude(kind="genesis").first()
    original = tx.raw
    for pos in sorted(rng.sample(range(len(original)), 8)):
        _set_raw("ledger_app_transaction", tx.pk, _mutate(original, pos))
        ours, theirs = _both_verifiers_fail(tmp_path)
        assert ours == {"block": 1, "tx": tx.tx_hash}, (pos, ours)
        assert theirs["block"] == 1, (pos, theirs)
        _set_raw("ledger_app_transaction", tx.pk, original)
    assert selectors.verify_chain().ok


def test_audit_chain_command_and_standalone_auditor_name_the_tampered_block(built_chain, tmp_path):
    call_command("audit_chain")  # clean: no SystemExit
    row = Block.objects.get(height=2)
    _set_raw("ledger_app_block", row.pk, row.raw.replace('"amount":7', '"amount":9'))
    export = tmp_path / "ledger.json"
    with pytest.raises(SystemExit) as exc:
        call_command("audit_chain", export=str(export))
    assert exc.value.code == 1
    out = subprocess.run([sys.executable, "-m", "deepchain.audit", str(export)],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 1
    assert "FAIL at block 2" in out.stdout and "merkle" in out.stdout.lower()


def test_a_replayed_transaction_is_rejected_and_the_rejection_recorded(db):
    services.bootstrap_chain()
    me = Identity.generate()
    acct = services.register_external_account(
        user=None, sign_pk=me.address, box_pk=me.public.box_pk, grant=100
    )
    other = h.party("carol")
    tx = make_tx(me, TxKind.TRANSFER, acct.nonce + 1, {"to": other.address, "amount": 10})
    services.submit_signed_transaction(tx=tx)
    with pytest.raises(DomainError) as exc:
        services.submit_signed_transaction(tx=tx)
    assert exc.value.code == "replay"
    rec = Transaction.objects.get(kind="rejection", payload__tx_hash=tx.tx_hash)
    assert "replayed" in rec.payload["reason"]
    stale = make_tx(me, TxKind.TRANSFER, 1, {"to": other.address, "amount": 11})
    with pytest.raises(DomainError, match="bad nonce 1"):
        services.submit_signed_transaction(tx=stale)
    assert Transaction.objects.get(tx_hash=stale.tx_hash).status == "rejected"
    assert selectors.balance(other.address) == 1_000 + 10
    assert selectors.verify_chain().ok


@pytest.fixture
def api(django_user_model):
    services.bootstrap_chain()
    user = django_user_model.objects.create(username="dora")
    acct = services.create_party_account(user=user, grant=500)
    client = APIClient()
    client.force_authenticate(user)
    return client, acct


def test_the_api_pages_filters_and_fetches_by_hash(api):
    client, acct = api
    bob = h.party("bob")
    r = client.post("/api/ledger/transfer/", {"to": bob.address, "amount": 40}, format="json")
    assert r.status_code == 201, r.json()
    tx_hash = r.json()["tx_hash"]
    page = client.get("/api/ledger/transactions/?kind=transfer&status=pending&limit=2").json()
    # two faucet grants, the treasury's one refill of the faucet, and this transfer
    assert page["count"] == 4 and len(page["results"]) == 2
    mine = client.get(f"/api/ledger/transactions/?sender={acct.address}").json()
    assert [t["tx_hash"] for t in mine["results"]] == [tx_hash]
    assert client.get(f"/api/ledger/{tx_hash}/").json()["type"] == "transaction"
    g = Block.objects.get(height=0)
    got = client.get(f"/api/ledger/{g.block_hash}/").json()
    assert got["type"] == "block" and got["object"]["height"] == 0
    assert client.get("/api/ledger/blocks/").json()["count"] == 1
    assert client.get("/api/ledger/" + "ab" * 32 + "/").status_code == 404
    w = client.get("/api/ledger/wallet/").json()
    assert w["balance"] == 460 and w["entries"][0]["delta"] == -40
    export = client.get("/api/ledger/export/").json()
    assert audit_ledger(export).ok
    assert client.get("/api/ledger/status/").json()["pending"] >= 3


def test_the_transfer_endpoint_refuses_with_clear_errors(api):
    client, acct = api
    bob = h.party("bob")
    cases = [  # 400: outside the documented schema; 409: well-formed, refused by the rules
        ({"to": bob.address, "amount": 10_000}, "insufficient_balance", 409),
        ({"to": bob.address, "amount": 0}, "amount", 400),
        ({"to": bob.address, "amount": -5}, "amount", 400),
        ({"to": "ff" * 32, "amount": 5}, "unknown_recipient", 409),
        ({"to": bob.address}, "required", 400),
    ]
    for body, code, status in cases:
        r = client.post("/api/ledger/transfer/", body, format="json")
        assert r.status_code == status, (body, r.json())
        assert r.json()["code"] == code or code in json.dumps(r.json()), (body, r.json())
        assert r.json()["message"]
    assert selectors.balance(acct.address) == 500
    # refused by the rules: recorded for auditors; outside the schema: refused before the ledger
    assert Transaction.objects.filter(status="rejected").count() == 1
    anon = APIClient().get("/api/ledger/wallet/")
    assert anon.status_code in (401, 403)


def test_the_schema_documents_the_ledger_endpoints(api):
    client, _ = api
    schema = client.get("/api/schema/?format=json").json()
    for p in ["/api/ledger/blocks/", "/api/ledger/transactions/", "/api/ledger/export/",
              "/api/ledger/status/", "/api/ledger/wallet/", "/api/ledger/transfer/"]:  # fmt: skip
        assert p in schema["paths"], p


def test_the_admin_is_read_only_even_for_superusers_and_verifies_the_chain(
    django_user_model, client
):
    services.bootstrap_chain()
    admin = django_user_model.objects.create_superuser("root", "r@x.org", "pw")
    client.force_login(admin)
    assert client.get("/admin/ledger_app/block/").status_code == 200
    assert client.get("/admin/ledger_app/transaction/?kind=genesis").status_code == 200
    assert client.get("/admin/ledger_app/block/add/").status_code == 403
    b = Block.objects.get(height=0)
    assert client.post(f"/admin/ledger_app/block/{b.pk}/delete/").status_code == 403
    page = client.get("/admin/ledger_app/block/verify/")
    assert page.status_code == 200 and b"OK: chain of 0 blocks" in page.content
    from django.contrib.auth.models import Group

    perms = set(Group.objects.get(name="auditor").permissions.values_list("codename", flat=True))
    assert {"view_block", "view_transaction", "view_cooperativegroup"} <= perms
    assert not any(p.startswith(("add_", "change_", "delete_")) for p in perms)


# -- served copies: what the API and explorer show is what is audited -----------------------
def _sql(statement: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def _both_audits(tmp_path) -> tuple[str, str]:
    """(audit_chain's output, the offline auditor's output on audit_chain's export); both
    must fail with exit status 1."""
    import io

    export = tmp_path / "ledger.json"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("audit_chain", export=str(export), stdout=out)
    assert exc.value.code == 1
    offline = subprocess.run([sys.executable, "-m", "deepchain.audit", str(export)],
                             capture_output=True, text=True)  # fmt: skip
    assert offline.returncode == 1, offline.stdout + offline.stderr
    return out.getvalue(), offline.stdout


def _transfer_row() -> Transaction:
    return Transaction.objects.filter(block__height=1, kind="transfer").first()


def test_a_raw_sql_edit_of_a_payload_column_is_named_and_not_served(built_chain, tmp_path):
    tx = _transfer_row()
    signed = json.loads(tx.raw)["payload"]
    _sql("UPDATE ledger_app_transaction SET payload = %s WHERE id = %s",
         [json.dumps({**signed, "amount": 999_999}), tx.pk])  # fmt: skip
    for out in _both_audits(tmp_path):
        assert tx.tx_hash in out and "payload" in out, out
    # the API shows what was signed, not the edited column
    client = APIClient()
    client.force_authenticate(built_chain[0].user)
    shown = client.get(f"/api/ledger/{tx.tx_hash}/").json()["object"]["payload"]
    assert shown == signed and shown["amount"] != 999_999


def test_a_raw_sql_edit_of_a_wallet_entry_is_named(built_chain, tmp_path):
    from ledger_app.models import LedgerEntry

    entry = LedgerEntry.objects.filter(transaction=_transfer_row(), delta__gt=0).first()
    _sql("UPDATE ledger_app_ledgerentry SET delta = delta + 5 WHERE id = %s", [entry.pk])
    for out in _both_audits(tmp_path):
        assert f"ledger_entry:{entry.pk}" in out, out


def test_a_raw_sql_edit_of_a_balance_is_named_with_the_protocol_checks_on(built_chain, tmp_path):
    a = built_chain[0]
    _sql("UPDATE ledger_app_account SET balance = balance + 1000 WHERE id = %s", [a.pk])
    for out in _both_audits(tmp_path):
        assert f"account:{a.address}" in out and "balance" in out, out


def test_two_edits_at_once_are_both_named(built_chain, tmp_path):
    tx, b = _transfer_row(), built_chain[1]
    signed = json.loads(tx.raw)["payload"]
    _sql("UPDATE ledger_app_transaction SET payload = %s WHERE id = %s",
         [json.dumps({**signed, "reason": "edited"}), tx.pk])  # fmt: skip
    _sql("UPDATE ledger_app_account SET balance = balance + 3 WHERE id = %s", [b.pk])
    for out in _both_audits(tmp_path):
        assert tx.tx_hash in out and f"account:{b.address}" in out, out
        assert "2 problems" in out or "problems)" in out, out
    verdict = selectors.verify_chain().to_dict()
    rows = {p["row"] for p in verdict["problems"]}
    assert {f"transaction:{tx.tx_hash}", f"account:{b.address}"} <= rows, verdict["problems"]


def test_two_tampered_blocks_are_both_named(built_chain, tmp_path):
    one, two = Block.objects.get(height=1), Block.objects.get(height=2)
    _set_raw("ledger_app_block", one.pk, one.raw.replace('"amount":25', '"amount":26'))
    _set_raw("ledger_app_block", two.pk, two.raw.replace('"amount":7', '"amount":9'))
    report = audit_ledger(selectors.export_ledger())
    assert {p["block"] for p in report.problems} >= {1, 2}, report.problems
    verdict = selectors.verify_chain()
    assert {p["block"] for p in verdict.problems} >= {1, 2}, verdict.problems
