"""What a party agent checks on the chain before it uses platform data or decrypts anything.

Two checks, both against finalized blocks (``deepchain.agent_chain``), never against the
platform's word:

- :func:`chain_group` / :func:`check_api_copy`: the group is what its GROUP_CREATE (Tran_co,
  signed by a genesis authority) says: PK_model by fingerprint, N, t, the party list (and my
  index in it), the packing, the deposit, the deadlines, ``min_contributors``, the
  ``simulated`` flag and the aggregation strategy; the sealed key share the API hands me is the
  one committed on chain. Any API copy that differs is refused with :class:`ConfigMismatch`.
- :func:`verify_round_aggregate` (paper Algorithm 2, checked by the decryptor): the round's
  accepted updates are exactly the GRADIENT transactions of the group's parties whose VERIFY
  (by an authority) says ok; the AGGREGATE transaction (by a genesis worker) names exactly
  those as inputs, at least ``min_contributors`` of them; the served aggregate blob and every
  update blob hash to what the chain says; and the served C(W) equals, ciphertext by
  ciphertext, prod_j C(dW_j) mod n^2 recomputed here. Anything else raises :class:`Refusal`
  with the reason, which the agent signs into a DECRYPTION_REFUSAL instead of a share.

So t honest agents decrypt only a product of at least ``min_contributors`` distinct parties'
own signed updates: never one party's ciphertext, never a subset or superset of the round.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gmpy2 import mpz

from deepchain.agent_chain import ChainClient
from deepchain.blobs import blob_hash
from deepchain.canonical import canonical_json
from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.vector import EncryptedUpdate
from deepchain.ledger.transactions import Transaction, TxKind, thaw

__all__ = [
    "MIN_CONTRIBUTORS",
    "ChainGroup",
    "ConfigMismatch",
    "Refusal",
    "VerifiedAggregate",
    "chain_group",
    "check_api_copy",
    "recompute_aggregate",
    "verify_round_aggregate",
]

#: no aggregate of fewer parties is ever decrypted (two would reveal each other's update)
MIN_CONTRIBUTORS = 3


class Refusal(Exception):
    """The round's aggregate cannot be verified from the chain: do not decrypt it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigMismatch(Exception):
    """The platform's copy of the group's parameters differs from its GROUP_CREATE."""


@dataclass(frozen=True)
class ChainGroup:
    """A group as its GROUP_CREATE transaction in a finalized block defines it."""

    address: str
    tx_hash: str
    dealer: str  # the authority that signed Tran_co and sealed the key shares
    pk_model: str  # fingerprint of PK_model
    N: int
    t: int
    parties: tuple[str, ...]
    packing: dict[str, Any]
    deposit: int
    deadlines: dict[str, Any]
    commitments: tuple[str, ...]
    min_contributors: int
    simulated: bool
    strategy: dict[str, Any] | None = None  # how W_r follows from the aggregates, if recorded

    @classmethod
    def from_tx(cls, tx: Transaction) -> ChainGroup:
        p = thaw(tx.payload)
        return cls(
            address=str(tx.group), tx_hash=tx.tx_hash, dealer=tx.sender,
            pk_model=str(p["pk_model"]), N=int(p["N"]), t=int(p["t"]),
            parties=tuple(p["parties"]), packing=dict(p["packing"]), deposit=int(p["deposit"]),
            deadlines=dict(p.get("deadlines") or {}), commitments=tuple(p.get("commitments", ())),
            min_contributors=int(p.get("min_contributors", MIN_CONTRIBUTORS)),
            simulated=bool(p.get("simulated", False)), strategy=p.get("strategy"),
        )  # fmt: skip

    def index_of(self, address: str) -> int:
        """My party index i (1-based position in the Tran_co party list)."""
        if address not in self.parties:
            raise ConfigMismatch("this agent's identity is not a party of the group on chain")
        return self.parties.index(address) + 1


def chain_group(chain: ChainClient, address: str) -> ChainGroup | None:
    """The group's Tran_co from the verified chain; None while it is not final yet."""
    txs = [
        t for t in chain.transactions(address, TxKind.GROUP_CREATE) if t.sender in chain.authorities
    ]
    if not txs:
        return None
    if len(txs) > 1:
        raise ConfigMismatch(f"group {address} has {len(txs)} GROUP_CREATE transactions on chain")
    try:
        return ChainGroup.from_tx(txs[0])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigMismatch(f"the group's GROUP_CREATE is malformed: {exc}") from None


