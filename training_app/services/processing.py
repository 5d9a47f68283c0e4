"""Processing and combine (paper section 4.2.4, T7-T9 and T6).

T7-T9 update/verify/append: the workers' Processing contract (task process_aggregate, queue
consensus) multiplies the accepted gradients into C(sum dW) and appends it on > 2/3 approvals;
T6 return: any t valid decryption shares combine to the exact integer sum S, from which W_r and
its test accuracy follow (task crypto_combine)."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction

from deepchain.incentives.clock import Phase
from deepchain.incentives.money import Reason
from deepchain.ledger.transactions import TxKind
from deepchain.wire import floats_to_bytes
from deepchain_web.events import publish
from ledger_app import services as ledger
from ledger_app.models import WorkerNode
from training_app import selectors
from training_app.models import Metric, Round, Submission
from training_app.services.clock import DECODE_FAILED, advance_round, now_ms
from training_app.services.parties import wake_simulated_parties

S = Submission


def worker_fee() -> int:
    """The Processing fee per paid worker in DeepCoin (setting ``DEEPCHAIN_WORKER_FEE``)."""
    return int(getattr(settings, "DEEPCHAIN_WORKER_FEE", 1))


def process_aggregate(round_id: int) -> bool:
    """Workers: C(sum dW) = prod_j C(dW_j) of the accepted gradients; update by a proposer,
    verify by every worker (recompute), append on > 2/3 approvals; AGGREGATE tx; worker fees.
    Idempotent (returns False when the aggregate is already appended)."""
    from deepchain.crypto.vector import EncryptedUpdate, aggregate
    from deepchain.incentives.processing import ProcessingContract

    r = Round.objects.select_related("group").get(pk=round_id)
    g = r.group
    if r.aggregate_blob or r.status_reason or Phase.T3.value not in r.closed_phases:
        return False
    pk, store = selectors.public_key_of(g), ledger.blob_store()
    subs = list(
        r.submissions.filter(kind=S.Kind.GRADIENT, status=S.Status.ACCEPTED)
        .select_related("membership__account", "transaction")
        .order_by("membership__party_index")
    )
    grads = {}
    length = None
    for sub in subs:
        upd = EncryptedUpdate.from_bytes(store.get(sub.blob), pk)
        grads[sub.membership.account.address] = tuple(upd.ciphertexts)
        length = upd.length
    nodes = list(WorkerNode.objects.select_related("account").order_by("name"))
    workers = [n.account.address for n in nodes]
    proposer = nodes[(r.number - 1) % len(nodes)]
    contract = ProcessingContract(
        g.address, workers, selectors.schedule_of(r), (), list(grads),
        aggregate_fn=lambda _prev, gs: tuple(aggregate(pk, [list(x) for x in gs])),
    )  # fmt: skip
    t = now_ms()
    sched = selectors.schedule_of(r)
    at = min(t, sched.deadline(Phase.T7))  # processing is timed by the workers, not the parties
    cand = contract.update(proposer.account.address, grads, at)
    for n in nodes:
        if n.behaviour in (WorkerNode.Behaviour.SILENT, WorkerNode.Behaviour.CRASHED):
            continue
        honest = n.behaviour == WorkerNode.Behaviour.HONEST
        contract.verify(
            n.account.address, min(t, sched.deadline(Phase.T8)), None if honest else False
        )
    res = contract.append(min(t, sched.deadline(Phase.T9)))
    blob = EncryptedUpdate(ciphertexts=list(cand), proofs=[], length=int(length or 0)).to_bytes(pk)
    with transaction.atomic():
        r = Round.objects.select_for_update().get(pk=round_id)
        if r.aggregate_blob or r.status_reason:
            return False
        info = {
            "proposer": proposer.name,
            "approvers": [n.name for n in nodes if n.account.address in res.approvers],
            "rejecters": [n.name for n in nodes if n.account.address in res.rejecters],
            "accepted": res.accepted,
            "inputs": [s.transaction.tx_hash for s in subs if s.transaction],
            "seconds": round((now_ms() - t) / 1000, 3),
        }
        if not res.accepted:
            r.status_reason = f"aggregate not appended: {res.reason}"
            r.processing = info
            r.save(update_fields=["status_reason", "processing"])
        else:
            r.aggregate_blob = store.put(blob)
            r.processing = info
            r.save(update_fields=["aggregate_blob", "processing"])
            ledger.submit_transaction(
                kind=TxKind.AGGREGATE,
                signer=ledger.node_identity(proposer.name),
                group=g.address,
                round=r.number,
                phase=Phase.T9.value,
                payload={
                    "aggregate_blob": r.aggregate_blob,
                    "inputs": info["inputs"],
                    "n_accepted": len(subs),
                    "approvers": info["approvers"],
                },
            )
            fee = worker_fee()
            if fee > 0:
                earners = contract.fee_transfers(fee, "treasury")
                treasury = ledger.treasury_identity()
                for tr in earners:
                    ledger.move_money(
                        source=treasury.address, destination=tr.destination, amount=tr.amount,
                        kind=TxKind.TRANSFER, reason=Reason.WORKER_FEE.value, signer=treasury,
                        group=g.address, round=r.number, phase=Phase.T9.value,
                    )  # fmt: skip
                info["fees"] = {tr.destination: tr.amount for tr in earners}
                r.processing = info
                r.save(update_fields=["processing"])
            publish(g.id, "aggregate", round=r.number, blob=r.aggregate_blob,
                    n_accepted=len(subs), approvers=info["approvers"])  # fmt: skip
            wake_simulated_parties(g)
    advance_round(round_id)
    return True


# -- combine (T_t6) ---------------------------------------------------------------------------
def combine_round(round_id: int) -> bool:
    """Any t valid shares -> plaintexts -> unpack -> exact integer sum S -> W_r (1/n and the
    group's server optimizer in fixed point, its state replayed from the earlier rounds'
    published aggregates) -> accuracy on the held-out test split. Idempotent."""
    from deepchain.crypto.vector import DecryptionShare, combine_vector
    from deepchain.learning.local import evaluate
    from deepchain.learning.strategies import apply_strategy, replay_state, scale_bits_of
    from deepchain.wire import floats_from_bytes, ints_to_bytes
    from training_app.datasets import test_split

    r = Round.objects.select_related("group").get(pk=round_id)
    g = r.group
    if r.result_blob or r.status_reason or not r.aggregate_blob:
        return False
    t0 = time.perf_counter()
    pk, scheme, store = selectors.public_key_of(g), selectors.scheme_of(g), ledger.blob_store()
    shares = [
        DecryptionShare.from_bytes(store.get(s.blob), pk)
        for s in r.submissions.filter(kind=S.Kind.DECRYPTION_SHARE, status=S.Status.ACCEPTED)
    ]
    from deepchain.crypto.vector import EncryptedUpdate

    agg = EncryptedUpdate.from_bytes(store.get(r.aggregate_blob), pk)
    reason = ""
    try:
        plain = combine_vector(pk, shares)
        sums = scheme.unpack(plain, agg.length, r.n_accepted)
    except ValueError as exc:  # e.g. SlotOverflowError: a proven update with a bad slot
        reason = f"{DECODE_FAILED}: {exc}"
    if not reason:
        w_prev = floats_from_bytes(store.get(selectors.params_before(r)))
        strat, s_bits = selectors.strategy_of(g), scale_bits_of(scheme.scale)
        state = replay_state(strat, w_prev.size, selectors.published_aggregates(r), s_bits)
        w, _ = apply_strategy(strat, w_prev, sums, r.n_accepted, state, s_bits)
        acc, loss = evaluate(g.model_name, w, test_split(g))
        result_blob = store.put(ints_to_bytes(sums))
        params_blob = store.put(floats_to_bytes(w))
    secs = round(time.perf_counter() - t0, 3)
    with transaction.atomic():
        r = Round.objects.select_for_update().get(pk=round_id)
        if r.result_blob or r.status_reason:
            return False
        if reason:
            r.status_reason = reason
            r.save(update_fields=["status_reason"])
        else:
            r.result_blob, r.params_blob = result_blob, params_blob
            r.accuracy, r.loss = float(acc), float(loss)
            r.phase_times = {**r.phase_times, "combine_seconds": secs}
            r.save(update_fields=["result_blob", "params_blob", "accuracy", "loss", "phase_times"])
            Metric.objects.get_or_create(
                round=r, membership=None,
                defaults={"accuracy": float(acc), "loss": float(loss),
                          "seconds": dict(r.phase_times), "bytes_sent": selectors.round_bytes(r)},
            )  # fmt: skip
            publish(g.id, "decrypted", round=r.number, result_blob=result_blob,
                    n_accepted=r.n_accepted)  # fmt: skip
            publish(g.id, "metrics", round=r.number, party=None, accuracy=float(acc),
                    loss=float(loss))  # fmt: skip
    advance_round(round_id)
    return True
