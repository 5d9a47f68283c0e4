"""Collaborative training services (paper section 4.2.4): the only code that writes.

Groups: create -> apply/approve/join (stake d into ``escrow:<group>``) -> start (key ceremony on
queue crypto, Tran_co on chain) -> rounds. A round runs the clock's phases in ROUND_ORDER:

  T1 gradient_submission  parties post C(dW) + Proof_PK with a signed DEPOSIT of d
  T2 verification         fsver1 (task crypto_verify_gradient); close = Trading settlement
  T3 upload               the accepted gradient transactions are the round's inputs
  T7-T9 update/verify/append   Processing contract (task process_aggregate, queue consensus)
  T4 download             parties download C(sum dW)
  T5 decryption_share     parties post c_i + Proof_CD with a deposit (crypto_verify_share);
                          close = Decryption settlement
  T6 return               crypto_combine: any t valid shares -> S -> W_r, test accuracy

:func:`advance_round` closes every phase whose condition holds (all inputs in, or deadline
passed), in order, exactly once (``Round.closed_phases`` under a row lock), applying updateTime()
to the schedule; every submission checks the clock itself, so a late message is refused (and
its sender penalised) even when the beat (``tick_clock``) is behind. Money moves only through
``ledger_app.services.move_money`` / signed DEPOSIT transactions, each with its reason on chain.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import time
from fractions import Fraction
from typing import Any

import numpy as np
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deepchain.agent_verify import MIN_CONTRIBUTORS
from deepchain.blobs import blob_hash
from deepchain.canonical import canonical_json
from deepchain.crypto.dkg import DKGParams
from deepchain.crypto.duplicates import ciphertext_digest, find_duplicate
from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.identity import PublicIdentity
from deepchain.crypto.packing import PLATFORM_PACKING  # agents read the group's g.packing
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.zk.transcript import ProofContext
from deepchain.incentives.clock import Deadlines, LateError, Phase, RoundSchedule
from deepchain.incentives.contracts import DecryptionContract, Settlement, TradingContract
from deepchain.incentives.money import Reason, Transfer
from deepchain.incentives.money import escrow_account as escrow
from deepchain.incentives.money import pool_account as pool
from deepchain.incentives.payoff import contribution_weights
from deepchain.learning.strategies import Strategy, StrategyError
from deepchain.ledger.transactions import Transaction as CoreTx
from deepchain.ledger.transactions import TxFormatError, TxKind
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish
from ledger_app import services as ledger
from ledger_app.models import Account, WorkerNode
from training_app import presence, upload_limits
from training_app.models import (
    CooperativeGroup,
    Membership,
    Metric,
    Round,
    SeenCiphertext,
    Submission,
)

log = logging.getLogger(__name__)

MODEL_NAMES = ("mlp", "tiny", "paper_cnn")
PARTITIONS = ("iid", "dirichlet")
BEHAVIOURS = (
    "honest",
    "late",
    "cheat",
    "flaky",
    "silent",
    "scaled",
    "silent_keygen",
    "cheat_keygen",
)

#: how PK_model is made: the parties' own ceremony (training_app.key_ceremony) or a dealer
DEALERLESS, DEALER = "dealerless", "dealer"
KEY_ORIGINS = (DEALERLESS, DEALER)
KEY_ROUND_MS = (1_000, 3_600_000)  # bounds of a key-ceremony message round's deadline

S = Submission
#: status_reason prefix of a round whose t valid shares do not decode (blame on chain at T6)
DECODE_FAILED = "decryption failed"


def now_ms() -> int:
    return int(time.time() * 1000)


def worker_fee() -> int:
    return int(getattr(settings, "DEEPCHAIN_WORKER_FEE", 1))


def _on_commit_task(name: str, *args: Any, **kwargs: Any) -> None:
    from training_app import tasks

    task = getattr(tasks, name)
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs))


# -- group establishment ----------------------------------------------------------------------
def create_group(
    *,
    initiator,
    name: str,
    n_parties: int,
    threshold: int,
    rounds: int,
    deposit: int,
    model_name: str = "mlp",
    partition: str = "iid",
    dirichlet_alpha: float = 0.5,
    local_iterations: int = 50,
    learning_rate: float = 0.1,
    batch_size: int = 64,
    deadlines: dict | None = None,
    key_bits: int | None = None,
    seed: int = 0,
    data_limit: int = 0,
    update_clip: float = 8.0,
    api_url: str = "",
    public: bool = False,
    strategy: Strategy | None = None,
    min_contributors: int = MIN_CONTRIBUTORS,
    simulated: bool = False,
    key_origin: str = DEALERLESS,
    key_round_ms: int = 0,
) -> CooperativeGroup:
    """Propose a cooperative group co: task, model, N, t, rounds, deadlines, deposit d, its
    aggregation strategy (FedProx mu, server optimizer; default FedAvg), the minimum number of
    accepted updates a decrypted aggregate needs (>= 3), whether the platform simulates
    (and so holds the identities of) its parties, and ``key_origin``: "dealerless" (the
    parties' own key ceremony, the default) or "dealer" (the platform makes the key: only for a
    simulated group, whose parties' keys it holds anyway, or where DEEPCHAIN_ALLOW_DEALER_KEY
    allows it, as tests and benchmarks do)."""
    if not MIN_CONTRIBUTORS <= n_parties <= 16:
        raise DomainError(f"N must be between {MIN_CONTRIBUTORS} and 16 parties: no aggregate "
                          f"of fewer than {MIN_CONTRIBUTORS} updates is ever decrypted",
                          code="bad_n")  # fmt: skip
    if not 1 <= threshold <= n_parties:
        raise DomainError("the threshold t must satisfy 1 <= t <= N", code="bad_t")
    if not MIN_CONTRIBUTORS <= min_contributors <= n_parties:
        raise DomainError(f"min_contributors must satisfy {MIN_CONTRIBUTORS} <= "
                          "min_contributors <= N", code="bad_min_contributors")  # fmt: skip
    if not 1 <= rounds <= 1000:
        raise DomainError("rounds must be between 1 and 1000", code="bad_rounds")
    if deposit <= 0:
        raise DomainError("the deposit d must be a positive amount", code="bad_deposit")
    if model_name not in MODEL_NAMES:
        raise DomainError(f"model must be one of {', '.join(MODEL_NAMES)}", code="bad_model")
    if partition not in PARTITIONS:
        raise DomainError("partition must be iid or dirichlet", code="bad_partition")
    if local_iterations < 1 or batch_size < 1 or not 0 < learning_rate <= 10:
        raise DomainError("bad training settings", code="bad_training")
    bits = int(key_bits or settings.DEEPCHAIN_KEY_BITS)
    if bits < 256 or bits % 2:
        raise DomainError("key size must be an even number of bits >= 256", code="bad_key_bits")
    check_key_origin(key_origin, bits, n_parties, threshold, key_round_ms, simulated=simulated)
    upload_limits.check_update_fits(bits, model_name, update_clip)
    try:
        dl = Deadlines.default() if not deadlines else _deadlines(deadlines)
    except (ValueError, KeyError) as exc:
        raise DomainError(f"bad deadlines: {exc}", code="bad_deadlines") from None
    ledger.bootstrap_chain()
    with transaction.atomic():
        group = CooperativeGroup.objects.create(
            name=name[:120],
            initiator=initiator,
            address=f"co-{secrets.token_hex(8)}",
            model_name=model_name,
            n_parties=n_parties,
            threshold=threshold,
            rounds=rounds,
            local_iterations=local_iterations,
            learning_rate=learning_rate,
            batch_size=batch_size,
            partition=partition,
            dirichlet_alpha=dirichlet_alpha,
            deposit=deposit,
            deadlines=dl.to_dict(),
            key_bits=bits,
            seed=seed,
            data_limit=data_limit,
            update_clip=update_clip,
            api_url=api_url,
            public=bool(public),
            strategy=(strategy or Strategy()).to_json(),
            min_contributors=min_contributors,
            simulated=bool(simulated),
            key_origin=key_origin,
            key_round_ms=int(key_round_ms),
        )
        publish(group.id, "group_created", name=group.name, address=group.address,
                simulated=group.simulated)  # fmt: skip
    return group


def check_key_origin(
    origin: str, bits: int, N: int, t: int, round_ms: int = 0, *, simulated: bool = False
) -> None:
    """Refuse a group whose key cannot be made the way it asks (the reason with 400/409). A
    dealer knows the factorization of n and so could decrypt every update: refused (409) for
    a real group unless DEEPCHAIN_ALLOW_DEALER_KEY (tests, benchmarks) allows it."""
    if origin not in KEY_ORIGINS:
        raise DomainError(f"key_origin must be one of {', '.join(KEY_ORIGINS)}",
                          code="bad_origin", status_code=400)  # fmt: skip
    if origin == DEALER and not simulated and not settings.DEEPCHAIN_ALLOW_DEALER_KEY:
        raise DomainError(
            "a real group's key is made by its parties (key_origin dealerless): a dealer key "
            "would let the platform decrypt every update; a dealer only makes the key of a "
            "simulated group",
            code="dealer_key_refused",
        )
    if round_ms and not KEY_ROUND_MS[0] <= round_ms <= KEY_ROUND_MS[1]:
        raise DomainError(f"key_round_ms must be {KEY_ROUND_MS[0]}..{KEY_ROUND_MS[1]}",
                          code="bad_key_round_ms", status_code=400)  # fmt: skip
    if origin == DEALERLESS:
        try:
            DKGParams(bits, N, t)
        except ValueError as exc:
            raise DomainError(f"a dealerless key ceremony cannot run: {exc}",
                              code="bad_ceremony") from None  # fmt: skip


def _deadlines(d: dict) -> Deadlines:
    """Accept phase names ("gradient_submission") or T names ("T1"); ms values; rest default."""
    base = Deadlines.default().to_dict()
    for k, v in d.items():
        phase = Phase[k] if k in Phase.__members__ else Phase(k)
        base[phase.value] = int(v)
    return Deadlines.from_json(base)


def _account(user) -> Account:
    acct = Account.objects.filter(user=user).first()
    if acct is None:
        raise DomainError("you need a DeepCoin account first", code="no_account")
    return acct


# -- external party agents ----------------------------------------------------------------------
def agent_account(user) -> dict[str, Any] | None:
    """The caller's account as an agent sees it (public data only), or None."""
    acct = Account.objects.filter(user=user).first()
    if acct is None:
        return None
    custodial = ledger.keystore_path("users", f"{acct.address}.json").exists()
    return {"address": acct.address, "box_pk": acct.box_pk, "nonce": acct.nonce,
            "balance": acct.balance, "custodial": custodial}  # fmt: skip


