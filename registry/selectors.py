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

from hardware.models import HardwareModel
from registry.lifecycle import CERTIFIED_RECYCLERS, METALS, EventKind, State
from registry.models import Asset, LifecycleEvent, Site

# Recovery yield per metal when the recycler reports nothing: the whole device is shredded first
# (Chancerel et al. 2009 for Au/Ag/Pd/Cu [C]; Fe 0.9 and Al 0.8 unconfirmed; Nd and Ta are not
# recovered from shredded WEEE [C]) — circular.md §2.1.
SHREDDED_YIELD = {
    "au": Decimal("0.256"),
    "ag": Decimal("0.115"),
    "pd": Decimal("0.256"),
    "cu": Decimal("0.60"),
    "steel": Decimal("0.9"),
    "al": Decimal("0.8"),
    "nd": Decimal("0"),
    "ta": Decimal("0"),
}
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
            # Recycled: the weighed mass (a component's is inside its parent's consignment).
            mass_kg=Case(
                When(kind=EventKind.RECYCLED, then=Coalesce(weighed, Value(Decimal("0")))),
                default=Coalesce(catalogue_mass, Value(Decimal("0"))),
                output_field=MONEY,
            ),
            certification=Subquery(certification),
        )
    )
    if site_codes:
        qs = qs.filter(site__code__in=site_codes)
    return qs


def circular_figures(site_codes: list[str] | None, period: Period) -> dict:
    """Mass and count by WEEE category entering each route, the Green Grid EDE ratio, recovered
    metals (reported vs estimated) and embodied carbon kept in use — for sites and a period."""
    events = route_events(site_codes, period)
    rows = events.values("route", "weee").annotate(units=Count("id"), mass=Sum("mass_kg"))
    by_route = {r: {} for r in ROUTES}
    for row in rows:
        by_route[row["route"]][row["weee"]] = {
            "units": row["units"],
            "mass_kg": _q(row["mass"]),
            "mass_t": _q((row["mass"] or 0) / Decimal(1000), "0.000001"),
        }

    recycled = events.filter(kind=EventKind.RECYCLED)
    certified = recycled.filter(certification__in=list(CERTIFIED_RECYCLERS)).aggregate(
        m=Sum("mass_kg")
    )["m"] or Decimal(0)
    totals = events.aggregate(
        reused_ext=Sum("mass_kg", filter=Q(route="resold-or-donated")),
        disposed=Sum("mass_kg", filter=Q(route__in=["resold-or-donated", "recycled", "other"])),
        kept=Sum(
            "asset__hardware_model__embodied_gwp_kgco2e",
            filter=Q(route__in=["reused-internally", "resold-or-donated", "refurbished"]),
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
    disposed = totals["disposed"] or Decimal(0)
    responsible = certified + (totals["reused_ext"] or Decimal(0))
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "sites": site_codes or "all",
        "routes": by_route,
        "ede": {
            "value": _q(responsible / disposed, "0.0001") if disposed else None,
            "responsible_mass_kg": _q(responsible),
            "disposed_mass_kg": _q(disposed),
            "definition": "(mass to certified recyclers + mass resold or donated) / (mass "
            "resold, donated, recycled, returned or lost) — The Green Grid EDE",
        },
        "recovered_metals_g": _metals(recycled),
        "embodied_kgco2e_kept_in_use": _q(totals["kept"]),
        "embodied_kgco2e_kept_in_use_low": _q(totals["kept_low"]),
        "embodied_kgco2e_kept_in_use_high": _q(totals["kept_high"]),
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
    """Reported grams where the recycler reported them; otherwise estimated from the catalogue
    composition × the shredding yields above, and marked as estimated."""
    reported_q = recycled.filter(details__has_key="recovered_g")
    unreported_q = recycled.exclude(details__has_key="recovered_g")
    reported = reported_q.aggregate(
        **{m: Sum(Cast(KT(f"details__recovered_g__{m}"), MONEY)) for m in METALS}
    )
    content = unreported_q.aggregate(**{m: Sum(f"asset__hardware_model__{m}_g") for m in METALS})
    out = {}
    for metal in METALS:
        estimate = None
        if content[metal] is not None and metal in SHREDDED_YIELD:
            estimate = _q(content[metal] * SHREDDED_YIELD[metal], "0.0001")
        out[metal] = {
            "reported_g": _q(reported[metal], "0.0001"),
            "estimated_g": estimate,
            "estimate_basis": "catalogue composition × shredding yield (circular.md §2.1)"
            if estimate is not None
            else None,
        }
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
    each changed field."""
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
