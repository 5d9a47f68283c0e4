"""Submissions and their verification (paper section 4.2.4, T1, T2 and T5).

T1 gradient_submission: C(dW) + Proof_PK with a signed GRADIENT and a DEPOSIT of d; T2
verification: fsver1 (task crypto_verify_gradient); T5 decryption_share: c_i + Proof_CD with a
deposit (fsver2, task crypto_verify_share), or a signed refusal. Every submission checks the
clock itself, so a late message is refused (and its sender penalised at settlement) even when
the beat is behind; a copied ciphertext is refused at once. Each verdict is a VERIFY
transaction on chain."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from django.db import transaction

from deepchain.blobs import blob_hash
from deepchain.crypto.duplicates import ciphertext_digest, find_duplicate
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.zk.transcript import ProofContext
from deepchain.incentives.clock import LateError, Phase, RoundSchedule
from deepchain.incentives.money import Reason
from deepchain.incentives.money import escrow_account as escrow
from deepchain.ledger.transactions import TxKind
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish
from ledger_app import services as ledger
from training_app import selectors
from training_app.models import (
    CooperativeGroup,
    Membership,
    Metric,
    Round,
    SeenCiphertext,
    Submission,
)
from training_app.services.clock import advance_round, now_ms, verify_task
from training_app.services.parties import parse_party_tx

S = Submission


def _deposit_tx(m: Membership, g: CooperativeGroup, r: Round, phase: Phase, signed: Any) -> Any:
    """The party's deposit d for one message: its own signed DEPOSIT, or (custodial, only in a
    simulated group) ours."""
    if signed is None and not g.simulated:
        raise DomainError("a party of a real group signs its own deposit", code="bad_tx")
    if signed is not None:
        tx = parse_party_tx(signed, TxKind.DEPOSIT, m, g, r.number, phase.value)
        if int(tx.payload.get("amount", -1)) != int(g.deposit):
            raise DomainError(f"the deposit must be exactly d = {g.deposit}", code="bad_amount")
        return ledger.submit_signed_transaction(tx=tx)
    return ledger.move_money(
        source=m.account.address,
        destination=escrow(g.address),
        amount=int(g.deposit),
        kind=TxKind.DEPOSIT,
        reason=Reason.DEPOSIT.value,
        signer=ledger.party_identity(m.account),
        group=g.address,
        round=r.number,
        phase=phase.value,
    )


def _lock_round_for_party(
    group, round_number: int, membership
) -> tuple[Round, CooperativeGroup, Membership]:
    """(round r locked for update, its group, the sender's membership) inside the caller's
    transaction; DomainError 403 unless the sender is an active party of the group."""
    r = (
        Round.objects.select_for_update()
        .select_related("group")
        .get(group=group.pk, number=round_number)
    )
    g = r.group
    m = Membership.objects.select_related("account").get(pk=membership.pk, group=g)
    if m.status != Membership.Status.ACTIVE:
        raise DomainError(
            "you are not an active party of this group", code="forbidden", status_code=403
        )
    return r, g, m


def _check_on_time(sched: RoundSchedule, phase: Phase, at: int) -> None:
    """The clock check every submission makes: LateError after the phase's deadline, or once
    the clock closed the phase even if ``at`` is before its deadline."""
    sched.check_on_time(phase, at)
    if sched.is_closed(phase):
        raise LateError(phase, sched.deadline(phase), at)


def _submit(
    *,
    kind: str,
    phase: Phase,
    group,
    round_number: int,
    membership,
    blob: bytes,
    signed_tx: dict | None,
    signed_deposit: dict | None,
    blob_key: str,
    at_ms: int | None,
) -> Submission:
    at = now_ms() if at_ms is None else at_ms
    late_reason = refused = None
    with transaction.atomic():
        r, g, m = _lock_round_for_party(group, round_number, membership)
        if r.submissions.filter(membership=m, kind=kind).exists():
            raise DomainError(f"you already submitted your {kind} this round", code="duplicate")
        if signed_tx is None:
            raise DomainError("the signed transaction is missing", code="bad_tx")
        tx = parse_party_tx(signed_tx, TxKind(kind), m, g, r.number, phase.value)
        h = blob_hash(blob)
        if tx.payload.get(blob_key) != h:
            raise DomainError(
                f"the transaction's {blob_key} is not the uploaded blob", code="bad_tx"
            )
        sched = selectors.schedule_of(r)
        try:
            _check_on_time(sched, phase, at)
        except LateError as exc:
            late_reason = str(exc)
            sub = Submission.objects.create(
                round=r, membership=m, kind=kind, blob="", size_bytes=len(blob),
                status=S.Status.LATE, reason=late_reason,
            )  # fmt: skip
            publish(g.id, "submission", round=r.number, kind=kind, party=m.account.address,
                    status="late", reason=late_reason)  # fmt: skip
        else:
            if at < sched.opens_at(phase):
                raise DomainError(f"{phase.value} is not open yet", code="not_open")
            digests = _update_digests(g, blob) if kind == S.Kind.GRADIENT else None
            dup = None
            if digests:
                dup = find_duplicate(digests, selectors.seen_in_group(g, digests), tx.tx_hash)
            _deposit_tx(m, g, r, phase, signed_deposit)
            row = ledger.submit_signed_transaction(tx=tx)
            stored = ledger.blob_store().put(blob)
            sub = Submission.objects.create(
                round=r, membership=m, kind=kind, blob=stored, size_bytes=len(blob),
                status=S.Status.PENDING, transaction=row,
            )  # fmt: skip
            publish(g.id, "submission", round=r.number, kind=kind, party=m.account.address,
                    status="pending", bytes=len(blob))  # fmt: skip
            if dup is not None:  # refused at once: VERIFY(ok=False, reason) on chain, penalty at T2
                refused = dup.reason()
                record_verification(
                    submission_id=sub.id, ok=False, reason=refused, duplicate_of=dup.first
                )
            else:
                if digests:
                    SeenCiphertext.objects.bulk_create(
                        [SeenCiphertext(group=g, digest=d, tx_hash=tx.tx_hash) for d in digests]
                    )
                transaction.on_commit(partial(verify_task(kind).delay, sub.id))
    if late_reason is not None:
        ledger.record_rejection(tx_dict_or_summary=tx, reason=f"late: {late_reason}")
        raise DomainError(f"refused: {late_reason}", code="late")
    if refused is not None:
        advance_round(r.id)
        raise DomainError(f"refused: {refused}", code="duplicate_ciphertext", status_code=409)
    return sub


def _update_digests(g: CooperativeGroup, blob: bytes) -> list[str] | None:
    """The ciphertext digests of an update blob (None if it does not parse: the verifier
    rejects it as malformed, and it registers nothing, as in the auditor)."""
    from deepchain.crypto.serialize import CryptoFormatError
    from deepchain.crypto.vector import EncryptedUpdate

    try:
        upd = EncryptedUpdate.from_bytes(blob, selectors.public_key_of(g))
    except (CryptoFormatError, ValueError):
        return None
    return [ciphertext_digest(c) for c in upd.ciphertexts]


def submit_gradient(
    *,
    group,
    round_number: int,
    membership,
    update_blob: bytes,
    signed_tx: dict | None,
    signed_deposit: dict | None = None,
    at_ms: int | None = None,
) -> Submission:
    """T_t1: C(dW) + Proof_PK (blob) with the party's signed GRADIENT tx and its deposit d."""
    return _submit(
        kind=S.Kind.GRADIENT, phase=Phase.T1, group=group, round_number=round_number,
        membership=membership, blob=update_blob, signed_tx=signed_tx,
        signed_deposit=signed_deposit, blob_key="update_blob", at_ms=at_ms,
    )  # fmt: skip


def submit_decryption_share(
    *,
    group,
    round_number: int,
    membership,
    share_blob: bytes,
    signed_tx: dict | None,
    signed_deposit: dict | None = None,
    at_ms: int | None = None,
) -> Submission:
    """T_t5: c_i + Proof_CD (blob) with the party's signed DECRYPTION_SHARE tx and deposit d."""
    r = Round.objects.get(group=group.pk, number=round_number)
    if not r.aggregate_blob:
        raise DomainError("there is no aggregate to decrypt yet", code="not_open")
    if r.submissions.filter(membership=membership, kind=S.Kind.DECRYPTION_REFUSAL).exists():
        raise DomainError("you refused to decrypt this round's aggregate", code="duplicate")
    return _submit(
        kind=S.Kind.DECRYPTION_SHARE, phase=Phase.T5, group=group, round_number=round_number,
        membership=membership, blob=share_blob, signed_tx=signed_tx,
        signed_deposit=signed_deposit, blob_key="share_blob", at_ms=at_ms,
    )  # fmt: skip


def submit_decryption_refusal(
    *, group, round_number: int, membership, signed_tx: dict | None, at_ms: int | None = None
) -> Submission:
    """T_t5: a party's signed DECRYPTION_REFUSAL of the round's aggregate, with its reason
    (its agent could not verify the aggregate against the chain). Recorded on chain and on
    the dashboard; it carries no deposit and the Decryption settlement neither penalises nor
    pays the party. Refused after the party's share, a second time, or after T_t5."""
    at = now_ms() if at_ms is None else at_ms
    with transaction.atomic():
        r, g, m = _lock_round_for_party(group, round_number, membership)
        if r.submissions.filter(
            membership=m, kind__in=[S.Kind.DECRYPTION_SHARE, S.Kind.DECRYPTION_REFUSAL]
        ).exists():
            raise DomainError("you already answered this round's decryption", code="duplicate")
        if signed_tx is None:
            raise DomainError("the signed transaction is missing", code="bad_tx")
        tx = parse_party_tx(signed_tx, TxKind.DECRYPTION_REFUSAL, m, g, r.number, Phase.T5.value)
        reason = tx.payload.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 300:
            raise DomainError("a refusal states its reason (1 to 300 characters)",
                              code="bad_reason")  # fmt: skip
        sched = selectors.schedule_of(r)
        if not r.aggregate_blob:
            raise DomainError("there is no aggregate to refuse yet", code="not_open")
        try:
            _check_on_time(sched, Phase.T5, at)
        except LateError as exc:
            raise DomainError(f"refused: {exc}", code="late") from None
        row = ledger.submit_signed_transaction(tx=tx)
        sub = Submission.objects.create(
            round=r, membership=m, kind=S.Kind.DECRYPTION_REFUSAL, blob="", size_bytes=0,
            status=S.Status.ACCEPTED, reason=reason, transaction=row,
        )  # fmt: skip
        publish(g.id, "refusal", round=r.number, party=m.account.address,
                index=m.party_index, reason=reason, tx=row.tx_hash)  # fmt: skip
    advance_round(r.id)
    return sub


def record_verification(
    *, submission_id: int, ok: bool, reason: str = "", duplicate_of: str | None = None
) -> bool:
    """fsver1/fsver2 verdict of a pending submission: VERIFY tx on chain. Idempotent.
    ``duplicate_of``: the gradient tx whose ciphertext this one copies (a copy refusal)."""
    with transaction.atomic():
        sub = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("round__group", "membership__account", "transaction")
            .get(pk=submission_id)
        )
        if sub.status != S.Status.PENDING:
            return False
        sub.status = S.Status.ACCEPTED if ok else S.Status.REJECTED
        sub.reason = reason
        sub.save(update_fields=["status", "reason"])
        g, r = sub.round.group, sub.round
        ledger.submit_transaction(
            kind=TxKind.VERIFY,
            signer=ledger.authority_identity(),
            group=g.address,
            round=r.number,
            phase=Phase.T2.value if sub.kind == S.Kind.GRADIENT else Phase.T5.value,
            payload={
                "subject": sub.transaction.tx_hash if sub.transaction else "",
                "what": "proof_pk" if sub.kind == S.Kind.GRADIENT else "proof_cd",
                "party": sub.membership.account.address,
                "blob": sub.blob,
                "ok": bool(ok),
                "reason": reason[:200],
                **({"duplicate_of": duplicate_of} if duplicate_of is not None else {}),
            },
        )
        publish(g.id, "verification", round=r.number, kind=sub.kind,
                party=sub.membership.account.address, ok=bool(ok), reason=reason)  # fmt: skip
    return True


