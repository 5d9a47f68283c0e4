"""manage.py audit_chain: re-verify the stored chain; exit 1 naming the first bad block/tx."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from deepchain.audit.options import add_protocol_arguments
from ledger_app import selectors


class Command(BaseCommand):
    help = (
        "Re-verify hash links, Merkle roots, signatures, committee quorum, leader eligibility "
        "and balances (chain vs Account table); with the blob store, every proof, aggregate, "
        "decrypted result and contract settlement. Exit status 1 on failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
        parser.add_argument("--export", help="also write the audit export to this file")
        add_protocol_arguments(parser)

    def handle(self, *args, **opts):
        if opts.get("export"):
            with open(opts["export"], "w", encoding="utf-8") as fh:
                json.dump(selectors.export_ledger(), fh)
        from deepchain.audit.protocol import default_processes

        verdict = selectors.verify_chain(
            protocol=not opts["no_protocol"],
            processes=opts["processes"] or default_processes(),
        )
        if opts["json"]:
            self.stdout.write(json.dumps(verdict.to_dict(), indent=2, sort_keys=True))
        else:
            costs = (verdict.report.counts.get("protocol") if verdict.report else None) or {}
            if costs:
                self.stdout.write("protocol checks: " + ", ".join(
                    f"{k} {c['count']} ({c['seconds']:.3f} s)" for k, c in costs.items()
                ))  # fmt: skip
            self.stdout.write(verdict.verdict())
        if not verdict.ok:
            sys.exit(1)
