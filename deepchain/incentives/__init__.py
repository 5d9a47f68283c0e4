"""DeepCoin incentives: trusted clock, money, contracts (Algorithms 1-4), payoff (Fig. 2).

Pure rules only: no database, no framework. Money moves are returned as Transfer lists.
"""

from deepchain.incentives.clock import (
    ROUND_ORDER,
    Clock,
    ContractError,
    Deadlines,
    LateError,
    ManualClock,
    Phase,
    RoundSchedule,
    SystemClock,
)
from deepchain.incentives.contracts import (
    DecryptionContract,
    Receipt,
    Settlement,
    TradingContract,
)
from deepchain.incentives.money import (
    Reason,
    Transfer,
    escrow_account,
    pool_account,
    stake_account,
    stake_return_transfers,
    stake_transfers,
)
from deepchain.incentives.payoff import (
    InsufficientFunds,
    RoundPayoff,
    apply_transfers,
    contribution_weights,
    payoff,
    reward_transfers,
    split_reward,
)
from deepchain.incentives.processing import ProcessingContract, ProcessingResult, fee_transfers

__all__ = [
    "ROUND_ORDER",
    "Clock",
    "ContractError",
    "Deadlines",
    "DecryptionContract",
    "InsufficientFunds",
    "LateError",
    "ManualClock",
    "Phase",
    "ProcessingContract",
    "ProcessingResult",
    "Reason",
    "Receipt",
    "RoundPayoff",
    "RoundSchedule",
    "Settlement",
    "SystemClock",
    "TradingContract",
    "Transfer",
    "apply_transfers",
    "contribution_weights",
    "escrow_account",
    "fee_transfers",
    "payoff",
    "pool_account",
    "reward_transfers",
    "split_reward",
    "stake_account",
    "stake_return_transfers",
    "stake_transfers",
]
