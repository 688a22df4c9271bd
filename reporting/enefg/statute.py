"""Germany's Energy Efficiency Act (EnEfG) duties for data centres, as pure date and Decimal rules.

No Django here. The rules follow the act as promulgated (BGBl. 2023 I Nr. 309, in force
18 November 2023); each constant cites its paragraph. Dates the register's operator set by
administrative practice stand beside the statutory ones, each with its source.

- §3 Nr. 24: a "Rechenzentrum" has a non-redundant rated electrical connected load from 300 kW;
  below it none of the act's data-centre duties applies.
- §11(1): operating before 1 July 2026: PUE ≤ 1.5 from 1 July 2027, ≤ 1.3 from 1 July 2030,
  "im Jahresdurchschnitt dauerhaft".
- §11(2) S. 1: starting on or after 1 July 2026: PUE ≤ 1.2 (Nr. 1) and a share of reused energy
  (ERF) ≥ 10 %, ≥ 15 % when starting from 1 July 2027, ≥ 20 % from 1 July 2028 (Nr. 2);
  S. 2: reached within two years of the start; S. 3: the PUE of Nr. 1 leaves out electricity of
  installations that only upgrade the data centre's waste heat.
- §11(3): the ERF duty does not apply when the operator proves one of three grounds.
- §11(5): electricity consumption covered on balance by renewable electricity, 50 % from
  1 January 2024, 100 % from 1 January 2027.
- §12: an energy or environmental management system by 1 July 2025 (1); validated or certified
  from 1 January 2026 from 1 MW, or from 300 kW when publicly owned or operated for a public
  body (3); exemptions in (4) and (6).
- §13(1), §20(2): the register report (Anlage 3) by 31 March for the year before; first dates
  in §20(2), moved by the register's operator.

These are compliance findings: they inform, they never block a validation or an export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

IN_FORCE = date(2023, 11, 18)  # in force the day after promulgation ("Geltung ab 18.11.2023")
SCOPE_KW = Decimal(300)  # §3 Nr. 24 a) and b): "ab 300 Kilowatt"
NEW_DC_FROM = date(2026, 7, 1)  # §11(1)/(2): "vor dem" / "ab dem 1. Juli 2026"
GRACE_YEARS = 2  # §11(2) S. 2: "spätestens zwei Jahre nach Inbetriebnahme"

EXISTING_PUE: tuple[tuple[date, Decimal], ...] = (  # §11(1) Nr. 1 and 2
    (date(2027, 7, 1), Decimal("1.5")),
    (date(2030, 7, 1), Decimal("1.3")),
)
NEW_PUE = Decimal("1.2")  # §11(2) S. 1 Nr. 1
# §11(2) S. 1 Nr. 2: ERF minimum by operation start (the later the start, the higher the share).
NEW_ERF: tuple[tuple[date, Decimal], ...] = (
    (date(2026, 7, 1), Decimal("0.10")),
    (date(2027, 7, 1), Decimal("0.15")),
    (date(2028, 7, 1), Decimal("0.20")),
)
RENEWABLE_SHARE: tuple[tuple[date, Decimal], ...] = (  # §11(5) Nr. 1 and 2
    (date(2024, 1, 1), Decimal("0.5")),
    (date(2027, 1, 1), Decimal("1")),
)
EMS_DUE = date(2025, 7, 1)  # §12(1): "bis zum 1. Juli 2025"
VALIDATION_FROM = date(2026, 1, 1)  # §12(3): "ab dem 1. Januar 2026"
VALIDATION_KW = Decimal(1000)  # §12(3): "ab 1 Megawatt"
VALIDATION_PUBLIC_KW = Decimal(300)  # §12(3): publicly owned or operated, "ab 300 Kilowatt"
DECOMMISSION_BEFORE = date(2027, 7, 1)  # §12(6): "plangemäß vor dem 1. Juli 2027 außer Betrieb"

# First register reports: (due, lower bound of non-redundant load in kW, source).
REGISTER_FROM: tuple[tuple[date, Decimal], ...] = (  # as the register applies them
    (date(2024, 8, 15), Decimal(500)),
    (date(2025, 7, 1), Decimal(300)),
)
REGISTER_PRACTICE = "register practice (BMWK RZReg, BAFA data-point guide v1.1)"
REGISTER_STATUTE: tuple[tuple[date, Decimal], ...] = (  # §20(2) Nr. 1 and 2
    (date(2024, 5, 15), Decimal(500)),
    (date(2025, 7, 1), Decimal(200)),
)
REGISTER_KW = SCOPE_KW

REF_SCOPE = "EnEfG §3 Nr. 24"
REF_PUE_EXISTING = "EnEfG §11(1) (PUE)"
REF_PUE_NEW = "EnEfG §11(2) S. 1 Nr. 1, S. 3 (PUE)"
REF_ERF = "EnEfG §11(2) S. 1 Nr. 2, (3) (ERF)"
REF_RES = "EnEfG §11(5) (renewable electricity)"
REF_EMS = "EnEfG §12(1) (energy management)"
REF_VALIDATION = "EnEfG §12(3) (validation or certification)"
REF_REGISTER = "EnEfG §13(1), §20(2), Anlage 3 (RZReg)"

PUE_EU = "EU PUE (EDC / EIT, Annex III)"
PUE_11 = "§11 PUE (EDC − waste-heat upgrading) / EIT"


# --- exemptions ------------------------------------------------------------------------------

# ground → (paragraph, what the operator proves, the duties it lifts)
GROUNDS: dict[str, tuple[str, str, frozenset[str]]] = {
    "11-3-1": (
        "§11(3) S. 1 Nr. 1",
        "the reused share fell below the duty after the start through later events, without "
        "the operator's fault",
        frozenset({"erf"}),
    ),
    "11-3-2": (
        "§11(3) S. 1 Nr. 2",
        "an agreement on waste-heat use with a nearby municipality or heat-network operator, "
        "with an investment plan and the connection's cost and the heat's price, by which the "
        "duty can be met within ten years",
        frozenset({"erf"}),
    ),
    "11-3-3": (
        "§11(3) S. 1 Nr. 3",
        "a nearby heat-network operator did not accept an offer of the heat at cost within six "
        "months, the heat transfer station being ready",
        frozenset({"erf"}),
    ),
    "12-4": (
        "§12(4)",
        "at least 50 % of the reused energy is taken up by a heat network and the average "
        "final energy use of the last three calendar years is at most 7.5 GWh",
        frozenset({"ems"}),
    ),
    "12-6": (
        "§12(6)",
        "planned to go out of operation before 1 July 2027",
        frozenset({"ems", "validation"}),
    ),
}


@dataclass(frozen=True)
class Exemption:
    """An exemption the operator recorded: its ground (a key of GROUNDS), validity and proof."""

    ground: str
    valid_from: date | None
    valid_until: date | None
    document: str

    def in_effect(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_until is None or on <= self.valid_until
        )

    def describe(self) -> str:
        paragraph, reason, _ = GROUNDS[self.ground]
        since = f" from {self.valid_from:%d %b %Y}" if self.valid_from else ""
        until = f" until {self.valid_until:%d %b %Y}" if self.valid_until else ""
        return f"{paragraph} ({reason}){since}{until}, proof: {self.document}"


# --- §12 management systems ------------------------------------------------------------------

NONE, IN_PLACE, VALIDATED, CERTIFIED = "none", "in-place", "validated", "certified"
STATE_LABELS = {
    NONE: "none",
    IN_PLACE: "in place",
    VALIDATED: "validated",
    CERTIFIED: "certified",
}


@dataclass(frozen=True)
class ManagementSystem:
    """An energy (DIN EN ISO 50001) or environmental (EMAS) management system of a site."""

    kind: str  # "iso-50001" | "emas"
    state: str  # in-place | validated | certified
    since: date
    valid_until: date | None
    document: str

    def in_effect(self, on: date) -> bool:
        return self.since <= on and (self.valid_until is None or on <= self.valid_until)


def ems_state(systems: Iterable[ManagementSystem], on: date) -> str:
    """The site's §12 state on ``on``: validated or certified beats in place beats none."""
    states = {s.state for s in systems if s.in_effect(on)}
    for state in (CERTIFIED, VALIDATED, IN_PLACE):
        if state in states:
            return state
    return NONE


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


