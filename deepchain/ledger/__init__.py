"""Ledger core: signed transactions, the money state, blocks and Blockwise-BA consensus.

transactions, state, blocks; rules (leader, committee, quorum, finality, equivocation, block
validity), node (the worker and gossip), faults (adversarial behaviours), sim (in-process
network and driver of one height).
"""

from deepchain.ledger.blocks import (
    Block,
    BlockHeader,
    Vote,
    genesis_params,
    make_genesis,
    merkle_proof,
    merkle_root,
    verify_merkle_proof,
)
from deepchain.ledger.node import WorkerNode
from deepchain.ledger.rules import (
    EquivocationEvidence,
    InvalidBlock,
    check_block,
    detect_equivocation,
    is_final,
    propose_block,
    quorum,
    select_committee,
    select_leader,
    verify_block,
    vote,
)
from deepchain.ledger.sim import ConsensusOutcome, run_consensus_round
from deepchain.ledger.state import LedgerState, genesis_state
from deepchain.ledger.transactions import (
    InvalidTransaction,
    Transaction,
    TxFormatError,
    TxKind,
    make_tx,
)

__all__ = [
    "Block",
    "BlockHeader",
    "ConsensusOutcome",
    "EquivocationEvidence",
    "InvalidBlock",
    "InvalidTransaction",
    "LedgerState",
    "Transaction",
    "TxFormatError",
    "TxKind",
    "Vote",
    "WorkerNode",
    "check_block",
    "detect_equivocation",
    "genesis_params",
    "genesis_state",
    "is_final",
    "make_genesis",
    "make_tx",
    "merkle_proof",
    "merkle_root",
    "propose_block",
    "quorum",
    "run_consensus_round",
    "select_committee",
    "select_leader",
    "verify_block",
    "verify_merkle_proof",
    "vote",
]
