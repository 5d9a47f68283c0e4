"""The platform as a hostile party's relay in the dealerless key ceremony: what it refuses and
whom it names. Real DKG parties (512-bit keys), real signatures and sealed boxes, the real
API (APIClient) and ledger; no Celery needed: the test plays the parties, malicious ones too.
"""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from deepchain.crypto.dkg import DKGParams, DKGParty
from deepchain.crypto.dkg.envelope import open_signed, seal_message
from deepchain.crypto.identity import Identity
from ledger_app import selectors as ledger_selectors
from ledger_app import services as ledger
from ledger_app.models import Account, Transaction
from training_app import key_ceremony, services
from training_app.models import CeremonyMessage, CooperativeGroup, KeyCeremony

pytestmark = pytest.mark.django_db

N, T, BITS, DEPOSIT = 3, 2, 512, 30


@pytest.fixture
def ceremony(make_user):
    users = [make_user() for _ in range(N)]
    g = services.create_group(
        initiator=users[0], name="relay", n_parties=N, threshold=T, rounds=1, deposit=DEPOSIT,
        key_bits=BITS, key_origin="dealerless", key_round_ms=60_000, simulated=True,
    )  # fmt: skip
    for u in users:
        services.join_group(group=g, user=u, data_size=10)
    CooperativeGroup.objects.filter(pk=g.pk).update(status=CooperativeGroup.Status.KEYGEN)
    assert key_ceremony.open_ceremony(g.id)
    g.refresh_from_db()
    idents = {
        i + 1: ledger.party_identity(Account.objects.get(user=u)) for i, u in enumerate(users)
    }
    clients = {}
    for i, u in enumerate(users):
        clients[i + 1] = APIClient()
        clients[i + 1].force_authenticate(u)
    return {"g": g, "users": users, "ids": idents, "api": clients}


def _bad_signature(env: bytes) -> bytes:
    hlen = int.from_bytes(env[:4], "big")
    return env[: 4 + hlen] + bytes([env[4 + hlen] ^ 1]) + env[5 + hlen :]


def _post(w, i: int, rnd: int, bodies: dict[int, bytes], signer: Identity | None = None,
          tamper=lambda env: env, **hdr):  # fmt: skip
    g, ros = w["g"], key_ceremony.roster(w["g"])
    me = signer or w["ids"][i]
    envs = {
        str(j): base64.b64encode(tamper(
            seal_message(hdr.get("ceremony", key_ceremony.ceremony_name(g)),
                         hdr.get("round", rnd), hdr.get("sender", i), j, body, me, ros[j]))
        ).decode()
        for j, body in bodies.items()
    }  # fmt: skip
    payload = {"round": rnd, "phase": "sieve", "envelopes": envs}
    return w["api"][i].post(f"/api/groups/{g.id}/ceremony/messages/", payload, format="json")


def _run_round(w, parties, rnd: int) -> dict[int, dict[int, tuple[bytes, bytes]]]:
    """Every party posts round ``rnd``; returns each party's opened inbox (body, signature)."""
    for p in parties.values():
        assert _post(w, p.i, rnd, p.outgoing()).status_code == 202
    g, ros = w["g"], key_ceremony.roster(w["g"])
    got = {}
    for i in parties:
        r = w["api"][i].get(f"/api/groups/{g.id}/ceremony/inbox/{rnd}/")
        assert r.status_code == 200
        got[i] = {
            int(j): open_signed(base64.b64decode(e), key_ceremony.ceremony_name(g), rnd, int(j),
                                w["ids"][i], i, ros)
            for j, e in r.json()["envelopes"].items()
        }  # fmt: skip
    return got


def _nothing_stored(w) -> None:
    assert not CeremonyMessage.objects.filter(ceremony__group=w["g"]).exists()


def test_it_refuses_envelopes_for_another_round_ceremony_or_sender_and_unsigned_ones(ceremony):
    w = ceremony
    body = {j: b"x" for j in range(1, N + 1)}
    for hdr in ({"round": 1}, {"ceremony": "co-other/key-ceremony"}, {"sender": 2}):
        r = _post(w, 1, 0, body, **hdr)
        assert r.status_code == 409 and r.json()["message"], hdr
    r = _post(w, 1, 0, body, signer=w["ids"][2])  # another party's key and address
    assert r.status_code == 409 and "roster" in r.json()["message"]
    r = _post(w, 1, 0, body, tamper=_bad_signature)
    assert r.status_code == 409 and "not signed by its sender" in r.json()["message"]
    r = _post(w, 1, 0, {1: b"x", 2: b"x"})  # not one per party
    assert r.status_code == 409 and "one envelope per party" in r.json()["message"]
    _nothing_stored(w)
    assert _post(w, 1, 0, body).status_code == 202
    assert _post(w, 1, 0, body).status_code == 409  # once per round
    r = w["api"][1].get(f"/api/groups/{w['g'].id}/ceremony/inbox/0/")
    assert r.status_code == 409  # the round has not closed: nobody reads early


def test_the_relay_stores_ciphertext_only_and_a_round_closes_when_all_have_posted(ceremony):
    w = ceremony
    params = DKGParams(BITS, N, T)
    parties = {i: DKGParty(i, params) for i in range(1, N + 1)}
    got = _run_round(w, parties, 0)
    c = KeyCeremony.objects.get(group=w["g"])
    assert c.round == 1 and c.transcript_hash != "0" * 64
    for i, p in parties.items():
        p.deliver({j: body for j, (body, _sig) in got[i].items()})
        for body, _sig in got[i].values():
            for msg in CeremonyMessage.objects.filter(ceremony=c):
                assert body not in ledger.blob_store().get(msg.blob)


