"""Training data for DeepChain parties: MNIST from IDX files, held-out split, partitions.

The paper's prototype (section 5) trains on MNIST split among N parties. Here the data comes
from IDX files in ``DEEPCHAIN_MNIST_DIR`` (default ``../shared/datasets/mnist`` next to the
repository: the 10,000-image MNIST test set). Where no MNIST is found, :func:`load_dataset`
falls back to the 8x8 digits shipped inside scikit-learn, upsampled to 28x28, and says so in
``Dataset.source``. The data is never copied into the repository.

Randomness is injected as an integer ``seed`` (``numpy.random.default_rng``): every split and
partition is a pure function of its inputs.
"""

from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_MNIST_DIR = "DEEPCHAIN_MNIST_DIR"
DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "mnist"
FALLBACK_SOURCE = "sklearn-digits (fallback: no MNIST found)"

#: Standard MNIST normalisation (mean and std of the training pixels in [0, 1]).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
N_CLASSES = 10

# IDX type codes (third magic byte) -> numpy big-endian dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
    """An IDX file is malformed (bad magic, bad dimensions, truncated or trailing bytes)."""


@dataclass(frozen=True)
class Dataset:
    """Images ``x`` (float32, N x 1 x 28 x 28, normalised) with labels ``y`` (int64, 0..9)."""

    x: np.ndarray
    y: np.ndarray
    source: str

    def __post_init__(self) -> None:
        assert self.x.ndim == 4 and self.x.shape[1:] == (1, 28, 28), self.x.shape
        assert self.y.ndim == 1 and len(self.y) == len(self.x), (self.x.shape, self.y.shape)
        assert self.x.dtype == np.float32 and self.y.dtype == np.int64

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray) -> Dataset:
        """The samples at ``indices`` (copied), same source."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(x=self.x[idx], y=self.y[idx], source=self.source)

    def label_counts(self) -> np.ndarray:
        """Number of samples of each class 0..9."""
        return np.bincount(self.y, minlength=N_CLASSES)


# --------------------------------------------------------------------------- IDX parsing


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Parse an IDX file (``.gz`` is decompressed) into a numpy array of its native shape.

    Format: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 dimensions, then the
    data in row-major order. Raises :class:`IdxFormatError` on a bad magic, unknown type code,
    zero dimensions, a truncated body or trailing bytes.
    """
    p = Path(path)
    try:
        if p.suffix == ".gz":
            with gzip.open(p, "rb") as f:
                raw = f.read()
        else:
            raw = p.read_bytes()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise IdxFormatError(f"{p}: cannot read ({exc})") from exc
    if len(raw) < 4:
        raise IdxFormatError(f"{p}: {len(raw)} bytes, too short for the 4-byte IDX magic")
    if raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(f"{p}: bad IDX magic {raw[:4].hex()} (must start with 0000)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise IdxFormatError(f"{p}: unknown IDX type code 0x{type_code:02x}")
    if ndim == 0:
        raise IdxFormatError(f"{p}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IdxFormatError(f"{p}: truncated header ({len(raw)} < {header_len} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - header_len
    if body < expected:
        raise IdxFormatError(
            f"{p}: truncated data: dims {dims} need {expected} bytes, file has {body}"
        )
    if body > expected:
        raise IdxFormatError(f"{p}: {body - expected} trailing bytes after dims {dims}")
    arr = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped if the name ends in ``.gz``); used by tests."""
    arr = np.asarray(array)
    codes = [c for c, dt in _IDX_DTYPES.items() if dt.newbyteorder("=") == arr.dtype]
    if not codes:
        raise ValueError(f"dtype {arr.dtype} has no IDX type code")
    code, dt = codes[0], _IDX_DTYPES[codes[0]]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    payload = header + arr.astype(dt).tobytes()
    p = Path(path)
    if p.suffix == ".gz":
        with gzip.open(p, "wb") as f:
            f.write(payload)
    else:
        p.write_bytes(payload)


# --------------------------------------------------------------------------- loading


def mnist_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """``directory``, else ``$DEEPCHAIN_MNIST_DIR``, else ``../shared/datasets/mnist``."""
    if directory is not None:
        return Path(directory)
    env = os.environ.get(ENV_MNIST_DIR)
    return Path(env) if env else DEFAULT_MNIST_DIR


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def normalize(images_u8: np.ndarray) -> np.ndarray:
    """uint8 N x 28 x 28 (or float in [0, 255]) -> float32 N x 1 x 28 x 28, MNIST-normalised."""
    x = np.asarray(images_u8, dtype=np.float32) / 255.0
    x = (x - MNIST_MEAN) / MNIST_STD
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)


def load_mnist(directory: str | os.PathLike[str] | None = None, kind: str = "t10k") -> Dataset:
    """Load ``<kind>-images-idx3-ubyte[.gz]`` and ``<kind>-labels-idx1-ubyte[.gz]``.

    ``kind`` is ``"t10k"`` (the 10,000-image test set, the default) or ``"train"``.
    Raises FileNotFoundError when the files are absent, IdxFormatError when malformed.
    """
    d = mnist_dir(directory)
    images_path = _find(d, f"{kind}-images-idx3-ubyte")
    labels_path = _find(d, f"{kind}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise FileNotFoundError(f"no MNIST {kind} IDX files in {d}")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise IdxFormatError(f"{images_path}: expected uint8 N x 28 x 28, got {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IdxFormatError(f"{labels_path}: expected uint8 vector, got {labels.shape}")
    if len(labels) != len(images):
        raise IdxFormatError(f"{len(images)} images but {len(labels)} labels in {d}")
    if labels.size and labels.max() >= N_CLASSES:
        raise IdxFormatError(f"{labels_path}: label {labels.max()} out of range 0..9")
    return Dataset(x=normalize(images), y=labels.astype(np.int64), source=f"mnist:{d}")


@functools.lru_cache(maxsize=1)
def load_digits_fallback() -> Dataset:
    """scikit-learn's 1,797 8x8 digits, scaled 3x to 24x24 and zero-padded to 28x28 (cached:
    callers must not modify the arrays in place)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    img8 = digits.images.astype(np.float32) * (255.0 / 16.0)  # 0..16 -> 0..255
    img24 = np.kron(img8, np.ones((3, 3), dtype=np.float32))
    img28 = np.pad(img24, ((0, 0), (2, 2), (2, 2)))
    return Dataset(x=normalize(img28), y=digits.target.astype(np.int64), source=FALLBACK_SOURCE)


def load_dataset(directory: str | os.PathLike[str] | None = None) -> Dataset:
    """MNIST if its IDX files are found (see :func:`mnist_dir`), else the sklearn digits."""
    try:
        return load_mnist(directory)
    except FileNotFoundError:
        return load_digits_fallback()


# --------------------------------------------------------------------------- splits


def train_test_split(
    ds: Dataset, test_fraction: float = 0.2, seed: int = 0
) -> tuple[Dataset, Dataset]:
    """Stratified, deterministic split into (training pool, held-out test set)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    test_idx: list[np.ndarray] = []
    for c in range(N_CLASSES):
        idx = rng.permutation(np.flatnonzero(ds.y == c))
        n_test = int(round(len(idx) * test_fraction))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr = np.sort(np.concatenate(train_idx))
    te = np.sort(np.concatenate(test_idx))
    return ds.subset(tr), ds.subset(te)


def partition_iid(ds: Dataset, n_parties: int, seed: int) -> list[Dataset]:
    """Shuffle and deal the samples into ``n_parties`` disjoint shares of (almost) equal size."""
    if not 1 <= n_parties <= len(ds):
        raise ValueError(f"cannot split {len(ds)} samples among {n_parties} parties")
    perm = np.random.default_rng(seed).permutation(len(ds))
    return [ds.subset(np.sort(part)) for part in np.array_split(perm, n_parties)]


def partition_dirichlet(ds: Dataset, n_parties: int, alpha: float, seed: int) -> list[Dataset]:
    """Non-IID label skew: for each class c, proportions p_c ~ Dir(alpha * 1_N) of its samples.

    Small ``alpha`` gives strongly skewed parties, large ``alpha`` approaches IID. Shares are
    disjoint and cover ``ds``; a party left empty takes one sample from the largest share, so
    every party holds at least one sample.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if not 1 <= n_parties <= len(ds):
        raise ValueError(f"cannot split {len(ds)} samples among {n_parties} parties")
    rng = np.random.default_rng(seed)
    shares: list[list[int]] = [[] for _ in range(n_parties)]
    for c in range(N_CLASSES):
        idx = rng.permutation(np.flatnonzero(ds.y == c))
        if len(idx) == 0:
            continue
        p = rng.dirichlet(np.full(n_parties, alpha))
        cuts = (np.cumsum(p)[:-1] * len(idx)).astype(np.int64)
        for j, part in enumerate(np.split(idx, cuts)):
            shares[j].extend(part.tolist())
    for j in range(n_parties):
        if not shares[j]:
            donor = max(range(n_parties), key=lambda k: len(shares[k]))
            shares[j].append(shares[donor].pop())
    assert sum(len(s) for s in shares) == len(ds)
    return [ds.subset(np.sort(np.array(s, dtype=np.int64))) for s in shares]


def label_skew(parties: list[Dataset]) -> float:
    """Mean total-variation distance between each party's label distribution and the pool's.

    0 for identical label distributions, up to 1 for disjoint ones: a measure of non-IID-ness.
    """
    counts = np.stack([p.label_counts() for p in parties]).astype(np.float64)
    pool = counts.sum(axis=0) / counts.sum()
    dists = counts / counts.sum(axis=1, keepdims=True)
    return float(np.mean(0.5 * np.abs(dists - pool).sum(axis=1)))
