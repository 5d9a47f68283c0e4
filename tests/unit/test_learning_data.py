"""IDX parsing, dataset loading with fallback, held-out split and partitions."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from deepchain.learning.data import (
    FALLBACK_SOURCE,
    Dataset,
    IdxFormatError,
    label_skew,
    load_dataset,
    load_mnist,
    partition_dirichlet,
    partition_iid,
    read_idx,
    train_test_split,
    write_idx,
)


def _toy(n: int = 500, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(
        x=rng.standard_normal((n, 1, 28, 28)).astype(np.float32),
        y=np.arange(n, dtype=np.int64) % 10,
        source="toy",
    )


def _write_mnist(directory, n: int = 30, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(directory / f"t10k-images-idx3-ubyte{ext}", images)
    write_idx(directory / f"t10k-labels-idx1-ubyte{ext}", labels)
    return images, labels


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_read_idx_round_trips_a_written_array(tmp_path, name):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    out = read_idx(tmp_path / name)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


def test_read_idx_parses_a_hand_built_header_big_endian(tmp_path):
    # magic 0x00000C01 (int32, 1 dim), dim 2, values 1 and -2 big-endian
    raw = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big") + (1).to_bytes(4, "big")
    raw += (-2).to_bytes(4, "big", signed=True)
    (tmp_path / "v.idx").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "v.idx"), [1, -2])


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "magic"),
        (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00", "type code"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + (1).to_bytes(4, "big"), "truncated header"),
        (
            b"\x00\x00\x08\x02" + (3).to_bytes(4, "big") + (4).to_bytes(4, "big") + bytes(11),
            "truncated data",
        ),
        (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + bytes(3), "trailing"),
    ],
)
def test_read_idx_rejects_malformed_files_with_a_clear_error(tmp_path, raw, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(IdxFormatError, match=message):
        read_idx(path)


def test_read_idx_rejects_a_truncated_gzip_stream(tmp_path):
    payload = gzip.compress(b"\x00\x00\x08\x01" + (100).to_bytes(4, "big") + bytes(100))
    (tmp_path / "cut.idx.gz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(IdxFormatError):
        read_idx(tmp_path / "cut.idx.gz")


# ----------------------------------------------------------------------------- loading


def test_load_mnist_reads_idx_files_and_normalises(tmp_path):
    images, labels = _write_mnist(tmp_path)
    ds = load_mnist(tmp_path)
    assert ds.x.shape == (30, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.source == f"mnist:{tmp_path}"
    # a brighter pixel stays brighter after normalisation
    flat_img, flat_x = images.reshape(30, -1), ds.x.reshape(30, -1)
    i, j = np.unravel_index(np.argmax(flat_img), flat_img.shape)
    assert flat_x[i, j] == flat_x.max()


def test_load_mnist_reads_uncompressed_files_and_env_directory(tmp_path, monkeypatch):
    _write_mnist(tmp_path, n=12, gz=False)
    monkeypatch.setenv("DEEPCHAIN_MNIST_DIR", str(tmp_path))
    ds = load_dataset()
    assert len(ds) == 12 and ds.source.startswith("mnist:")


def test_load_mnist_rejects_mismatched_image_and_label_counts(tmp_path):
    _write_mnist(tmp_path, n=10)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(9, dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="labels"):
        load_mnist(tmp_path)


def test_load_dataset_falls_back_to_sklearn_digits_when_directory_is_missing(tmp_path):
    ds = load_dataset(tmp_path / "does-not-exist")
    assert ds.source == FALLBACK_SOURCE
    assert ds.x.shape == (1797, 1, 28, 28) and ds.x.dtype == np.float32
    assert set(np.unique(ds.y)) == set(range(10))
    # the 2-pixel padding border is background everywhere
    assert np.allclose(ds.x[:, :, :2, :], ds.x.min())


# ----------------------------------------------------------------------------- splits


def test_train_test_split_is_stratified_disjoint_and_deterministic():
    ds = _toy(1000)
    ds = Dataset(x=ds.x, y=ds.y, source="toy")
    tr, te = train_test_split(ds, 0.2, seed=3)
    assert len(tr) == 800 and len(te) == 200
    np.testing.assert_array_equal(te.label_counts(), np.full(10, 20))
    tr_keys = {float(v) for v in tr.x[:, 0, 0, 0]}
    assert not tr_keys & {float(v) for v in te.x[:, 0, 0, 0]}
    tr2, te2 = train_test_split(ds, 0.2, seed=3)
    np.testing.assert_array_equal(te.x, te2.x)
    _, te3 = train_test_split(ds, 0.2, seed=4)
    assert not np.array_equal(te.x, te3.x)


def _keys(parts: list[Dataset]) -> list[set[float]]:
    return [{float(v) for v in p.x[:, 0, 0, 0]} for p in parts]


@pytest.mark.parametrize("split", ["iid", "dirichlet"])
def test_partitions_are_disjoint_cover_the_pool_and_are_deterministic(split):
    ds = _toy(500)
    if split == "iid":
        parts, again = partition_iid(ds, 7, seed=5), partition_iid(ds, 7, seed=5)
    else:
        parts = partition_dirichlet(ds, 7, alpha=0.3, seed=5)
        again = partition_dirichlet(ds, 7, alpha=0.3, seed=5)
    keys = _keys(parts)
    assert sum(len(k) for k in keys) == len(ds) == sum(len(p) for p in parts)
    assert set().union(*keys) == {float(v) for v in ds.x[:, 0, 0, 0]}
    assert all(len(p) >= 1 for p in parts)
    for a, b in zip(parts, again, strict=True):
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.x, b.x)


def test_iid_shares_have_equal_sizes_and_near_pool_label_mix():
    parts = partition_iid(_toy(1000), 4, seed=0)
    assert [len(p) for p in parts] == [250] * 4
    assert label_skew(parts) < 0.1


def test_dirichlet_small_alpha_is_measurably_more_skewed_than_iid():
    ds = _toy(2000)
    iid = label_skew(partition_iid(ds, 10, seed=1))
    skewed = label_skew(partition_dirichlet(ds, 10, alpha=0.1, seed=1))
    mild = label_skew(partition_dirichlet(ds, 10, alpha=100.0, seed=1))
    assert skewed > 0.4 > 3 * iid
    assert mild < skewed


def test_dirichlet_gives_every_party_a_sample_even_with_extreme_skew():
    ds = _toy(40)
    for seed in range(10):
        parts = partition_dirichlet(ds, 20, alpha=0.01, seed=seed)
        assert len(parts) == 20 and min(len(p) for p in parts) >= 1
        assert sum(len(p) for p in parts) == 40