def register_agent(*, user, sign_pk: str, box_pk: str, signature: str) -> tuple[Account, bool]:
    """A party agent that holds its OWN keys registers its public keys (pk_psu, box key) as
    ``user``'s account; ``signature`` (hex Ed25519 over ``registration_message(user.id, ...)``)
    proves it holds pk_psu's private key. Idempotent for the same keys; refuses a user that
    already has another account. Returns (account, created)."""
    from django.db import IntegrityError

    from deepchain.crypto.identity import signature_from_hex, verify_signature
    from deepchain.ledger.transactions import is_pk_hex
    from deepchain.wire import registration_message

    if not (isinstance(sign_pk, str) and is_pk_hex(sign_pk)) or not (
        isinstance(box_pk, str) and is_pk_hex(box_pk)
    ):
        raise DomainError("sign_pk and box_pk must be 64-digit lowercase hex", code="bad_key")
    sig = signature_from_hex(signature)
    msg = registration_message(user.id, sign_pk, box_pk)
    if sig is None or not verify_signature(sign_pk, msg, sig):
        raise DomainError("the signature does not prove possession of sign_pk's private key",
                          code="bad_signature")  # fmt: skip
    existing = Account.objects.filter(user=user).first()
    if existing is not None:
        if existing.address == sign_pk and existing.box_pk == box_pk:
            return existing, False
        if not ledger.keystore_path("users", f"{existing.address}.json").exists():
            raise DomainError("you already have an account with other keys",
                              code="has_account", status_code=409)  # fmt: skip
        # a browser user's custodial wallet: its agent takes it over, unless it is at stake
        open_ = Membership.objects.filter(account=existing).exclude(
            group__status__in=[CooperativeGroup.Status.FINISHED, CooperativeGroup.Status.ABORTED,
                               CooperativeGroup.Status.FAILED]
        )  # fmt: skip
        if open_.exists():
            raise DomainError(
                "your wallet is a member of a group that has not ended; its keys stay with "
                "the platform until then", code="has_stake", status_code=409,
            )  # fmt: skip
        if Account.objects.filter(address=sign_pk).exists():
            raise DomainError("this public key is already registered", code="duplicate")
        return ledger.hand_over_custodial_account(user=user, sign_pk=sign_pk, box_pk=box_pk), True
    try:
        acct = ledger.register_external_account(user=user, sign_pk=sign_pk, box_pk=box_pk)
    except IntegrityError:  # a concurrent registration of this user won
        raise DomainError("you already have an account", code="has_account",
                          status_code=409) from None  # fmt: skip
    return acct, True


