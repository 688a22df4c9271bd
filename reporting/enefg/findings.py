"""The EnEfG findings of one reporting period, from the rules in ``statute`` (no Django)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from reporting.enefg.statute import (
    CERTIFIED,
    EMS_DUE,
    EXISTING_PUE,
    GROUNDS,
    IN_FORCE,
    NEW_DC_FROM,
    NONE,
    PUE_11,
    PUE_EU,
    REF_EMS,
    REF_ERF,
    REF_PUE_EXISTING,
    REF_PUE_NEW,
    REF_REGISTER,
    REF_RES,
    REF_SCOPE,
    REF_VALIDATION,
    REGISTER_FROM,
    REGISTER_PRACTICE,
    REGISTER_STATUTE,
    RENEWABLE_SHARE,
    RES_BASIS,
    SCOPE_KW,
    STATE_LABELS,
    VALIDATED,
    VALIDATION_FROM,
    VALIDATION_KW,
    VALIDATION_PUBLIC_KW,
    Check,
    Exemption,
    ManagementSystem,
    ems_state,
    erf_duty,
    fmt_kw,
    fmt_pct,
    fmt_two,
    is_new,
    pue_duties,
)


def _in_force(duties: list[tuple[date, Decimal]], on: date):
    current = [d for d in duties if d[0] <= on]
    upcoming = [d for d in duties if d[0] > on]
    return (current[-1] if current else None), (upcoming[0] if upcoming else None)


def _starts_inside(since: date, first: date) -> str:
    """The rule for the year a duty starts in: it applies when in force on the period's last
    day, and is checked on the period's (calendar-year) average, months before it included."""
    if since <= first:
        return ""
    return (
        f"; the duty starts on {since:%d %b %Y}, inside this period: checked on the period's "
        "average, the months before it included (the register reports calendar years, §13(1))"
    )


