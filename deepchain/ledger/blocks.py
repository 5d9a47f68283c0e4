"""Blocks: header (height, previous hash, Merkle root, timestamp, leader, consensus round k),
body (transactions) and the committee's votes (paper 4.2.5); the genesis block (4.2.1).

Hashes are SHA-256 with domain tags. The Merkle tree hashes leaves and inner nodes under
different tags (so an inner node can never pass as a leaf: no second-preimage trick) and
promotes an odd node unchanged to the next level (no duplicated last leaf, so two different
transaction lists never share a root). The root of an empty list is a fixed tagged hash.

The block hash is the header hash; the leader signs it, the committee votes on it. Votes are
outside the header (they are collected after the proposal) and are checked separately.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from deepchain.canonical import FORMAT_VERSION, canonical_json, tagged_hash
from deepchain.crypto.identity import Identity, signature_from_hex, verify_signature
from deepchain.ledger.transactions import (
    GENESIS_SENDER,
    Transaction,
    TxFormatError,
    TxKind,
    is_pk_hex,
)

ZERO_HASH = "00" * 32
_LEAF = b"\x00deepchain/merkle/leaf"
_NODE = b"\x01deepchain/merkle/node"
EMPTY_MERKLE_ROOT = tagged_hash("deepchain/merkle/empty", b"")


# -- Merkle tree ------------------------------------------------------------------------
def _leaf(h: str) -> bytes:
    return hashlib.sha256(_LEAF + bytes.fromhex(h)).digest()


def _node(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(_NODE + a + b).digest()


def merkle_root(leaf_hashes: list[str]) -> str:
    """Root of the Merkle tree over hex leaf hashes (tx hashes), domain separated."""
    if not leaf_hashes:
        return EMPTY_MERKLE_ROOT
    level = [_leaf(h) for h in leaf_hashes]
    while len(level) > 1:
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])  # promote the odd node
        level = nxt
    return level[0].hex()


def merkle_proof(leaf_hashes: list[str], index: int) -> list[tuple[str, str]]:
    """Audit path for leaf ``index``: a list of (side, sibling hex), side 'L' or 'R'."""
    if not 0 <= index < len(leaf_hashes):
        raise IndexError("leaf index out of range")
    level = [_leaf(h) for h in leaf_hashes]
    proof: list[tuple[str, str]] = []
    i = index
    while len(level) > 1:
        if i % 2 == 1:
            proof.append(("L", level[i - 1].hex()))
        elif i + 1 < len(level):
            proof.append(("R", level[i + 1].hex()))
        nxt = [_node(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, i = nxt, i // 2
    return proof


def verify_merkle_proof(leaf: str, proof: Iterable[tuple[str, str]], root: str) -> bool:
    """True iff ``leaf`` (a tx hash) with the audit path ``proof`` hashes to ``root``."""
    try:
        acc = _leaf(leaf)
        for side, sib in proof:
            s = bytes.fromhex(sib)
            if len(s) != 32:
                return False
            if side == "L":
                acc = _node(s, acc)
            elif side == "R":
                acc = _node(acc, s)
            else:
                return False
    except (ValueError, TypeError):
        return False
    return acc.hex() == root


# -- votes -------------------------------------------------------------------------------
VOTE_DOMAIN = "deepchain/vote"


def vote_signing_bytes(voter: str, block_hash: str, height: int, k: int) -> bytes:
    return canonical_json(
        {
            "v": FORMAT_VERSION,
            "domain": VOTE_DOMAIN,
            "voter": voter,
            "block_hash": block_hash,
            "height": height,
            "k": k,
        }
    )


@dataclass(frozen=True)
class Vote:
    """A committee member's signature on a block hash at (height, consensus round k)."""

    voter: str
    block_hash: str
    height: int
    k: int
    signature: str

    def signing_bytes(self) -> bytes:
        return vote_signing_bytes(self.voter, self.block_hash, self.height, self.k)

    def verify(self) -> bool:
        sig = signature_from_hex(self.signature)
        return sig is not None and verify_signature(self.voter, self.signing_bytes(), sig)

    def to_dict(self) -> dict:
        return {
            "voter": self.voter,
            "block_hash": self.block_hash,
            "height": self.height,
            "k": self.k,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Vote:
        _strict(d, {"voter", "block_hash", "height", "k", "signature"}, "vote")
        _check_types(d, {"voter": str, "block_hash": str, "height": int, "k": int}, "vote")
        if not isinstance(d["signature"], str):
            raise TxFormatError("vote.signature must be a string")
        return cls(**d)


def sign_vote(identity: Identity, block_hash: str, height: int, k: int) -> Vote:
    sig = identity.sign(vote_signing_bytes(identity.address, block_hash, height, k)).hex()
    return Vote(identity.address, block_hash, height, k, sig)


# -- blocks ------------------------------------------------------------------------------
HEADER_DOMAIN = "deepchain/block-header"
_HEADER_TYPES = {
    "height": int,
    "prev_hash": str,
    "merkle_root": str,
    "timestamp_ms": int,
    "leader": str,
    "consensus_round": int,
    "tx_count": int,
}


def _strict(d: object, names: set[str], what: str) -> None:
    if not isinstance(d, dict):
        raise TxFormatError(f"{what} must be an object")
    unknown, missing = set(d) - names, names - set(d)
    if unknown:
        raise TxFormatError(f"unknown {what} fields: {sorted(unknown)}")
    if missing:
        raise TxFormatError(f"missing {what} fields: {sorted(missing)}")


def _check_types(d: dict, types: dict[str, type], what: str) -> None:
    for k, t in types.items():
        v = d[k]
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise TxFormatError(f"{what}.{k} must be {t.__name__}")


@dataclass(frozen=True)
class BlockHeader:
    height: int
    prev_hash: str
    merkle_root: str
    timestamp_ms: int
    leader: str  # pk hex ("" for genesis)
    consensus_round: int  # k: how many leaders were replaced at this height
    tx_count: int

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> BlockHeader:
        _strict(d, set(_HEADER_TYPES), "header")
        _check_types(d, _HEADER_TYPES, "header")
        return cls(**d)

    def signing_bytes(self) -> bytes:
        return canonical_json(
            {"v": FORMAT_VERSION, "domain": HEADER_DOMAIN, "header": self.to_dict()}
        )

    @property
    def hash(self) -> str:
        return tagged_hash("deepchain/block-hash", self.signing_bytes())


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    transactions: tuple[Transaction, ...]
    leader_signature: str = ""
    votes: tuple[Vote, ...] = field(default=())

    @property
    def block_hash(self) -> str:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def tx_hashes(self) -> list[str]:
        return [t.tx_hash for t in self.transactions]

    def with_votes(self, votes: Iterable[Vote]) -> Block:
        """The same block carrying ``votes`` (sorted by voter, deduplicated)."""
        uniq = {v.voter: v for v in votes}
        return Block(
            self.header,
            self.transactions,
            self.leader_signature,
            tuple(uniq[k] for k in sorted(uniq)),
        )

    def to_dict(self) -> dict:
        return {
            "header": self.header.to_dict(),
            "transactions": [t.to_dict() for t in self.transactions],
            "leader_signature": self.leader_signature,
            "votes": [v.to_dict() for v in self.votes],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Block:
        _strict(d, {"header", "transactions", "leader_signature", "votes"}, "block")
        if not isinstance(d["transactions"], list) or not isinstance(d["votes"], list):
            raise TxFormatError("block.transactions and block.votes must be lists")
        if not isinstance(d["leader_signature"], str):
            raise TxFormatError("block.leader_signature must be a string")
        return cls(
            header=BlockHeader.from_dict(d["header"]),
            transactions=tuple(Transaction.from_dict(t) for t in d["transactions"]),
            leader_signature=d["leader_signature"],
            votes=tuple(Vote.from_dict(v) for v in d["votes"]),
        )

    def verify_leader_signature(self) -> bool:
        sig = signature_from_hex(self.leader_signature)
        return (
            is_pk_hex(self.header.leader)
            and sig is not None
            and verify_signature(self.header.leader, self.header.signing_bytes(), sig)
        )


def sign_block(leader: Identity, header: BlockHeader, txs: Iterable[Transaction]) -> Block:
    """A block whose header ``leader`` signs (no votes yet)."""
    if header.leader != leader.address:
        raise ValueError("header.leader must be the signing identity")
    return Block(header, tuple(txs), leader.sign(header.signing_bytes()).hex(), ())


def make_genesis(
    allocations: dict[str, int],
    authorities: Iterable[str],
    workers: Iterable[str],
    timestamp_ms: int = 0,
    *,
    committee_size: int | None = None,
    stakes: dict[str, int] | None = None,
    chain_id: str = "deepchain",
) -> Block:
    """Genesis block (paper 4.2.1, bootstrapping): distributes the initial DeepCoin and fixes
    the worker set, the contract/clock authorities and the consensus parameters."""
    workers = sorted(set(workers))
    if not workers or not all(is_pk_hex(w) for w in workers):
        raise ValueError("genesis needs at least one worker address")
    payload = {
        "chain_id": chain_id,
        "allocations": dict(sorted(allocations.items())),
        "authorities": sorted(set(authorities)),
        "workers": workers,
        "committee_size": committee_size if committee_size is not None else len(workers),
        "stakes": dict(sorted(stakes.items())) if stakes else None,
    }
    tx = Transaction(
        kind=TxKind.GENESIS,
        sender=GENESIS_SENDER,
        nonce=0,
        payload=payload,
        timestamp_ms=timestamp_ms,
    )
    header = BlockHeader(
        height=0,
        prev_hash=ZERO_HASH,
        merkle_root=merkle_root([tx.tx_hash]),
        timestamp_ms=timestamp_ms,
        leader="",
        consensus_round=0,
        tx_count=1,
    )
    return Block(header, (tx,), "", ())


@dataclass(frozen=True)
class GenesisParams:
    allocations: dict[str, int]
    authorities: list[str]
    workers: list[str]
    committee_size: int
    stakes: dict[str, int] | None
    chain_id: str


def genesis_params(genesis: Block) -> GenesisParams:
    """Check a genesis block's shape and read its parameters; raises ValueError if malformed."""
    h = genesis.header
    if h.height != 0 or h.prev_hash != ZERO_HASH or h.leader != "" or h.consensus_round != 0:
        raise ValueError("genesis header must have height 0, zero prev_hash and no leader")
    if len(genesis.transactions) != 1 or h.tx_count != 1:
        raise ValueError("genesis must hold exactly one transaction")
    tx = genesis.transactions[0]
    if tx.kind != TxKind.GENESIS or tx.sender != GENESIS_SENDER or tx.signature:
        raise ValueError("genesis transaction malformed")
    if h.merkle_root != merkle_root([tx.tx_hash]):
        raise ValueError("merkle root mismatch in genesis")
    if genesis.votes or genesis.leader_signature:
        raise ValueError("genesis carries no signatures")
    p = tx.payload
    try:
        cs = p["committee_size"]
        if not isinstance(cs, int) or cs < 1:
            raise ValueError("committee_size must be a positive int")
        return GenesisParams(
            allocations=dict(p["allocations"]),
            authorities=list(p["authorities"]),
            workers=list(p["workers"]),
            committee_size=cs,
            stakes=dict(p["stakes"]) if p.get("stakes") else None,
            chain_id=p["chain_id"],
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"genesis payload malformed: {exc}") from exc
