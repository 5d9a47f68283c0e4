"""The protocol-check options both auditor command lines take (``python -m deepchain.audit``
and ``manage.py audit_chain``), so the two cannot drift apart."""

from __future__ import annotations

import argparse

__all__ = ["add_protocol_arguments"]


def add_protocol_arguments(parser: argparse.ArgumentParser, *, skip_when: str = "") -> None:
    """Add ``--no-protocol`` (``skip_when`` prefixes its help, e.g. "with --blobs, ") and
    ``--processes`` (0: ``audit.protocol.default_processes()``) to ``parser``."""
    parser.add_argument(
        "--no-protocol",
        action="store_true",
        help=f"{skip_when}skip the protocol checks (proofs, aggregates, results, settlements)",
    )
    parser.add_argument(
        "--processes", type=int, default=0, help="processes for the proof checks (0: auto)"
    )
