"""The Processing contract (paper Algorithm 2) and the fixed-point mean it publishes.

A worker aggregates the accepted encrypted updates (T_t7), the aggregate is verified (T_t8)
and appended (T_t9); ``ProcessingContract`` is the pure state machine of that, returning the
worker fees as ``Transfer`` values (``fee_transfers``) like the other contracts
(``incentives.contracts``). ``fixed_point_mean`` is the one rounding of the 1/N weight,
applied once to the decrypted integer sum (docs/PROTOCOL.md, section 9).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from deepchain.incentives.clock import ContractError, Phase, RoundSchedule
from deepchain.incentives.money import Reason, Transfer, transfers_of

__all__ = [
    "ProcessingContract",
    "ProcessingResult",
    "fee_transfers",
    "fixed_point_mean",
    "update_model_fixed_point",
]


A = TypeVar("A")


def fixed_point_mean(total: int, n: int) -> int:
    """round(total / n) exactly in integers, ties to even: the 1/N weight, applied once.

    The encrypted aggregate holds the exact integer sum S = sum_j q_j of the parties'
    quantized updates (Paillier adds integers; it cannot multiply by 1/N). Dividing once,
    after decryption, costs a single rounding (|error| <= 1/2 unit in the last place);
    scaling each update by 1/N before encryption would round N times and bias the sum.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    q, r = divmod(total, n)  # floor division: 0 <= r < n
    if 2 * r > n or (2 * r == n and q % 2 == 1):
        q += 1
    return q


def update_model_fixed_point(previous: Sequence[int], sums: Sequence[int], n: int) -> list[int]:
    """W_i = W_{i-1} - (1/N) sum_j dW_{i,j}, in fixed point (same scale for W and dW).

    ``previous``: the model W_{i-1} as fixed-point integers; ``sums``: the decrypted integer
    aggregate S_i = sum_j q_{i,j} (the plaintext of prod_j C(dW_{i,j})); ``n``: the number N of
    parties whose gradients were aggregated (the honest parties of this round).
    """
    if len(previous) != len(sums):
        raise ValueError("model and aggregate lengths differ")
    return [w - fixed_point_mean(s, n) for w, s in zip(previous, sums, strict=True)]


def fee_transfers(
    workers: Iterable[str], block_count: int | Mapping[str, int], fee: int, source: str
) -> list[Transfer]:
    """Worker fees: ``fee`` per accepted block, from ``source`` (e.g. the group's pool).

    ``block_count``: accepted blocks per worker (a mapping) or the same count for every worker.
    """
    if fee < 0:
        raise ValueError("fee must be >= 0")
    out: list[Transfer] = []
    for w in workers:
        k = block_count if isinstance(block_count, int) else block_count.get(w, 0)
        if k < 0:
            raise ValueError("block count must be >= 0")
        out += transfers_of(source, w, fee * k, Reason.WORKER_FEE, w)
    return out


@dataclass(frozen=True)
class ProcessingResult(Generic[A]):
    """Outcome of append (T_t9): the new aggregate C(W_i) if a quorum of workers approved it."""

    accepted: bool
    aggregate: A | None
    proposer: str | None
    approvers: tuple[str, ...]
    rejecters: tuple[str, ...]
    reason: str = ""
    repeat: bool = False