def check_api_copy(
    group: ChainGroup, info: Mapping[str, Any], me: str
) -> tuple[ThresholdPublicKey, PackingScheme]:
    """Check the platform's copy of the group (``groups/<id>/me/``) against the chain;
    returns (PK_model, packing) once they agree. Raises ConfigMismatch naming the field."""
    try:
        pk = ThresholdPublicKey.from_json(info["public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigMismatch(f"the platform's PK_model is unreadable: {exc}") from None
    fp = pk.fingerprint()
    if fp != group.pk_model:
        raise ConfigMismatch(
            f"the platform serves PK_model {fp[:16]}, but the group's GROUP_CREATE on chain "
            f"names PK_model {group.pk_model[:16]}: refusing to encrypt or decrypt under it"
        )
    if (pk.N, pk.t) != (group.N, group.t) or len(group.parties) != group.N:
        raise ConfigMismatch(f"N, t on chain are {group.N}, {group.t}; PK_model has {pk.N}, {pk.t}")
    if canonical_json(info.get("packing")) != canonical_json(group.packing):
        raise ConfigMismatch("the platform's packing differs from the group's GROUP_CREATE")
    i = group.index_of(me)
    if int(info.get("party_index", -1)) != i:
        raise ConfigMismatch(f"the platform says I am party {info.get('party_index')}, "
                             f"the chain says party {i}")  # fmt: skip
    checks = {
        "deposit": group.deposit,
        "group_address": group.address,
        "min_contributors": group.min_contributors,
        "simulated": group.simulated,
        "deadlines": group.deadlines,
        **({} if group.strategy is None else {"strategy": group.strategy}),
    }
    for key, want in checks.items():
        if key in info and canonical_json(info[key]) != canonical_json(want):
            raise ConfigMismatch(f"the platform's {key} differs from the group's GROUP_CREATE")
    sealed = info.get("sealed_key_share")
    if sealed and group.commitments and blob_hash(sealed.encode()) != group.commitments[i - 1]:
        raise ConfigMismatch("my sealed key share is not the one committed in GROUP_CREATE")
    return pk, PackingScheme.from_json(info["packing"])


@dataclass(frozen=True)
class VerifiedAggregate:
    """C(W) of a round, recomputed from the accepted updates and equal to the served one."""

    ciphertexts: list[int]
    length: int
    n_accepted: int
    aggregate_blob: str
    inputs: tuple[str, ...]
    seconds: float


def _accepted(
    chain: ChainClient, group: ChainGroup, round_no: int
) -> tuple[list[Transaction], dict[str, bool]]:
    grads = [
        t
        for t in chain.transactions(group.address, TxKind.GRADIENT, round_no)
        if t.sender in group.parties
    ]
    twice = [a[:16] for a, n in Counter(t.sender for t in grads).items() if n > 1]
    if twice:
        raise Refusal(f"more than one GRADIENT from the same party on chain: {twice}")
    subjects = {t.tx_hash for t in grads}
    verdicts: dict[str, bool] = {}
    for v in chain.transactions(group.address, TxKind.VERIFY, round_no):
        s = v.payload.get("subject")
        if v.sender not in chain.authorities or s not in subjects:
            continue
        if v.payload.get("what") != "proof_pk":
            continue
        if s in verdicts:
            raise Refusal(f"two verdicts on chain for the gradient {s[:16]}")
        verdicts[s] = v.payload.get("ok") is True
    return grads, verdicts


def recompute_aggregate(
    pk: ThresholdPublicKey,
    served: bytes,
    aggregate_blob: str,
    updates: list[tuple[str, str, bytes]],
) -> EncryptedUpdate:
    """The decryptor's own Algorithm 2: ``served`` must hash to ``aggregate_blob`` (the
    AGGREGATE's) and equal, ciphertext by ciphertext, prod_j C(dW_j) mod n^2 over ``updates``
    = [(party, blob hash on its GRADIENT, blob bytes)], each re-hashed here. Returns the
    aggregate; raises :class:`Refusal` on any difference."""
    h = blob_hash(served)
    if h != aggregate_blob:
        raise Refusal(f"the aggregate served ({h[:16]}) is not the one on chain "
                      f"({aggregate_blob[:16]})")  # fmt: skip
    try:
        agg = EncryptedUpdate.from_bytes(served, pk)
    except ValueError as exc:
        raise Refusal(f"the aggregate is malformed: {exc}") from None
    n2 = mpz(pk.n2)
    prod = [mpz(1)] * len(agg.ciphertexts)
    for party, ref, data in updates:
        if blob_hash(data) != ref:
            raise Refusal(f"the update blob of {party[:16]} does not hash to its GRADIENT's")
        try:  # its proofs were the verifier's to check (VERIFY on chain): only C(dW_j) here
            length, cts = EncryptedUpdate.ciphertexts_from_bytes(data, pk)
        except ValueError as exc:
            raise Refusal(f"the update of {party[:16]} is malformed: {exc}") from None
        if len(cts) != len(prod) or length != agg.length:
            raise Refusal(f"the update of {party[:16]} and the aggregate differ in length")
        prod = [a * mpz(c) % n2 for a, c in zip(prod, cts, strict=True)]
    bad = [j for j, (a, c) in enumerate(zip(prod, agg.ciphertexts, strict=True)) if a != c]
    if bad:
        raise Refusal(f"{len(bad)} of {len(prod)} aggregate ciphertexts (first: {bad[0]}) are not "
                      f"the product of the {len(updates)} accepted updates")  # fmt: skip
    return agg


def verify_round_aggregate(
    chain: ChainClient,
    group: ChainGroup,
    pk: ThresholdPublicKey,
    round_no: int,
    served: bytes,
    fetch_blob: Callable[[str], bytes],
) -> VerifiedAggregate | None:
    """Verify the served aggregate of ``round_no`` against the finalized chain (module
    docstring); returns it, or None while the round's AGGREGATE is not final yet.
    Raises :class:`Refusal` if anything differs, is missing or is extra."""
    t0 = time.perf_counter()
    aggs = [
        t
        for t in chain.transactions(group.address, TxKind.AGGREGATE, round_no)
        if t.sender in chain.workers
    ]
    if not aggs:
        return None
    if len(aggs) > 1:
        raise Refusal(f"{len(aggs)} AGGREGATE transactions on chain for round {round_no}")
    agg_tx = aggs[0]
    grads, verdicts = _accepted(chain, group, round_no)
    pending = [g.sender[:16] for g in grads if g.tx_hash not in verdicts]
    if pending:
        raise Refusal(f"the aggregate was appended before the verdict on the updates of {pending}")
    accepted = [g for g in grads if verdicts[g.tx_hash]]
    want = {g.tx_hash for g in accepted}
    inputs = list(agg_tx.payload.get("inputs") or [])
    missing = sorted(want - set(inputs))
    extra = sorted(set(inputs) - want) + [h for h, n in Counter(inputs).items() if n > 1]
    if missing or extra:
        raise Refusal(f"the AGGREGATE's inputs are not the round's accepted updates "
                      f"(missing {[h[:16] for h in missing]}, extra or repeated "
                      f"{[h[:16] for h in extra]})")  # fmt: skip
    if agg_tx.payload.get("n_accepted") != len(accepted):
        raise Refusal(f"the AGGREGATE says {agg_tx.payload.get('n_accepted')} accepted updates, "
                      f"the chain has {len(accepted)}")  # fmt: skip
    if len(accepted) < group.min_contributors:
        raise Refusal(f"only {len(accepted)} accepted updates, fewer than min_contributors "
                      f"= {group.min_contributors}: decrypting could reveal an update")  # fmt: skip
    updates = []
    for g in accepted:
        ref = str(g.payload.get("update_blob"))
        try:
            updates.append((g.sender, ref, fetch_blob(ref)))
        except Exception as exc:  # the platform withholds an accepted update: no decryption
            raise Refusal(f"the update of {g.sender[:16]} is not available: {exc}") from None
    agg = recompute_aggregate(pk, served, str(agg_tx.payload.get("aggregate_blob")), updates)
    h = blob_hash(served)
    return VerifiedAggregate(
        ciphertexts=list(agg.ciphertexts), length=agg.length, n_accepted=len(accepted),
        aggregate_blob=h, inputs=tuple(sorted(want)), seconds=time.perf_counter() - t0,
    )  # fmt: skip
