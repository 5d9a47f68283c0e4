"""Participant pages: sign-up opens a wallet, pages render, errors are shown not raised."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ledger_app.models import Account, Asset, Transaction


@pytest.mark.django_db
def test_sign_up_creates_a_pseudonymous_wallet_with_a_grant(client):
    r = client.post(
        reverse("signup"),
        {"username": "alice", "password1": "pw-Deep-Chain-1", "password2": "pw-Deep-Chain-1"},
    )
    assert r.status_code == 302, r.content[:500]
    acct = Account.objects.get(user__username="alice")
    assert acct.kind == "party" and len(acct.address) == 64 and acct.balance > 0
    page = client.get(reverse("profile")).content.decode()
    assert acct.address in page


@pytest.mark.django_db
def test_token_page_creates_replaces_and_revokes_a_token(client, make_user):
    from rest_framework.authtoken.models import Token

    user = make_user()
    client.force_login(user)
    client.post(reverse("token_create"))
    first = Token.objects.get(user=user).key
    client.post(reverse("token_create"))
    second = Token.objects.get(user=user).key
    assert first != second
    client.post(reverse("token_revoke"))
    assert not Token.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_pages_render_for_a_signed_in_party(client, make_user):
    user = make_user()
    client.force_login(user)
    names = ["home", "profile", "group_list", "group_create", "wallet", "asset_list", "explorer"]
    for name in names:
        r = client.get(reverse(name))
        assert r.status_code == 200, (name, r.status_code)
    wallet = client.get(reverse("wallet")).content.decode()
    assert "faucet grant" in wallet


@pytest.mark.django_db
def test_pages_send_anonymous_users_to_log_in(client):
    for name in ["profile", "wallet", "asset_list", "group_create"]:
        r = client.get(reverse(name))
        assert r.status_code == 302 and "/accounts/login/" in r["Location"], name


@pytest.mark.django_db
def test_explorer_verifies_blocks_and_finds_a_transaction_by_hash_prefix(client, make_user):
    from ledger_app.models import Block

    user = make_user()
    client.force_login(user)
    genesis = Block.objects.order_by("height").first()
    page = client.get(reverse("block_detail", args=[genesis.height])).content.decode()
    assert "FAILED" not in page and "verified" in page
    tx = Transaction.objects.filter(kind="transfer").first()
    r = client.get(reverse("explorer"), {"q": tx.tx_hash[:10]})
    assert r.status_code == 302 and tx.tx_hash in r["Location"]
    page = client.get(r["Location"]).content.decode()
    assert "signature by the sender" in page and "FAILED" not in page


@pytest.mark.django_db
def test_advertising_an_asset_records_a_statement_and_an_asset_transaction(client, make_user):
    user = make_user()
    client.force_login(user)
    r = client.post(
        reverse("asset_list"),
        {"title": "digits", "keywords": "MNIST, digits, mnist", "declared_blocks": "a\nb\nc"},
    )
    assert r.status_code == 302
    asset = Asset.objects.get(owner__user=user)
    assert asset.keywords == ["mnist", "digits"] and asset.n_blocks == 3
    assert asset.transaction.kind == "asset" and len(asset.statement["tags"]) == 3
    assert "data" not in asset.transaction.payload


@pytest.mark.django_db
def test_asset_form_without_blocks_shows_an_error_and_records_nothing(client, make_user):
    user = make_user()
    client.force_login(user)
    before = Transaction.objects.count()
    r = client.post(reverse("asset_list"), {"title": "x", "keywords": "a"})
    assert r.status_code == 200 and "at least one data block" in r.content.decode()
    assert Transaction.objects.count() == before


def test_a_transaction_page_decodes_its_payload_with_links_and_names(client, make_user):
    from frontend.labels import payload_rows
    from ledger_app.models import Account, Block, Transaction

    alice = make_user("alice")
    grant = Transaction.objects.filter(kind="transfer").first()  # alice's sign-up grant
    genesis = Block.objects.get(height=0)
    rows = {r["key"]: r for r in payload_rows({
        "subject": grant.tx_hash, "block": genesis.block_hash, "party": alice.account.address,
        "update_blob": "ab" * 32, "reason": "payback", "phase": "verification", "ok": True,
        "reason_empty": "",
    })}  # fmt: skip
    assert rows["subject"]["href"] == f"/explorer/tx/{grant.tx_hash}/"
    assert rows["block"]["href"] == "/explorer/blocks/0/"
    assert rows["party"]["name"] == alice.account.label and not rows["party"]["href"]
    assert rows["update blob"]["name"] == "content hash of the stored blob"
    assert rows["reason"]["name"] == "Deposit paid back (message verified)"
    assert rows["phase"]["name"] == "T2 verification"
    assert rows["ok"]["text"] == "true" and rows["reason empty"]["text"] == "—"

    client.force_login(alice)
    page = client.get(f"/explorer/tx/{grant.tx_hash}/").content.decode()
    assert 'id="tx-payload"' in page and "Signed JSON" in page
    sender = Account.objects.get(address=grant.sender).label  # a platform account: named
    assert sender and f'<span class="muted" id="tx-sender-name">{sender}</span>' in page
