"""Demo data for `make demo`: the Berlin site BER1, reporting under the 2026 field dictionary and
to Germany's register (EnEfG Anlage 3): daily counters for electricity (grid, own generation,
feed-in), UPS output, freshwater and total water, heat delivered and heat released to air.

Kept apart from the Paris demo (reporting/demo.py). Idempotent: a second run changes nothing.
"""

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from registry.models import Site
from reporting import indicators as ind
from reporting import ingest
from reporting.computation import aggregate_year, compute_and_store
from reporting.models import (
    FieldValue,
    ManagementSystem,
    PeriodResult,
    PeriodStatus,
    PowerDemandSegment,
    RenewableInstrument,
    SiteProfile,
)
from reporting.services import open_period

YEAR = 2025
CODE = "BER1"
TZ = ZoneInfo("Europe/Berlin")
METERS = """site,meter,quantity,unit,register,multiplier,device_id,location,interval_minutes
BER1,BER1-MAIN,edc-supply,kWh,cumulative,1,JANITZA-UMG-01,MV transformer input,1440
BER1,BER1-UPS,eit-ups-output,kWh,cumulative,1,UPS-1-OUT,UPS 1+2 outputs (category 1),1440
BER1,BER1-GRID,grid-purchase,kWh,cumulative,1,EVU-ZAEHLER-01,grid operator's meter,1440
BER1,BER1-FEED,grid-feed-in,kWh,cumulative,1,EVU-ZAEHLER-01R,grid operator's meter,1440
BER1,BER1-PV,own-generation,kWh,cumulative,1,PV-WR-01,roof PV inverter,1440
BER1,BER1-FRESH,water-fresh,m3,cumulative,1,WZ-01,mains water inlet,1440
BER1,BER1-WATER,water-total,m3,cumulative,1,WZ-00,all water inlets,1440
BER1,BER1-HEAT,heat-export,kWh,cumulative,1,WMZ-FW-01,district heating hand-over,1440
BER1,BER1-DRY,heat-release-air,kWh,cumulative,1,WMZ-RK-01,dry coolers (heat to air),1440
"""
# Entered values: symbol → (value, quality, note)
# (value, basis, instrument or document of a measured value, note)
ENTERED = {
    "SDC": ("5100", "measured", "as-built floor plans, 2023", ""),
    "SCR": ("2900", "measured", "as-built floor plans, 2023", ""),
    "TWH": ("34", "measured", "BMS trend, heat-recovery exchanger inlet sensor", ""),
    "TIN": ("25", "estimated", "", "BMS supply-air set point, not a measured temperature"),
    "CDD": ("61", "measured", "Copernicus CDS ERA5 via Eurostat nrg_chdd, NUTS-3 DE300", ""),
    "WIN-POT": ("1900", "measured", "mains water meter (mains water is potable)", ""),
    "CSTOR": ("18", "estimated", "", "tenant survey"),
    "PNR": ("1650", "measured", "single-line diagram, non-redundant path", ""),
    "WH-WATER": ("0", "measured", "site drainage plan: no release to water bodies", ""),
    "WH-GROUND": ("0", "measured", "site drainage plan: no release to ground", ""),
    "TWH-AIR": ("31", "measured", "dry cooler inlet sensor, annual mean", ""),
    "TWH-DELIV": ("58", "measured", "district heating flow sensor after the heat pump", ""),
    "CER-HEAT": ("9800000", "estimated", "", "heat removed, from IT energy"),
    "CER-COOL": ("1900000", "measured", "cooling sub-meters", ""),
    # EnEfG §11(2) S. 3: the heat pump raising waste heat for the district network
    "EUPGRADE": ("410000", "measured", "heat-pump sub-meter (district heating feed)", ""),
}


def load_demo_site_de(stdout) -> Site:
    """Create (idempotently) BER1 with its profile, meters, a 2025 period and daily readings."""
    site, _ = Site.objects.get_or_create(
        code=CODE,
        defaults={"name": "Berlin Mitte 1", "country": "DE", "time_zone": "Europe/Berlin"},
    )
    SiteProfile.objects.get_or_create(
        site=site,
        defaults={
            "owner_name": "Circulus Demo GmbH",
            "owner_contact": "facilities@demo.example",
            "operator_name": "Circulus Demo Betrieb GmbH",
            "operator_contact": "+49 30 0000 0000, noc@demo.example",
            "lau_code": "11000000",
            "nuts3_code": "DE300",
            "postcode": "10115",
            "dc_type": "colocation",
            "structure_type": "structure",
            "operation_start_year": 2021,
            "operation_start_month": 5,
            "red_el_hv": "2N",
            "red_el_lv": "2N",
            "red_el_rack": "2N",
            "red_cool_room": "N+1",
            "red_cool_rack": "N",
            "public_owner": False,
        },
    )
    # EnEfG §12: an ISO 50001 system, certified before the 1 January 2026 duty
    if not site.management_systems.exists():
        system = ManagementSystem(
            site=site,
            kind="iso-50001",
            state="certified",
            since=date(2024, 3, 1),
            valid_until=date(2027, 2, 28),
            document="ISO 50001 certificate DE-50001-2024-0112",
            body="Demo Zertifizierung GmbH",
        )
        system.full_clean()
        system.save()
    folder = settings.VAR_DIR / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    meters_csv = folder / "BER1-meters.csv"
    meters_csv.write_text(METERS)
    with meters_csv.open(newline="") as handle:
        report = ingest.import_meters(handle)
    stdout.write(f"   meters ({meters_csv}): {report.summary()}")
    readings_csv = folder / f"BER1-{YEAR}-readings.csv"
    _write_readings(readings_csv)
    with readings_csv.open(newline="") as handle:
        report = ingest.ingest_csv(handle)
    if not report.accepted:
        raise RuntimeError(f"demo readings rejected: {report.errors.shown[:3]}")
    stdout.write(f"   readings ({readings_csv}): {report.summary()}")
    _period(site)
    return site


