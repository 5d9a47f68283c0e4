"""Group establishment (paper section 4.2.4): create a cooperative group co (task, model, N, t,
rounds, deadlines, deposit d), start it when N parties are staked and online (the dealer's key
on queue crypto, or the parties' own ceremony in ``training_app.key_ceremony``), then record
PK_model with Tran_co (GROUP_CREATE) on chain and open round 1."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

from deepchain.agent_verify import MIN_CONTRIBUTORS
from deepchain.blobs import blob_hash
from deepchain.canonical import canonical_json
from deepchain.crypto.dkg import DKGParams
from deepchain.crypto.identity import PublicIdentity
from deepchain.crypto.packing import PLATFORM_PACKING, l2_bound_error  # agents: g.packing
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.incentives.clock import Deadlines, Phase
from deepchain.learning.strategies import DEFAULT_STRATEGY, Strategy, StrategyError
from deepchain.ledger.transactions import TxKind
from deepchain.wire import floats_to_bytes
from deepchain_web.api_errors import DomainError
from deepchain_web.events import publish
from ledger_app import services as ledger
from training_app import presence, selectors, tasks, upload_limits
from training_app.models import CooperativeGroup, Membership
from training_app.services.clock import start_round

MODEL_NAMES = ("mlp", "tiny", "paper_cnn")
PARTITIONS = ("iid", "dirichlet")

#: how PK_model is made: the parties' own ceremony (training_app.key_ceremony) or a dealer
DEALERLESS, DEALER = "dealerless", "dealer"
KEY_ORIGINS = (DEALERLESS, DEALER)
KEY_ROUND_MS = (1_000, 3_600_000)  # bounds of a key-ceremony message round's deadline


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
    l2_clip: float | None = None,
    api_url: str = "",
    public: bool = False,
    strategy: Strategy | None = None,
    min_contributors: int = MIN_CONTRIBUTORS,
    simulated: bool = False,
    key_origin: str = DEALERLESS,
    key_round_ms: int = 0,
) -> CooperativeGroup:
    """Propose a cooperative group co: task, model, N, t, rounds, deadlines, deposit d, its
    aggregation strategy (FedProx mu, server optimizer; default
    ``learning.strategies.DEFAULT_STRATEGY``), the minimum number of
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
    if l2_clip is not None and (why := l2_bound_error(model_name, l2_clip)) is not None:
        raise DomainError(f"bad L2 clip: {why}", code="bad_l2_clip", status_code=400)
    upload_limits.check_update_fits(bits, model_name, update_clip, l2_clip)
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
            l2_clip=None if l2_clip is None else float(l2_clip),
            api_url=api_url,
            public=bool(public),
            strategy=(strategy or DEFAULT_STRATEGY).to_json(),
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
            transaction.on_commit(partial(tasks.crypto_keygen.delay, g.id))
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
    members = selectors.active_members(g)
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


def key_fits_group(pk: ThresholdPublicKey, g: CooperativeGroup) -> bool:
    """PK_model is for this group: N = the group's n_parties and t = its threshold. The group's
    parameters are the source (chosen at creation, in Tran_co); every key registered for it is
    checked against them, and code that needs the key's threshold reads ``pk.t``."""
    return (pk.N, pk.t) == (g.n_parties, g.threshold)


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
    if not key_fits_group(pk, g):
        raise RuntimeError("key ceremony: PK_model's (N, t) are not the group's")
    scheme = PLATFORM_PACKING.scheme(pk.n_bits, g.model_name, g.update_clip, g.l2_clip)
    w0 = initial_params(g.model_name, g.seed)
    w0_blob = ledger.blob_store().put(floats_to_bytes(w0))
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
                "strategy": selectors.strategy_of(g).to_json(),
                "min_contributors": int(g.min_contributors),
                "simulated": bool(g.simulated),
                **origin,
            },
        )
        publish(g.id, "group_status", status=g.status, pk_model=pk.fingerprint())
        start_round(g, 1)
    return True


def strategy_from_options(name: str, **values: Any) -> Strategy:
    """A validated strategy from user input; DomainError (409) with the reason otherwise."""
    try:
        return Strategy.from_options(name, **values)
    except StrategyError as exc:
        raise DomainError(f"strategy: {exc}", code="bad_strategy") from None
