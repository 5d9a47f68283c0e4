from django.apps import AppConfig
from django.db.models.signals import post_migrate

AUDITED_APPS = ("ledger_app", "training_app")


def grant_auditor_views(sender, using="default", **kwargs) -> None:
    """Keep the ``auditor`` group's view permissions complete (models added later too)."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.using(using).get_or_create(name="auditor")
    perms = Permission.objects.using(using).filter(
        content_type__app_label__in=AUDITED_APPS, codename__startswith="view_"
    )
    group.permissions.add(*perms)


class LedgerAppConfig(AppConfig):
    name = "ledger_app"
    verbose_name = "Ledger (blocks, transactions, DeepCoin)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(grant_auditor_views, dispatch_uid="ledger_app.auditor_group")
