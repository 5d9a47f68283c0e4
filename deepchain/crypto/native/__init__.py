"""Native kernels built from this package's C sources by scripts/setup.sh (optional: every
caller goes through a Python module that falls back to gmpy2 when a kernel is absent)."""


def babybear_ntt(a, inverse: bool = False):  # noqa: ANN001, ANN201
    """The BabyBear transform of ``zk.babybear.ntt_numpy`` on the native kernel, or None when
    the kernel is not built, the environment sets ``DEEPCHAIN_NATIVE=0``, or the input is one
    the kernel does not take (not a power-of-two last axis up to 2^27, an entry outside
    [0, p)): the caller then runs the numpy loop, which gives the same numbers (or its error).
    A new C-contiguous uint64 array of ``a``'s shape; ``a`` is not modified."""
    import os

    if os.environ.get("DEEPCHAIN_NATIVE", "1") == "0":
        return None
    try:
        from deepchain.crypto.native import _babybear
    except ImportError:  # not built (no compiler) or built for another interpreter
        return None
    import numpy as np

    x = np.array(a, dtype=np.uint64, copy=True, order="C")
    if x.ndim == 0:
        return None
    N = x.shape[-1]
    if N < 1 or N & (N - 1) or N > 1 << 27:
        return None
    flat = x.reshape(-1, N)
    try:
        _babybear.ntt(flat, flat.shape[0], N, bool(inverse))
    except ValueError:  # an entry >= p: leave the numbers to the numpy loop
        return None
    return flat.reshape(x.shape)
