"""Aggregation strategies for skewed (non-IID) data, on the encrypted path.

A group's strategy has two independent halves:

* **FedProx** (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020,
  eq. 2): each party minimizes h_k(w; w^t) = F_k(w) + (mu / 2) ||w - w^t||^2 in local training,
  w^t = W_{i-1} the round's global model. Only the party's own SGD changes
  (:func:`deepchain.learning.local.train_local`, ``prox_mu``); nothing in the cryptography does,
  and nobody can check that a party used mu (its training is private, as in the paper).
* **Server-side optimizers** (Reddi et al., "Adaptive Federated Optimization", ICLR 2021,
  Algorithm 2) applied to the decrypted aggregate. With the pseudo-gradient
  Delta_i = (1/n) sum_j dW_{i,j} (the fixed-point mean round(S / n) of the published sum S):

  - ``fedavg``:  W_i = W_{i-1} + Delta_i (the paper's update; Reddi's eta = 1, no state);
  - ``fedavgm`` (Hsu et al. 2019, as in Reddi et al. section 5):
    m_i = beta1 m_{i-1} + Delta_i;  W_i = W_{i-1} + eta m_i;
  - ``fedadam``: m_i = beta1 m_{i-1} + (1 - beta1) Delta_i,
    v_i = beta2 v_{i-1} + (1 - beta2) Delta_i^2,  W_i = W_{i-1} + eta m_i / (sqrt(v_i) + tau);
  - ``fedyogi``: as fedadam with v_i = v_{i-1} - (1 - beta2) Delta_i^2 sign(v_{i-1} - Delta_i^2);

  with m_0 = 0 and v_0 = tau^2 (Reddi et al. initialize v_{-1} >= tau^2).

Determinism. Every party, the platform and the auditor must derive the same W_i from the chain
alone, so the optimizer runs in exact integer arithmetic on fixed grids: Delta in the
packing's units 2^-s (s <= 18), m in units 2^-32, v in units 2^-36 (so sqrt(v) and tau are in
units 2^-18), hyper-parameters as integers over 2^16 (beta1, beta2, eta: round(x 2^16)) and tau
as round(tau 2^18). Divisions are exact integer divisions rounded half to even, sqrt(v) is the
exact square root rounded to the nearest integer (so a step's relative error from the float
algorithm, on the same grid values, is at most 2^-19 / tau + 2^-16 per round: 2e-3 for
tau = 1e-3). The only float
operation is the last one, the same as FedAvg's: W_i = float32(float64(W_{i-1}) + k / 2^e)
for the integer step k, each IEEE-754 operation correctly rounded (k -> float64 rounds to
nearest even, / 2^e is exact, + and the float32 cast round to nearest even), hence the same
bits on every conforming machine. The state (m, v) depends only on the published aggregates,
never on W: :func:`replay_state` re-derives it from the chain's results.

Bounds (enforced: an input that would leave them raises ``OverflowError``, identically for
every party): the platform's packing represents |Delta| < 2^(Q - s) = 16, so |m| < 2^36 for
fedadam/fedyogi and < 2^36 / (1 - beta1) <= 100 2^36 for fedavgm with beta1 <= 0.99; v < 2^44;
every product stays below 2^62 for eta <= 4. A mean |Delta| >= 256 is refused outright.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = [
    "DEFAULTS",
    "DEFAULT_STRATEGY",
    "HYPER_BITS",
    "RANGES",
    "M_BITS",
    "ROOT_BITS",
    "STRATEGIES",
    "ServerState",
    "Strategy",
    "StrategyError",
    "apply_strategy",
    "fixed_point_mean_vector",
    "integer_sqrt",
    "parse_spec",
    "replay_models",
    "replay_state",
    "round_div",
    "scale_bits_of",
    "twin_aggregate",
]

#: The strategies a group can choose (FedProx's mu combines with any of them).
STRATEGIES = ("fedavg", "fedavgm", "fedadam", "fedyogi")
#: beta1, beta2 and eta are used as integers over 2^HYPER_BITS.
HYPER_BITS = 16
#: m is an integer in units 2^-M_BITS (of the weights).
M_BITS = 32
#: sqrt(v) and tau are integers in units 2^-ROOT_BITS (v in units 2^-2 ROOT_BITS).
ROOT_BITS = 18
_PRODUCT_LIMIT = 1 << 62

#: Validated ranges (inclusive) of the hyper-parameters: (low, high).
RANGES: dict[str, tuple[float, float]] = {
    "server_lr": (2.0**-16, 4.0),
    "beta1": (0.0, 0.99),
    "beta2": (0.0, 0.9999),
    "tau": (1e-4, 1.0),
    "mu": (0.0, 10.0),
}


class StrategyError(ValueError):
    """A strategy description that is not valid (unknown name, value out of range)."""


def fixed_point_mean_vector(sums: np.ndarray, n: int) -> np.ndarray:
    """Element-wise ``contracts.fixed_point_mean``: round(S / n) exactly, ties to even (int64)."""
    if n <= 0:
        raise ValueError("n must be positive")
    return round_div(np.asarray(sums, dtype=np.int64), n)


def round_div(a: np.ndarray, d: int | np.ndarray) -> np.ndarray:
    """round(a / d) for integer arrays and positive integer divisors d, ties to even, exact."""
    a = np.asarray(a, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    if np.any(d <= 0):
        raise ValueError("round_div needs positive divisors")
    q, r = np.divmod(a, d)  # floor division, 0 <= r < d
    up = (2 * r > d) | ((2 * r == d) & (q % 2 == 1))
    return q + up.astype(np.int64)


def integer_sqrt(v: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) exactly, element-wise, for 0 <= v < 2^53 (int64)."""
    v = np.asarray(v, dtype=np.int64)
    if v.size and (int(v.min()) < 0 or int(v.max()) >= 1 << 53):
        raise OverflowError("integer_sqrt: value outside [0, 2^53)")
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    r -= (r * r > v).astype(np.int64)  # the float sqrt of an exact value is within 1
    r += ((r + 1) * (r + 1) <= v).astype(np.int64)
    return r


