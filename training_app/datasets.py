"""Data of the demo's simulated parties and the held-out test split the platform evaluates on.

Real parties bring their own data (``python -m deepchain.party --data DIR``). For the demo and
the tests, the platform deals a group's parties their shares of MNIST (``DEEPCHAIN_MNIST_DIR``,
else scikit-learn's digits) and writes each share as IDX files into that simulated party's
private directory; the held-out test split never goes to a party.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings

from deepchain.learning.baselines import make_parties
from deepchain.learning.data import (
    MNIST_MEAN,
    MNIST_STD,
    Dataset,
    load_dataset,
    train_test_split,
    write_idx,
)

TEST_FRACTION = 0.2


@lru_cache(maxsize=4)
def _source(limit: int, seed: int) -> Dataset:
    ds = load_dataset(settings.DEEPCHAIN_MNIST_DIR)
    if limit and limit < len(ds):
        idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:limit])
        ds = ds.subset(idx)
    return ds


@lru_cache(maxsize=8)
def split(
    limit: int, seed: int, n_parties: int, partition: str, alpha: float
) -> tuple[list[Dataset], Dataset]:
    """(party shares of the training pool, held-out test split) of a group's settings."""
    train, test = train_test_split(_source(limit, seed), TEST_FRACTION, seed)
    return make_parties(train, n_parties, partition, alpha, seed), test


def group_split(group) -> tuple[list[Dataset], Dataset]:
    return split(
        int(group.data_limit),
        int(group.seed),
        int(group.n_parties),
        group.partition,
        float(group.dirichlet_alpha),
    )


def test_split(group) -> Dataset:
    return group_split(group)[1]


def _to_u8(x: np.ndarray) -> np.ndarray:
    img = (x[:, 0, :, :] * MNIST_STD + MNIST_MEAN) * 255.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_party_data(group, party_index: int, directory: Path) -> int:
    """Write simulated party ``party_index``'s share as train-*-idx files; returns its size."""
    share = group_split(group)[0][party_index - 1]
    directory.mkdir(parents=True, exist_ok=True)
    images = directory / "train-images-idx3-ubyte"
    if not images.exists():
        write_idx(directory / "train-labels-idx1-ubyte", share.y.astype(np.uint8))
        tmp = directory / "train-images-idx3-ubyte.tmp"
        write_idx(tmp, _to_u8(share.x))
        tmp.replace(images)
    return len(share)