def apply_to_group(
    *, group, user, data_size: int = 0, simulated: bool = False, behaviour: str = "honest"
) -> Membership:
    """Apply to join ``group`` (the initiator approves, assigning a party index)."""
    if behaviour not in BEHAVIOURS:
        raise DomainError(f"behaviour must be one of {BEHAVIOURS}", code="bad_behaviour")
    if data_size < 0:
        raise DomainError("data size must be >= 0", code="bad_data_size")
    acct = _account(user)
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group.pk)
        if g.status != CooperativeGroup.Status.RECRUITING:
            raise DomainError("this group is no longer recruiting", code="not_recruiting")
        m, created = Membership.objects.get_or_create(
            group=g,
            user=user,
            defaults={
                "account": acct,
                "data_size": data_size,
                "simulated": simulated,
                "behaviour": behaviour,
            },
        )
        if not created and m.status == Membership.Status.REJECTED:
            raise DomainError("your application was rejected", code="rejected")
        if created:
            publish(g.id, "member_applied", party=acct.address)  # pseudonymous: no username
    return m


def approve_member(*, group, membership, by) -> Membership:
    """The initiator approves an application: party index i = next free in 1..N."""
    if group.initiator_id != by.id:
        raise DomainError("only the initiator approves members", code="forbidden", status_code=403)
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group.pk)
        m = Membership.objects.select_for_update().get(pk=membership.pk, group=g)
        if m.status == Membership.Status.ACTIVE:
            return m
        if g.status != CooperativeGroup.Status.RECRUITING:
            raise DomainError("this group is no longer recruiting", code="not_recruiting")
        used = set(g.members.exclude(party_index=None).values_list("party_index", flat=True))
        free = [i for i in range(1, g.n_parties + 1) if i not in used]
        if not free:
            raise DomainError("the group already has N parties", code="full")
        m.party_index = free[0]
        m.status = Membership.Status.ACTIVE
        m.save(update_fields=["party_index", "status"])
        publish(g.id, "member_approved", party=m.account.address, index=m.party_index)
    return m


def join_group(
    *,
    group,
    user,
    data_size: int = 0,
    simulated: bool = False,
    behaviour: str = "honest",
    signed_deposit: dict | None = None,
) -> Membership:
    """Apply + stake the collateral d (DEPOSIT wallet -> escrow:<group>, one DB transaction);
    auto-approved while the group recruits and has room. An external agent's account must
    send its own signed DEPOSIT transaction (``signed_deposit``)."""
    with transaction.atomic():
        check_custody(group, user, simulated=simulated, signed=signed_deposit is not None)
        m = apply_to_group(
            group=group, user=user, data_size=data_size, simulated=simulated, behaviour=behaviour
        )
        m = Membership.objects.select_for_update().get(pk=m.pk)
        if m.stake_remaining > 0:
            return m
        g = CooperativeGroup.objects.get(pk=group.pk)
        if m.status != Membership.Status.ACTIVE:
            m = approve_member(group=g, membership=m, by=g.initiator)
        d = int(g.deposit)
        if signed_deposit is not None:
            tx = _parse_tx(signed_deposit, TxKind.DEPOSIT, m, g, None, None)
            if int(tx.payload.get("amount", -1)) != d:
                raise DomainError(f"the stake must be exactly d = {d}", code="bad_amount")
            ledger.submit_signed_transaction(tx=tx)
        else:
            ledger.move_money(
                source=m.account.address,
                destination=escrow(g.address),
                amount=d,
                kind=TxKind.DEPOSIT,
                reason=Reason.STAKE.value,
                signer=ledger.party_identity(m.account),
                group=g.address,
            )
        m.stake_remaining = d
        m.save(update_fields=["stake_remaining"])
        publish(g.id, "member_joined", party=m.account.address, index=m.party_index, stake=d)
    return m


def check_custody(group, user, *, simulated: bool, signed: bool) -> None:
    """The platform holds a party's identity only in a group marked ``simulated`` (on chain in
    GROUP_CREATE): a real group's parties are agents that hold their own keys and sign their
    own deposits, so neither a simulated party nor a platform-held (custodial) wallet may join
    it. Raises DomainError naming the rule."""
    if group.simulated:
        return
    if simulated:
        raise DomainError("the platform simulates parties only in a group marked simulated",
                          code="not_simulated", status_code=409)  # fmt: skip
    acct = _account(user)
    if ledger.holds_identity(acct) or not signed:
        raise DomainError(
            "this is a real group: its parties hold their own keys. Join with the party agent "
            "(python -m deepchain.party --group ID), which signs its own deposit; the platform "
            "holds your wallet's key, so that wallet can only join groups marked simulated",
            code="custodial", status_code=409,
        )  # fmt: skip