def _times(a: np.ndarray, c: int) -> np.ndarray:
    """a * c with the int64 bound checked first (OverflowError, never a silent wrap)."""
    if a.size and c and int(np.abs(a).max()) >= _PRODUCT_LIMIT // abs(c):
        raise OverflowError("server optimizer: fixed-point product out of range")
    return a * np.int64(c)


def scale_bits_of(scale: float) -> int:
    """s for a packing scale of exactly 2^s (the optimizer needs a power of two)."""
    m, e = math.frexp(scale)
    if m != 0.5 or e - 1 < 0:
        raise StrategyError(f"the packing scale {scale!r} is not a power of two >= 1")
    return e - 1


def _q16(x: float) -> int:
    """round(x 2^16), ties to even, exact from the float's binary value."""
    return round(x * (1 << HYPER_BITS))  # x * 2^16 is exact; round() is half-to-even


@dataclass(frozen=True)
class Strategy:
    """A group's strategy: the server optimizer ``name`` with its hyper-parameters, and
    FedProx's ``mu`` (0 = plain local SGD). Recorded in GROUP_CREATE (:meth:`to_json`)."""

    name: str = "fedavg"
    server_lr: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    mu: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise StrategyError(f"unknown strategy {self.name!r}; choose from {list(STRATEGIES)}")
        for key, (lo, hi) in RANGES.items():
            x = getattr(self, key)
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                raise StrategyError(f"{key} must be a finite number")
            if not lo <= x <= hi:
                raise StrategyError(f"{key} = {x} is outside [{lo:g}, {hi:g}]")
        if self.name == "fedavg" and self.server_lr != 1.0:
            raise StrategyError("fedavg has no server learning rate (use fedavgm with beta1 0)")

    # -- description --------------------------------------------------------------------------
    @property
    def stateful(self) -> bool:
        """Whether W_i depends on earlier rounds' aggregates (momentum / second moments)."""
        return self.name != "fedavg"

    def label(self) -> str:
        """Short human name, e.g. ``fedadam(lr=0.03,b1=0.9,b2=0.99,tau=0.001)+prox(0.01)``."""
        args = {
            "fedavg": "",
            "fedavgm": f"(lr={self.server_lr:g},b1={self.beta1:g})",
        }.get(
            self.name,
            f"(lr={self.server_lr:g},b1={self.beta1:g},b2={self.beta2:g},tau={self.tau:g})",
        )
        prox = f"+prox(mu={self.mu:g})" if self.mu else ""
        return f"{self.name}{args}{prox}"

    def to_json(self) -> dict[str, Any]:
        """Exact, canonical form (floats as ``float.hex``, like the packing scheme)."""
        return {
            "type": "strategy",
            "version": 1,
            "name": self.name,
            **{k: float(getattr(self, k)).hex() for k in RANGES},
        }

    @classmethod
    def from_json(cls, d: Any) -> Strategy:
        """Inverse of :meth:`to_json`; raises StrategyError on anything else."""
        if not isinstance(d, Mapping) or d.get("type") != "strategy" or d.get("version") != 1:
            raise StrategyError("not a version-1 strategy record")
        try:
            vals = {k: float.fromhex(d[k]) for k in RANGES}
        except (KeyError, TypeError, ValueError) as exc:
            raise StrategyError(f"strategy record: bad value ({exc})") from None
        return cls(name=str(d.get("name")), **vals)

    @classmethod
    def from_options(cls, name: str = "fedavg", **values: Any) -> Strategy:
        """From user input (form, API, CLI): unset values take the defaults of ``name``."""
        base = DEFAULTS.get(name)
        if base is None:
            raise StrategyError(f"unknown strategy {name!r}; choose from {list(STRATEGIES)}")
        given = {k: v for k, v in values.items() if v is not None}
        unknown = set(given) - set(RANGES)
        if unknown:
            raise StrategyError(f"unknown strategy parameter(s): {sorted(unknown)}")
        try:
            given = {k: float(v) for k, v in given.items()}
        except (TypeError, ValueError):
            raise StrategyError("strategy parameters must be numbers") from None
        return replace(base, **given)

    # -- the fixed-point optimizer --------------------------------------------------------------
    def initial_state(self, length: int, scale_bits: int) -> ServerState:
        """State before round 1: m_0 = 0, v_0 = tau^2 (in the fixed point of the class doc)."""
        if self.name == "fedavg":
            return ServerState(0, None, None)
        m = np.zeros(length, dtype=np.int64)
        if self.name == "fedavgm":
            return ServerState(0, m, None)
        t = self.tau_fixed(scale_bits)
        return ServerState(0, m, np.full(length, t * t, dtype=np.int64))

    def on_grid(self, scale_bits: int) -> dict[str, float]:
        """The values the arithmetic actually uses: beta1, beta2, server_lr on the 2^-16 grid,
        tau on the 2^-18 grid (e.g. beta2 = 0.999 is used as 65470 / 2^16)."""
        one = float(1 << HYPER_BITS)
        return {
            "server_lr": _q16(self.server_lr) / one,
            "beta1": _q16(self.beta1) / one,
            "beta2": _q16(self.beta2) / one,
            "tau": self.tau_fixed(scale_bits) / float(1 << ROOT_BITS),
        }

    def tau_fixed(self, scale_bits: int) -> int:
        """tau as round(tau 2^18) (at least 1; the grid does not depend on s)."""
        del scale_bits
        return max(1, round(self.tau * (1 << ROOT_BITS)))

    def step(
        self, delta: np.ndarray, state: ServerState, scale_bits: int
    ) -> tuple[np.ndarray, int, ServerState]:
        """One round's optimizer step from the mean update Delta (int64, units 2^-s).

        Returns (k, e, state'): the model moves by k / 2^e (k int64), and the new state."""
        d = np.asarray(delta, dtype=np.int64)
        s = scale_bits
        if self.name == "fedavg":
            return d, s, ServerState(state.round + 1, None, None)
        if state.m is None or state.m.shape != d.shape:
            raise ValueError("optimizer state does not match the update length")
        if not 0 <= s <= ROOT_BITS:
            raise StrategyError(f"the optimizer needs a packing scale 2^s with s <= {ROOT_BITS}")
        if d.size and int(np.abs(d).max()) >= 1 << (s + 8):
            raise OverflowError("server optimizer: mean update out of range (|Delta| >= 256)")
        one = 1 << HYPER_BITS
        b1, eta = _q16(self.beta1), _q16(self.server_lr)
        d_m = d << (M_BITS - s)  # Delta in m's units 2^-32, exact
        if self.name == "fedavgm":
            m = round_div(_times(state.m, b1), one) + d_m
            k = round_div(_times(m, eta), one)  # eta m, units 2^-32
            return k, M_BITS, ServerState(state.round + 1, m, None)
        if state.v is None:
            raise ValueError("adaptive optimizer state without second moments")
        b2 = _q16(self.beta2)
        m = round_div(_times(state.m, b1) + _times(d_m, one - b1), one)
        d_sq = (d << (ROOT_BITS - s)) ** 2  # Delta^2 in v's units 2^-36, exact
        if self.name == "fedadam":
            v = round_div(_times(state.v, b2) + _times(d_sq, one - b2), one)
        else:  # fedyogi
            v = state.v - round_div(_times(d_sq, one - b2), one) * np.sign(state.v - d_sq)
        r = integer_sqrt(v)
        r += (v - r * r > r).astype(np.int64)  # round(sqrt(v)): v >= r^2 + r + 1
        root = r + self.tau_fixed(s)  # units 2^-18
        # eta m / (sqrt v + tau) = (eta_q / 2^16) (m / 2^32) / (root / 2^18)
        k = round_div(_times(m, eta), root)  # units 2^-(16 + 32 - 18) = 2^-30
        return k, HYPER_BITS + M_BITS - ROOT_BITS, ServerState(state.round + 1, m, v)