def test_a_forged_body_is_not_evidence_and_the_accusation_names_nobody(ceremony):
    w = ceremony
    parties = {i: DKGParty(i, DKGParams(BITS, N, T)) for i in range(1, N + 1)}
    got = _run_round(w, parties, 0)
    body, sig = got[1][2]  # party 2's honest message to party 1
    forged = b"\x00garbage"  # malformed: inconsistent, were it party 2's
    g = w["g"]
    r = w["api"][1].post(f"/api/groups/{g.id}/ceremony/blame/", {
        "round": 0, "reason": "it is wrong", "accused": 2,
        "body": base64.b64encode(forged).decode(), "body_signature": sig.hex(),
    }, format="json")  # fmt: skip
    assert r.status_code == 200
    c = KeyCeremony.objects.get(group=g)
    g.refresh_from_db()
    assert c.status == KeyCeremony.Status.FAILED and g.status == CooperativeGroup.Status.FAILED
    assert [b["party"] for b in c.blame] == [None] and not c.blame[0]["proven"]
    assert not Transaction.objects.filter(group_ref=g.address, kind="penalty").exists()
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0  # every stake came back
    assert ledger_selectors.balance(f"pool:{g.address}") == 0


def test_an_honest_body_revealed_by_its_recipient_is_not_found_inconsistent(ceremony):
    w = ceremony
    parties = {i: DKGParty(i, DKGParams(BITS, N, T)) for i in range(1, N + 1)}
    got = _run_round(w, parties, 0)
    body, sig = got[1][2]
    g = w["g"]
    r = w["api"][1].post(f"/api/groups/{g.id}/ceremony/blame/", {
        "round": 0, "reason": "it is wrong", "accused": 2,
        "body": base64.b64encode(body).decode(), "body_signature": sig.hex(),
    }, format="json")  # fmt: skip
    assert r.status_code == 200
    c = KeyCeremony.objects.get(group=g)
    assert [b["party"] for b in c.blame] == [None]  # signed by P2, but not inconsistent
    assert not Transaction.objects.filter(group_ref=g.address, kind="penalty").exists()


def test_a_party_past_the_deadline_is_named_when_anyone_next_calls(ceremony):
    w = ceremony
    g = w["g"]
    body = {j: b"x" for j in range(1, N + 1)}
    assert _post(w, 1, 0, body).status_code == 202
    assert _post(w, 2, 0, body).status_code == 202
    KeyCeremony.objects.filter(group=g).update(deadline_ms=key_ceremony.now_ms() - 1)
    r = _post(w, 3, 0, body)  # too late: the clock closed the round before this post
    assert r.status_code == 409 and "ended" in r.json()["message"]
    c = KeyCeremony.objects.get(group=g)
    assert [(b["party"], b["proven"]) for b in c.blame] == [(3, True)]
    pen = Transaction.objects.get(group_ref=g.address, kind="penalty")
    assert pen.payload["reason"] == "penalty:key_setup" and pen.payload["amount"] == DEPOSIT
    assert pen.payload["party"] == w["ids"][3].address
    assert ledger_selectors.balance(f"pool:{g.address}") == DEPOSIT
    assert ledger_selectors.balance(f"escrow:{g.address}") == 0
    total, supply = ledger_selectors.total_supply_check()
    assert total == supply


def test_the_dashboard_shows_the_ceremony_phase_progress_and_blame(ceremony):
    from frontend import story
    from frontend.narrator import Narrator

    w = ceremony
    g = w["g"]
    told: list[str] = []
    narrator = Narrator(g.id, "http://demo", told.append)
    narrator.poll()
    assert any(t.startswith("[key ceremony] phase sieve (message round 0)") for t in told)
    steps = [s["what"] for s in story.key_setup(g)["steps"]]
    assert any("dealerless key ceremony" in s for s in steps)
    assert any("phase sieve: message round 0, 0 of 3 parties posted" in s for s in steps)
    body = {j: b"x" for j in range(1, N + 1)}
    assert _post(w, 1, 0, body).status_code == 202
    steps = [s["what"] for s in story.key_setup(g)["steps"]]
    assert any("1 of 3 parties posted" in s for s in steps), steps
    KeyCeremony.objects.filter(group=g).update(deadline_ms=key_ceremony.now_ms() - 1)
    key_ceremony.close_due()
    g.refresh_from_db()
    steps = [s["what"] for s in story.key_setup(g)["steps"]]
    assert any(s.startswith("blame: P2: sent nothing in round 0") for s in steps), steps
    assert any(s.startswith("blame: P3:") and f"forfeited {DEPOSIT}" in s for s in steps)
    narrator.poll()  # the demo's terminal story tells the same
    assert any(
        t.startswith("[key ceremony] failed: key ceremony: P2, P3 sent nothing") for t in told
    )
    assert any(t.startswith(f"[key ceremony] penalty {DEPOSIT} from P3") for t in told), told
    browser = Client()
    browser.force_login(w["users"][0])
    page = browser.get(reverse("group_detail", args=[g.id]))
    assert page.status_code == 200 and b'data-key-origin="dealerless"' in page.content
