"""Give the three roles their Django model permissions on the registry and the catalogue.

Row-level scope (operators write only at their sites) lives in registry/permissions.py; these
permissions decide which admin pages a role sees at all. The reporting app grants its own.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REGISTRY = ("site", "asset", "lifecycleevent", "idempotencykey")
REGISTRY_HISTORY = ("historicalsite", "historicalasset", "historicalsite_operators")
HARDWARE = ("manufacturer", "hardwaremodel", "source", "figuresource")
HARDWARE_HISTORY = ("historicalmanufacturer", "historicalhardwaremodel", "historicalfiguresource")

GRANTS = {
    "operator": [
        ("registry", "view_asset"),
        ("registry", "add_asset"),
        ("registry", "change_asset"),
        ("registry", "view_site"),
        ("registry", "view_lifecycleevent"),
        ("registry", "view_historicalasset"),
        *[("hardware", f"view_{m}") for m in HARDWARE],
    ],
    "procurement": [
        *[("registry", f"view_{m}") for m in ("site", "asset", "lifecycleevent")],
        *[("hardware", f"view_{m}") for m in HARDWARE],
    ],
    "auditor": [
        *[("registry", f"view_{m}") for m in ("site", "asset", "lifecycleevent")],
        *[("registry", f"view_{m}") for m in REGISTRY_HISTORY],
        *[("hardware", f"view_{m}") for m in HARDWARE + HARDWARE_HISTORY],
    ],
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so they exist.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, wanted in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in wanted:
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:  # historical m2m tables differ between versions
                group.permissions.add(perm)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, wanted in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for app_label, codename in wanted:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0002_ledger_append_only"),
        ("hardware", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