@dataclass(frozen=True)
class ServerState:
    """The optimizer state after ``round`` applied aggregates (m, v as in Strategy's doc)."""

    round: int
    m: np.ndarray | None
    v: np.ndarray | None

    def equals(self, other: ServerState) -> bool:
        """Exact equality of the round count and of both vectors."""

        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            return (a is None and b is None) or (
                a is not None and b is not None and np.array_equal(a, b)
            )

        return self.round == other.round and same(self.m, other.m) and same(self.v, other.v)


#: Defaults per strategy (the values unset options take). FedAvgM's beta1 = 0.5: in the
#: five-seed study (docs/results/strategies.md) beta1 = 0.7 had the smaller mean gap at
#: Dirichlet alpha 0.5 with 4 parties, but collapsed to chance on one seed at alpha 0.1;
#: 0.5 did not collapse in any measured cell. FedAdam's and FedYogi's are not the scan's best
#: (server lr 0.1, tau 1e-3 there), which beat neither FedAvg nor FedAvgM.
DEFAULTS: dict[str, Strategy] = {
    "fedavg": Strategy("fedavg"),
    "fedavgm": Strategy("fedavgm", server_lr=1.0, beta1=0.5),
    "fedadam": Strategy("fedadam", server_lr=0.01, beta1=0.9, beta2=0.99, tau=1e-3),
    "fedyogi": Strategy("fedyogi", server_lr=0.01, beta1=0.9, beta2=0.99, tau=1e-3),
}

