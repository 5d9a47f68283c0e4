"""Models and training settings for DeepChain parties.

``paper_cnn`` is the prototype of the paper (section 5.1): conv 3x3 x10 (padding 1) -> ReLU ->
maxpool 2x2 -> FC 1960x128 -> ReLU -> FC 128x10. The model W travels between parties and the
ledger as one flat float32 vector (:func:`get_flat_params` / :func:`set_flat_params`): that vector
is what is quantized, packed and encrypted as C(W) and C(dW).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

ENV_TORCH_THREADS = "DEEPCHAIN_TORCH_THREADS"
_threads_configured = False


def configure_torch_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads once: ``n``, else ``$DEEPCHAIN_TORCH_THREADS``, else 1.

    One thread is the default: these small models train as fast on 1 thread as on 2 (measured
    on the 2-core box), and a second spinning OpenMP thread competes with the crypto workers
    and other Celery processes sharing the cores (oversubscription slowed rounds 4x)."""
    global _threads_configured
    if n is None:
        if _threads_configured:
            return torch.get_num_threads()
        env = os.environ.get(ENV_TORCH_THREADS)
        n = int(env) if env else 1
    torch.set_num_threads(max(1, n))
    _threads_configured = True
    return torch.get_num_threads()


def _paper_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 10, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(10 * 14 * 14, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def _tiny() -> nn.Module:
    # 4x4 average pooling to 7x7, then a linear classifier: 500 parameters.
    return nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 10))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "paper_cnn": _paper_cnn,
    "mlp": _mlp,
    "tiny": _tiny,
}


def build_model(name: str, seed: int | None = None) -> nn.Module:
    """A fresh model by name (``paper_cnn``, ``mlp``, ``tiny``); ``seed`` pins the init W_0."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    if seed is None:
        return MODELS[name]()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name]()


def param_count(model: nn.Module) -> int:
    """Number of scalar parameters (the length of the flat vector W)."""
    return sum(p.numel() for p in model.parameters())


def get_flat_params(model: nn.Module) -> np.ndarray:
    """W as one float32 vector, parameters in ``model.parameters()`` order."""
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return flat.cpu().numpy().astype(np.float32, copy=True)


def set_flat_params(model: nn.Module, flat: np.ndarray) -> None:
    """Load the flat vector W into ``model`` in place (inverse of :func:`get_flat_params`)."""
    vec = np.asarray(flat, dtype=np.float32).reshape(-1)
    n = param_count(model)
    if vec.shape[0] != n:
        raise ValueError(f"flat vector has {vec.shape[0]} values, model has {n} parameters")
    src = torch.from_numpy(vec.copy())
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            k = p.numel()
            p.copy_(src[offset : offset + k].view_as(p))
            offset += k


def initial_params(name: str, seed: int) -> np.ndarray:
    """W_0 of model ``name`` for ``seed`` (what the group's initiator publishes as C(W_0))."""
    return get_flat_params(build_model(name, seed=seed))


@dataclass(frozen=True)
class TrainingConfig:
    """How a group trains: R rounds of K local SGD iterations per party, then FedAvg.

    Mapping of the paper's "1500 iterations, 1 epoch, lr 0.5, batch 64": every party runs
    ``total_iterations = rounds * local_iterations = 1500`` SGD steps of batch 64, and the group
    aggregates after each block of K steps. The paper's prototype exchanges gradients every
    iteration; with encryption, proofs and a ledger block per round we exchange every K = 150
    steps for R = 10 rounds (the same 1500 steps per party; "1 epoch" has no fixed meaning once
    the pool is split, a party with 2,000 samples sees 48 passes over its share). The
    centralized and single-party baselines run the same 1500 steps on their own data.

    lr: the paper's 0.5 diverges here with plain SGD on the mean cross-entropy from PyTorch's
    default init (non-finite weights within 200 steps, measured), so the preset uses 0.2; the
    largest per-round update coordinate then is 0.65 in round 1 and < 0.1 after round 3.

    ``update_clip`` bounds each coordinate of a party's round update dW to +-update_clip, so
    that the fixed-point encoding (scale 2^12, |q| < 2^16, i.e. |dW| < 16) never overflows.
    """

    model: str = "paper_cnn"
    rounds: int = 10
    local_iterations: int = 150
    lr: float = 0.2
    batch_size: int = 64
    momentum: float = 0.0
    update_clip: float | None = 8.0
    test_fraction: float = 0.2
    lr_decay: float = 1.0

    @property
    def total_iterations(self) -> int:
        return self.rounds * self.local_iterations

    def lr_at(self, round_index: int) -> float:
        """Learning rate of round ``round_index`` (1-based): lr * lr_decay^(round_index - 1)."""
        assert round_index >= 1, round_index
        return self.lr * self.lr_decay ** (round_index - 1)

    def with_(self, **changes: Any) -> TrainingConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total_iterations": self.total_iterations}


#: The paper's settings mapped onto rounds x local iterations (see TrainingConfig).
PAPER_PRESET = TrainingConfig()

PRESETS: dict[str, TrainingConfig] = {
    # paper_cnn, 10 rounds x 150 local steps, lr 0.2, batch 64 (1500 steps per party)
    "paper": PAPER_PRESET,
    # paper_cnn, 5 rounds x 60 local steps: a demo-sized run (300 steps per party)
    "quick": TrainingConfig(rounds=5, local_iterations=60),
    # 784-64-10 MLP (50,890 parameters, 5x fewer ciphertexts than paper_cnn), 5 x 100 steps
    "small": TrainingConfig(model="mlp", rounds=5, local_iterations=100),
    # 500-parameter model for unit and integration tests
    "test": TrainingConfig(model="tiny", rounds=3, local_iterations=20, lr=0.1, batch_size=32),
}
