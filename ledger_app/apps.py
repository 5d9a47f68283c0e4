from django.apps import AppConfig


class LedgerAppConfig(AppConfig):
    name = "ledger_app"
    verbose_name = "Ledger (blocks, transactions, DeepCoin)"
    default_auto_field = "django.db.models.BigAutoField"
