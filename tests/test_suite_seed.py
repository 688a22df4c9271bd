"""The suite's own groundwork: after a transactional test's flush, every table holds again what
the first test of the process saw (the roles with their permissions, the catalogue), ids and all."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import models

from tests.conftest import _SEED


def contents() -> dict:
    """Every row of every table but the ones a flush makes again (content types, permissions),
    without the times the rows were written; the roles' grants by natural key."""
    found = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label == "contenttypes" or model._meta.model_name in {
            "permission",
            "group_permissions",
        }:
            continue
        written = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add)
        ]
        rows = [
            {k: v for k, v in row.items() if k not in written}
            for row in model._base_manager.order_by("pk").values()
        ]
        if rows:
            found[model._meta.label] = rows
    found["grants"] = {
        group.name: sorted(group.permissions.values_list("content_type__app_label", "codename"))
        for group in Group.objects.all()
    }
    return found


@pytest.mark.django_db(transaction=True)
def test_a_flush_puts_back_the_roles_and_the_catalogue_the_first_test_saw():
    before = contents()
    assert set(before) - {"grants"} == {model._meta.label for model in _SEED["rows"]}
    assert before["grants"]["operator"] and "hardware.HardwareModel" in before

    call_command("flush", interactive=False, verbosity=0)

    assert contents() == before
