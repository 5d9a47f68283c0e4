"""The model update (T_t7) as one party re-derives it from the published aggregates."""

from __future__ import annotations

import numpy as np

from deepchain.learning.strategies import (
    ServerState,
    Strategy,
    apply_strategy,
    replay_state,
    scale_bits_of,
)
from deepchain.party.api import Api, ApiError
from deepchain.wire import b64d, floats_from_bytes, ints_from_bytes


class ModelFollower:
    """W_r of ``group`` from W_{r-1} and round r's decrypted aggregate (S, n) with the group's
    strategy (fixed-point scale 2^s_bits), keeping the server optimizer's state it derived."""

    def __init__(self, api: Api, group: int | None, strategy: Strategy, scale: int) -> None:
        self.api = api
        self.group = group
        self.strategy = strategy
        self.s_bits = scale_bits_of(scale)
        self.last: tuple[int, ServerState] | None = None  # (round, state after it)

    def optimizer_state(self, r: int, length: int) -> ServerState:
        """The server optimizer's state after round r - 1: re-derived from the published
        aggregates (S, n) of rounds 1..r-1 (a round without a result changes nothing), or the
        state this agent derived itself after round r - 1."""
        strat, s_bits = self.strategy, self.s_bits
        if not strat.stateful:
            return replay_state(strat, length, [], s_bits)
        if self.last is not None and self.last[0] == r - 1:
            return self.last[1]
        aggs: list[tuple[np.ndarray, int] | None] = []
        for k in range(1, r):
            try:
                res = self.api.get(f"groups/{self.group}/rounds/{k}/result/")
            except ApiError as exc:
                if exc.status != 404:
                    raise
                aggs.append(None)
                continue
            aggs.append((ints_from_bytes(b64d(res["sums"])), int(res["n_accepted"])))
        return replay_state(strat, length, aggs, s_bits)

    def combined_model(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(W_r as this agent derives it, W_r as the platform published it): the decrypted
        aggregate of round r applied to W_{r-1} with the group's strategy."""
        g = self.group
        res = self.api.get(f"groups/{g}/rounds/{r}/result/")
        w_prev = floats_from_bytes(b64d(self.api.get(f"groups/{g}/rounds/{r}/params/")["data"]))
        sums = ints_from_bytes(b64d(res["sums"]))
        state = self.optimizer_state(r, w_prev.size)
        w, state = apply_strategy(
            self.strategy, w_prev, sums, int(res["n_accepted"]), state, self.s_bits
        )
        self.last = (r, state)
        return w, floats_from_bytes(b64d(res["params"]))
