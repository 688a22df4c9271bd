"""Reporting data is read by operators (their sites), auditors and superusers only.

Procurement loses its view permissions on reporting models: site energy and water figures are
not its business (reporting/permissions.py holds the rule; these permissions only decide which
admin pages a role sees). Operators and auditors gain the export jobs list, where the EU
workbook page is linked.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REPORTING = ("siteprofile", "reportingperiod", "fieldvalue", "powerdemandsegment",
             "renewableinstrument", "measurementpoint", "reading", "readingrevision",
             "ingestjob", "periodresult", "aggregateresult", "taskrun")  # fmt: skip
REVOKED = {"procurement": [("reporting", f"view_{m}") for m in REPORTING]}
GRANTS = {
    "operator": [("exports", "view_exportjob")],
    "auditor": [("exports", "view_exportjob")],
}


def _perms(apps, wanted):
    Permission = apps.get_model("auth", "Permission")
    for app_label, codename in wanted:
        perm = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if perm is not None:
            yield perm


def grant(apps, schema_editor):
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, wanted in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_perms(apps, wanted))
    for role, wanted in REVOKED.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.remove(*_perms(apps, wanted))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, wanted in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_perms(apps, wanted))
    for role, wanted in REVOKED.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.add(*_perms(apps, wanted))


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0008_merge_jobs_label_and_meter_history"),
        ("exports", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
