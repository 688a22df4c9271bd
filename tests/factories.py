"""Small builders shared by the tests: plain functions, sensible defaults, keyword overrides."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from hardware.models import HardwareKind, HardwareModel, Manufacturer


def user(username: str, *, group: str | None = None, **fields):
    obj = get_user_model().objects.create_user(
        username=username, password="pw-" + username, **fields
    )
    if group:
        obj.groups.add(Group.objects.get(name=group))
    return obj


def manufacturer(name: str = "Acme") -> Manufacturer:
    obj, _ = Manufacturer.objects.get_or_create(name=name, defaults={"slug": name.lower()})
    return obj


def hardware_model(slug: str = "acme-gpu-24", **fields) -> HardwareModel:
    defaults = {
        "manufacturer": manufacturer(),
        "name": slug,
        "kind": HardwareKind.ACCELERATOR,
        "mass_kg": Decimal("1.2"),
        "tdp_w": Decimal("300"),
        "memory_gb": Decimal("24"),
        "weee_category": "6",
    }
    defaults.update(fields)
    return HardwareModel.objects.create(slug=slug, **defaults)
