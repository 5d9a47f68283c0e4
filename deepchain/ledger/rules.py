"""Blockwise-BA's rules (paper 4.2.5): what every honest worker and every auditor checks.

At height h, consensus round k (k = number of leaders already replaced at this height):

(a) leader = select_leader(prev_hash, h, k, workers[, stakes]) from H("leader", prev_hash, h, k)
    (stake-weighted if stakes are configured): anyone can recompute it;
(b) committee = the c workers with the smallest H("committee", prev_hash, h, k, pk); each
    member re-verifies every transaction of the leader's block and signs a Vote on its hash;
    the block is final with valid votes from more than 2c/3 members (``quorum``; tolerates
    f < c/3); an invalid or silent leader (no proposal before its timeout) is replaced at
    round k+1 (``classify_failed_round`` names why a round failed);
(c) gossip: a final block goes to each node's neighbours, who verify it (``check_block``,
    including the quorum) before storing and forwarding it.

Honest members vote at most once per (height, k); a member signing two different blocks for
the same (height, k) is equivocating, and the two signed votes are the evidence
(``detect_equivocation``).

The worker that applies these rules is ``ledger.node``; adversaries are ``ledger.faults``;
an in-process driver of one height is ``ledger.sim.run_consensus_round``, the distributed one
(Celery) is ``ledger_app.consensus``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from deepchain.canonical import canonical_json, tagged_hash
from deepchain.crypto.identity import Identity
from deepchain.ledger.blocks import (
    Block,
    BlockHeader,
    Vote,
    merkle_root,
    sign_block,
    sign_vote,
)
from deepchain.ledger.state import LedgerState
from deepchain.ledger.transactions import (
    InvalidTransaction,
    Transaction,
    TxKind,
    check_signature,
    make_rejection,
    make_tx,
)

__all__ = [
    "EquivocationEvidence",
    "InvalidBlock",
    "build_block",
    "check_block",
    "classify_failed_round",
    "collect_votes",
    "detect_equivocation",
    "finalize",
    "is_final",
    "leader_for",
    "propose_block",
    "quorum",
    "select_committee",
    "select_leader",
    "verify_block",
    "verify_signatures",
    "vote",
]


# -- (a) leader and committee -----------------------------------------------------------
def _h_int(tag: str, *parts: object) -> int:
    return int(tagged_hash(tag, canonical_json(list(parts))), 16)


def select_leader(
    prev_hash: str,
    height: int,
    k: int,
    workers: Sequence[str],
    stakes: dict[str, int] | None = None,
) -> str:
    """Leader of round k at height h: index H("leader", prev_hash, h, k) mod |workers|, or the
    worker whose cumulative-stake interval contains H mod total stake (if stakes given)."""
    ws = sorted(set(workers))
    if not ws:
        raise ValueError("no workers")
    x = _h_int("leader", prev_hash, height, k)
    if stakes:
        weights = [max(0, int(stakes.get(w, 0))) for w in ws]
        total = sum(weights)
        if total > 0:
            r = x % total
            for w, s in zip(ws, weights, strict=True):
                if r < s:
                    return w
                r -= s
    return ws[x % len(ws)]


def select_committee(
    prev_hash: str, height: int, k: int, workers: Sequence[str], size: int
) -> list[str]:
    """The ``size`` workers ranked first by H("committee", prev_hash, h, k, pk)."""
    ws = sorted(
        set(workers),
        key=lambda pk: tagged_hash("committee", canonical_json([prev_hash, height, k, pk])),
    )
    return ws[: max(1, min(size, len(ws)))]


def quorum(committee_size: int) -> int:
    """Smallest vote count strictly greater than 2c/3."""
    return (2 * committee_size) // 3 + 1


def leader_for(
    prev: Block, k: int, workers: Sequence[str], stakes: dict[str, int] | None = None
) -> str:
    """The eligible leader for the block after ``prev`` in consensus round k."""
    return select_leader(prev.block_hash, prev.height + 1, k, workers, stakes)


# -- block validity ---------------------------------------------------------------------
class InvalidBlock(Exception):
    """A block that fails verification; ``reason`` names the check, ``tx_hash`` the tx."""

    def __init__(self, reason: str, tx_hash: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tx_hash = tx_hash


def _verify_chunk(items: list[tuple[str, bytes, str]]) -> list[bool]:
    return [check_signature(s, m, sig) for s, m, sig in items]


def verify_signatures(
    txs: Sequence[Transaction], executor: Executor | None = None, chunks: int = 2
) -> list[bool]:
    """Check every transaction signature, optionally split over an executor (processes: the
    Ed25519 binding holds the GIL, so threads do not help). Results are cached on each tx."""
    todo = [t for t in txs if not t.signature_checked]
    if executor is not None and len(todo) >= 2 * chunks:
        items = [(t.sender, t.signing_bytes(), t.signature) for t in todo]
        n = -(-len(items) // chunks)
        parts = [items[i : i + n] for i in range(0, len(items), n)]
        flat = [ok for part in executor.map(_verify_chunk, parts) for ok in part]
        for t, ok in zip(todo, flat, strict=True):
            t.record_signature_check(ok)
    return [t.verify_signature() for t in txs]


def _check_votes(block: Block, committee: list[str]) -> int:
    members = set(committee)
    seen: set[str] = set()
    h = block.block_hash
    for v in block.votes:
        if v.voter not in members:
            raise InvalidBlock(f"vote by {v.voter[:16]}, not a committee member")
        if v.block_hash != h or v.height != block.height or v.k != block.header.consensus_round:
            raise InvalidBlock(f"vote by {v.voter[:16]} is for another block")
        if v.voter in seen:
            raise InvalidBlock(f"duplicate vote by {v.voter[:16]}")
        if not v.verify():
            raise InvalidBlock(f"bad vote signature by {v.voter[:16]}")
        seen.add(v.voter)
    return len(seen)


def check_block(
    block: Block,
    prev: Block,
    state: LedgerState,
    workers: Sequence[str],
    committee_size: int,
    stakes: dict[str, int] | None = None,
    require_quorum: bool = True,
    executor: Executor | None = None,
) -> LedgerState:
    """Verify ``block`` as the successor of ``prev`` (whose post-state is ``state``) and
    return the new state; raises InvalidBlock naming the first failed check."""
    hd = block.header
    if hd.height != prev.height + 1:
        raise InvalidBlock(f"height {hd.height} does not follow {prev.height}")
    if hd.prev_hash != prev.block_hash:
        raise InvalidBlock("hash link: prev_hash is not the previous block's hash")
    if hd.timestamp_ms < prev.header.timestamp_ms:
        raise InvalidBlock("timestamp earlier than the previous block's")
    if hd.tx_count != len(block.transactions):
        raise InvalidBlock(f"tx_count {hd.tx_count} but {len(block.transactions)} transactions")
    if hd.merkle_root != merkle_root(block.tx_hashes()):
        raise InvalidBlock("merkle root does not match the transactions")
    if hd.consensus_round < 0:
        raise InvalidBlock("negative consensus round")
    eligible = select_leader(hd.prev_hash, hd.height, hd.consensus_round, workers, stakes)
    if hd.leader != eligible:
        raise InvalidBlock(
            f"leader eligibility: {hd.leader[:16]} is not the leader of round "
            f"{hd.consensus_round} (expected {eligible[:16]})"
        )
    if not block.verify_leader_signature():
        raise InvalidBlock("bad leader signature")
    if require_quorum:
        committee = select_committee(
            hd.prev_hash, hd.height, hd.consensus_round, workers, committee_size
        )
        n = _check_votes(block, committee)
        q = quorum(len(committee))
        if n < q:
            raise InvalidBlock(
                f"no quorum: {n} valid committee votes of {len(committee)}, need {q}"
            )
    verify_signatures(block.transactions, executor)
    new = state.copy()
    seen: set[str] = set()
    for tx in block.transactions:
        if tx.tx_hash in seen:
            raise InvalidBlock("duplicate transaction", tx.tx_hash)
        seen.add(tx.tx_hash)
        try:
            new.apply(tx)
        except InvalidTransaction as exc:
            raise InvalidBlock(f"tx {tx.tx_hash[:16]}: {exc.reason}", tx.tx_hash) from exc
    return new


def verify_block(
    block: Block,
    prev: Block,
    state: LedgerState,
    workers: Sequence[str],
    committee_size: int,
    stakes: dict[str, int] | None = None,
    require_quorum: bool = True,
) -> tuple[bool, str]:
    """(True, "ok") or (False, reason): hash link, merkle root, leader eligibility, leader
    signature, each tx's signature/nonce/balance, and (if required) quorum and vote signatures."""
    try:
        check_block(block, prev, state, workers, committee_size, stakes, require_quorum)
    except InvalidBlock as exc:
        return False, exc.reason
    return True, "ok"


