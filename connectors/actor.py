"""The named account connectors write by: synced ledger rows and pulled readings carry it."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from registry import permissions as registry_policy


def system_actor(site):
    """The named account every synced ledger row is recorded by: an operator of the sites it
    syncs, with no password (nobody signs in as it)."""
    user, created = get_user_model().objects.get_or_create(
        username=settings.CONNECTOR_ACTOR_USERNAME,
        defaults={"first_name": "Inventory", "last_name": "sync"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    group, _ = Group.objects.get_or_create(name=registry_policy.OPERATOR)
    user.groups.add(group)
    site.operators.add(user)
    for cached in ("_circulus_roles", "_circulus_sites"):
        user.__dict__.pop(cached, None)
    return user
