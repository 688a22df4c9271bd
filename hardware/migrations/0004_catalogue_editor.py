"""The `catalogue-editor` role: the only non-superusers who may write the hardware catalogue.

Row-level rules live in hardware/permissions.py; these permissions decide which admin pages and
buttons the role sees.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE = "catalogue-editor"
EDITED = ("manufacturer", "hardwaremodel", "source", "figuresource")
HISTORY = ("historicalmanufacturer", "historicalhardwaremodel", "historicalfiguresource")
GRANTS = {
    ROLE: [
        *[("hardware", f"{verb}_{m}") for m in EDITED for verb in ("view", "add", "change")],
        *[("hardware", f"delete_{m}") for m in EDITED],
        *[("hardware", f"view_{m}") for m in HISTORY],
        ("hardware", "view_decodemeasurement"),
    ],
    # Published decode measurements are catalogue reference data: every role reads them.
    **{
        role: [("hardware", "view_decodemeasurement")]
        for role in ("operator", "procurement", "auditor")
    },
}


def grant(apps, schema_editor):
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
            if perm is not None:
                group.permissions.add(perm)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    decode = Permission.objects.filter(codename="view_decodemeasurement")
    for group in Group.objects.filter(name__in=("operator", "procurement", "auditor")):
        group.permissions.remove(*decode)
    Group.objects.filter(name=ROLE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("hardware", "0003_decode_measurements"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
