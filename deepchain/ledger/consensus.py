"""Blockwise-BA (paper 4.2.5): verifiable leader, committee agreement, neighbour gossip.

At height h, consensus round k (k = number of leaders already replaced at this height):

(a) leader = select_leader(prev_hash, h, k, workers[, stakes]) from H("leader", prev_hash, h, k)
    (stake-weighted if stakes are configured): anyone can recompute it;
(b) committee = the c workers with the smallest H("committee", prev_hash, h, k, pk); each
    member re-verifies every transaction of the leader's block and signs a Vote on its hash;
    the block is final with valid votes from more than 2c/3 members (tolerates f < c/3);
    an invalid or silent leader (no proposal before its timeout) is replaced at round k+1;
(c) gossip: a final block goes to each node's neighbours, who verify it (including the
    quorum) before storing and forwarding it.

Honest members vote at most once per (height, k); a member signing two different blocks for
the same (height, k) is equivocating, and the two signed votes are the evidence.

The step functions (``leader_for``, ``propose_block``, ``WorkerNode.validate_and_vote``,
``collect_votes``, ``finalize``, ``WorkerNode.receive_block``/``gossip``) are what
``run_consensus_round`` composes; a distributed driver (Celery) can call the same steps one
at a time in different processes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from deepchain.canonical import canonical_json, tagged_hash
from deepchain.crypto.identity import Identity
from deepchain.ledger.blocks import (
    Block,
    BlockHeader,
    Vote,
    genesis_params,
    merkle_root,
    sign_block,
    sign_vote,
)
from deepchain.ledger.state import LedgerState, genesis_state
from deepchain.ledger.transactions import (
    InvalidTransaction,
    Transaction,
    TxKind,
    _check_signature,
    is_pk_hex,
    make_rejection,
    make_tx,
)

__all__ = [
    "BEHAVIOURS",
    "Attempt",
    "ConsensusOutcome",
    "EquivocationEvidence",
    "InvalidBlock",
    "Vote",
    "WorkerNode",
    "check_block",
    "collect_votes",
    "detect_equivocation",
    "finalize",
    "gossip",
    "is_final",
    "leader_for",
    "propose_block",
    "quorum",
    "run_consensus_round",
    "select_committee",
    "select_leader",
    "verify_block",
    "verify_signatures",
    "vote",
]

BEHAVIOURS = (
    "honest",
    "silent",
    "forge_signature",
    "double_spend",
    "bad_merkle",
    "equivocate",
    "crashed",
)


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
    return [_check_signature(s, m, sig) for s, m, sig in items]


def verify_signatures(
    txs: Sequence[Transaction], executor: Executor | None = None, chunks: int = 2
) -> list[bool]:
    """Check every transaction signature, optionally split over an executor (processes: the
    Ed25519 binding holds the GIL, so threads do not help). Results are cached on each tx."""
    todo = [t for t in txs if "sig_ok" not in t._cache]
    if executor is not None and len(todo) >= 2 * chunks:
        items = [(t.sender, t.signing_bytes(), t.signature) for t in todo]
        n = -(-len(items) // chunks)
        parts = [items[i : i + n] for i in range(0, len(items), n)]
        flat = [ok for part in executor.map(_verify_chunk, parts) for ok in part]
        for t, ok in zip(todo, flat, strict=True):
            t._cache["sig_ok"] = ok
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
    *,
    record_rejections: bool = False,
    max_txs: int | None = None,
) -> Block:
    """The leader includes only the txs valid against ``state`` (see ``build_block``)."""
    return build_block(
        leader,
        prev,
        k,
        txs,
        state,
        timestamp_ms,
        record_rejections=record_rejections,
        max_txs=max_txs,
    )[0]


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


# -- in-memory worker node ----------------------------------------------------------------
class WorkerNode:
    """A pure in-memory worker: identity, chain, state, mempool, neighbours and a behaviour
    for fault injection (one of BEHAVIOURS)."""

    def __init__(
        self,
        identity: Identity,
        genesis: Block,
        *,
        behaviour: str = "honest",
        record_rejections: bool = True,
        max_block_txs: int | None = None,
    ) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        params = genesis_params(genesis)
        self.identity = identity
        self.behaviour = behaviour
        self.workers = params.workers
        self.committee_size = params.committee_size
        self.stakes = params.stakes
        self.chain: list[Block] = [genesis]
        self.state: LedgerState = genesis_state(params.allocations, params.authorities)
        self.mempool: dict[str, Transaction] = {}
        self.neighbours: list[WorkerNode] = []
        self.votes_cast: dict[tuple[int, int], str] = {}
        self.rejected_blocks: list[tuple[str, str]] = []  # (block hash, reason)
        self.evidence: list[EquivocationEvidence] = []
        self.last_rejection: str | None = None
        self.record_rejections = record_rejections
        self.max_block_txs = max_block_txs

    def __repr__(self) -> str:
        return f"WorkerNode({self.address[:8]}, {self.behaviour}, h={self.height})"

    @classmethod
    def from_chain(
        cls, identity: Identity, blocks: Sequence[Block], *, verify: bool = True, **kw: object
    ) -> WorkerNode:
        """Rebuild a node from a stored chain (blocks[0] = genesis), re-verifying each block
        (with its quorum) unless ``verify`` is False; raises InvalidBlock on a bad block.
        This is how a stateless (e.g. Celery) worker resumes from the database."""
        node = cls(identity, blocks[0], **kw)  # type: ignore[arg-type]
        for b in blocks[1:]:
            if verify:
                node.state = check_block(
                    b, node.tip, node.state, node.workers, node.committee_size, node.stakes
                )
            else:
                for tx in b.transactions:
                    node.state.apply(tx)
            node.chain.append(b)
        for b in node.chain[1:]:
            for v in b.votes:
                if v.voter == node.address:
                    node.votes_cast[(v.height, v.k)] = v.block_hash
        return node

    @property
    def address(self) -> str:
        return self.identity.address

    @property
    def tip(self) -> Block:
        return self.chain[-1]

    @property
    def height(self) -> int:
        return self.tip.height

    @property
    def alive(self) -> bool:
        return self.behaviour != "crashed"

    def connect(self, *others: WorkerNode) -> None:
        """Make neighbours (both directions)."""
        for o in others:
            if o is not self and o not in self.neighbours:
                self.neighbours.append(o)
            if self not in o.neighbours and o is not self:
                o.neighbours.append(self)

    def submit(self, tx: Transaction) -> str | None:
        """Admit ``tx`` to the mempool; returns None or why it was refused."""
        if not self.alive:
            return "node crashed"
        if not tx.verify_signature():
            return "bad signature"
        if tx.nonce < self.state.next_nonce(tx.sender):
            return "replayed or stale nonce"
        self.mempool.setdefault(tx.tx_hash, tx)
        return None

    def _pending(self) -> list[Transaction]:
        return sorted(self.mempool.values(), key=lambda t: (t.timestamp_ms, t.sender, t.nonce))

    # -- step: propose ---------------------------------------------------------------------
    def propose(self, k: int, now_ms: int) -> Block | None:
        """Propose the next block if this node is round k's leader (per its behaviour)."""
        if self.behaviour in ("silent", "crashed"):
            return None
        if leader_for(self.tip, k, self.workers, self.stakes) != self.address:
            return None
        block, rejected = build_block(
            self.identity,
            self.tip,
            k,
            self._pending(),
            self.state,
            now_ms,
            record_rejections=self.record_rejections,
            max_txs=self.max_block_txs,
            evidence=self.evidence,
        )
        for tx, _reason in rejected:
            self.mempool.pop(tx.tx_hash, None)
        if self.behaviour == "forge_signature":
            block = self._resign(block, list(block.transactions) + [self._forged_tx()])
        elif self.behaviour == "double_spend":
            block = self._resign(block, list(block.transactions) + self._double_spend_txs(block))
        elif self.behaviour == "bad_merkle":
            h = block.header
            bad = BlockHeader(
                h.height,
                h.prev_hash,
                merkle_root(list(reversed(block.tx_hashes())) + [h.merkle_root]),
                h.timestamp_ms,
                h.leader,
                h.consensus_round,
                h.tx_count,
            )
            block = sign_block(self.identity, bad, block.transactions)
        return block

    def _resign(self, block: Block, txs: list[Transaction]) -> Block:
        h = block.header
        header = BlockHeader(
            h.height,
            h.prev_hash,
            merkle_root([t.tx_hash for t in txs]),
            h.timestamp_ms,
            h.leader,
            h.consensus_round,
            len(txs),
        )
        return sign_block(self.identity, header, txs)

    def _forged_tx(self) -> Transaction:
        """A transfer from the richest other account to this node, signed with OUR key."""
        victims = [a for a in self.state.balances if is_pk_hex(a) and a != self.address]
        victim = max(victims, key=lambda a: self.state.balances[a]) if victims else "11" * 32
        unsigned = Transaction(
            kind=TxKind.TRANSFER,
            sender=victim,
            nonce=self.state.next_nonce(victim),
            payload={"to": self.address, "amount": 1},
        )
        sig = self.identity.sign(unsigned.signing_bytes()).hex()
        return Transaction(**{**unsigned._init_fields(), "signature": sig})

    def _double_spend_txs(self, block: Block) -> list[Transaction]:
        """Two validly signed transfers that together spend more than our balance."""
        s = self.state.copy()
        for t in block.transactions:
            s.apply(t)
        bal = s.balance(self.address)
        amount = max(1, bal)
        out = []
        others = [w for w in self.workers if w != self.address] or [self.address]
        for i in range(2):
            t = Transaction(
                kind=TxKind.TRANSFER,
                sender=self.address,
                nonce=s.next_nonce(self.address) + i,
                payload={"to": others[i % len(others)], "amount": amount},
            ).signed(self.identity)
            out.append(t)
        return out

    # -- step: verify + vote -----------------------------------------------------------------
    def in_committee(self, block: Block) -> bool:
        hd = block.header
        committee = select_committee(
            hd.prev_hash, hd.height, hd.consensus_round, self.workers, self.committee_size
        )
        return self.address in committee

    def validate_and_vote(self, block: Block) -> list[Vote]:
        """Re-verify the proposed block against our tip/state and sign it if valid.

        Returns the votes this node casts (honest: at most one per (height, k); an
        'equivocate' node also signs a conflicting block at the same height)."""
        self.last_rejection = None
        if not self.alive:
            return []
        if not self.in_committee(block):
            self.last_rejection = "not a committee member"
            return []
        ok, reason = verify_block(
            block, self.tip, self.state, self.workers, self.committee_size, self.stakes, False
        )
        if not ok:
            self.last_rejection = reason
            self.rejected_blocks.append((block.block_hash, reason))
            return []
        key = (block.height, block.header.consensus_round)
        prior = self.votes_cast.get(key)
        if prior is not None and prior != block.block_hash and self.behaviour != "equivocate":
            self.last_rejection = "already voted for another block at this height and round"
            return []
        self.votes_cast[key] = block.block_hash
        votes = [vote(self.identity, block)]
        if self.behaviour == "equivocate":
            h = block.header
            other = BlockHeader(
                h.height,
                h.prev_hash,
                h.merkle_root,
                h.timestamp_ms + 1,
                h.leader,
                h.consensus_round,
                h.tx_count,
            )
            votes.append(sign_vote(self.identity, other.hash, h.height, h.consensus_round))
        return votes

    # -- step: receive a final block (gossip) ------------------------------------------------
    def receive_block(self, block: Block) -> bool:
        """Verify a final block (with its quorum) and store it; True iff newly stored."""
        self.last_rejection = None
        if not self.alive:
            self.last_rejection = "node crashed"
            return False
        if any(b.block_hash == block.block_hash for b in self.chain[-3:]):
            self.last_rejection = "already stored"
            return False
        try:
            new_state = check_block(
                block, self.tip, self.state, self.workers, self.committee_size, self.stakes, True
            )
        except InvalidBlock as exc:
            self.last_rejection = exc.reason
            self.rejected_blocks.append((block.block_hash, exc.reason))
            return False
        self.chain.append(block)
        self.state = new_state
        for t in block.transactions:
            self.mempool.pop(t.tx_hash, None)
        for h, t in list(self.mempool.items()):
            if t.nonce < self.state.next_nonce(t.sender):
                del self.mempool[h]
        return True