def start_group(*, group, by, api_url: str | None = None) -> CooperativeGroup:
    """When N members are active and staked: key ceremony (task crypto_keygen, queue crypto)."""
    if group.initiator_id != by.id:
        raise DomainError("only the initiator starts the group", code="forbidden", status_code=403)
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group.pk)
        if g.status != CooperativeGroup.Status.RECRUITING:
            raise DomainError(f"the group is already {g.status}", code="not_recruiting")
        active = g.members.filter(status=Membership.Status.ACTIVE, stake_remaining__gt=0).count()
        if active != g.n_parties:
            raise DomainError(
                f"{active} of N = {g.n_parties} parties have joined and staked", code="not_full"
            )
        offline = presence.offline_members(g)
        if offline:
            who = ", ".join(f"P{m.party_index} ({m.account.address[:12]})" for m in offline)
            raise DomainError(
                f"not every party agent is online: {who}. Each party runs its agent (the "
                "command is on the group page) before the group can start, so nobody is "
                "penalised as absent.",
                code="agents_offline",
                status_code=409,
            )
        g.status = CooperativeGroup.Status.KEYGEN
        if api_url is not None:
            g.api_url = api_url
        g.save(update_fields=["status", "api_url"])
        publish(g.id, "group_status", status=g.status)
        if g.key_origin == DEALER:
            _on_commit_task("crypto_keygen", g.id)
        else:  # by name: the ceremony's tasks live above this module (key_ceremony)
            gid = g.id
            transaction.on_commit(lambda: current_app.send_task(
                "training_app.tasks.crypto_open_ceremony", args=(gid,)))  # fmt: skip
    return g


def run_key_ceremony(group_id: int) -> bool:
    """The dealer of a "dealer" group (a dealerless group's parties make PK_model in
    ``training_app.key_ceremony`` instead): a threshold keypair (N, t) whose shares are sealed to
    each member's box key and signed by the authority. Only PUBLIC data is stored (PK_model,
    sealed boxes, their hashes on chain). Idempotent: False if the ceremony already started."""
    from deepchain.crypto.keyshare import seal_key_share
    from deepchain.crypto.paillier import generate_threshold_keypair

    g = CooperativeGroup.objects.get(pk=group_id)
    if g.public_key is not None or g.status != CooperativeGroup.Status.KEYGEN:
        return False
    if g.key_origin != DEALER:
        return False  # the parties make it (task crypto_open_ceremony)
    members = active_members(g)
    pk, shares = generate_threshold_keypair(g.key_bits, g.n_parties, g.threshold)
    dealer = ledger.authority_identity()
    boxes = {}
    for m, share in zip(members, shares, strict=True):
        if share.i != m.party_index:
            raise RuntimeError("key ceremony: share index is not the recipient's party index")
        recipient = PublicIdentity(sign_pk=m.account.address, box_pk=m.account.box_pk)
        boxes[m.pk] = seal_key_share(share, recipient, dealer, pk)
    del shares  # the dealer forgets the shares
    commitments = [blob_hash(boxes[m.pk].encode()) for m in members]
    return record_group_key(group_id, pk, members, commitments, {"key_origin": "dealer"}, boxes)


def active_members(g: CooperativeGroup) -> list[Membership]:
    """The group's active members in party-index order (checked to be 1..N)."""
    members = list(g.members.filter(status=Membership.Status.ACTIVE).select_related("account"))
    members.sort(key=lambda m: m.party_index)
    if [m.party_index for m in members] != list(range(1, g.n_parties + 1)):
        raise RuntimeError("key ceremony: party indices are not 1..N")
    return members


def record_group_key(
    group_id: int,
    pk: ThresholdPublicKey,
    members: list[Membership],
    commitments: list[str],
    origin: dict[str, Any],
    boxes: dict[int, str] | None = None,
) -> bool:
    """Store PK_model, put Tran_co (GROUP_CREATE) on chain with ``origin`` (key_origin and,
    for a ceremony, its transcript hashes) and start round 1. False if already done."""
    from deepchain.learning.models import initial_params

    g = CooperativeGroup.objects.get(pk=group_id)
    scheme = PLATFORM_PACKING.scheme(pk.n_bits, g.model_name, g.update_clip)
    w0 = initial_params(g.model_name, g.seed)
    w0_blob = ledger.blob_store().put(_floats(w0))
    # PK_model itself, public, content-addressed: its blob hash is pk.fingerprint() (auditors)
    pk_blob = ledger.blob_store().put(canonical_json(pk.to_json()))
    if pk_blob != pk.fingerprint():
        raise RuntimeError("key ceremony: PK_model's blob hash is not its fingerprint")
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group_id)
        if g.public_key is not None or g.status != CooperativeGroup.Status.KEYGEN:
            return False  # done already, or aborted meanwhile
        for m in members:
            if boxes is not None:
                Membership.objects.filter(pk=m.pk).update(sealed_key_share=boxes[m.pk])
        g.public_key = pk.to_json()
        g.packing = scheme.to_json()
        g.initial_params = w0_blob
        g.status = CooperativeGroup.Status.RUNNING
        g.save(update_fields=["public_key", "packing", "initial_params", "status"])
        ledger.submit_transaction(
            kind=TxKind.GROUP_CREATE,
            signer=ledger.authority_identity(),
            group=g.address,
            payload={
                "name": g.name,
                "N": g.n_parties,
                "t": g.threshold,
                "rounds": g.rounds,
                "model": g.model_name,
                "pk_model": pk.fingerprint(),
                "pk_model_blob": pk_blob,
                "pk_model_n_bits": pk.n_bits,
                "packing": scheme.to_json(),
                "parties": [m.account.address for m in members],
                "commitments": commitments,
                "w0_blob": w0_blob,
                "data_sizes": [int(m.data_size) for m in members],  # extra-pay weights
                "deposit": int(g.deposit),
                "deadlines": g.deadlines,
                # how every W_r follows from W_0 and the published aggregates (auditors replay)
                "strategy": strategy_of(g).to_json(),
                "min_contributors": int(g.min_contributors),
                "simulated": bool(g.simulated),
                **origin,
            },
        )
        publish(g.id, "group_status", status=g.status, pk_model=pk.fingerprint())
        _start_round(g, 1)
    return True


def _floats(w: np.ndarray) -> bytes:
    from deepchain.wire import floats_to_bytes

    return floats_to_bytes(w)


