"""``manage.py seed_demo``: demo users (idempotent). Returns a text block with the logins."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_PASSWORD = "deepchain-demo"
DEMO_USERS = ("alice", "bob", "carol", "dave")


class Command(BaseCommand):
    help = "Create demo users (and, once training lands, a demo group)."

    def add_arguments(self, parser):
        parser.add_argument("--start-training", action="store_true")

    def handle(self, *args, start_training: bool = False, **opts):
        User = get_user_model()
        for name in DEMO_USERS:
            user, created = User.objects.get_or_create(username=name)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
        admin, created = User.objects.get_or_create(username="auditor", defaults={"is_staff": True})
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        names = ", ".join(DEMO_USERS)
        return f"Demo logins (password {DEMO_PASSWORD!r}): {names}; auditor (admin, read-only)"
