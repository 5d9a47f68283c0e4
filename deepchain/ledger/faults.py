"""Adversarial worker behaviours, as strategies a ``ledger.node.WorkerNode`` runs.

Used by the tests and the fault-injection runs (``ledger.sim``, the benchmark, the platform's
worker nodes with a configured behaviour) to show that the rules in ``ledger.rules`` refuse
each attack. A strategy decides whether the node is alive and proposes at all, may rewrite
the block it proposes, and may sign more votes than an honest member:

- honest: follows the protocol;
- silent: never proposes (its leadership times out); crashed: neither proposes nor answers;
- forge_signature: adds a transfer from another account signed with its own key;
- double_spend: adds two validly signed transfers that together overspend its balance;
- bad_merkle: signs a header whose Merkle root does not match the transactions;
- equivocate: votes for every block it is shown, and signs a conflicting block too.
"""

from __future__ import annotations

from typing import Protocol

from deepchain.crypto.identity import Identity
from deepchain.ledger.blocks import Block, BlockHeader, Vote, merkle_root, sign_block, sign_vote
from deepchain.ledger.state import LedgerState
from deepchain.ledger.transactions import Transaction, TxKind, is_pk_hex

__all__ = ["BEHAVIOURS", "Behaviour", "behaviour_for"]


class Node(Protocol):
    """What a strategy reads of the node running it."""

    identity: Identity
    state: LedgerState
    workers: list[str]

    @property
    def address(self) -> str: ...


class Behaviour:
    """The honest strategy; adversaries override one hook each."""

    name = "honest"
    alive = True  # answers at all
    proposes = True  # proposes when it is the leader
    revotes = False  # votes again at a (height, k) it already voted for another block

    def tamper(self, node: Node, block: Block) -> Block:
        """The block this node signs and sends as leader (honest: the one it built)."""
        return block

    def extra_votes(self, node: Node, block: Block) -> list[Vote]:
        """Votes signed beyond the one honest vote for ``block``."""
        return []


def _resign(node: Node, block: Block, txs: list[Transaction]) -> Block:
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
    return sign_block(node.identity, header, txs)


class Silent(Behaviour):
    name = "silent"
    proposes = False


class Crashed(Behaviour):
    name = "crashed"
    alive = False
    proposes = False


class ForgeSignature(Behaviour):
    name = "forge_signature"

    def tamper(self, node: Node, block: Block) -> Block:
        return _resign(node, block, [*block.transactions, self.forged_tx(node)])

    @staticmethod
    def forged_tx(node: Node) -> Transaction:
        """A transfer from the richest other account to this node, signed with OUR key."""
        st = node.state
        victims = [a for a in st.balances if is_pk_hex(a) and a != node.address]
        victim = max(victims, key=lambda a: st.balances[a]) if victims else "11" * 32
        unsigned = Transaction(
            kind=TxKind.TRANSFER,
            sender=victim,
            nonce=st.next_nonce(victim),
            payload={"to": node.address, "amount": 1},
        )
        return unsigned.with_signature(node.identity.sign(unsigned.signing_bytes()).hex())


class DoubleSpend(Behaviour):
    name = "double_spend"

    def tamper(self, node: Node, block: Block) -> Block:
        return _resign(node, block, [*block.transactions, *self.double_spend_txs(node, block)])

    @staticmethod
    def double_spend_txs(node: Node, block: Block) -> list[Transaction]:
        """Two validly signed transfers that together spend more than our balance."""
        s = node.state.copy()
        for t in block.transactions:
            s.apply(t)
        amount = max(1, s.balance(node.address))
        others = [w for w in node.workers if w != node.address] or [node.address]
        return [
            Transaction(
                kind=TxKind.TRANSFER,
                sender=node.address,
                nonce=s.next_nonce(node.address) + i,
                payload={"to": others[i % len(others)], "amount": amount},
            ).signed(node.identity)
            for i in range(2)
        ]


class BadMerkle(Behaviour):
    name = "bad_merkle"

    def tamper(self, node: Node, block: Block) -> Block:
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
        return sign_block(node.identity, bad, block.transactions)


class Equivocate(Behaviour):
    name = "equivocate"
    revotes = True

    def extra_votes(self, node: Node, block: Block) -> list[Vote]:
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
        return [sign_vote(node.identity, other.hash, h.height, h.consensus_round)]


_STRATEGIES: dict[str, Behaviour] = {
    b.name: b
    for b in (
        Behaviour(),
        Silent(),
        ForgeSignature(),
        DoubleSpend(),
        BadMerkle(),
        Equivocate(),
        Crashed(),
    )
}
#: the behaviour names a worker node accepts
BEHAVIOURS = tuple(_STRATEGIES)


def behaviour_for(name: str) -> Behaviour:
    """The strategy called ``name`` (one of BEHAVIOURS); ValueError for another name."""
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown behaviour {name!r}") from None