#: A new group's strategy unless its creator picks another (service, API, create form): FedAvgM
#: with server momentum beta1 = 0.5, chosen for the smallest gap to centralized among the
#: settings that never collapsed over five seeds at Dirichlet alpha 0.5 and 0.1, with 4 and
#: 10 parties (``python -m deepchain.bench strategies``, docs/results/strategies.md).
DEFAULT_STRATEGY: Strategy = DEFAULTS["fedavgm"]


def apply_strategy(
    strategy: Strategy,
    w_prev: np.ndarray,
    sums: np.ndarray,
    n: int,
    state: ServerState,
    scale_bits: int,
) -> tuple[np.ndarray, ServerState]:
    """W_i and the new state from W_{i-1}, the decrypted sum S of n accepted updates and the
    state after round i-1: Delta = round(S / n), then the strategy's step (module doc)."""
    delta = fixed_point_mean_vector(sums, n)
    k, e, new = strategy.step(delta, state, scale_bits)
    w = np.asarray(w_prev, dtype=np.float64) + k.astype(np.float64) / float(1 << e)
    return w.astype(np.float32), new


def replay_state(
    strategy: Strategy,
    length: int,
    aggregates: Iterable[tuple[np.ndarray, int] | None],
    scale_bits: int,
) -> ServerState:
    """The optimizer state after the given rounds' published (S, n), in round order; a round
    without a result (``None``: failed decryption, no accepted update) changes nothing."""
    st = strategy.initial_state(length, scale_bits)
    for item in aggregates:
        if item is None:
            continue
        sums, n = item
        _k, _e, st = strategy.step(fixed_point_mean_vector(sums, n), st, scale_bits)
    return st