def fmt_pct(value: Decimal) -> str:
    return f"{value * 100:.1f} %"


def fmt_two(value: Decimal) -> str:
    return f"{value:.2f}"


def fmt_kw(value: Decimal) -> str:
    return f"{value.normalize():f}"


def is_new(operation_start: date) -> bool:
    """§11(2): a data centre starting on or after 1 July 2026; §11(1) covers the ones before."""
    return operation_start >= NEW_DC_FROM


def pue_duties(operation_start: date) -> list[tuple[date, Decimal]]:
    """(applies from, maximum PUE) for a data centre that started on ``operation_start``."""
    if not is_new(operation_start):
        return list(EXISTING_PUE)
    return [(_add_years(operation_start, GRACE_YEARS), NEW_PUE)]


def erf_duty(operation_start: date) -> tuple[date, Decimal] | None:
    """(applies from, minimum ERF) for a new data centre; ``None`` for one started earlier."""
    tiers = [minimum for start, minimum in NEW_ERF if operation_start >= start]
    if not tiers:
        return None
    return _add_years(operation_start, GRACE_YEARS), tiers[-1]


def pue_11(
    edc_kwh: Decimal | None, eit_kwh: Decimal | None, upgrade_kwh: Decimal | None
) -> Decimal | None:
    """§11(2) S. 3 PUE: EDC without the electricity of installations that only upgrade waste
    heat, over EIT; unknown when any input is, or EIT is not above 0."""
    if edc_kwh is None or eit_kwh is None or upgrade_kwh is None or eit_kwh <= 0:
        return None
    return (edc_kwh - upgrade_kwh) / eit_kwh


def total_electricity(
    grid_kwh: Decimal | None, own_kwh: Decimal | None, feed_in_kwh: Decimal | None
) -> Decimal | None:
    """Electricity used, kWh: grid purchase + own generation - feed-in (Anlage 3 2(a)); unknown
    when any of the three is (a site that feeds nothing in reports 0)."""
    if grid_kwh is None or own_kwh is None or feed_in_kwh is None:
        return None
    return grid_kwh + own_kwh - feed_in_kwh


def renewable_electricity_share(
    eres_kwh: Decimal | None,
    grid_kwh: Decimal | None,
    own_kwh: Decimal | None,
    feed_in_kwh: Decimal | None,
) -> Decimal | None:
    """§11(5) share: renewable electricity (ERES-TOT) over the electricity used (Anlage 3 2(a),
    2(b)); unknown when any input is, never a ratio on another basis."""
    used = total_electricity(grid_kwh, own_kwh, feed_in_kwh)
    if eres_kwh is None or used is None or used <= 0:
        return None
    return eres_kwh / used


RES_BASIS = "ERES-TOT / (grid purchase + own generation − feed-in)"


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


def postcode_problem(postcode: str) -> str | None:
    """Why a German site's postcode (Anlage 3 1(d)) cannot stand, or ``None``: Deutsche Post's
    Postleitzahl has five digits, as the RZReg file asks for it. Blank is unknown, not wrong."""
    if postcode and not (len(postcode) == 5 and postcode.isdigit()):
        return "A German postcode has five digits, e.g. 10115."
    return None
