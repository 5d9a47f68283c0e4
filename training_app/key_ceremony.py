"""The dealerless key ceremony through the platform (``deepchain.crypto.dkg``): the only writer.

The platform is a relay: per message round r every party posts one sealed, signed envelope
per recipient (``dkg.envelope``); the platform checks each envelope's header and outer
signature against the roster (a mis-addressed or unsigned post is refused, 409), stores the
ciphertext in the blob store and, once all N parties have posted, opens round r + 1 with a
new deadline on the trusted clock (``CooperativeGroup.key_round_ms``). It never holds a
private key of a party, so it never sees a body, a share or a factor of N.

Blame (each on chain as a PENALTY naming the party, then the group ends with refunds):
- a party that has not posted when the open round's deadline passes (or, after the last
  round, has not reported its result) is named as stalled;
- a party accused by a recipient with the revealed body and the sender's body signature
  (``envelope.check_evidence``) whose body the platform itself finds inconsistent
  (``dkg.evidence.inconsistency``) is named as inconsistent. An accusation that the platform
  cannot verify ends the ceremony without a penalty (recorded, not attributed).
The key-setup deposit is the stake d each party put in escrow when it joined: a blamed party
forfeits min(d, its stake) to ``pool:<group>``; every other stake comes back in full.

When every party has reported the same PK_model and public transcript, task
``crypto_verify_ceremony`` runs the public checks (``dkg.verify.verify_public_key``) and
records Tran_co with ``key_origin: "dealerless"``, the relay's transcript hash and the public
transcript's blob; then round 1 starts as for a dealer's key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deepchain.canonical import canonical_json
from deepchain.crypto.dkg import DKGParams
from deepchain.crypto.dkg.envelope import EnvelopeError, check_envelope, check_evidence
from deepchain.crypto.dkg.evidence import inconsistency
from deepchain.crypto.dkg.verify import (
    transcript_from_json,
    transcript_to_json,
    verify_public_key,
)
from deepchain.crypto.identity import PublicIdentity
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.incentives.money import Reason
from deepchain.incentives.money import escrow_account as escrow
from deepchain.incentives.money import pool_account as pool
from deepchain.ledger.transactions import TxKind
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish
from ledger_app import services as ledger
from training_app import selectors, services
from training_app.models import CeremonyMessage, CooperativeGroup, KeyCeremony, Membership
from training_app.services import DEALERLESS

#: the phases a DKGParty goes through (what a post may report)
PHASES = ("sieve", "modulus", "biprimality", "key", "share", "test-decryption", "ring-pedersen")
MAX_ROUNDS = 10_000

KC = KeyCeremony


def now_ms() -> int:
    return int(time.time() * 1000)


def params_of(g: CooperativeGroup) -> DKGParams:
    return DKGParams(g.key_bits, g.n_parties, g.threshold)


def ceremony_name(g: CooperativeGroup) -> str:
    """What every envelope of the group's ceremony names (binds it to this group)."""
    return f"{g.address}/key-ceremony"


def round_allowance_ms(g: CooperativeGroup) -> int:
    return int(g.key_round_ms or getattr(settings, "DEEPCHAIN_KEY_ROUND_MS", 300_000))


def _members(g: CooperativeGroup) -> dict[int, Membership]:
    ms = g.members.filter(status=Membership.Status.ACTIVE).select_related("account")
    return {m.party_index: m for m in ms}


def roster(g: CooperativeGroup) -> dict[int, PublicIdentity]:
    return {i: PublicIdentity(sign_pk=m.account.address, box_pk=m.account.box_pk)
            for i, m in _members(g).items()}  # fmt: skip


def _on_commit_task(name: str, *args: Any) -> None:
    """Enqueue training_app.tasks.<name> once the transaction commits (by name: the
    ceremony's tasks module imports this one)."""
    transaction.on_commit(lambda: current_app.send_task(f"training_app.tasks.{name}", args=args))


