"""A BMC's inventory against the registry: the dry-run diff, and applying it as ledger events.

Matching: a unit is an asset when an asset has its serial number (and, if the unit's model is
known, that model). Its catalogue model is found by the operator's mapping table first (part
number, then reported model), then by the catalogue's part numbers, then by its names.

Applying writes only through registry.services (the ledger's one writer), as a named system actor
who operates the source's site, so every custody rule holds for synced changes too. Nothing is
ever deleted or retired: a unit the BMC no longer reports is listed as missing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from connectors.actor import system_actor
from connectors.clients.redfish import Unit
from connectors.models import ModelMapping, Pull, Source
from hardware.models import HardwareModel
from registry import permissions as registry_policy
from registry import services
from registry.lifecycle import EventKind
from registry.models import Asset

NEW, MOVED, UNCHANGED, UNKNOWN_MODEL, NO_SERIAL = (
    "new",
    "moved",
    "unchanged",
    "unknown-model",
    "no-serial",
)
ACTION_LABELS = {
    NEW: "new unit",
    MOVED: "moved",
    UNCHANGED: "unchanged",
    UNKNOWN_MODEL: "unknown model (add a model mapping)",
    NO_SERIAL: "no serial number (not tracked)",
}
# Kinds a BMC part may be matched among (a drive may be catalogued as SSD or HDD).
SAME_KIND = {"ssd": ("ssd", "hdd"), "hdd": ("hdd", "ssd")}


class Catalogue:
    """The catalogue and the operator's mapping table, read once per diff."""

    def __init__(self):
        self.mappings = list(ModelMapping.objects.select_related("hardware_model"))
        self.models = list(HardwareModel.objects.select_related("manufacturer"))

    def match(self, unit: Unit) -> HardwareModel | None:
        kinds = SAME_KIND.get(unit.kind, (unit.kind,))
        part, model = unit.part_number.casefold(), unit.model.casefold()
        for field, value in (("reported_part_number", part), ("reported_model", model)):
            for mapping in self.mappings:
                reported = getattr(mapping, field).strip().casefold()
                if value and mapping.part_kind in kinds and reported == value:
                    return mapping.hardware_model
        candidates = [m for m in self.models if m.kind in kinds]
        if part:
            for hw in candidates:
                if hw.part_number.strip().casefold() == part:
                    return hw
        if model:
            maker = unit.manufacturer.casefold()
            for hw in candidates:
                names = {hw.name.casefold(), f"{hw.manufacturer.name} {hw.name}".casefold()}
                if model in names or (maker and f"{maker} {model}" in names):
                    return hw
        return None


def plan(source: Source, units: list[Unit]) -> dict:
    """The dry run: what applying would do, unit by unit, and what the BMC no longer reports."""
    catalogue = Catalogue()
    serials = {u.serial for u in units if u.serial}
    assets: dict[str, list[Asset]] = {}
    for asset in Asset.objects.filter(serial_number__in=serials).select_related(
        "parent", "site", "hardware_model"
    ):
        assets.setdefault(asset.serial_number, []).append(asset)
    rows = []
    for unit in units:
        row = {**unit.as_dict(), "hardware_model": None, "asset": None, "action": NO_SERIAL}
        model = catalogue.match(unit)
        if model is not None:
            row["hardware_model"] = model.slug
        if unit.serial:
            found = [a for a in assets.get(unit.serial, []) if model in (None, a.hardware_model)]
            if len(found) == 1:
                _compare(source, row, found[0], units)
            elif len(found) > 1:
                row["action"] = UNKNOWN_MODEL
                row["reason"] = (
                    f"{len(found)} assets have serial {unit.serial}: map the model to tell them "
                    "apart"
                )
            else:
                row["action"] = NEW if model else UNKNOWN_MODEL
        rows.append(row)
    servers = [u.serial for u in units if u.kind == "server" and u.serial]
    missing = (
        Asset.objects.filter(
            parent__serial_number__in=servers, parent__hardware_model__kind="server"
        )
        .exclude(serial_number__in=serials)
        .select_related("parent")
        .order_by("asset_tag")
    )
    return {
        "units": rows,
        "missing": [
            {"asset": a.asset_tag, "serial": a.serial_number, "parent": a.parent.asset_tag}
            for a in missing
        ],
        "counts": _counts(rows),
    }


def _compare(source: Source, row: dict, asset: Asset, units: list[Unit]) -> None:
    row["asset"] = asset.asset_tag
    if row["parent_serial"]:
        now_in = asset.parent.serial_number if asset.parent_id else ""
        if now_in != row["parent_serial"]:
            row["action"] = MOVED
            row["from_parent"] = asset.parent.asset_tag if asset.parent_id else ""
            return
    elif asset.site_id != source.site_id:
        row["action"] = MOVED
        row["from_site"] = asset.site.code
        return
    row["action"] = UNCHANGED


