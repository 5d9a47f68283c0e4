"""Native kernels built from this package's C sources by scripts/setup.sh (optional: every
caller goes through a Python module that falls back to gmpy2 when a kernel is absent)."""