def gossip(origin: WorkerNode, block: Block) -> dict[str, str]:
    """Flood a final block from ``origin``: each node verifies it before storing and
    forwarding to its neighbours. Returns {address: "stored" | refusal reason}."""
    result: dict[str, str] = {}
    queue = [origin]
    while queue:
        node = queue.pop(0)
        if node.address in result:
            continue
        if node.receive_block(block):
            result[node.address] = "stored"
            queue.extend(n for n in node.neighbours if n.address not in result)
        else:
            result[node.address] = node.last_rejection or "refused"
    return result


# -- one full height ------------------------------------------------------------------------
@dataclass
class Attempt:
    """One consensus round k at a height: who led and what happened."""

    k: int
    leader: str
    status: str  # "final" | "silent" | "invalid" | "no_quorum"
    reason: str
    votes: int = 0
    committee: list[str] = field(default_factory=list)
    block_hash: str | None = None


@dataclass
class ConsensusOutcome:
    """Result of ``run_consensus_round``: the final block or why none finalized."""

    final: bool
    height: int
    block: Block | None
    k: int | None
    reason: str
    attempts: list[Attempt]
    evidence: list[EquivocationEvidence]
    gossip: dict[str, str]
    elapsed_ms: int

    def to_dict(self) -> dict:
        """JSON-able summary (for an API/dashboard saying why a height did not finalize)."""
        return {
            "final": self.final,
            "height": self.height,
            "block_hash": self.block.block_hash if self.block else None,
            "k": self.k,
            "reason": self.reason,
            "attempts": [
                {
                    "k": a.k,
                    "leader": a.leader,
                    "status": a.status,
                    "reason": a.reason,
                    "votes": a.votes,
                    "committee": a.committee,
                    "block_hash": a.block_hash,
                }
                for a in self.attempts
            ],
            "evidence": [e.to_dict() for e in self.evidence],
            "gossip": self.gossip,
            "elapsed_ms": self.elapsed_ms,
        }