# -- proposing and voting ---------------------------------------------------------------
def build_block(
    leader: Identity,
    prev: Block,
    k: int,
    txs: Iterable[Transaction],
    state: LedgerState,
    timestamp_ms: int,
    *,
    record_rejections: bool = False,
    max_txs: int | None = None,
    evidence: Iterable[EquivocationEvidence] = (),
) -> tuple[Block, list[tuple[Transaction, str]]]:
    """Leader's block: only the txs valid (in order) against ``state``; returns the block and
    the rejected txs with reasons (recorded as REJECTION txs if ``record_rejections``).
    Equivocation ``evidence`` not yet on chain is recorded first as EQUIVOCATION txs."""
    s = state.copy()
    included: list[Transaction] = []
    rejected: list[tuple[Transaction, str]] = []
    for ev in evidence:
        rec = ev.as_transaction(leader, s.next_nonce(leader.address), timestamp_ms)
        if s.try_apply(rec) is None:
            included.append(rec)
    for tx in txs:
        if max_txs is not None and len(included) >= max_txs:
            break
        reason = s.try_apply(tx)
        if reason is None:
            included.append(tx)
            continue
        rejected.append((tx, reason))
        if record_rejections and tx.signature and tx.verify_signature():
            rec = make_rejection(
                leader, s.next_nonce(leader.address), tx, reason, timestamp_ms=timestamp_ms
            )
            if s.try_apply(rec) is None:
                included.append(rec)
    header = BlockHeader(
        height=prev.height + 1,
        prev_hash=prev.block_hash,
        merkle_root=merkle_root([t.tx_hash for t in included]),
        timestamp_ms=max(timestamp_ms, prev.header.timestamp_ms),
        leader=leader.address,
        consensus_round=k,
        tx_count=len(included),
    )
    return sign_block(leader, header, included), rejected