def record_metrics(
    *, group, round_number: int, membership, accuracy: float, loss: float,
    seconds: dict | None = None, bytes_sent: int = 0,
) -> Metric:  # fmt: skip
    """A party's validation accuracy/loss after round r (one per party and round)."""
    if not (0.0 <= accuracy <= 1.0) or not np.isfinite(loss) or loss < 0:
        raise DomainError(
            "accuracy must be in [0, 1] and loss a finite number >= 0", code="bad_metric"
        )
    secs = {str(k)[:40]: float(v) for k, v in (seconds or {}).items() if isinstance(v, int | float)}
    with transaction.atomic():
        r = Round.objects.select_for_update().get(group=group.pk, number=round_number)
        if not r.result_blob:
            raise DomainError("this round has no result yet", code="not_open")
        metric, created = Metric.objects.get_or_create(
            round=r, membership=membership,
            defaults={"accuracy": accuracy, "loss": loss, "seconds": secs,
                      "bytes_sent": bytes_sent},
        )  # fmt: skip
        if created:
            publish(group.id, "metrics", round=r.number, party=membership.account.address,
                    index=membership.party_index, accuracy=accuracy, loss=loss)  # fmt: skip
    return metric


def verify_gradient(submission_id: int) -> bool:
    """fsver1 on a pending gradient: format, length = model size, every Proof_PK verifies,
    and the slot-bound proof shows every coordinate within the group's bound."""
    from deepchain.crypto.serialize import CryptoFormatError
    from deepchain.crypto.vector import EncryptedUpdate, update_refusal
    from deepchain.learning.models import build_model, param_count

    sub = Submission.objects.select_related("round__group", "membership__account").get(
        pk=submission_id
    )
    if sub.status != S.Status.PENDING:
        return False
    g = sub.round.group
    pk, scheme = selectors.public_key_of(g), selectors.scheme_of(g)
    ctx = submission_context(pk, sub, Phase.T1)
    ok, reason = False, ""
    try:
        upd = EncryptedUpdate.from_bytes(ledger.blob_store().get(sub.blob), pk)
        if upd.length != param_count(build_model(g.model_name)):
            reason = "update length does not match the model"
        else:
            reason = update_refusal(pk, scheme, upd, ctx=ctx)
            ok = not reason
    except (CryptoFormatError, ValueError) as exc:
        reason = f"malformed update: {exc}"
    changed = record_verification(submission_id=submission_id, ok=ok, reason=reason)
    advance_round(sub.round_id)
    return changed