def run_consensus_round(
    nodes: Sequence[WorkerNode],
    mempool_txs: Iterable[Transaction] = (),
    now_ms: int = 0,
    timeout_ms: int = 1000,
    *,
    max_rounds: int | None = None,
    rng: random.Random | None = None,
) -> ConsensusOutcome:
    """One Blockwise-BA height over in-memory ``nodes`` (all at the same tip).

    Broadcast ``mempool_txs``; for k = 0, 1, ...: the round-k leader proposes (a silent one
    times out after ``timeout_ms``), the committee verifies and votes, and a block with more
    than 2c/3 valid votes is final and gossiped from the leader. Otherwise k+1 with a new
    leader, up to ``max_rounds`` (default 2 x workers). ``rng`` only shuffles vote order."""
    alive = [n for n in nodes if n.alive]
    if not alive:
        return ConsensusOutcome(False, -1, None, None, "no live worker", [], [], {}, 0)
    for tx in mempool_txs:
        for n in alive:
            n.submit(tx)
    ref = max(alive, key=lambda n: n.height)
    prev = ref.tip
    height = prev.height + 1
    workers, cs, stakes = ref.workers, ref.committee_size, ref.stakes
    by_addr = {n.address: n for n in nodes}
    rounds = max_rounds if max_rounds is not None else 2 * len(workers)
    attempts: list[Attempt] = []
    all_votes: list[Vote] = []
    evidence: list[EquivocationEvidence] = []
    for k in range(rounds):
        t_k = now_ms + k * timeout_ms
        leader = select_leader(prev.block_hash, height, k, workers, stakes)
        lnode = by_addr.get(leader)
        block = (
            lnode.propose(k, t_k)
            if lnode is not None and lnode.tip.block_hash == prev.block_hash
            else None
        )
        if block is None:
            attempts.append(
                Attempt(k, leader, "silent", f"leader {leader[:8]} silent for {timeout_ms} ms")
            )
            continue
        committee = select_committee(prev.block_hash, height, k, workers, cs)
        q = quorum(len(committee))
        members = [by_addr[m] for m in committee if m in by_addr and by_addr[m].alive]
        if rng is not None:
            rng.shuffle(members)
        votes: list[Vote] = []
        refusals: list[str] = []
        for m in members:
            vs = m.validate_and_vote(block)
            votes.extend(vs)
            if not vs and m.last_rejection:
                refusals.append(m.last_rejection)
        all_votes.extend(votes)
        new_ev = [
            e for e in detect_equivocation(all_votes) if all(e.voter != x.voter for x in evidence)
        ]
        evidence.extend(new_ev)
        for n in alive:
            n.evidence.extend(new_ev)
        final = finalize(block, votes, committee)
        if final is not None:
            origin = lnode if lnode is not None and lnode.alive else members[0]
            spread = gossip(origin, final)
            attempts.append(
                Attempt(k, leader, "final", "ok", len(final.votes), committee, final.block_hash)
            )
            return ConsensusOutcome(
                True,
                height,
                final,
                k,
                f"final at height {height}, round {k}, {len(final.votes)}/{len(committee)} votes",
                attempts,
                evidence,
                spread,
                k * timeout_ms,
            )
        n_valid = len(collect_votes(block, votes, committee))
        if refusals and n_valid < q and len(members) >= q:
            status, why = "invalid", f"leader {leader[:8]} proposed an invalid block: {refusals[0]}"
        else:
            status = "no_quorum"
            why = (
                f"no quorum: {len(members)} of {len(committee)} committee members responsive, "
                f"need {q}"
            )
            if refusals:
                why += f" (refusals: {refusals[0]})"
        attempts.append(Attempt(k, leader, status, why, n_valid, committee, block.block_hash))
    reasons = "; ".join(dict.fromkeys(a.reason for a in attempts if a.status != "silent"))
    if not reasons:
        reasons = "every leader was silent"
    return ConsensusOutcome(
        False,
        height,
        None,
        None,
        f"no block finalized at height {height} after {rounds} consensus rounds: {reasons}",
        attempts,
        evidence,
        {},
        rounds * timeout_ms,
    )
