"""Give the roles their Django model permissions on EU reporting.

Row-level scope (operators write only at their sites) lives in registry/permissions.py; these
permissions decide which admin pages a role sees at all.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITED = ("siteprofile", "reportingperiod", "fieldvalue", "powerdemandsegment",
          "renewableinstrument", "measurementpoint")
READ_ONLY = ("reading", "readingrevision", "ingestjob", "periodresult", "aggregateresult",
             "taskrun")
HISTORY = tuple(f"historical{m}" for m in EDITED)

GRANTS = {
    "operator": [
        *[("reporting", f"{verb}_{m}") for m in EDITED for verb in ("view", "add", "change")],
        *[("reporting", f"view_{m}") for m in READ_ONLY + HISTORY],
    ],
    "procurement": [("reporting", f"view_{m}") for m in EDITED + READ_ONLY],
    "auditor": [("reporting", f"view_{m}") for m in EDITED + READ_ONLY + HISTORY],
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
        ("reporting", "0001_initial"),
        ("hardware", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