def _progress(c: KeyCeremony, **extra: Any) -> None:
    publish(c.group_id, "ceremony", status=c.status, round=c.round, phase=c.phase,
            deadline_ms=c.deadline_ms, bytes=c.bytes_relayed, blame=c.blame,
            reason=c.status_reason, **extra)  # fmt: skip


# -- opening and relaying -------------------------------------------------------------------
def open_ceremony(group_id: int) -> bool:
    """Open round 0 of the group's ceremony (the group is in keygen); wake simulated parties.
    False if it is open already."""
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group_id)
        if g.status != CooperativeGroup.Status.KEYGEN or KC.objects.filter(group=g).exists():
            return False
        allowance = round_allowance_ms(g)
        c = KC.objects.create(group=g, round_ms=allowance, deadline_ms=now_ms() + allowance)
        _progress(c)
        if g.members.filter(simulated=True, status=Membership.Status.ACTIVE).exists():
            _on_commit_task("party_ceremony", g.id)
    return True


def _locked(g: CooperativeGroup) -> KeyCeremony:
    c = KC.objects.select_for_update().filter(group=g).first()
    if c is None:
        raise DomainError("this group has no key ceremony (yet)", code="no_ceremony",
                          status_code=404)  # fmt: skip
    return c


def _member(g: CooperativeGroup, user) -> Membership:
    m = g.members.filter(user=user, status=Membership.Status.ACTIVE).first()
    if m is None:
        raise DomainError("only an active party of this group may do this", code="forbidden",
                          status_code=403)  # fmt: skip
    return m


def _settle_due(g: CooperativeGroup) -> None:
    """Apply the trusted clock before a party's request (in its own transaction, so the
    blame stays when the request is then refused)."""
    with transaction.atomic():
        c = KC.objects.select_for_update().filter(group=g).first()
        if c is not None:
            _close_if_due(c, CooperativeGroup.objects.get(pk=g.pk), now_ms())


def _open_or_refuse(c: KeyCeremony) -> None:
    if c.status == KC.Status.FAILED:
        raise DomainError(f"the key ceremony ended: {c.status_reason}", code="ceremony_ended")
    if c.status != KC.Status.RUNNING:
        raise DomainError(f"the key ceremony is {c.status}", code="ceremony_not_running")


@contextlib.contextmanager
def _running_ceremony(group: CooperativeGroup) -> Iterator[tuple[KeyCeremony, CooperativeGroup]]:
    """(the group's ceremony, row-locked, and the group) inside one transaction, after its due
    deadlines are settled; refused unless the ceremony is running."""
    _settle_due(group)
    with transaction.atomic():
        c = _locked(group)
        g = CooperativeGroup.objects.get(pk=group.pk)
        _open_or_refuse(c)
        yield c, g


def post_envelopes(
    *, group: CooperativeGroup, user, round_no: int, phase: str, envelopes: dict[int, bytes]
) -> dict[str, Any]:
    """Party ``user`` posts its envelopes of round ``round_no`` (one per party, itself
    included); the round closes when every party has posted."""
    if phase not in PHASES:
        raise DomainError(f"unknown ceremony phase {phase!r}", code="bad_phase", status_code=400)
    m = _member(group, user)
    with _running_ceremony(group) as (c, g):
        if c.results:
            raise DomainError("the ceremony's message rounds are over", code="rounds_over")
        if round_no != c.round:
            raise DomainError(f"round {c.round} is open, not round {round_no}",
                              code="wrong_round")  # fmt: skip
        if c.messages.filter(round=round_no, sender=m.party_index).exists():
            raise DomainError("you already posted this round", code="already_posted")
        if sorted(envelopes) != list(range(1, g.n_parties + 1)):
            raise DomainError("post exactly one envelope per party 1..N", code="bad_envelopes")
        ros, name = roster(g), ceremony_name(g)
        rows = []
        for j, env in sorted(envelopes.items()):
            try:
                doc = check_envelope(env, ros)
            except EnvelopeError as exc:
                raise DomainError(f"envelope for party {j}: {exc}", code="bad_envelope") from None
            want = {"ceremony": name, "round": round_no, "sender": m.party_index, "recipient": j}
            if any(doc.get(k) != v for k, v in want.items()):
                raise DomainError(f"envelope for party {j} is addressed to another ceremony, "
                                  "round, sender or recipient", code="misaddressed")  # fmt: skip
            rows.append(CeremonyMessage(ceremony=c, round=round_no, sender=m.party_index,
                                        recipient=j, blob=ledger.blob_store().put(env),
                                        size=len(env)))  # fmt: skip
        CeremonyMessage.objects.bulk_create(rows)
        c.phase = phase
        c.bytes_relayed += sum(r.size for r in rows if r.recipient != r.sender)
        posted = c.messages.filter(round=round_no).values("sender").distinct().count()
        if posted == g.n_parties:
            _close_round(c)
        c.save()
        _progress(c, posted=posted)
        return {"round": round_no, "posted": posted, "next_round": c.round}


