"""``manage.py seed_demo``: demo users (idempotent); ``--start-training`` also creates and
starts a demo group of 4 simulated parties (alice..dave) unless one is already under way.
Returns a text block with the logins."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

DEMO_PASSWORD = "deepchain-demo"
DEMO_USERS = ("alice", "bob", "carol", "dave")
DEMO_GROUP = "Demo: MNIST, 4 parties"
#: phases close as soon as every input is in; these only bound a stuck or absent party (dave's
#: late round 2 waits for T1). With 2048-bit keys the decryption shares dominate a round.
DEMO_DEADLINES = {"T1": 120_000, "T2": 120_000, "T5": 300_000}
#: 3 rounds of the mlp, 50 local iterations: round 1 ~0.88, then climbing; measured ~2 minutes
#: per round on a 2-core machine with 2048-bit keys (the demo runs within 10 minutes)
DEMO_ROUNDS = 3
#: dave misbehaves (an invalid proof in round 1, late in round 2: deepchain.party.fault_in_round)
#: so the demo shows both penalties and the honest parties' extra pay
DEMO_BEHAVIOURS = ("honest", "honest", "honest", "flaky")
DEMO_ITERATIONS = 50


class Command(BaseCommand):
    help = "Create demo users and (with --start-training) start a 4-party demo group."

    def add_arguments(self, parser):
        parser.add_argument("--start-training", action="store_true")
        parser.add_argument("--rounds", type=int, default=DEMO_ROUNDS)
        parser.add_argument("--api-url", default=None, help="where the simulated agents call")

    def handle(self, *args, start_training: bool = False, **opts):
        User = get_user_model()
        users = []
        for name in DEMO_USERS:
            user, created = User.objects.get_or_create(username=name)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            users.append(user)
        admin, created = User.objects.get_or_create(username="auditor", defaults={"is_staff": True})
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        auditors = Group.objects.filter(name="auditor").first()  # view-only (ledger_app.apps)
        if auditors is not None:
            admin.groups.add(auditors)
        names = ", ".join(DEMO_USERS)
        text = f"Demo logins (password {DEMO_PASSWORD!r}): {names}; auditor (admin, read-only)"
        if start_training:
            group = self._demo_group(users, opts.get("rounds") or DEMO_ROUNDS, opts.get("api_url"))
            base = (opts.get("api_url") or "").rstrip("/")
            text += f"\nDemo training group #{group.id} ({group.status}): {base}/groups/{group.id}/"
        return text

    def _demo_group(self, users, rounds: int, api_url: str | None):
        from ledger_app.models import Account
        from ledger_app.services import bootstrap_chain, create_party_account
        from training_app import services
        from training_app.models import CooperativeGroup

        bootstrap_chain()
        for u in users:
            if not Account.objects.filter(user=u).exists():
                create_party_account(user=u)
        live = CooperativeGroup.objects.filter(name=DEMO_GROUP, initiator=users[0]).exclude(
            status__in=[
                CooperativeGroup.Status.FINISHED,
                CooperativeGroup.Status.ABORTED,
                CooperativeGroup.Status.FAILED,
            ]
        )
        group = live.order_by("-id").first()
        if group is None:
            group = services.create_group(
                initiator=users[0], name=DEMO_GROUP, n_parties=4, threshold=3, rounds=rounds,
                deposit=100, model_name="mlp", partition="iid", local_iterations=DEMO_ITERATIONS,
                learning_rate=0.1, batch_size=64, deadlines=DEMO_DEADLINES,
                key_bits=int(settings.DEEPCHAIN_KEY_BITS), seed=0, simulated=True,
                key_origin="dealerless",  # the parties make PK_model themselves
                api_url=api_url or getattr(settings, "DEEPCHAIN_API_URL", "http://127.0.0.1:8000"),
                public=True,  # its dashboard is open to visitors (read-only)
            )  # fmt: skip
        elif api_url and group.api_url != api_url:  # restarted on another port
            CooperativeGroup.objects.filter(pk=group.pk).update(api_url=api_url)
            group.api_url = api_url
        if group.status == CooperativeGroup.Status.RECRUITING:
            for u, behaviour in zip(users, DEMO_BEHAVIOURS, strict=True):
                services.join_group(group=group, user=u, data_size=2000, simulated=True,
                                    behaviour=behaviour)  # fmt: skip
            services.start_group(group=group, by=users[0])
            group.refresh_from_db()
        return group