def check(
    *,
    on: date,
    first: date | None = None,
    operation_start: date | None,
    pue: Decimal | None,
    pue_without_upgrade: Decimal | None = None,
    erf: Decimal | None,
    renewable_share: Decimal | None,
    non_redundant_kw: Decimal | None,
    public_owner: bool | None = False,
    exemptions: Iterable[Exemption] = (),
    systems: Iterable[ManagementSystem] | None = None,
) -> list[Check]:
    """The EnEfG findings for a reporting period from ``first`` to ``on`` (its last day).

    ``pue`` is the EU PUE (EDC / EIT); ``pue_without_upgrade`` the §11(2) S. 3 PUE. ``systems``:
    the site's management systems (``None`` leaves §12 out)."""
    first = first or date(on.year, 1, 1)
    exemptions = list(exemptions)
    found: list[Check] = []

    def add(rule, severity, fields, message, ref, since):
        found.append(Check(rule, severity, tuple(fields), message, ref, since))

    # §3 Nr. 24: the act's data-centre duties bind a data centre from 300 kW only.
    if non_redundant_kw is None:
        add(
            "enefg-scope",
            "warning",
            ("PNR",),
            "Non-redundant rated connected load unknown: whether the EnEfG applies (a data "
            "centre from 300 kW, §3 Nr. 24) cannot be decided, so no EnEfG duty is checked.",
            REF_SCOPE,
            IN_FORCE,
        )
        return found
    if non_redundant_kw < SCOPE_KW:
        add(
            "enefg-scope",
            "info",
            ("PNR",),
            f"{fmt_kw(non_redundant_kw)} kW non-redundant rated connected load, below 300 kW: "
            "not a data centre under EnEfG §3 Nr. 24, so no EnEfG data-centre duty applies.",
            REF_SCOPE,
            IN_FORCE,
        )
        return found

    def exempt(duty: str) -> Exemption | None:
        return next(
            (e for e in exemptions if duty in GROUNDS[e.ground][2] and e.in_effect(on)), None
        )

    def expired(duty: str) -> None:
        for e in exemptions:
            if duty in GROUNDS[e.ground][2] and e.valid_until is not None and e.valid_until < on:
                add(
                    f"enefg-{duty}-exemption-expired",
                    "info",
                    (),
                    f"The exemption under {e.describe()} ended before {on:%d %b %Y}: the duty "
                    "is checked.",
                    GROUNDS[e.ground][0],
                    e.valid_until,
                )

    def limit(rule, fields, value, name, duties, ref, *, at_most: bool, fmt):
        current, upcoming = _in_force(duties, on)
        sign = "≤" if at_most else "≥"
        if current is not None:
            since, bound = current
            starts = _starts_inside(since, first)
            if value is None:
                add(
                    rule,
                    "warning",
                    fields,
                    f"{name} unknown: cannot check {sign} {fmt(bound)}{starts}.",
                    ref,
                    since,
                )
            elif (value <= bound) if at_most else (value >= bound):
                add(
                    rule,
                    "info",
                    fields,
                    f"{name} {fmt(value)} {sign} {fmt(bound)}: met{starts}.",
                    ref,
                    since,
                )
            else:
                add(
                    rule,
                    "warning",
                    fields,
                    f"{name} {fmt(value)} does not meet {sign} "
                    f"{fmt(bound)} (in force since {since:%d %b %Y}){starts}.",
                    ref,
                    since,
                )
        if upcoming is not None:
            since, bound = upcoming
            add(
                f"{rule}-upcoming",
                "info",
                fields,
                f"{name} {sign} {fmt(bound)} applies from {since:%d %b %Y}.",
                ref,
                since,
            )

    add(
        "enefg-scope",
        "info",
        ("PNR",),
        f"{fmt_kw(non_redundant_kw)} kW non-redundant rated connected load, from 300 kW: a data "
        "centre under EnEfG §3 Nr. 24.",
        REF_SCOPE,
        IN_FORCE,
    )

    if operation_start is None:
        add(
            "enefg-operation-start-missing",
            "warning",
            (),
            "Operation start unknown: the §11 PUE and ERF duties cannot be placed.",
            REF_PUE_EXISTING,
            EXISTING_PUE[0][0],
        )
    elif is_new(operation_start):
        # §11(2) S. 3: this duty's PUE leaves out the electricity that only upgrades waste heat.
        limit(
            "enefg-pue",
            ("EDC", "EIT", "EUPGRADE"),
            pue_without_upgrade,
            PUE_11,
            pue_duties(operation_start),
            REF_PUE_NEW,
            at_most=True,
            fmt=fmt_two,
        )
        exemption = exempt("erf")
        if exemption is not None:
            add(
                "enefg-erf-exempt",
                "info",
                ("EREUSE", "EDC"),
                f"Exempt from the ERF duty: {exemption.describe()}.",
                GROUNDS[exemption.ground][0],
                exemption.valid_from or NEW_DC_FROM,
            )
        else:
            expired("erf")
            limit(
                "enefg-erf",
                ("EREUSE", "EDC"),
                erf,
                "ERF",
                [erf_duty(operation_start)],
                REF_ERF,
                at_most=False,
                fmt=fmt_pct,
            )
    else:
        # §11(1) has no exclusion: §11(2) S. 3 speaks of the PUE of §11(2) S. 1 Nr. 1 only.
        limit(
            "enefg-pue",
            ("EDC", "EIT"),
            pue,
            PUE_EU,
            pue_duties(operation_start),
            REF_PUE_EXISTING,
            at_most=True,
            fmt=fmt_two,
        )

    limit(
        "enefg-renewable-share",
        ("ERES-TOT", "EGRID", "EOWN", "EFEED"),
        renewable_share,
        f"Renewable electricity share ({RES_BASIS})",
        list(RENEWABLE_SHARE),
        REF_RES,
        at_most=False,
        fmt=fmt_pct,
    )

    if systems is not None:
        found += _management(on, first, non_redundant_kw, public_owner, list(systems), exempt)
    found += _register(on, non_redundant_kw)
    return found