def _counts(rows: list[dict]) -> dict:
    counts = dict.fromkeys(ACTION_LABELS, 0)
    for row in rows:
        counts[row["action"]] += 1
    return counts


def summary(diff: dict) -> str:
    counts = diff.get("counts", {})
    parts = [f"{counts.get(action, 0)} {label}" for action, label in ACTION_LABELS.items()]
    return "Inventory dry run: " + ", ".join(parts) + f", {len(diff.get('missing', []))} missing."


# --- applying ---------------------------------------------------------------------------------


def _units(diff: dict) -> list[Unit]:
    fields = Unit.__dataclass_fields__
    return [Unit(**{k: row[k] for k in fields}) for row in diff.get("units", [])]


def _actions(diff: dict) -> list[tuple]:
    return [(r["serial"], r["kind"], r["action"]) for r in diff.get("units", [])]


@transaction.atomic
def apply(pull: Pull, user) -> dict:
    """Write the dry run's new units and moves as ledger events; refused whole, naming the unit
    and the rule, when any event is refused."""
    pull = Pull.objects.select_for_update().select_related("source__site").get(pk=pull.pk)
    source = pull.source
    if not registry_policy.can_write_at(user, source.site):
        raise ValidationError({"pull": f"you do not operate {source.site.code}"})
    if pull.state != "succeeded" or not pull.diff.get("units"):
        raise ValidationError({"pull": "only a finished inventory dry run can be applied"})
    if pull.applied_at:
        raise ValidationError({"pull": f"already applied on {pull.applied_at:%Y-%m-%d %H:%M}"})
    latest = source.pulls.filter(state="succeeded").exclude(diff={}).order_by("-created_at")
    if latest.values_list("pk", flat=True).first() != pull.pk:
        raise ValidationError({"pull": "a newer dry run of this source exists: apply that one"})
    diff = plan(source, _units(pull.diff))
    if _actions(diff) != _actions(pull.diff):
        raise ValidationError(
            {"pull": "the registry changed since this dry run: pull the source again"}
        )
    actor = system_actor(source.site)
    now = timezone.now()
    base = {"source": source.name, "confirmed_by": user.get_username()}
    written = 0
    rows = diff["units"]
    tags = {r["serial"]: r["asset"] for r in rows if r["asset"]}
    try:
        # Servers first, so their parts can be installed in them.
        for row in sorted(rows, key=lambda r: r["kind"] != "server"):
            if row["action"] == NEW:
                asset = services.create_asset(
                    occurred_at=now,
                    actor=actor,
                    first_kind=EventKind.INVENTORIED,
                    details=dict(base),
                    asset_tag=_free_tag(row["serial"]),
                    serial_number=row["serial"],
                    hardware_model=HardwareModel.objects.get(slug=row["hardware_model"]),
                    site=source.site,
                )
                tags[row["serial"]] = asset.asset_tag
                written += 1
                if row["parent_serial"]:
                    written += _install(asset, row, tags, now, actor, base)
            elif row["action"] == MOVED:
                asset = Asset.objects.get(asset_tag=row["asset"])
                if asset.parent_id:
                    services.record_event(
                        asset,
                        EventKind.COMPONENT_REMOVED,
                        occurred_at=now,
                        actor=actor,
                        details={"note": f"reported by {source.name} elsewhere"},
                    )
                    written += 1
                    asset.refresh_from_db()
                if asset.site_id != source.site_id:
                    services.record_event(
                        asset,
                        EventKind.MOVED,
                        occurred_at=now,
                        actor=actor,
                        details={"site": source.site.code, "note": f"reported by {source.name}"},
                    )
                    written += 1
                    asset.refresh_from_db()
                if row["parent_serial"]:
                    written += _install(asset, row, tags, now, actor, base)
    except ValidationError as exc:
        reasons = "; ".join(m for ms in exc.message_dict.values() for m in ms)
        raise ValidationError(
            {"pull": f"unit {row['serial']} ({row['kind']}): {reasons}. Nothing was written."}
        ) from exc
    pull.applied_at, pull.applied_by = now, user
    pull.outcome = f"{pull.outcome} Applied by {user.get_username()}: {written} ledger event(s)."
    pull.save(update_fields=["applied_at", "applied_by", "outcome"])
    return {"events": written}


def _install(asset, row, tags, now, actor, base) -> int:
    parent = tags.get(row["parent_serial"])
    if parent is None:
        return 0  # its server is not registered (unknown model): the part stays loose
    services.record_event(
        asset,
        EventKind.COMPONENT_INSTALLED,
        occurred_at=now,
        actor=actor,
        details={"parent": parent, "note": f"reported by {base['source']}"},
    )
    return 1


def _free_tag(serial: str) -> str:
    tag = f"RF-{serial}"[:46]
    if not Asset.objects.filter(asset_tag=tag).exists():
        return tag
    number = 2
    while Asset.objects.filter(asset_tag=f"{tag}-{number}").exists():
        number += 1
    return f"{tag}-{number}"
