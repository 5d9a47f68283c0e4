"""Command line of the standalone ledger auditor (no Django, no database).

    python -m deepchain.audit ledger.json [--blobs DIR [--no-protocol] [--processes P]]
                                          [--genesis-hash H] [--json]

Runs ``audit.chain.audit_ledger`` on the export; with ``--blobs`` every referenced blob is
checked and, unless ``--no-protocol``, the protocol checks of ``audit.protocol`` run too.
Exit status: 0 clean, 1 a check failed (the first bad block/transaction is named), 2 the
input is unreadable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from deepchain.audit.chain import audit_ledger
from deepchain.audit.options import add_protocol_arguments
from deepchain.audit.protocol import audit_with_protocol, default_processes
from deepchain.blobs import BlobStore


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m deepchain.audit", description="Verify an exported DeepChain ledger."
    )
    ap.add_argument("ledger", help="exported ledger JSON file ('-' for stdin)")
    ap.add_argument("--blobs", help="blob store directory: check every referenced blob")
    ap.add_argument("--genesis-hash", help="pinned genesis block hash")
    ap.add_argument("--json", action="store_true", help="print the full report as JSON")
    add_protocol_arguments(ap, skip_when="with --blobs, ")
    args = ap.parse_args(argv)
    try:
        if args.ledger == "-":
            doc = json.load(sys.stdin)
        else:
            with open(args.ledger, encoding="utf-8") as fh:
                doc = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"UNREADABLE: {args.ledger}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(doc, dict):
        print("UNREADABLE: the export must be a JSON object", file=sys.stderr)
        return 2
    if args.blobs and not os.path.isdir(args.blobs):
        print(f"UNREADABLE: blob directory {args.blobs} does not exist", file=sys.stderr)
        return 2
    store = BlobStore(args.blobs) if args.blobs else None
    if store is not None and not args.no_protocol:
        procs = args.processes or default_processes()
        report, _ = audit_with_protocol(doc, store, processes=procs, genesis_hash=args.genesis_hash)
    else:
        report = audit_ledger(doc, store, genesis_hash=args.genesis_hash)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        if report.ok:
            for acct, bal in report.balances.items():
                print(f"  {acct}: {bal}")
        costs = report.counts.get("protocol") or {}
        if costs:
            print("protocol checks: " + ", ".join(
                f"{k} {c['count']} ({c['seconds']:.3f} s)" for k, c in costs.items()
            ))  # fmt: skip
        print(report.verdict())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