def _management(on, first, kw, public_owner, systems, exempt) -> list[Check]:
    """§12(1) and (3) for a data centre in scope, with the exemptions of (4) and (6)."""
    found: list[Check] = []

    def add(rule, severity, message, ref, since):
        found.append(Check(rule, severity, (), message, ref, since))

    state = ems_state(systems, on)
    label = STATE_LABELS[state]
    lifted = exempt("ems")
    if lifted is not None:
        add(
            "enefg-ems-exempt",
            "info",
            f"Exempt from the §12(1) duty: {lifted.describe()}.",
            GROUNDS[lifted.ground][0],
            lifted.valid_from or EMS_DUE,
        )
    elif on < EMS_DUE:
        add(
            "enefg-ems-upcoming",
            "info",
            "An energy or environmental management system is "
            f"required by {EMS_DUE:%d %b %Y} (now: {label}).",
            REF_EMS,
            EMS_DUE,
        )
    elif state == NONE:
        add(
            "enefg-ems",
            "warning",
            "No energy or environmental management system in effect on "
            f"{on:%d %b %Y}: required since {EMS_DUE:%d %b %Y}.",
            REF_EMS,
            EMS_DUE,
        )
    else:
        started = min(s.since for s in systems if s.in_effect(on))
        if first <= started <= on and started > EMS_DUE:
            add(
                "enefg-ems",
                "warning",
                f"Management system {label} since {started:%d %b %Y}, "
                f"after the {EMS_DUE:%d %b %Y} deadline.",
                REF_EMS,
                EMS_DUE,
            )
        else:
            add(
                "enefg-ems",
                "info",
                f"Management system {label} on {on:%d %b %Y}: met.",
                REF_EMS,
                EMS_DUE,
            )

    # §12(3): from 1 MW, or from 300 kW when publicly owned or operated for a public body.
    if kw >= VALIDATION_KW:
        who = f"{fmt_kw(kw)} kW, from 1 MW"
    elif public_owner is None:
        add(
            "enefg-validation",
            "warning",
            f"{fmt_kw(kw)} kW and ownership unknown: whether the "
            "§12(3) validation duty (from 300 kW when publicly owned) applies cannot be decided.",
            REF_VALIDATION,
            VALIDATION_FROM,
        )
        return found
    elif public_owner and kw >= VALIDATION_PUBLIC_KW:
        who = f"{fmt_kw(kw)} kW, publicly owned or operated, from 300 kW"
    else:
        add(
            "enefg-validation",
            "info",
            f"{fmt_kw(kw)} kW, below 1 MW and not publicly owned: no "
            "§12(3) validation or certification duty.",
            REF_VALIDATION,
            VALIDATION_FROM,
        )
        return found
    lifted = exempt("validation")
    if lifted is not None:
        add(
            "enefg-validation-exempt",
            "info",
            f"Exempt from the §12(3) duty: {lifted.describe()}.",
            GROUNDS[lifted.ground][0],
            lifted.valid_from or VALIDATION_FROM,
        )
    elif on < VALIDATION_FROM:
        add(
            "enefg-validation-upcoming",
            "info",
            f"{who}: the management system must be "
            f"validated or certified from {VALIDATION_FROM:%d %b %Y} (now: {label}).",
            REF_VALIDATION,
            VALIDATION_FROM,
        )
    elif state in (VALIDATED, CERTIFIED):
        add(
            "enefg-validation",
            "info",
            f"{who}: management system {label} on {on:%d %b %Y}: met.",
            REF_VALIDATION,
            VALIDATION_FROM,
        )
    else:
        add(
            "enefg-validation",
            "warning",
            f"{who}: the management system must be validated or "
            f"certified since {VALIDATION_FROM:%d %b %Y}; on {on:%d %b %Y} it is {label}.",
            REF_VALIDATION,
            VALIDATION_FROM,
        )
    return found


def _register(on: date, kw: Decimal) -> list[Check]:
    """§13(1): the Anlage 3 report by 31 March for the year before; first dates as practised,
    with the statutory ones of §20(2) beside them."""
    due = next(d for d, lower in REGISTER_FROM if kw >= lower)
    statute = next(d for d, lower in REGISTER_STATUTE if kw >= lower)
    said = (
        " (the same date in EnEfG §20(2))"
        if statute == due
        else f" ({REGISTER_PRACTICE}; EnEfG §20(2) says {statute:%d %b %Y})"
    )
    if on >= due:
        message = (
            f"{fmt_kw(kw)} kW non-redundant load, from 300 kW: report to the RZReg by 31 March of "
            f"the following year; first report was due {due:%d %b %Y}{said}."
        )
        return [Check("rzreg-registration", "info", ("PNR",), message, REF_REGISTER, due)]
    message = f"{fmt_kw(kw)} kW non-redundant load: first RZReg report due {due:%d %b %Y}{said}."
    return [Check("rzreg-registration-upcoming", "info", ("PNR",), message, REF_REGISTER, due)]


# Anlage 3 1(c) size classes by rated IT connected load: (class, upper bound in kW, exclusive)