def propose_block(
    leader: Identity,
    prev: Block,
    k: int,
    txs: Iterable[Transaction],
    state: LedgerState,
    timestamp_ms: int,
    **options: Any,
) -> Block:
    """The leader includes only the txs valid against ``state``: ``build_block``'s block
    (``options``: its keyword options)."""
    return build_block(leader, prev, k, txs, state, timestamp_ms, **options)[0]


def vote(identity: Identity, block: Block) -> Vote:
    """A committee member's signature on ``block`` (hash, height, consensus round)."""
    return sign_vote(identity, block.block_hash, block.height, block.header.consensus_round)


def collect_votes(block: Block, votes: Iterable[Vote], committee: Sequence[str]) -> dict[str, Vote]:
    """The valid votes for ``block``: by committee members, on its hash/height/k, one per voter."""
    members = set(committee)
    out: dict[str, Vote] = {}
    for v in votes:
        if (
            v.voter in members
            and v.voter not in out
            and v.block_hash == block.block_hash
            and v.height == block.height
            and v.k == block.header.consensus_round
            and v.verify()
        ):
            out[v.voter] = v
    return out


def is_final(block: Block, committee: Sequence[str], quorum_size: int | None = None) -> bool:
    """True iff ``block`` carries valid votes from more than 2/3 of ``committee``."""
    q = quorum(len(committee)) if quorum_size is None else quorum_size
    return len(collect_votes(block, block.votes, committee)) >= q


def finalize(block: Block, votes: Iterable[Vote], committee: Sequence[str]) -> Block | None:
    """The block carrying its valid committee votes if they reach quorum, else None."""
    valid = collect_votes(block, votes, committee)
    if len(valid) < quorum(len(committee)):
        return None
    return block.with_votes(valid.values())


@dataclass(frozen=True)
class EquivocationEvidence:
    """Two valid votes by one voter for different blocks at the same (height, k)."""

    voter: str
    height: int
    vote_a: Vote
    vote_b: Vote

    def verify(self) -> bool:
        a, b = self.vote_a, self.vote_b
        return (
            a.voter == b.voter == self.voter
            and a.height == b.height == self.height
            and a.k == b.k
            and a.block_hash != b.block_hash
            and a.verify()
            and b.verify()
        )

    def to_dict(self) -> dict:
        return {
            "voter": self.voter,
            "height": self.height,
            "vote_a": self.vote_a.to_dict(),
            "vote_b": self.vote_b.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> EquivocationEvidence:
        a, b = Vote.from_dict(d["vote_a"]), Vote.from_dict(d["vote_b"])
        return cls(d["voter"], d["height"], a, b)

    def as_transaction(self, reporter: Identity, nonce: int, timestamp_ms: int = 0) -> Transaction:
        """The EQUIVOCATION transaction recording this evidence on chain."""
        return make_tx(
            reporter,
            TxKind.EQUIVOCATION,
            nonce,
            {
                "voter": self.voter,
                "height": self.height,
                "k": self.vote_a.k,
                "vote_a": self.vote_a.to_dict(),
                "vote_b": self.vote_b.to_dict(),
            },
            timestamp_ms=timestamp_ms,
        )


def detect_equivocation(votes: Iterable[Vote]) -> list[EquivocationEvidence]:
    """Evidence for every voter with valid votes on two different blocks at one (height, k)."""
    first: dict[tuple[str, int, int], Vote] = {}
    out: list[EquivocationEvidence] = []
    reported: set[tuple[str, int, int]] = set()
    for v in votes:
        key = (v.voter, v.height, v.k)
        seen = first.get(key)
        if seen is None:
            if v.verify():
                first[key] = v
        elif seen.block_hash != v.block_hash and key not in reported and v.verify():
            reported.add(key)
            out.append(EquivocationEvidence(v.voter, v.height, seen, v))
    return out


# -- a failed consensus round ------------------------------------------------------------------
def classify_failed_round(
    committee_size: int, responsive: int, refusals: int, *, closed: bool
) -> str | None:
    """Why a round whose block did not reach quorum failed: "invalid" (replace the leader,
    its block was refused), "no_quorum" (too few members answered), or None (keep waiting).

    With q = quorum(c): while the round is open, it is "invalid" as soon as more than c - q
    members refused (quorum can no longer be reached); once it is closed (its timeout, or every
    member answered in-process), it is "invalid" if some member refused and at least q
    answered, else "no_quorum". ``responsive`` counts the members that answered (voted or
    refused), ``refusals`` those that refused.
    """
    q = quorum(committee_size)
    if not closed:
        return "invalid" if refusals > committee_size - q else None
    return "invalid" if refusals and responsive >= q else "no_quorum"
