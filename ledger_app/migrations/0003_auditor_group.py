"""Data migration: the ``auditor`` auth group with view permissions on every ledger_app and
training_app model (kept complete for models added later by ledger_app.apps' post_migrate)."""

from django.db import migrations


def grant_auditor_views(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for label in ("ledger_app", "training_app"):
        try:
            config = global_apps.get_app_config(label)
        except LookupError:
            continue
        create_permissions(config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="auditor")
    perms = Permission.objects.filter(
        content_type__app_label__in=["ledger_app", "training_app"], codename__startswith="view_"
    )
    group.permissions.add(*perms)


def drop_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="auditor").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("ledger_app", "0002_consensusattempt_consensusvote_and_more"),
        ("training_app", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant_auditor_views, drop_group)]
