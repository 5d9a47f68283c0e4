"""Local training of one party and federated averaging (paper section 4.2.4, local training).

A party holding W_{i-1} runs K SGD iterations on its private data and publishes only the update
dW_{i,j} = W_new - W_{i-1} (quantized and encrypted by the crypto layer). The group applies
W_i = W_{i-1} + (1/N) sum_j dW_{i,j}; the paper writes the same step as
C(W_i) = C(W_{i-1}) * prod_j C(-dW_{i,j}) with gradients, we carry the sign inside dW.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from deepchain.learning.data import Dataset
from deepchain.learning.models import build_model, configure_torch_threads, set_flat_params

_cache = threading.local()


def _model(name: str) -> nn.Module:
    """A per-thread reusable instance of model ``name`` (its weights are always overwritten)."""
    models: dict[str, nn.Module] = getattr(_cache, "models", None) or {}
    _cache.models = models
    if name not in models:
        models[name] = build_model(name, seed=0)
    return models[name]


def batch_indices(n: int, iterations: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """The minibatches of ``iterations`` SGD steps over ``n`` samples: successive slices of
    fresh per-epoch permutations (a batch never straddles two epochs); deterministic for seed."""
    if n <= 0:
        raise ValueError("cannot train on an empty dataset")
    rng = np.random.default_rng(seed)
    b = min(batch_size, n)
    out: list[np.ndarray] = []
    perm = rng.permutation(n)
    pos = 0
    for _ in range(iterations):
        if pos + b > n:
            perm, pos = rng.permutation(n), 0
        out.append(perm[pos : pos + b])
        pos += b
    return out


def train_local(
    model_name: str,
    flat_params: np.ndarray,
    data: Dataset,
    iterations: int,
    lr: float,
    batch_size: int,
    seed: int,
    *,
    momentum: float = 0.0,
    update_clip: float | None = None,
    prox_mu: float = 0.0,
) -> np.ndarray:
    """K = ``iterations`` SGD steps from W = ``flat_params`` on ``data``; returns dW = W_new - W.

    Deterministic for a given ``seed`` (batch order) and thread count. ``update_clip`` clips
    each coordinate of dW to [-update_clip, update_clip] (fixed-point range of the encoding).
    ``prox_mu`` > 0 is FedProx (Li et al., MLSys 2020, eq. 2): the local objective becomes
    F_k(w) + (prox_mu / 2) ||w - W||^2, i.e. prox_mu (w - W) is added to every gradient.
    Raises FloatingPointError if training diverges (non-finite weights).
    """
    configure_torch_threads()
    w_old = np.asarray(flat_params, dtype=np.float32).reshape(-1)
    model = _model(model_name)
    set_flat_params(model, w_old)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    anchors = [p.detach().clone() for p in model.parameters()] if prox_mu > 0 else []
    x = torch.from_numpy(data.x)
    y = torch.from_numpy(data.y)
    for idx in batch_indices(len(data), iterations, batch_size, seed):
        t = torch.from_numpy(idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[t]), y[t])
        loss.backward()
        if anchors:  # gradient of (mu / 2) ||w - W||^2
            with torch.no_grad():
                for p, p0 in zip(model.parameters(), anchors, strict=True):
                    p.grad.add_(p - p0, alpha=prox_mu)
        opt.step()
    with torch.no_grad():
        w_new = torch.cat([p.reshape(-1) for p in model.parameters()]).numpy()
    dw = (w_new - w_old).astype(np.float32)
    if not np.all(np.isfinite(dw)):
        raise FloatingPointError(f"local training diverged (lr={lr}): non-finite update")
    if update_clip is not None:
        np.clip(dw, -update_clip, update_clip, out=dw)
    return dw


def evaluate(
    model_name: str, flat_params: np.ndarray, data: Dataset, batch_size: int = 1000
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of W = ``flat_params`` on ``data``."""
    configure_torch_threads()
    model = _model(model_name)
    set_flat_params(model, flat_params)
    model.eval()
    correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            xb = torch.from_numpy(data.x[start : start + batch_size])
            yb = torch.from_numpy(data.y[start : start + batch_size])
            logits = model(xb)
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(dim=1) == yb).sum())
    n = max(1, len(data))
    return correct / n, loss_sum / n


def fedavg_step(flat_params: np.ndarray, updates: list[np.ndarray]) -> np.ndarray:
    """W_i = W_{i-1} + (1/N) sum_j dW_{i,j} (computed in float64, returned as float32)."""
    if not updates:
        raise ValueError("fedavg_step needs at least one update")
    w = np.asarray(flat_params, dtype=np.float64)
    total = np.zeros_like(w)
    for u in updates:
        u = np.asarray(u, dtype=np.float64)
        if u.shape != w.shape:
            raise ValueError(f"update shape {u.shape} != parameter shape {w.shape}")
        total += u
    return (w + total / len(updates)).astype(np.float32)