def replay_models(
    strategy: Strategy,
    w0: np.ndarray,
    aggregates: Iterable[tuple[np.ndarray, int] | None],
    scale_bits: int,
) -> list[np.ndarray]:
    """[W_1, ..., W_R] from W_0 and every round's published (S, n) (``None``: W unchanged)."""
    w = np.asarray(w0, dtype=np.float32)
    st = strategy.initial_state(w.size, scale_bits)
    out: list[np.ndarray] = []
    for item in aggregates:
        if item is not None:
            w, st = apply_strategy(strategy, w, item[0], item[1], st, scale_bits)
        out.append(w)
    return out


def twin_aggregate(
    strategy: Strategy, quantize: Callable[[np.ndarray], np.ndarray], scale_bits: int
) -> Callable[[np.ndarray, list[np.ndarray]], np.ndarray]:
    """The plaintext twin of the encrypted path for ``strategy``: each round, quantize every
    update (the packing's ``quantize``), sum the integers (what threshold decryption of the
    aggregate yields) and apply :func:`apply_strategy`. The returned callable keeps the
    optimizer state between calls, so use one per run (rounds in order)."""
    state: list[ServerState] = []

    def aggregate_fn(w: np.ndarray, updates: list[np.ndarray]) -> np.ndarray:
        if not updates:
            raise ValueError("a round needs at least one update")
        sums = np.sum([np.asarray(quantize(u), dtype=np.int64) for u in updates], axis=0)
        if not state:
            state.append(strategy.initial_state(sums.size, scale_bits))
        w_new, state[0] = apply_strategy(strategy, w, sums, len(updates), state[0], scale_bits)
        return w_new

    return aggregate_fn


def parse_spec(text: str) -> Strategy:
    """A strategy from ``name[:key=value,...]``, e.g. ``fedadam:server_lr=0.03,tau=0.001`` or
    ``fedavg:mu=0.01`` (FedProx); unset values take the defaults of ``name``."""
    name, _, rest = text.strip().partition(":")
    values: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, val = item.partition("=")
        if not eq:
            raise StrategyError(f"expected key=value in {text!r}, got {item!r}")
        values[key.strip()] = val.strip()
    return Strategy.from_options(name.strip(), **values)