def _start_round(g: CooperativeGroup, number: int) -> Round:
    start = now_ms()
    sched = Deadlines.from_json(g.deadlines).schedule(start, group=g.address, round_no=number)
    r, _ = Round.objects.get_or_create(
        group=g,
        number=number,
        defaults={"schedule": sched.to_dict(), "phase": Phase.T1.value},
    )
    g.current_round = number
    g.save(update_fields=["current_round"])
    publish(g.id, "round_started", round=number, deadlines=sched.to_dict()["deadlines_ms"])
    publish(g.id, "phase_changed", round=number, phase=r.phase, deadlines=_deadlines_of(r))
    wake_simulated_parties(g)
    return r


def _deadlines_of(r: Round) -> dict[str, int]:
    return dict(r.schedule.get("deadlines_ms", {}))


def schedule_of(r: Round) -> RoundSchedule:
    return RoundSchedule.from_json(r.schedule)


def public_key_of(g: CooperativeGroup) -> ThresholdPublicKey:
    return ThresholdPublicKey.from_json(g.public_key)


def scheme_of(g: CooperativeGroup) -> PackingScheme:
    return PackingScheme.from_json(g.packing)


def strategy_of(g: CooperativeGroup) -> Strategy:
    """The group's strategy (FedAvg for a group recorded without one)."""
    return Strategy.from_json(g.strategy) if g.strategy else Strategy()


def strategy_from_options(name: str, **values: Any) -> Strategy:
    """A validated strategy from user input; DomainError (409) with the reason otherwise."""
    try:
        return Strategy.from_options(name, **values)
    except StrategyError as exc:
        raise DomainError(f"strategy: {exc}", code="bad_strategy") from None


def _published_aggregates(r: Round) -> list[tuple[np.ndarray, int] | None]:
    """(S, n) of each round before ``r`` in order (None for a round without a result): what
    the group's optimizer state is re-derived from."""
    from deepchain.wire import ints_from_bytes

    store = ledger.blob_store()
    out: list[tuple[np.ndarray, int] | None] = []
    for prev in Round.objects.filter(group=r.group_id, number__lt=r.number).order_by("number"):
        if prev.result_blob and prev.n_accepted:
            out.append((ints_from_bytes(store.get(prev.result_blob)), prev.n_accepted))
        else:
            out.append(None)
    return out


def params_before(r: Round) -> str:
    """Blob hash of W_{r-1} (the model round r starts from)."""
    if r.number == 1:
        return r.group.initial_params
    prev = Round.objects.get(group=r.group_id, number=r.number - 1)
    return prev.params_blob or params_before(prev)


# -- submissions ------------------------------------------------------------------------------
def _parse_tx(
    tx_dict: Any, kind: TxKind, m: Membership, g: CooperativeGroup, r: int | None, phase
) -> CoreTx:
    try:
        tx = CoreTx.from_dict(dict(tx_dict))
    except (TxFormatError, TypeError, ValueError) as exc:
        raise DomainError(f"malformed transaction: {exc}", code="bad_tx") from None
    if tx.kind != kind:
        raise DomainError(f"expected a {kind} transaction", code="bad_tx")
    if tx.sender != m.account.address:
        raise DomainError(
            "a party signs its own transactions only", code="forbidden", status_code=403
        )
    if tx.group != g.address or tx.round != r or (phase is not None and tx.phase != phase):
        raise DomainError("transaction for another group, round or phase", code="bad_tx")
    if not tx.verify_signature():
        raise DomainError("bad signature", code="bad_signature")
    return tx


def _deposit_tx(m: Membership, g: CooperativeGroup, r: Round, phase: Phase, signed: Any) -> Any:
    """The party's deposit d for one message: its own signed DEPOSIT, or (custodial, only in a
    simulated group) ours."""
    if signed is None and not g.simulated:
        raise DomainError("a party of a real group signs its own deposit", code="bad_tx")
    if signed is not None:
        tx = _parse_tx(signed, TxKind.DEPOSIT, m, g, r.number, phase.value)
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
        if r.submissions.filter(membership=m, kind=kind).exists():
            raise DomainError(f"you already submitted your {kind} this round", code="duplicate")
        if signed_tx is None:
            raise DomainError("the signed transaction is missing", code="bad_tx")
        tx = _parse_tx(signed_tx, TxKind(kind), m, g, r.number, phase.value)
        h = blob_hash(blob)
        if tx.payload.get(blob_key) != h:
            raise DomainError(
                f"the transaction's {blob_key} is not the uploaded blob", code="bad_tx"
            )
        sched = schedule_of(r)
        try:
            sched.check_on_time(phase, at)  # the clock check every state change makes
            if sched.is_closed(phase):
                raise LateError(phase, sched.deadline(phase), at)
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
                dup = find_duplicate(digests, _seen_in_group(g, digests), tx.tx_hash)
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
                task = (
                    "crypto_verify_gradient" if kind == S.Kind.GRADIENT else "crypto_verify_share"
                )
                _on_commit_task(task, sub.id)
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
        upd = EncryptedUpdate.from_bytes(blob, public_key_of(g))
    except (CryptoFormatError, ValueError):
        return None
    return [ciphertext_digest(c) for c in upd.ciphertexts]


def _seen_in_group(g: CooperativeGroup, digests: list[str]) -> dict[str, str]:
    """{digest: first tx} for those of ``digests`` already submitted in the group."""
    seen: dict[str, str] = {}
    for k in range(0, len(digests), 500):  # bounded IN lists
        rows = SeenCiphertext.objects.filter(group=g, digest__in=digests[k : k + 500])
        seen.update(rows.values_list("digest", "tx_hash"))
    return seen


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
        if r.submissions.filter(
            membership=m, kind__in=[S.Kind.DECRYPTION_SHARE, S.Kind.DECRYPTION_REFUSAL]
        ).exists():
            raise DomainError("you already answered this round's decryption", code="duplicate")
        if signed_tx is None:
            raise DomainError("the signed transaction is missing", code="bad_tx")
        tx = _parse_tx(signed_tx, TxKind.DECRYPTION_REFUSAL, m, g, r.number, Phase.T5.value)
        reason = tx.payload.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 300:
            raise DomainError("a refusal states its reason (1 to 300 characters)",
                              code="bad_reason")  # fmt: skip
        sched = schedule_of(r)
        if not r.aggregate_blob:
            raise DomainError("there is no aggregate to refuse yet", code="not_open")
        try:
            sched.check_on_time(Phase.T5, at)
            if sched.is_closed(Phase.T5):
                raise LateError(Phase.T5, sched.deadline(Phase.T5), at)
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


