"""The demo's terminal story: what the demo group does, printed as it happens.

``Narrator(group_id, base_url, write).poll()`` reads the group's state (models only) and writes
one line per new fact: status changes, each phase a round closes, each penalty and payout
(with its reason, the party and its name), each round's accuracy, and when the group ends a
summary with the outcome per party and the full URLs of the dashboard, the explorer and the
admin. ``rundemo`` calls it every couple of seconds from a thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger_app.models import Transaction
from training_app.models import CooperativeGroup, KeyCeremony, Membership, Round

from .labels import phase_label, reason_label

ENDED = ("finished", "aborted", "failed")


class Narrator:
    """Prints each new fact of one group once (``poll`` is idempotent between facts)."""

    def __init__(self, group_id: int, base_url: str, write: Callable[[str], None]) -> None:
        self.group_id = group_id
        self.base = base_url.rstrip("/")
        self.write = write
        self.status = ""
        self.closed: set[tuple[int, str]] = set()
        self.money: set[int] = set()
        self.rounds_told: set[int] = set()
        self.ceremony: tuple[str, str] = ("", "")  # (status, phase) last told
        self.done = False

    def urls(self) -> dict[str, str]:
        return {
            "dashboard": f"{self.base}/groups/{self.group_id}/dashboard/",
            "group": f"{self.base}/groups/{self.group_id}/",
            "explorer": f"{self.base}/explorer/",
            "admin": f"{self.base}/admin/",
        }

    def poll(self) -> bool:
        """Write what is new; True once the group has ended (and the summary was written)."""
        if self.done:
            return True
        g = CooperativeGroup.objects.filter(pk=self.group_id).first()
        if g is None:
            return False
        names = {
            m.account.address: f"P{m.party_index} ({m.user.username})"
            for m in Membership.objects.filter(group=g).select_related("account", "user")
        }
        if g.status != self.status:
            self.status = g.status
            if g.status not in ENDED:
                self.write(f"[demo] group “{g.name}” is {g.status}")
        self._tell_ceremony(g)
        for r in Round.objects.filter(group=g).order_by("number"):
            for phase in r.closed_phases or []:
                if (r.number, phase) not in self.closed:
                    self.closed.add((r.number, phase))
                    self.write(f"[round {r.number}] {phase_label(phase)} closed")
            if r.finished_at is not None and r.number not in self.rounds_told:
                self.rounds_told.add(r.number)
                secs = (r.finished_at - r.started_at).total_seconds()
                if r.accuracy is not None:
                    self.write(f"[round {r.number}] done in {secs:.0f} s: {r.n_accepted} updates, "
                               f"accuracy {r.accuracy:.4f}")  # fmt: skip
                else:
                    self.write(f"[round {r.number}] failed after {secs:.0f} s: {r.status_reason}")
        txs = Transaction.objects.filter(group_ref=g.address, kind__in=["penalty", "payout"])
        for t in txs.exclude(id__in=self.money).order_by("id"):
            self.money.add(t.id)
            p = t.payload or {}
            reason = p.get("reason", "")
            if t.kind == "penalty" and t.round is None:
                who = names.get(p.get("party", ""), p.get("party", "")[:12])
                self.write(f"[key ceremony] penalty {p.get('amount')} from {who}: "
                           f"{reason_label(reason)}: {p.get('why', '')}")  # fmt: skip
            elif t.kind == "penalty":
                who = names.get(p.get("party", ""), p.get("party", "")[:12])
                self.write(f"[round {t.round}] penalty {p.get('amount')} from {who}: "
                           f"{reason_label(reason)} in {phase_label(t.phase)}")  # fmt: skip
            elif reason in ("extra_pay", "stake_return", "deposit_refund"):
                who = names.get(p.get("to", ""), p.get("to", "")[:12])
                where = f" in {phase_label(t.phase)}" if t.phase else ""
                tag = f"[round {t.round}]" if t.round else "[end]"
                self.write(
                    f"{tag} {reason_label(reason).lower()} {p.get('amount')} to {who}{where}"
                )
        if g.status in ENDED:
            self.summary(g)
            self.done = True
        return self.done

    def _tell_ceremony(self, g: CooperativeGroup) -> None:
        """Each phase of the dealerless key ceremony once, and how it ended."""
        c = KeyCeremony.objects.filter(group=g).first()
        if c is None or (c.status, c.phase) == self.ceremony:
            return
        self.ceremony = (c.status, c.phase)
        if c.status == KeyCeremony.Status.RUNNING:
            self.write(f"[key ceremony] phase {c.phase} (message round {c.round}): the parties "
                       "exchange sealed, signed messages through the platform")  # fmt: skip
        elif c.status == KeyCeremony.Status.VERIFYING:
            self.write("[key ceremony] every party reported PK_model: public checks running")
        elif c.status == KeyCeremony.Status.DONE:
            self.write(f"[key ceremony] PK_model made by the parties in {c.round} message "
                       f"rounds, {c.bytes_relayed / 1e6:.1f} MB relayed; nobody holds its "
                       "factors")  # fmt: skip
        else:
            self.write(f"[key ceremony] failed: {c.status_reason}")

    def summary(self, g: CooperativeGroup) -> None:
        from .story import outcome, party_directory

        o = outcome(g, party_directory(g))
        self.write("")
        self.write(f"[demo] group “{g.name}” {g.status}"
                   + (f": {g.status_reason}" if g.status_reason else ""))  # fmt: skip
        if o["final_accuracy"] is not None:
            accs = ", ".join(f"{r['accuracy']:.4f}" for r in o["rounds"] if r["accuracy"])
            self.write(f"[demo] final accuracy {o['final_accuracy']:.4f} (rounds: {accs})")
        for p in o["parties"]:
            self.write(
                f"[demo]   {p['label']} {p['name']:<8} earned {p['earned']:>5}  "
                f"forfeited {p['forfeited']:>5}  net {p['net']:+d}"
                + (f"  ({p['behaviour']})" if p["behaviour"] not in ("", "honest") else "")
            )
        for what, url in self.urls().items():
            self.write(f"[demo] {what:<9} {url}")
