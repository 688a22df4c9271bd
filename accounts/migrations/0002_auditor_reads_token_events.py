"""Auditors read the API token audit trail (superusers have every permission)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="auditor")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="accounts", codename="view_tokenevent")
    )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name="auditor"):
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="accounts", codename="view_tokenevent"
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_token_audit"),
        ("hardware", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
