"""Payoff rules (paper Fig. 2): contribution measure, exact integer splits, round payoff.

Contribution measure (:func:`contribution_weights`): accepted updates x data size.
- *Accepted updates* are counted by the Trading contract (on time, Proof_PK verified), so they
  are on chain and cannot be inflated;
- *data size* is the number of blocks n of the party's asset statement (paper 4.2.3), which
  anyone can challenge with proofs of possession (deepchain.crypto.assets);
- the *share of accuracy gain* was rejected: measuring one party's marginal gain needs its
  individual update in the clear (a privacy breach DeepChain exists to prevent) or N extra
  leave-one-out decryptions per round.
A party with no accepted update or no data has weight 0 and earns nothing.

Payoff of a round (:func:`payoff`), in whole units, for honest parties H, penalised parties P
and workers:
- deposits: honest parties get d back (net 0); penalised parties forfeit d (net -d);
- compensation: the forfeits are split among H by contribution weight (the contracts' extra pay);
- reward R (money already in the pool, e.g. paid by the model's buyer; nothing is minted): a
  share ``worker_share`` goes to the workers by accepted blocks, the rest to H by contribution
  weight -- but only if both sides contributed something. If the parties contributed nothing,
  or the workers appended no block, nobody is paid from R (Fig. 2) and R stays in the pool.
Each party's payoff is non-decreasing in its own contribution (others fixed) and is 0 when
it contributes nothing (and -d when it cheats).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from deepchain.incentives.money import Reason, Transfer, pool_account

__all__ = [
    "InsufficientFunds",
    "RoundPayoff",
    "apply_transfers",
    "contribution_weights",
    "payoff",
    "reward_transfers",
    "split_reward",
]


class InsufficientFunds(ValueError):
    """A transfer would make an account's balance negative."""


def contribution_weights(
    accepted_updates: Mapping[str, int], data_sizes: Mapping[str, int]
) -> dict[str, Fraction]:
    """w_i = u_i s_i / sum_k u_k s_k (u: accepted updates, s: data size in blocks).

    Parties in either mapping are included; a missing entry counts as 0. All weights are 0
    when nobody contributed.
    """
    names = list(dict.fromkeys([*accepted_updates, *data_sizes]))
    raw = {}
    for p in names:
        u, s = int(accepted_updates.get(p, 0)), int(data_sizes.get(p, 0))
        if u < 0 or s < 0:
            raise ValueError(f"negative contribution for {p}")
        raw[p] = u * s
    total = sum(raw.values())
    return {p: Fraction(v, total) if total else Fraction(0) for p, v in raw.items()}


def split_reward(total: int, weights: Mapping[str, Fraction | int]) -> dict[str, int]:
    """Split ``total`` units in proportion to ``weights``, exactly (largest remainder).

    Each party first gets floor(total w_i / W); the units left over go one each to the
    largest fractional remainders, ties broken by address (ascending). The result sums to
    ``total``; a zero weight gets zero. Raises ValueError for negative weights, or if
    ``total`` > 0 and no weight is positive.
    """
    if total < 0:
        raise ValueError("total must be >= 0")
    w = {p: Fraction(x) for p, x in weights.items()}
    if any(x < 0 for x in w.values()):
        raise ValueError("weights must be >= 0")
    W = sum(w.values(), Fraction(0))
    if W == 0:
        if total:
            raise ValueError("cannot split a positive total over zero weights")
        return {p: 0 for p in w}
    quota = {p: total * x / W for p, x in w.items()}
    out = {p: int(q) for p, q in quota.items()}  # floor (quotas are >= 0)
    left = total - sum(out.values())
    order = sorted((p for p in w if w[p] > 0), key=lambda p: (-(quota[p] - out[p]), p))
    assert 0 <= left <= len(order)
    for p in order[:left]:
        out[p] += 1
    assert sum(out.values()) == total
    return out


