from django.apps import AppConfig


class TrainingAppConfig(AppConfig):
    name = "training_app"
    verbose_name = "Collaborative training (groups, rounds)"
    default_auto_field = "django.db.models.BigAutoField"
