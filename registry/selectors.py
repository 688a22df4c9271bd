"""Reads shared by views, exports and tasks. The circular figures are computed in the database."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, NullIf

from hardware.materials import shipped_yields, unit_content
from hardware.models import Basis, FigureSource, HardwareModel
from registry.lifecycle import CERTIFIED_RECYCLERS, METALS, EventKind, State
from registry.models import Asset, LifecycleEvent, Site

# Recovery yields per metal when the recycler reports nothing ship with the catalogue
# (hardware/catalogue/recovery_yields.csv, route `shredded`: the whole device is shredded first).
YIELD_ROUTE = "shredded"
ROUTES = ("reused-internally", "resold-or-donated", "refurbished", "recycled", "other")
MONEY = DecimalField(max_digits=20, decimal_places=6)


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime  # exclusive

    @classmethod
    def year(cls, year: int) -> "Period":
        return cls(
            dt.datetime(year, 1, 1, tzinfo=dt.UTC), dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
        )


def _route() -> Case:
    return Case(
        When(kind=EventKind.REDEPLOYED, then=Value("reused-internally")),
        When(
            kind=EventKind.COMMISSIONED,
            state_before__in=[State.RESERVED, State.AWAITING_DISPOSITION],
            then=Value("reused-internally"),
        ),
        When(kind__in=[EventKind.SOLD, EventKind.DONATED], then=Value("resold-or-donated")),
        When(kind=EventKind.REFURBISHED, then=Value("refurbished")),
        When(kind=EventKind.RECYCLED, then=Value("recycled")),
        When(kind__in=[EventKind.RETURNED, EventKind.LOST], then=Value("other")),
        default=Value(""),
        output_field=CharField(),
    )


def route_events(site_codes: list[str] | None, period: Period):
    """Events that put an asset on one of the circular routes in the period, annotated with
    route, WEEE category, mass (kg) and whether the recycler was certified."""
    certification = (
        LifecycleEvent.objects.filter(asset=OuterRef("asset"), kind=EventKind.SENT_TO_RECYCLER)
        .order_by("-occurred_at", "-id")
        .annotate(cert=KT("details__certification"))
        .values("cert")[:1]
    )
    weighed = Cast(NullIf(KT("details__weighed_mass_kg"), Value("")), MONEY)
    catalogue_mass = Coalesce(
        "asset__measured_mass_kg", "asset__hardware_model__mass_kg", output_field=MONEY
    )
    qs = (
        LifecycleEvent.objects.filter(occurred_at__gte=period.start, occurred_at__lt=period.end)
        .annotate(route=_route())
        .exclude(route="")
        .annotate(
            weee=Coalesce(
                NullIf(KT("details__weee_category"), Value("")),
                NullIf(F("asset__hardware_model__weee_category"), Value("")),
                Value("unknown"),
                output_field=CharField(),
            ),
            # Recycled: the weighed mass; a component that followed its parent is inside the
            # parent's weighed consignment (0 added, not unknown). Otherwise the asset's measured
            # or catalogue mass. No mass known is NULL: counted apart, never as 0.
            mass_kg=Case(
                When(
                    kind=EventKind.RECYCLED,
                    caused_by__isnull=False,
                    then=Coalesce(weighed, Value(Decimal("0"))),
                ),
                When(kind=EventKind.RECYCLED, then=weighed),
                default=catalogue_mass,
                output_field=MONEY,
            ),
            certification=Subquery(certification),
        )
    )
    if site_codes:
        qs = qs.filter(site__code__in=site_codes)
    return qs


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else None


def circular_figures(site_codes: list[str] | None, period: Period) -> dict:
    """Mass and count by WEEE category entering each route, the Green Grid EDE ratio, recovered
    metals (reported vs expected) and embodied carbon kept in use — for sites and a period.

    A unit whose mass is not known adds to the unit counts and to `unknown_mass_units`, never
    to a mass: masses and EDE are over known masses only, and each says how many it left out.
    """
    events = route_events(site_codes, period)
    rows = events.values("route", "weee").annotate(
        units=Count("id"),
        unknown=Count("id", filter=Q(mass_kg__isnull=True)),
        mass=Sum("mass_kg"),
    )
    by_route = {r: {} for r in ROUTES}
    units = unknown = 0
    known_mass = None
    for row in rows:
        by_route[row["route"]][row["weee"]] = {
            "units": row["units"],
            "unknown_mass_units": row["unknown"],
            "mass_kg": _q(row["mass"]),
            "mass_t": _q(row["mass"] / Decimal(1000), "0.000001")
            if row["mass"] is not None
            else None,
        }
        units += row["units"]
        unknown += row["unknown"]
        if row["mass"] is not None:
            known_mass = (known_mass or Decimal(0)) + row["mass"]

    recycled = events.filter(kind=EventKind.RECYCLED)
    disposed_routes = ["resold-or-donated", "recycled", "other"]
    certified = Q(kind=EventKind.RECYCLED, certification__in=list(CERTIFIED_RECYCLERS))
    responsible_q = certified | Q(route="resold-or-donated")
    kept_routes = ["reused-internally", "resold-or-donated", "refurbished"]
    totals = events.aggregate(
        responsible=Sum("mass_kg", filter=responsible_q),
        disposed=Sum("mass_kg", filter=Q(route__in=disposed_routes)),
        disposed_units=Count("id", filter=Q(route__in=disposed_routes)),
        disposed_unknown=Count("id", filter=Q(route__in=disposed_routes, mass_kg__isnull=True)),
        kept=Sum("asset__hardware_model__embodied_gwp_kgco2e", filter=Q(route__in=kept_routes)),
        kept_units=Count("id", filter=Q(route__in=kept_routes)),
        kept_unknown=Count(
            "id",
            filter=Q(
                route__in=kept_routes, asset__hardware_model__embodied_gwp_kgco2e__isnull=True
            ),
        ),
        # The catalogue's low and high estimates; an entry with one estimate is its own range.
        kept_low=Sum(
            Coalesce(
                "asset__hardware_model__embodied_gwp_min_kgco2e",
                "asset__hardware_model__embodied_gwp_kgco2e",
            ),
            filter=Q(route__in=["reused-internally", "resold-or-donated", "refurbished"]),
        ),
        kept_high=Sum(
            Coalesce(
                "asset__hardware_model__embodied_gwp_max_kgco2e",
                "asset__hardware_model__embodied_gwp_kgco2e",
            ),
            filter=Q(route__in=["reused-internally", "resold-or-donated", "refurbished"]),
        ),
    )
    disposed = totals["disposed"]
    responsible = totals["responsible"] or (Decimal(0) if disposed is not None else None)
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "sites": site_codes or "all",
        "routes": by_route,
        "totals": {
            "units": units,
            "mass_kg": _q(known_mass),
            "unknown_mass_units": unknown,
            "unknown_mass_share": _share(unknown, units),
        },
        "ede": {
            "value": _q(responsible / disposed, "0.0001") if disposed else None,
            "responsible_mass_kg": _q(responsible),
            "disposed_mass_kg": _q(disposed),
            "disposed_units": totals["disposed_units"],
            "unknown_mass_units": totals["disposed_unknown"],
            "unknown_mass_share": _share(totals["disposed_unknown"], totals["disposed_units"]),
            "definition": "(mass to certified recyclers + mass resold or donated) / (mass "
            "resold, donated, recycled, returned or lost) — The Green Grid EDE, over units of "
            "known mass only; units of unknown mass are counted in unknown_mass_units",
        },
        "recovered_metals_g": _metals(recycled),
        "embodied_kgco2e_kept_in_use": _q(totals["kept"]),
        "embodied_kgco2e_kept_in_use_low": _q(totals["kept_low"]),
        "embodied_kgco2e_kept_in_use_high": _q(totals["kept_high"]),
        "embodied_kept": {
            "kgco2e": _q(totals["kept"]),
            "units": totals["kept_units"],
            "unknown_units": totals["kept_unknown"],
            "basis": "catalogue embodied GWP of the units kept in use, over units whose model "
            "carries one",
        },
        "sanitisation": sanitisation_counts(site_codes, period),
        "certificates": sorted(
            {
                ref
                for ref in recycled.annotate(ref=KT("details__certificate_ref")).values_list(
                    "ref", flat=True
                )[:1000]
                if ref
            }
        ),
    }


def _metals(recycled) -> dict:
    """Per metal: what the recycled units hold (declared by their model, else the class g/kg ×
    their mass), what a shredding route should recover from it, what certificates report, and
    the gap (reported − expected, over the units whose certificate reports metals).

    A component that followed its parent is inside the parent's mass and is not counted again;
    a unit with no declared figure and no mass is counted in `units_unknown`, never as 0 g.
    """
    rows = (
        recycled.filter(caused_by__isnull=True)
        .annotate(weighed=Cast(NullIf(KT("details__weighed_mass_kg"), Value("")), MONEY))
        .values(
            "id",
            "details",
            "weighed",
            "asset__measured_mass_kg",
            "asset__hardware_model_id",
            "asset__hardware_model__kind",
            "asset__hardware_model__mass_kg",
            "asset__hardware_model__mass_min_kg",
            "asset__hardware_model__mass_max_kg",
            *(f"asset__hardware_model__{m}_g" for m in METALS),
        )
    )
    rows = list(rows)
    model_ids = {r["asset__hardware_model_id"] for r in rows}
    sourced = FigureSource.objects.filter(
        hardware_model_id__in=model_ids, field__in=[f"{m}_g" for m in METALS]
    ).values_list("hardware_model_id", "field", "basis")
    declared_basis: dict[int, dict[str, str]] = {}
    for model_id, name, basis in sourced:
        declared_basis.setdefault(model_id, {})[name.removesuffix("_g")] = (
            "estimated" if basis == Basis.ESTIMATED else "declared"
        )
    yields = shipped_yields()
    out = {
        m: {
            "units": len(rows),
            "units_unknown": 0,
            "content_g": None,
            "content_min_g": None,
            "content_max_g": None,
            "bases": set(),
            "expected_recoverable_g": None,
            "expected_recoverable_min_g": None,
            "expected_recoverable_max_g": None,
            "yield": yields.get((YIELD_ROUTE, m)),
            "reported_g": None,
            "expected_on_reported_units_g": None,
            "reported_units": 0,
        }
        for m in METALS
    }

    def add(entry, key, value):
        entry[key] = value if entry[key] is None else entry[key] + value

    for row in rows:
        # A weighed or measured mass is the unit's own; only the catalogue's mass has a range.
        mass = row["weighed"]
        if mass is None:
            mass = row["asset__measured_mass_kg"]
        low = high = None
        if mass is None:
            mass = row["asset__hardware_model__mass_kg"]
            low = row["asset__hardware_model__mass_min_kg"]
            high = row["asset__hardware_model__mass_max_kg"]
        content = unit_content(
            row["asset__hardware_model__kind"],
            mass,
            {m: row[f"asset__hardware_model__{m}_g"] for m in METALS},
            declared_basis.get(row["asset__hardware_model_id"]),
            mass_min_kg=low,
            mass_max_kg=high,
        )
        reported = (row["details"] or {}).get("recovered_g") or {}
        for metal in METALS:
            entry, c = out[metal], content[metal]
            if c is None:
                entry["units_unknown"] += 1
            else:
                add(entry, "content_g", c.g)
                add(entry, "content_min_g", c.min_g)
                add(entry, "content_max_g", c.max_g)
                entry["bases"].add(c.basis)
            if metal in reported and reported[metal] not in (None, ""):
                add(entry, "reported_g", Decimal(str(reported[metal])))
                entry["reported_units"] += 1
                if c is not None and entry["yield"] is not None:
                    add(entry, "expected_on_reported_units_g", c.g * entry["yield"].central)
    for entry in out.values():
        rate = entry["yield"]
        if entry["content_g"] is not None and rate is not None:
            entry["expected_recoverable_g"] = entry["content_g"] * rate.central
            entry["expected_recoverable_min_g"] = entry["content_min_g"] * rate.min_yield
            entry["expected_recoverable_max_g"] = entry["content_max_g"] * rate.max_yield
        gap = None
        if entry["reported_g"] is not None and entry["expected_on_reported_units_g"] is not None:
            gap = entry["reported_g"] - entry["expected_on_reported_units_g"]
        entry["gap_g"] = _q(gap, "0.0001")
        for key in (
            "content_g",
            "content_min_g",
            "content_max_g",
            "expected_recoverable_g",
            "expected_recoverable_min_g",
            "expected_recoverable_max_g",
            "reported_g",
            "expected_on_reported_units_g",
        ):
            entry[key] = _q(entry[key], "0.0001")
        entry["basis"] = " + ".join(sorted(entry.pop("bases"))) or None
        entry["yield"] = str(rate.central) if rate is not None else None
        entry["yield_min"] = str(rate.min_yield) if rate is not None else None
        entry["yield_max"] = str(rate.max_yield) if rate is not None else None
        entry["yield_basis"] = (
            f"whole device shredded first ({rate.confidence}): {rate.citation}"
            if rate is not None
            else "no recovery yield known for this metal: content only"
        )
    return out


def sanitisation_counts(site_codes: list[str] | None, period: Period) -> list[dict]:
    qs = LifecycleEvent.objects.filter(
        kind=EventKind.SANITISED, occurred_at__gte=period.start, occurred_at__lt=period.end
    )
    if site_codes:
        qs = qs.filter(site__code__in=site_codes)
    rows = (
        qs.annotate(standard=KT("details__standard"), verification=KT("details__verification"))
        .values("sanitisation_method", "standard", "verification")
        .annotate(count=Count("id"))
        .order_by("sanitisation_method", "standard", "verification")
    )
    return [
        {
            "method": r["sanitisation_method"],
            "standard": r["standard"] or "unspecified",
            "verification": r["verification"],
            "count": r["count"],
        }
        for r in rows
    ]


def change_history(obj, limit: int = 500) -> list[dict]:
    """Who changed what and when (django-simple-history), newest first, with before/after of
    each changed field; for an asset, its ledger events too (kind, actor, state before/after)."""
    records = list(
        obj.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : limit + 1
        ]
    )
    out = []
    for newer, older in zip(records, records[1:] + [None], strict=False):
        changes = []
        if older is not None:
            delta = newer.diff_against(older)
            changes = [
                {"field": c.field, "before": _plain(c.old), "after": _plain(c.new)}
                for c in delta.changes
            ]
        out.append(
            {
                "at": newer.history_date.isoformat(),
                "user": newer.history_user.username if newer.history_user else None,
                "type": {"+": "created", "~": "changed", "-": "deleted"}[newer.history_type],
                "reason": newer.history_change_reason,
                "changes": changes,
            }
        )
    if isinstance(obj, Asset):
        events = obj.events.select_related("actor").order_by("-recorded_at", "-id")[:limit]
        out += [
            {
                "at": e.recorded_at.isoformat(),
                "user": e.actor.username if e.actor else None,
                "type": "ledger",
                "reason": f"ledger event {e.pk}: {e.kind}",
                "event": e.pk,
                "kind": e.kind,
                "occurred_at": e.occurred_at.isoformat(),
                "changes": [
                    {"field": "state", "before": e.state_before or None, "after": e.state_after}
                ],
                "details": e.details,
            }
            for e in events
        ]
        out.sort(key=lambda entry: entry["at"], reverse=True)
    return out[:limit]


def _plain(value):
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def assets_for_list():
    """Assets with what the list shows of their model, site and parent: the joined rows stay
    narrow (the catalogue row alone has some sixty columns)."""
    return Asset.objects.select_related("hardware_model", "site", "parent").defer(
        *(
            f"hardware_model__{f.name}"
            for f in HardwareModel._meta.concrete_fields
            if f.name not in ("id", "slug", "kind", "mass_kg", "holds_data")
        ),
        *(f"site__{f.name}" for f in Site._meta.concrete_fields if f.name not in ("id", "code")),
        *(
            f"parent__{f.name}"
            for f in Asset._meta.concrete_fields
            if f.name not in ("id", "asset_tag")
        ),
    )


def _q(value, places: str = "0.001") -> Decimal | None:
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(places))
