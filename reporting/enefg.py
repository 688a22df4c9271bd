"""Germany's Energy Efficiency Act (EnEfG) duties for data centres, as pure date and Decimal rules.

No Django here. Facts from the Act's §11 and §13 and its Anlage 3, as published at gesetze.legal
and by BMWK (the register) and BAFA (its data-point guide); docs/sources.md gives the addresses:

- §11 PUE (annual average): a data centre operating before 1 July 2026 must reach PUE ≤ 1.5
  from 1 July 2027 and ≤ 1.3 from 1 July 2030; one starting on or after 1 July 2026 must reach
  PUE ≤ 1.2 within two years of its start.
- §11 ERF for data centres starting on or after 1 July 2026, within two years of their start:
  ≥ 10 %, or ≥ 15 % when starting from 1 July 2027, or ≥ 20 % when starting from 1 July 2028.
- §11 renewable electricity: 50 % from 1 January 2024, 100 % from 1 January 2027.
- §13 register (RZReg): from 300 kW non-redundant rated connected load; first reports due
  15 August 2024 for ≥ 500 kW and 1 July 2025 for 300-500 kW, then by 31 March every year.

These are compliance findings: they inform, they never block a validation or an export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

NEW_DC_FROM = date(2026, 7, 1)  # §11: "new" data centres start operating on or after this day
GRACE_YEARS = 2  # §11: new data centres meet their PUE and ERF within two years of start

EXISTING_PUE: tuple[tuple[date, Decimal], ...] = (
    (date(2027, 7, 1), Decimal("1.5")),
    (date(2030, 7, 1), Decimal("1.3")),
)
NEW_PUE = Decimal("1.2")
# ERF minimum by operation start (the later the start, the higher the share).
NEW_ERF: tuple[tuple[date, Decimal], ...] = (
    (date(2026, 7, 1), Decimal("0.10")),
    (date(2027, 7, 1), Decimal("0.15")),
    (date(2028, 7, 1), Decimal("0.20")),
)
RENEWABLE_SHARE: tuple[tuple[date, Decimal], ...] = (
    (date(2024, 1, 1), Decimal("0.5")),
    (date(2027, 1, 1), Decimal("1")),
)
# (first report due, lower bound of non-redundant connected load in kW)
REGISTER_FROM: tuple[tuple[date, Decimal], ...] = (
    (date(2024, 8, 15), Decimal(500)),
    (date(2025, 7, 1), Decimal(300)),
)
REGISTER_KW = Decimal(300)

REF_PUE = "EnEfG §11 (PUE)"
REF_ERF = "EnEfG §11 (ERF)"
REF_RES = "EnEfG §11 (renewable electricity)"
REF_REGISTER = "EnEfG §13, Anlage 3 (RZReg)"


@dataclass(frozen=True)
class Check:
    """A compliance finding: ``warning`` when a duty in force is not met, else ``info``."""

    rule_id: str
    severity: str
    fields: tuple[str, ...]
    message: str
    legal_ref: str
    applies_from: date


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _pct(value: Decimal) -> str:
    return f"{value * 100:.1f} %"


def pue_duties(operation_start: date) -> list[tuple[date, Decimal]]:
    """(applies from, maximum PUE) for a data centre that started on ``operation_start``."""
    if operation_start < NEW_DC_FROM:
        return list(EXISTING_PUE)
    return [(_add_years(operation_start, GRACE_YEARS), NEW_PUE)]


def erf_duty(operation_start: date) -> tuple[date, Decimal] | None:
    """(applies from, minimum ERF) for a new data centre; ``None`` for one started earlier."""
    tiers = [minimum for start, minimum in NEW_ERF if operation_start >= start]
    if not tiers:
        return None
    return _add_years(operation_start, GRACE_YEARS), tiers[-1]


def _in_force(duties: list[tuple[date, Decimal]], on: date):
    current = [d for d in duties if d[0] <= on]
    upcoming = [d for d in duties if d[0] > on]
    return (current[-1] if current else None), (upcoming[0] if upcoming else None)


def check(
    *,
    on: date,
    operation_start: date | None,
    pue: Decimal | None,
    erf: Decimal | None,
    renewable_share: Decimal | None,
    non_redundant_kw: Decimal | None,
    share_basis: str = "ERES-TOT / EDC",
) -> list[Check]:
    """The §11 and §13 findings for a reporting period whose last day is ``on``."""
    found: list[Check] = []

    def add(rule, severity, fields, message, ref, since):
        found.append(Check(rule, severity, tuple(fields), message, ref, since))

    def limit(rule, fields, value, name, duties, ref, *, at_most: bool, fmt=str):
        current, upcoming = _in_force(duties, on)
        if current is not None:
            since, bound = current
            sign = "≤" if at_most else "≥"
            if value is None:
                add(
                    rule,
                    "warning",
                    fields,
                    f"{name} unknown: cannot check {sign} {fmt(bound)}",
                    ref,
                    since,
                )
            elif (value <= bound) if at_most else (value >= bound):
                add(
                    rule,
                    "info",
                    fields,
                    f"{name} {fmt(value)} {sign} {fmt(bound)}: met",
                    ref,
                    since,
                )
            else:
                add(
                    rule,
                    "warning",
                    fields,
                    f"{name} {fmt(value)} does not meet {sign} "
                    f"{fmt(bound)} (in force since {since:%d %b %Y})",
                    ref,
                    since,
                )
        if upcoming is not None:
            since, bound = upcoming
            sign = "≤" if at_most else "≥"
            add(
                f"{rule}-upcoming",
                "info",
                fields,
                f"{name} {sign} {fmt(bound)} applies from {since:%d %b %Y}",
                ref,
                since,
            )

    def two(value: Decimal) -> str:
        return f"{value:.2f}"

    if operation_start is None:
        add(
            "enefg-operation-start-missing",
            "warning",
            (),
            "operation start unknown: the §11 PUE and ERF duties cannot be placed",
            REF_PUE,
            EXISTING_PUE[0][0],
        )
    else:
        limit(
            "enefg-pue",
            ("EDC", "EIT"),
            pue,
            "PUE",
            pue_duties(operation_start),
            REF_PUE,
            at_most=True,
            fmt=two,
        )
        erf_rule = erf_duty(operation_start)
        if erf_rule is not None:
            limit(
                "enefg-erf",
                ("EREUSE", "EDC"),
                erf,
                "ERF",
                [erf_rule],
                REF_ERF,
                at_most=False,
                fmt=_pct,
            )
    limit(
        "enefg-renewable-share",
        ("ERES-TOT",),
        renewable_share,
        f"renewable electricity share ({share_basis})",
        list(RENEWABLE_SHARE),
        REF_RES,
        at_most=False,
        fmt=_pct,
    )

    # §13: registration duty from 300 kW non-redundant rated connected load
    first_due = REGISTER_FROM[-1][0]
    if non_redundant_kw is None:
        add(
            "rzreg-registration",
            "warning",
            ("PNR",),
            "non-redundant rated connected load unknown: the RZReg duty (≥ 300 kW) cannot be "
            "checked",
            REF_REGISTER,
            first_due,
        )
    elif non_redundant_kw < REGISTER_KW:
        add(
            "rzreg-registration",
            "info",
            ("PNR",),
            f"{_kw(non_redundant_kw)} kW non-redundant load, below 300 kW: no RZReg duty",
            REF_REGISTER,
            first_due,
        )
    else:
        due = [d for d, lower in REGISTER_FROM if non_redundant_kw >= lower][0]
        if on >= due:
            add(
                "rzreg-registration",
                "info",
                ("PNR",),
                f"{_kw(non_redundant_kw)} kW non-redundant load ≥ 300 kW: report to the RZReg "
                "by 31 March of the following year",
                REF_REGISTER,
                due,
            )
        else:
            add(
                "rzreg-registration-upcoming",
                "info",
                ("PNR",),
                f"{_kw(non_redundant_kw)} kW non-redundant load: first RZReg report due "
                f"{due:%d %b %Y}",
                REF_REGISTER,
                due,
            )
    return found


def total_electricity(
    grid_kwh: Decimal | None, own_kwh: Decimal | None, feed_in_kwh: Decimal | None
) -> Decimal | None:
    """Electricity used, kWh: grid purchase + own generation - feed-in (Anlage 3 2(a)); unknown
    when any of the three is (a site that feeds nothing in reports 0)."""
    if grid_kwh is None or own_kwh is None or feed_in_kwh is None:
        return None
    return grid_kwh + own_kwh - feed_in_kwh


# Anlage 3 1(c) size classes by rated IT connected load: (class, upper bound in kW, exclusive)
SIZE_CLASSES: tuple[tuple[str, Decimal], ...] = (
    ("< 500 kW", Decimal(500)),
    ("< 1 MW", Decimal(1_000)),
    ("< 5 MW", Decimal(5_000)),
    ("< 10 MW", Decimal(10_000)),
    ("< 50 MW", Decimal(50_000)),
    ("< 100 MW", Decimal(100_000)),
)


def size_class(connected_kw: Decimal | None) -> str | None:
    """RZReg size class for a rated IT connected load in kW; ``None`` when unknown."""
    if connected_kw is None:
        return None
    return next((code for code, upper in SIZE_CLASSES if connected_kw < upper), "≥ 100 MW")


def _kw(value: Decimal) -> str:
    return f"{value.normalize():f}"