def _write_readings(path) -> None:
    """Daily counter readings at local midnight, 1 Jan to 1 Jan."""
    names = ("MAIN", "UPS", "GRID", "FEED", "PV", "FRESH", "WATER", "HEAT", "DRY")
    counters = dict.fromkeys(names, Decimal(0))
    day = datetime(YEAR, 1, 1, tzinfo=TZ)
    end = datetime(YEAR + 1, 1, 1, tzinfo=TZ)
    with path.open("w", newline="") as out:
        out.write("meter,timestamp,value\n")
        while True:
            stamp = day.isoformat()
            for name in names:
                out.write(f"BER1-{name},{stamp},{counters[name]:.3f}\n")
            if day >= end:
                break
            season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 200) / 365)  # +1 July
            it = Decimal(21_000)  # kWh/day: about 875 kW of IT load
            edc = it * Decimal(f"{1.30 + 0.06 * season:.4f}")
            pv = Decimal(f"{700 + 500 * season:.3f}")
            feed = (pv * Decimal("0.05")).quantize(Decimal("0.001"))
            heat = Decimal(f"{max(0.0, -season) * 6000 + 1500:.3f}")  # district heating
            fresh = Decimal(f"{4.2 + 1.8 * season:.3f}")  # adiabatic cooling in summer
            step = {
                "MAIN": edc,
                "UPS": it,
                "GRID": edc - pv + feed,
                "FEED": feed,
                "PV": pv,
                "FRESH": fresh,
                "WATER": fresh + Decimal("1.1"),  # plus rainwater
                "HEAT": heat,
                "DRY": edc * Decimal("0.97") - heat,
            }
            for name, value in step.items():
                counters[name] += value.quantize(Decimal("0.001"))
            day += timedelta(days=1)  # wall-clock arithmetic: the next local midnight


def _period(site: Site) -> None:
    period = open_period(
        site,
        YEAR,
        pdit_basis="installed",
        wue_category=2,
        heat_reuse_readiness="reusing",
        grid_functions="frequency containment reserve via UPS batteries",
    )
    if period.status != PeriodStatus.DRAFT:
        return
    if not period.segments.exists():
        PowerDemandSegment.objects.create(
            period=period, first_day=date(YEAR, 1, 1), last_day=date(YEAR, 12, 31), power_kw=1200
        )
    if not period.instruments.exists():
        RenewableInstrument.objects.create(
            period=period, kind="go", volume_kwh=6_000_000, certificate_ids="HKNR DE-2025-…"
        )
        RenewableInstrument.objects.create(period=period, kind="ppa", volume_kwh=2_000_000)
    for symbol, (value, quality, measured_by, note) in ENTERED.items():
        if FieldValue.objects.filter(period=period, symbol=symbol).exists():
            continue
        entry = FieldValue(
            period=period,
            symbol=symbol,
            value=Decimal(value),
            quality=quality,
            measured_by=measured_by,
            note=note,
        )
        entry.full_clean()
        entry.save()


def run_demo_kpis_de(stdout) -> PeriodResult:
    """Compute BER1's 2025 period and print its indicators, label classes and EnEfG checks."""
    from reporting import label

    period = open_period(Site.objects.get(code=CODE), YEAR)
    result = compute_and_store(period) if period.status == PeriodStatus.DRAFT else period.result
    # PAR1's task aggregated the year before BER1 was computed: aggregate again, so the
    # workbook's Annex IV sheet counts every site it prints.
    aggregate_year(YEAR)
    i = result.indicators
    stdout.write(
        f"   {result.period} [{period.schema}]: PUE {i['PUE'][:5]} (EnEfG §11: "
        f"{(i['PUE-11'] or 'blank')[:5]})  WUE {i['WUE'][:5]} "
        f"({ind.wue_water_symbol(period.schema)}/EIT)  ERF {i['ERF'][:5]}  CER {i['CER'][:5]}  "
        f"size class {i['size_class']}"
    )
    values = {s: _dec(v["value"]) for s, v in result.inputs.items()}
    preview = label.for_period(
        period,
        period.site.reporting_profile,
        values,
        {k: _dec(i[k]) for k in ("PUE", "WUE")},
    )
    stdout.write(
        f"   label ({label.PREVIEW}): PUE class {preview.pue_class}, WUE class {preview.wue_class}"
    )
    for finding in result.findings:
        if finding.get("legal_ref"):
            stdout.write(
                f"   {finding['severity']}: {finding['message']} [{finding['legal_ref']}, "
                f"from {finding['applies_from']}]"
            )
    return result


def _dec(value):
    return None if value is None else Decimal(value)