# -- the clock and the phases -------------------------------------------------------------------
def close_due_phases(now_ms_: int | None = None) -> int:
    """The beat: advance every running round (closing due phases exactly once), then re-enqueue
    work whose task message was lost (:func:`rekick_stale_work`)."""
    n = 0
    for rid in Round.objects.filter(
        group__status=CooperativeGroup.Status.RUNNING, finished_at=None
    ).values_list("id", flat=True):
        n += len(advance_round(rid, now_ms_))
    rekick_stale_work(now_ms_)
    return n


#: (task, id) -> when this process last re-enqueued it (at most once per rekick period)
_rekicked: dict[tuple[str, int], float] = {}


def rekick_period_s() -> float:
    return float(getattr(settings, "DEEPCHAIN_REKICK_S", 30.0))


def rekick_stale_work(now: int | None = None) -> list[tuple[str, int]]:
    """Re-enqueue the platform's own tasks whose effect is overdue by more than the rekick
    period: a pending submission's verification, a round's Processing (T3 closed, no aggregate)
    or combination (T5 closed, no result). Late acks re-deliver what a dying worker held, but a
    message a worker took from Redis and died before recording as unacked is gone; the tasks
    are idempotent, so a spare run changes nothing. Party agents are not woken here (their own
    retry loop and the deadlines cover them). Returns the (task, id) pairs enqueued."""
    t = now_ms() if now is None else now
    period = rekick_period_s()
    stale_before = timezone.now() - datetime.timedelta(seconds=period)
    due: list[tuple[str, int]] = []
    pending = Submission.objects.filter(
        status=S.Status.PENDING, submitted_at__lt=stale_before,
        round__group__status=CooperativeGroup.Status.RUNNING,
    ).values_list("id", "kind")  # fmt: skip
    for sid, kind in pending:
        due.append(("crypto_verify_gradient" if kind == S.Kind.GRADIENT else "crypto_verify_share",
                    sid))  # fmt: skip
    rounds = Round.objects.filter(
        group__status=CooperativeGroup.Status.RUNNING, finished_at=None, status_reason=""
    )
    for r in rounds.only("id", "schedule", "aggregate_blob", "result_blob", "closed_phases"):
        closed = (r.schedule or {}).get("closed_ms", {})

        def overdue(phase: Phase, closed=closed) -> bool:
            return phase.value in closed and t - int(closed[phase.value]) > period * 1000

        if not r.aggregate_blob and overdue(Phase.T3):
            due.append(("process_aggregate", r.id))
        elif r.aggregate_blob and not r.result_blob and overdue(Phase.T5):
            due.append(("crypto_combine", r.id))
    kicked = []
    clock = time.monotonic()
    for name, oid in due:
        if clock - _rekicked.get((name, oid), -1e18) < period:
            continue
        _rekicked[(name, oid)] = clock
        log.warning("re-enqueueing overdue %s(%s)", name, oid)
        _on_commit_task(name, oid)
        kicked.append((name, oid))
    return kicked


def _members(g: CooperativeGroup) -> list[Membership]:
    ms = list(g.members.filter(status=Membership.Status.ACTIVE).select_related("account"))
    return sorted(ms, key=lambda m: m.party_index)


def _ready(r: Round, g: CooperativeGroup, phase: Phase, now: int, sched: RoundSchedule) -> bool:
    if r.status_reason:  # a failed round closes its remaining phases at once
        return True
    past = now > sched.deadline(phase)
    subs = r.submissions
    n = g.n_parties
    if phase == Phase.T1:
        on_time = subs.filter(kind=S.Kind.GRADIENT).exclude(status=S.Status.LATE).count()
        return past or on_time >= n
    if phase == Phase.T2:
        return not subs.filter(kind=S.Kind.GRADIENT, status=S.Status.PENDING).exists()
    if phase in (Phase.T3, Phase.T4):
        return True
    if phase in (Phase.T7, Phase.T8, Phase.T9):
        return bool(r.aggregate_blob) or bool(r.status_reason)
    if phase == Phase.T5:
        if subs.filter(kind=S.Kind.DECRYPTION_SHARE, status=S.Status.PENDING).exists():
            return False
        answers = (S.Kind.DECRYPTION_SHARE, S.Kind.DECRYPTION_REFUSAL)
        on_time = subs.filter(kind__in=answers).exclude(status=S.Status.LATE).count()
        return past or on_time >= n
    if phase == Phase.T6:
        return bool(r.result_blob) or bool(r.status_reason)
    return False


def advance_round(round_id: int, now: int | None = None) -> list[str]:
    """Close, in order, each phase of the round whose inputs are in or whose deadline passed.

    Each close happens once (row lock + ``closed_phases``), records a CLOCK transaction, applies
    updateTime() (a late close extends the later deadlines) and runs the phase's settlement.
    """
    closed: list[str] = []
    while True:
        t = now_ms() if now is None else now
        with transaction.atomic():
            r = Round.objects.select_for_update().select_related("group").get(pk=round_id)
            g = r.group
            if r.finished_at is not None or g.status != CooperativeGroup.Status.RUNNING:
                return closed
            sched = schedule_of(r)
            phase = sched.current_phase(t)
            if phase is None or not _ready(r, g, phase, t, sched):
                return closed
            new = sched.close_phase(phase, max(t, sched.opens_at(phase)))
            assert new is not None and phase.value not in r.closed_phases
            r.schedule = new.to_dict()
            r.closed_phases = [*r.closed_phases, phase.value]
            opened = new.opens_at(phase)
            r.phase_times = {
                **r.phase_times,
                phase.value: round((t - sched.opens_at(phase)) / 1000, 3),
            }
            nxt = new.current_phase(t)
            r.phase = nxt.value if nxt else "finished"
            r.save(update_fields=["schedule", "closed_phases", "phase_times", "phase"])
            del opened
            ledger.submit_transaction(
                kind=TxKind.CLOCK,
                signer=ledger.authority_identity(),
                group=g.address,
                round=r.number,
                phase=phase.value,
                payload={
                    "closed": phase.value,
                    "closed_at_ms": new.closed_at(phase),
                    "deadline_ms": sched.deadline(phase),
                    # T6 "return": the published decrypted aggregate S (auditors re-combine)
                    # and W_r (auditors re-derive it with the group's strategy)
                    **(
                        {
                            "result_blob": r.result_blob,
                            "n_accepted": r.n_accepted,
                            "params_blob": r.params_blob,
                        }
                        if phase == Phase.T6 and r.result_blob
                        else {}
                    ),
                    # ... or the blame record: t valid shares whose aggregate does not decode
                    **(
                        {"decode_failed": r.status_reason[:200], "n_accepted": r.n_accepted}
                        if phase == Phase.T6 and r.status_reason.startswith(DECODE_FAILED)
                        else {}
                    ),
                },
            )
            _on_close(r, g, phase, t)
            publish(g.id, "phase_changed", round=r.number, phase=r.phase, closed=phase.value,
                    deadlines=_deadlines_of(r), closed_at_ms=new.closed_at(phase))  # fmt: skip
            closed.append(phase.value)