def _close_round(c: KeyCeremony) -> None:
    """Chain the round's messages into the transcript hash (in (sender, recipient) order) and
    open the next round with a fresh deadline."""
    h = bytes.fromhex(c.transcript_hash)
    for sender, recipient, blob in (
        c.messages.filter(round=c.round)
        .order_by("sender", "recipient")
        .values_list("sender", "recipient", "blob")
    ):
        h = hashlib.sha256(
            h + c.round.to_bytes(4, "big") + sender.to_bytes(4, "big")
            + recipient.to_bytes(4, "big") + bytes.fromhex(blob)
        ).digest()  # fmt: skip
    c.transcript_hash = h.hex()
    if c.round + 1 >= MAX_ROUNDS:
        raise DomainError("the ceremony ran out of rounds", code="too_many_rounds")
    c.round += 1
    c.deadline_ms = now_ms() + c.round_ms


def inbox(*, group: CooperativeGroup, user, round_no: int) -> dict[int, bytes]:
    """The envelopes addressed to ``user`` in a closed round, by sender."""
    m = _member(group, user)
    c = KC.objects.filter(group=group).first()
    if c is None:
        raise DomainError("this group has no key ceremony (yet)", code="no_ceremony",
                          status_code=404)  # fmt: skip
    if round_no >= c.round:
        raise DomainError(f"round {round_no} has not closed (round {c.round} is open)",
                          code="not_ready")  # fmt: skip
    store = ledger.blob_store()
    return {
        s: store.get(b)
        for s, b in c.messages.filter(round=round_no, recipient=m.party_index).values_list(
            "sender", "blob"
        )
    }