class ProcessingContract(Generic[A]):
    """Processing contract (paper Algorithm 2): update (T_t7), verify (T_t8), append (T_t9).

    C(W_i) = C(W_{i-1}) * prod_j C(-dW_{i,j}) is computed by the injected ``aggregate_fn``
    (previous, [gradient ciphertexts in party order]) -> aggregate, so the crypto is pluggable
    (ciphertext products mod n^2 in production, integers in tests). ``verify_fn(previous,
    gradients, candidate) -> bool`` defaults to recomputing the aggregate (it is deterministic).
    The candidate is appended when more than ``quorum`` (2/3, as Blockwise-BA) of the workers
    approve it; the proposer and approvers of an accepted block earn the worker fee
    (:meth:`fee_transfers`). A rejected or missing proposal leaves C(W_{i-1}) unchanged; the
    caller may start a new ProcessingContract with an extended schedule.
    """

    def __init__(
        self,
        group: str,
        workers: Sequence[str],
        schedule: RoundSchedule,
        previous: A,
        parties: Sequence[str],
        aggregate_fn: Callable[[A, Sequence[A]], A],
        verify_fn: Callable[[A, Sequence[A], A], bool] | None = None,
        *,
        quorum_num: int = 2,
        quorum_den: int = 3,
    ) -> None:
        if not workers or len(set(workers)) != len(workers):
            raise ValueError("workers must be a non-empty list of distinct addresses")
        if len(set(parties)) != len(parties):
            raise ValueError("duplicate parties")
        self.group = group
        self.workers: tuple[str, ...] = tuple(workers)
        self.schedule = schedule
        self.previous = previous
        self.parties: tuple[str, ...] = tuple(parties)
        self.aggregate_fn = aggregate_fn
        self.verify_fn = verify_fn or (lambda prev, grads, cand: aggregate_fn(prev, grads) == cand)
        self.quorum_num, self.quorum_den = quorum_num, quorum_den
        self.gradients: tuple[A, ...] | None = None
        self.candidate: A | None = None
        self.proposer: str | None = None
        self.votes: dict[str, bool] = {}
        self.result: ProcessingResult[A] | None = None

    def _check_worker(self, worker: str) -> None:
        if worker not in self.workers:
            raise ContractError(f"{worker} is not a worker")
        if self.result is not None:
            raise ContractError("aggregate already appended")

    def update(self, worker: str, gradients: Mapping[str, A], at_ms: int) -> A:
        """T_t7: ``worker`` computes C(W_i) from exactly the accepted parties' gradients."""
        self._check_worker(worker)
        self.schedule.check_on_time(Phase.T7, at_ms)
        if self.candidate is not None:
            raise ContractError(f"{self.proposer} already proposed the update")
        if set(gradients) != set(self.parties):
            raise ContractError("the update must aggregate exactly the accepted gradients")
        grads = tuple(gradients[p] for p in self.parties)
        self.gradients = grads
        self.candidate = self.aggregate_fn(self.previous, grads)
        self.proposer = worker
        return self.candidate

    def verify(self, worker: str, at_ms: int, ok: bool | None = None) -> bool:
        """T_t8: ``worker`` checks the candidate (recomputes it unless it passes its verdict)."""
        self._check_worker(worker)
        self.schedule.check_on_time(Phase.T8, at_ms)
        if self.candidate is None or self.gradients is None:
            raise ContractError("nothing to verify: no update proposed")
        if worker in self.votes:
            raise ContractError(f"{worker} already voted")
        verdict = (
            bool(self.verify_fn(self.previous, self.gradients, self.candidate))
            if ok is None
            else bool(ok)
        )
        self.votes[worker] = verdict
        return verdict

    def append(self, at_ms: int) -> ProcessingResult[A]:
        """T_t9: append C(W_i) if > quorum of the workers approved; idempotent."""
        if self.result is not None:
            r = self.result
            return ProcessingResult(
                r.accepted, r.aggregate, r.proposer, r.approvers, r.rejecters, r.reason, True
            )
        self.schedule.check_on_time(Phase.T9, at_ms)
        approvers = tuple(w for w in self.workers if self.votes.get(w) is True)
        rejecters = tuple(w for w in self.workers if self.votes.get(w) is False)
        if self.candidate is None:
            res: ProcessingResult[A] = ProcessingResult(False, None, None, (), (), "no proposal")
        elif len(approvers) * self.quorum_den > self.quorum_num * len(self.workers):
            res = ProcessingResult(True, self.candidate, self.proposer, approvers, rejecters)
        else:
            res = ProcessingResult(
                False, None, self.proposer, approvers, rejecters, "no quorum of approvals"
            )
        self.result = res
        return res

    @property
    def aggregate(self) -> A:
        """C(W_i) if appended, else C(W_{i-1})."""
        if self.result is not None and self.result.accepted:
            return self.result.aggregate  # type: ignore[return-value]
        return self.previous

    def fee_transfers(self, fee: int, source: str) -> list[Transfer]:
        """Fee for the accepted block: to its proposer and to each approving worker."""
        if self.result is None or not self.result.accepted:
            return []
        earners = list(dict.fromkeys([self.result.proposer, *self.result.approvers]))
        return fee_transfers([w for w in earners if w is not None], 1, fee, source)