def submission_context(pk: ThresholdPublicKey, sub: Submission, phase: Phase) -> ProofContext:
    """The proof context a verifier expects for a submission: this key, the group, the round,
    the phase and the SENDER's party index and address as recorded (never the blob's)."""
    from deepchain.crypto.vector import proof_context

    m = sub.membership
    return proof_context(
        pk, sub.round.group.address, sub.round.number, phase.value, m.party_index,
        m.account.address,
    )  # fmt: skip


def verify_share(submission_id: int) -> bool:
    """fsver2 on a pending decryption share: index = the party's, Proof_CD verifies."""
    from deepchain.crypto.serialize import CryptoFormatError
    from deepchain.crypto.vector import DecryptionShare, EncryptedUpdate, verify_decryption_share

    sub = Submission.objects.select_related("round__group", "membership__account").get(
        pk=submission_id
    )
    if sub.status != S.Status.PENDING:
        return False
    r, g = sub.round, sub.round.group
    pk, store = selectors.public_key_of(g), ledger.blob_store()
    ctx = submission_context(pk, sub, Phase.T5)
    ok, reason = False, ""
    try:
        cts = EncryptedUpdate.from_bytes(store.get(r.aggregate_blob), pk).ciphertexts
        ds = DecryptionShare.from_bytes(store.get(sub.blob), pk)
        if ds.i != sub.membership.party_index:
            reason = "share index is not the party's index"
        elif len(ds.c_is) != len(cts):
            reason = "share length does not match the aggregate"
        else:
            ok = verify_decryption_share(pk, cts, ds, ctx=ctx)
            reason = "" if ok else "Proof_CD does not verify"
    except (CryptoFormatError, ValueError) as exc:
        reason = f"malformed share: {exc}"
    changed = record_verification(submission_id=submission_id, ok=ok, reason=reason)
    advance_round(r.id)
    return changed
