"""Small builders shared by the tests: plain functions, sensible defaults, keyword overrides."""

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from hardware.models import HardwareKind, HardwareModel, Manufacturer
from registry import services
from registry.models import Asset, Site


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


# --- registry ---------------------------------------------------------------------------------

T0 = dt.datetime(2024, 1, 10, 9, 0, tzinfo=dt.UTC)


def at(days: float) -> dt.datetime:
    """A moment `days` after T0: tests write their timelines as day offsets."""
    return T0 + dt.timedelta(days=days)


def site(code: str = "PAR1", **fields) -> Site:
    defaults = {"name": f"Site {code}", "country": "FR", "time_zone": "Europe/Paris"}
    obj, _ = Site.objects.get_or_create(code=code, defaults=defaults | fields)
    return obj


def asset(tag: str = "GPU-1", *, model=None, at_site=None, state="in-stock", when=None, **fields):
    """A registered asset (with its `purchased` event)."""
    return services.create_asset(
        asset_tag=tag,
        hardware_model=model or hardware_model_by_slug("nvidia-a100-sxm4-40gb"),
        site=at_site or site(),
        occurred_at=when or T0,
        to_state=state,
        details={
            "supplier": "Acme",
            "price": "1000",
            "currency": "EUR",
            "purchase_date": "2024-01-10",
        },
        **fields,
    )


def hardware_model_by_slug(slug: str) -> HardwareModel:
    found = HardwareModel.objects.filter(slug=slug).first()
    if found is not None:
        return found
    from hardware.services import load_catalogue

    load_catalogue()
    return HardwareModel.objects.get(slug=slug)


def record(asset_obj, kind: str, day: float, **details):
    return services.record_event(asset_obj, kind, occurred_at=at(day), details=details)


SANITISE = {
    "method": "purge",
    "technique": "NVMe Sanitize (crypto erase)",
    "verification": "passed",
    "performed_by": "J. Smith",
    "standard": "nist-800-88-r2",
    "certificate_ref": "COS-1",
}


PROJECTION_GUARDS = (
    "registry_asset_state_from_ledger",
    "registry_asset_parent_from_ledger",
    "registry_asset_data_bearing_ratchet",
)


def forge_asset_row(asset_obj, **values) -> None:
    """Write an asset row past the writer and the database's guards, as rows from before a rule
    (or a forger with the owner's rights) left it: PostgreSQL with triggers off, as a superuser;
    SQLite with the guards dropped and made again. Inside the caller's transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            Asset.objects.filter(pk=asset_obj.pk).update(**values)
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
            return
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN (%s, %s, %s)",
            PROJECTION_GUARDS,
        )
        made = [sql for (sql,) in cursor.fetchall()]
        for name in PROJECTION_GUARDS:
            cursor.execute(f"DROP TRIGGER {name}")
        Asset.objects.filter(pk=asset_obj.pk).update(**values)
        for sql in made:
            cursor.execute(sql)