def apply_transfers(balances: Mapping[str, int], transfers: Iterable[Transfer]) -> dict[str, int]:
    """Apply ``transfers`` in order to a copy of ``balances`` (missing accounts start at 0).

    Raises InsufficientFunds if any account would go negative; the total never changes.
    """
    out = dict(balances)
    supply = sum(out.values())
    for t in transfers:
        have = out.get(t.source, 0)
        if have < t.amount:
            raise InsufficientFunds(
                f"{t.source} has {have}, cannot pay {t.amount} ({t.reason}) to {t.destination}"
            )
        out[t.source] = have - t.amount
        out[t.destination] = out.get(t.destination, 0) + t.amount
    assert sum(out.values()) == supply
    return out


@dataclass(frozen=True)
class RoundPayoff:
    """Net result of a round per party and worker, and its parts."""

    parties: dict[str, int]  # net balance change: reward + compensation - forfeit
    workers: dict[str, int]
    reward_parties: dict[str, int] = field(default_factory=dict)
    reward_workers: dict[str, int] = field(default_factory=dict)
    compensation: dict[str, int] = field(default_factory=dict)
    forfeits: dict[str, int] = field(default_factory=dict)
    retained: int = 0  # units left in the pool (nobody eligible to receive them)


def payoff(
    *,
    deposit: int,
    honest: Iterable[str],
    penalised: Iterable[str],
    contributions: Mapping[str, Fraction | int],
    worker_blocks: Mapping[str, int],
    reward: int = 0,
    worker_share: Fraction = Fraction(1, 5),
) -> RoundPayoff:
    """The round's payoff rule (paper Fig. 2), see the module docstring.

    ``contributions``: weights of the parties (e.g. :func:`contribution_weights`); only honest
    parties' weights count. ``worker_blocks``: accepted blocks per worker this round.
    """
    if deposit < 0 or reward < 0 or not 0 <= worker_share <= 1:
        raise ValueError("deposit, reward >= 0 and 0 <= worker_share <= 1")
    honest = list(dict.fromkeys(honest))
    penalised = list(dict.fromkeys(penalised))
    if set(honest) & set(penalised):
        raise ValueError("a party cannot be both honest and penalised")
    w = {p: Fraction(contributions.get(p, 0)) for p in honest}
    parties_contributed = sum(w.values()) > 0
    workers_contributed = sum(worker_blocks.values()) > 0
    forfeits = {p: deposit for p in penalised}
    pot = sum(forfeits.values())
    retained = 0
    compensation = split_reward(pot, w) if parties_contributed else {p: 0 for p in honest}
    if not parties_contributed:
        retained += pot
    reward_parties = {p: 0 for p in honest}
    reward_workers = {wk: 0 for wk in worker_blocks}
    if parties_contributed and workers_contributed:
        r_workers = int(reward * worker_share)
        reward_workers = split_reward(r_workers, dict(worker_blocks))
        reward_parties = split_reward(reward - r_workers, w)
    else:
        retained += reward
    names = list(dict.fromkeys([*contributions, *honest, *penalised]))
    net = {p: reward_parties.get(p, 0) + compensation.get(p, 0) - forfeits.get(p, 0) for p in names}
    return RoundPayoff(
        net, dict(reward_workers), reward_parties, reward_workers, compensation, forfeits, retained
    )


def reward_transfers(group: str, result: RoundPayoff) -> list[Transfer]:
    """Pool -> parties (extra pay) and pool -> workers (fees) for the reward part of ``result``.

    The compensation part is paid by the contracts' settlements (same rule), not here.
    """
    pool = pool_account(group)
    out = [
        Transfer(pool, p, a, Reason.EXTRA_PAY.value, p)
        for p, a in result.reward_parties.items()
        if a
    ]
    out += [
        Transfer(pool, w, a, Reason.WORKER_FEE.value, w)
        for w, a in result.reward_workers.items()
        if a
    ]
    return out