# -- results --------------------------------------------------------------------------------
def post_result(*, group: CooperativeGroup, user, public_key: Any, transcript: Any) -> dict:
    """A party that finished reports PK_model and the public transcript it ended with; when
    all N agree, the public checks run (task crypto_verify_ceremony)."""
    try:
        pk = ThresholdPublicKey.from_json(public_key)
        tr = transcript_from_json(transcript)
        if not isinstance(tr, dict):
            raise ValueError("the transcript is not an object")
    except (CryptoFormatError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DomainError(f"not a public key and transcript: {exc}", code="bad_result") from None
    m = _member(group, user)
    store = ledger.blob_store()
    tr_blob = store.put(canonical_json(transcript_to_json(tr)))
    pk_blob = store.put(canonical_json(pk.to_json()))
    with _running_ceremony(group) as (c, g):
        key = str(m.party_index)
        if key in c.results:
            raise DomainError("you already reported your result", code="already_reported")
        c.results = {**c.results, key: {"pk": pk_blob, "transcript": tr_blob}}
        if len(c.results) == 1:
            c.deadline_ms = now_ms() + c.round_ms  # the others report by then
        if len(c.results) == g.n_parties:
            if len({(r["pk"], r["transcript"]) for r in c.results.values()}) != 1:
                _fail(c, g, [], "the parties ended with different keys or transcripts", False)
                c.save()
                return {"status": c.status}
            c.status = KC.Status.VERIFYING
            c.transcript_blob = tr_blob
            _on_commit_task("crypto_verify_ceremony", c.id)
        c.save()
        _progress(c, reported=len(c.results))
        return {"status": c.status, "reported": len(c.results)}


def verify_ceremony(ceremony_id: int) -> bool:
    """Public checks of the reported key; on success Tran_co (key_origin dealerless) and
    round 1, else the group fails with refunds. Idempotent (False when already decided)."""
    c = KC.objects.select_related("group").get(pk=ceremony_id)
    if c.status != KC.Status.VERIFYING:
        return False
    g = c.group
    store = ledger.blob_store()
    first = next(iter(c.results.values()))
    pk = ThresholdPublicKey.from_json(json.loads(store.get(first["pk"])))
    tr = transcript_from_json(json.loads(store.get(c.transcript_blob)))
    ok = services.key_fits_group(pk, g) and verify_public_key(pk, tr, g.key_bits)
    if not ok:
        with transaction.atomic():
            c = _locked(g)
            if c.status == KC.Status.VERIFYING:
                _fail(c, g, [], "the reported key failed the public checks", False)
                c.save()
        return False
    members = selectors.active_members(g)
    origin = {
        "key_origin": DEALERLESS,
        "ceremony": {"transcript_hash": c.transcript_hash, "transcript_blob": c.transcript_blob,
                     "rounds": c.round, "bytes": c.bytes_relayed},
    }  # fmt: skip
    with transaction.atomic():
        c = _locked(g)
        if c.status != KC.Status.VERIFYING:
            return False
        if not services.record_group_key(g.id, pk, members, [], origin):
            return False
        c.status, c.ended_at = KC.Status.DONE, timezone.now()
        c.save()
        _progress(c, pk_model=pk.fingerprint())
    return True


# -- blame ----------------------------------------------------------------------------------
def accuse(
    *,
    group: CooperativeGroup,
    user,
    round_no: int,
    reason: str,
    accused: int | None = None,
    body: bytes | None = None,
    body_signature: bytes | None = None,
) -> dict[str, Any]:
    """A recipient reports a message that failed its checks. With the revealed body and the
    sender's body signature, the platform verifies the evidence and re-runs the check: if it
    holds, the sender is named and forfeits its key-setup deposit; otherwise the ceremony
    ends unattributed (refunds, no penalty). Either way no key results."""
    m = _member(group, user)
    with _running_ceremony(group) as (c, g):
        why = None
        if accused is not None and body is not None and body_signature is not None:
            msg = c.messages.filter(round=round_no, sender=accused,
                                    recipient=m.party_index).first()  # fmt: skip
            if msg is None:
                raise DomainError("no such envelope to you from that party in that round",
                                  code="no_envelope", status_code=404)  # fmt: skip
            env = ledger.blob_store().get(msg.blob)
            if check_evidence(env, body, body_signature, roster(g)):
                why = inconsistency(body, round_no, m.party_index, g.threshold)
        accuser = f"party {m.party_index}"
        if why is not None:
            _fail(c, g, [int(accused)], f"sent an inconsistent message in round {round_no} "
                                        f"({why}; shown by {accuser})", True)  # fmt: skip
        else:
            claim = f"{accuser} reported: {reason.strip()[:200]}"
            _fail(c, g, [], f"{claim} (not verifiable from the revealed message)", False)
        c.save()
        return {"status": c.status, "blame": c.blame}


def _close_if_due(c: KeyCeremony, g: CooperativeGroup, now: int) -> bool:
    """A running ceremony past its deadline: name every party that has not posted the open
    round (or, after the last round, has not reported its result). True if it ended."""
    if c.status != KC.Status.RUNNING or now <= c.deadline_ms:
        return False
    if g.status != CooperativeGroup.Status.KEYGEN:  # the group ended meanwhile (aborted)
        c.status, c.status_reason, c.ended_at = KC.Status.FAILED, g.status_reason, timezone.now()
        c.save()
        return True
    everyone = set(range(1, g.n_parties + 1))
    if c.results:
        late = everyone - {int(k) for k in c.results}
        what = "did not report its result before the deadline"
    else:
        posted = set(c.messages.filter(round=c.round).values_list("sender", flat=True))
        late = everyone - posted
        what = f"sent nothing in round {c.round} ({c.phase}) before the deadline"
    _fail(c, g, sorted(late), what, True)
    c.save()
    return True


def close_due(now: int | None = None) -> int:
    """Beat: end every running ceremony whose open round is past its deadline."""
    now = now_ms() if now is None else now
    ended = 0
    for cid in KC.objects.filter(status=KC.Status.RUNNING, deadline_ms__lt=now).values_list(
        "id", flat=True
    ):
        with transaction.atomic():
            c = KC.objects.select_for_update().select_related("group").get(pk=cid)
            ended += _close_if_due(c, c.group, now)
    return ended


def _fail(c: KeyCeremony, g: CooperativeGroup, parties: list[int], why: str, named: bool) -> None:
    """End the ceremony (inside the caller's transaction): each named party forfeits
    min(d, its stake) to the pool (PENALTY on chain, naming it); the group then ends
    ``failed`` and every remaining stake comes back."""
    g = CooperativeGroup.objects.select_for_update().get(pk=g.pk)
    members = _members(g)
    blame = list(c.blame)
    for i in parties:
        m = Membership.objects.select_for_update().get(pk=members[i].pk)
        amount = min(int(g.deposit), int(m.stake_remaining))
        if amount > 0:
            ledger.move_money(
                source=escrow(g.address), destination=pool(g.address), amount=amount,
                kind=TxKind.PENALTY, reason=Reason.PENALTY_KEY_SETUP.value,
                signer=ledger.authority_identity(), group=g.address,
                extra={"party": m.account.address, "key_ceremony_round": c.round,
                       "key_ceremony_phase": c.phase, "why": why[:300]},
            )  # fmt: skip
            m.stake_remaining -= amount
            m.save(update_fields=["stake_remaining"])
        blame.append({"party": i, "address": m.account.address, "round": c.round,
                      "phase": c.phase, "reason": why[:300], "proven": named,
                      "forfeited": amount})  # fmt: skip
    if not parties:
        blame.append({"party": None, "address": "", "round": c.round, "phase": c.phase,
                      "reason": why[:300], "proven": False, "forfeited": 0})  # fmt: skip
    names = ", ".join(f"P{i}" for i in parties)
    reason = f"key ceremony: {names + ' ' if names else ''}{why}"
    c.blame, c.status, c.status_reason, c.ended_at = blame, KC.Status.FAILED, reason, timezone.now()
    if g.status == CooperativeGroup.Status.KEYGEN:
        services.end_group(g, CooperativeGroup.Status.FAILED, reason)
    _progress(c)


# -- reads ----------------------------------------------------------------------------------
def ceremony_state(g: CooperativeGroup, m: Membership | None) -> dict[str, Any] | None:
    """The ceremony as agents and the dashboard see it (public data only)."""
    c = KC.objects.filter(group=g).first()
    if c is None:
        return None
    posted = sorted(set(c.messages.filter(round=c.round).values_list("sender", flat=True)))
    state = {
        "ceremony": ceremony_name(g), "group_address": g.address, "status": c.status,
        "round": c.round, "phase": c.phase, "phases": list(PHASES),
        "deadline_ms": c.deadline_ms, "now_ms": now_ms(), "round_ms": c.round_ms,
        "n_bits": g.key_bits, "N": g.n_parties, "t": g.threshold,
        "posted": posted, "reported": sorted(int(k) for k in c.results),
        "transcript_hash": c.transcript_hash, "bytes_relayed": c.bytes_relayed,
        "blame": c.blame, "reason": c.status_reason, "key_origin": g.key_origin,
        "roster": [{"index": i, "address": p.sign_pk, "box_pk": p.box_pk}
                   for i, p in sorted(roster(g).items())],
        "me": None,
    }  # fmt: skip
    if m is not None and m.party_index:
        state["me"] = {"index": m.party_index, "posted": m.party_index in posted,
                       "reported": str(m.party_index) in c.results}  # fmt: skip
    return state