def _on_close(r: Round, g: CooperativeGroup, phase: Phase, t: int) -> None:
    if phase == Phase.T2:
        s = _settle(r, g, S.Kind.GRADIENT, t)
        r.n_accepted = len(s.honest)
        if not s.honest:
            r.status_reason = "no accepted gradient: nothing to aggregate"
        elif len(s.honest) < g.min_contributors:
            r.status_reason = (
                f"only {len(s.honest)} accepted updates, fewer than min_contributors = "
                f"{g.min_contributors}: the round closes without any decryption (an aggregate "
                "of so few updates would reveal them)"
            )
        r.save(update_fields=["n_accepted", "status_reason"])
        if r.status_reason:
            publish(g.id, "round_failed", round=r.number, reason=r.status_reason)
    elif phase == Phase.T3 and not r.status_reason:
        _on_commit_task("process_aggregate", r.id)
    elif phase == Phase.T5 and not r.status_reason:
        s = _settle(r, g, S.Kind.DECRYPTION_SHARE, t)
        if not s.decryptable:
            r.status_reason = f"fewer than t = {g.threshold} valid decryption shares"
            r.save(update_fields=["status_reason"])
        else:
            _on_commit_task("crypto_combine", r.id)
    elif phase == Phase.T6:
        _finish_round(r, g)


def _settle(r: Round, g: CooperativeGroup, kind: str, t: int) -> Settlement:
    """Trading (gradients) or Decryption (shares) contract settlement, applied on chain."""
    members = _members(g)
    parties = [m.account.address for m in members]
    sched = schedule_of(r)
    stakes = {m.account.address: int(m.stake_remaining) for m in members}
    if kind == S.Kind.GRADIENT:
        c: Any = TradingContract(g.address, parties, int(g.deposit), sched, stakes=stakes)
    else:
        c = DecryptionContract(
            g.address, parties, int(g.deposit), sched, threshold=g.threshold, stakes=stakes
        )
    kinds = [kind]
    if kind == S.Kind.DECRYPTION_SHARE:
        kinds.append(S.Kind.DECRYPTION_REFUSAL)
    for sub in r.submissions.filter(kind__in=kinds).select_related("membership__account"):
        addr = sub.membership.account.address
        at = int(sub.submitted_at.timestamp() * 1000)
        if sub.kind == S.Kind.DECRYPTION_REFUSAL:
            c.refused[addr] = at  # costs the refusing party nothing (recorded on time)
        elif sub.status == S.Status.LATE:
            c.late[addr] = at
        elif sub.status in (S.Status.ACCEPTED, S.Status.REJECTED):
            c.submissions[addr] = (at, sub.status == S.Status.ACCEPTED)
    sizes = {m.account.address: max(1, int(m.data_size)) for m in members}
    weights = contribution_weights({p: 1 for p in c.honest}, sizes)
    answered = len(c.submissions) + len(c.refused)
    at = max(t, sched.deadline(c.PHASE) + 1) if answered < len(parties) else t
    s = c.close(at, weights=weights)
    _apply_transfers(g, r, c.PHASE, s.transfers)
    for m in members:
        left = c.stakes[m.account.address]
        if left != m.stake_remaining:
            Membership.objects.filter(pk=m.pk).update(stake_remaining=left)
    r.settlements = {**r.settlements, c.PHASE.value: s.to_dict()}
    r.save(update_fields=["settlements"])
    for p, why in s.penalised.items():
        publish(g.id, "penalty", round=r.number, phase=c.PHASE.value, party=p, reason=why,
                amount=int(g.deposit))  # fmt: skip
    for tr in s.transfers:
        if tr.reason in (Reason.PAYBACK.value, Reason.EXTRA_PAY.value):
            publish(g.id, "payout", round=r.number, phase=c.PHASE.value, party=tr.destination,
                    reason=tr.reason, amount=tr.amount)  # fmt: skip
    return s


def _apply_transfers(g: CooperativeGroup, r: Round | None, phase, transfers) -> None:
    """Map contract transfers onto ledger transactions (the stake is held in escrow too)."""
    auth = ledger.authority_identity()
    esc, pl = escrow(g.address), pool(g.address)
    for tr in transfers:
        tr: Transfer
        src = esc if tr.source.startswith(("escrow:", "stake:")) else tr.source
        common = dict(group=g.address, round=r.number if r else None,
                      phase=phase.value if phase else None, signer=auth)  # fmt: skip
        if tr.destination.startswith("pool:"):
            ledger.move_money(source=src, destination=pl, amount=tr.amount, kind=TxKind.PENALTY,
                              reason=tr.reason, extra={"party": tr.party}, **common)  # fmt: skip
        else:
            ledger.move_money(source=src, destination=tr.destination, amount=tr.amount,
                              kind=TxKind.PAYOUT, reason=tr.reason, **common)  # fmt: skip


def _finish_round(r: Round, g: CooperativeGroup) -> None:
    r.finished_at = timezone.now()
    r.save(update_fields=["finished_at"])
    if r.status_reason and not r.params_blob:
        r.params_blob = params_before(r)
        r.save(update_fields=["params_blob"])
    publish(g.id, "round_finished", round=r.number, accuracy=r.accuracy, reason=r.status_reason)
    if r.status_reason:
        # a failed round ends the group: the next rounds would fail (and penalise) the same way
        _end_group(g, CooperativeGroup.Status.FAILED, f"round {r.number}: {r.status_reason}")
    elif r.number < g.rounds:
        _start_round(g, r.number + 1)
    else:
        _end_group(g, CooperativeGroup.Status.FINISHED, "")


ENDABLE = (CooperativeGroup.Status.RECRUITING, CooperativeGroup.Status.KEYGEN,
           CooperativeGroup.Status.RUNNING)  # fmt: skip


def abort_group(*, group, by, reason: str = "") -> CooperativeGroup:
    """The initiator stops a group that has not ended: every deposit of a phase that has not
    settled comes back (``deposit_refund``), then what is left of each stake
    (``stake_return``); penalties already settled by the contracts stay. Status ``aborted``."""
    if group.initiator_id != by.id:
        raise DomainError("only the initiator aborts the group", code="forbidden",
                          status_code=403)  # fmt: skip
    why = "aborted by the initiator" + (f": {reason.strip()[:200]}" if reason.strip() else "")
    with transaction.atomic():
        g = CooperativeGroup.objects.select_for_update().get(pk=group.pk)
        if g.status not in ENDABLE:
            raise DomainError(f"the group has already ended ({g.status})", code="ended",
                              status_code=409)  # fmt: skip
        _end_group(g, CooperativeGroup.Status.ABORTED, why)
        g.refresh_from_db()
    return g


def end_group(g: CooperativeGroup, status: str, reason: str) -> None:
    """End ``g`` (inside the caller's transaction): see :func:`_end_group`."""
    _end_group(g, status, reason)


def _end_group(g: CooperativeGroup, status: str, reason: str) -> None:
    """End ``g`` once (finished, aborted, failed): refund the deposits of phases that have not
    settled, return what is left of each stake, record why (a CLOCK transaction ``ended``)."""
    g = CooperativeGroup.objects.select_for_update().get(pk=g.pk)
    if g.status not in ENDABLE:
        return
    r = Round.objects.select_for_update().filter(group=g, finished_at=None).first()
    ledger.submit_transaction(
        kind=TxKind.CLOCK, signer=ledger.authority_identity(), group=g.address,
        round=r.number if r else None, payload={"ended": str(status), "reason": reason[:300]},
    )  # fmt: skip
    if r is not None:
        for kind, phase in ((S.Kind.GRADIENT, Phase.T1), (S.Kind.DECRYPTION_SHARE, Phase.T5)):
            if phase.value in (r.settlements or {}):
                continue
            paid = r.submissions.filter(kind=kind).exclude(status=S.Status.LATE)
            refunds = [
                Transfer(escrow(g.address), sub.membership.account.address, int(g.deposit),
                         Reason.DEPOSIT_REFUND.value, sub.membership.account.address)
                for sub in paid.select_related("membership__account").order_by("id")
            ]  # fmt: skip
            _apply_transfers(g, r, phase, refunds)
        r.finished_at = timezone.now()
        r.status_reason = r.status_reason or reason
        r.save(update_fields=["finished_at", "status_reason"])
    refunds = []
    for m in _members(g):
        if m.stake_remaining > 0:
            refunds.append(Transfer(escrow(g.address), m.account.address, int(m.stake_remaining),
                                    Reason.STAKE_RETURN.value, m.account.address))  # fmt: skip
    _apply_transfers(g, None, None, refunds)
    Membership.objects.filter(group=g).update(stake_remaining=0)
    g.status, g.status_reason, g.ended_at = status, reason, timezone.now()
    g.save(update_fields=["status", "status_reason", "ended_at"])
    publish(g.id, "group_status", status=g.status, reason=reason)
    wake_simulated_parties(g)


def wake_simulated_parties(g: CooperativeGroup) -> None:
    """Enqueue one party_step per simulated party (after this transaction commits)."""
    for mid in g.members.filter(simulated=True, status=Membership.Status.ACTIVE).values_list(
        "id", flat=True
    ):
        _on_commit_task("party_step", mid)


# -- Processing contract (T_t7..T_t9) -----------------------------------------------------------
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
    pk, store = public_key_of(g), ledger.blob_store()
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
        g.address, workers, schedule_of(r), (), list(grads),
        aggregate_fn=lambda _prev, gs: tuple(aggregate(pk, [list(x) for x in gs])),
    )  # fmt: skip
    t = now_ms()
    sched = schedule_of(r)
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
    pk, scheme, store = public_key_of(g), scheme_of(g), ledger.blob_store()
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
        w_prev = floats_from_bytes(store.get(params_before(r)))
        strat, s_bits = strategy_of(g), scale_bits_of(scheme.scale)
        state = replay_state(strat, w_prev.size, _published_aggregates(r), s_bits)
        w, _ = apply_strategy(strat, w_prev, sums, r.n_accepted, state, s_bits)
        acc, loss = evaluate(g.model_name, w, test_split(g))
        result_blob = store.put(ints_to_bytes(sums))
        params_blob = store.put(_floats(w))
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
                          "seconds": dict(r.phase_times), "bytes_sent": _round_bytes(r)},
            )  # fmt: skip
            publish(g.id, "decrypted", round=r.number, result_blob=result_blob,
                    n_accepted=r.n_accepted)  # fmt: skip
            publish(g.id, "metrics", round=r.number, party=None, accuracy=float(acc),
                    loss=float(loss))  # fmt: skip
    advance_round(round_id)
    return True


def _round_bytes(r: Round) -> int:
    return int(sum(r.submissions.values_list("size_bytes", flat=True)))


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
    pk, scheme = public_key_of(g), scheme_of(g)
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
    pk, store = public_key_of(g), ledger.blob_store()
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


def expected_weights(group, honest: list[str]) -> dict[str, Fraction]:
    """Contribution weights used for extra pay (accepted update x declared data size)."""
    sizes = {m.account.address: max(1, int(m.data_size)) for m in _members(group)}
    return contribution_weights({p: 1 for p in honest}, sizes)
