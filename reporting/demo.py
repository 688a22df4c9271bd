"""Demo data for `make demo`: the Paris site PAR1 with a year of 15-minute meter readings.

The readings go through the real paths: meters.csv through `import_meters`, readings.csv
through `ingest_csv`, the computation through the Celery task (eager unless a broker is set).
The year has a six-hour gap on the UPS meter (10 June) and a main-meter replacement whose
counter restarts from zero (15 September), so coverage and counter-reset handling show.
Everything is idempotent: a second run changes nothing.
"""

import math
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from registry.models import Site
from reporting import ingest
from reporting.models import (
    FieldValue,
    PeriodResult,
    PeriodStatus,
    PowerDemandSegment,
    RenewableInstrument,
    SiteProfile,
    TaskRun,
)
from reporting.services import open_period

YEAR = 2025
CODE = "PAR1"
# Steps other apps add to `make demo` (an app above reporting registers its own from its
# AppConfig.ready, since reporting imports none of them): (heading, callable(stdout)).
DEMO_STEPS: list[tuple] = []
TZ = ZoneInfo("Europe/Paris")
METERS = """site,meter,quantity,unit,register,multiplier,device_id,location
PAR1,PAR1-MAIN,edc-supply,kWh,cumulative,1,SOCOMEC-D50-0001,HV/LV transformer input
PAR1,PAR1-UPS,eit-ups-output,kWh,interval,1,UPS-A-OUT,UPS A output (category 1)
PAR1,PAR1-WATER,water-total,m3,cumulative,1,WM-0001,mains water inlet
PAR1,PAR1-HEAT,heat-export,kWh,interval,1,HM-DH-01,district-heating hand-over
PAR1,PAR1-HEAT-OWN,heat-internal-reuse,kWh,interval,1,HM-ABS-01,absorption chiller feed
PAR1,PAR1-PV,renewable-onsite,kWh,interval,1,PV-INV-01,roof PV inverter
"""
GAP = (datetime(2025, 6, 10, 8, tzinfo=TZ), datetime(2025, 6, 10, 14, tzinfo=TZ))
REPLACED_AT = datetime(2025, 9, 15, 12, tzinfo=TZ)  # main meter swapped: counter restarts at 0


def load_demo_site(stdout) -> Site:
    """Create (idempotently) PAR1 with its Annex I profile, meters, a 2025 period and readings."""
    site, _ = Site.objects.get_or_create(
        code=CODE,
        defaults={"name": "Paris Nord 1", "country": "FR", "time_zone": "Europe/Paris"},
    )
    SiteProfile.objects.get_or_create(
        site=site,
        defaults={
            "owner_name": "Circulus Demo SAS",
            "owner_contact": "facilities@demo.example",
            "operator_name": "Circulus Demo Operations",
            "operator_contact": "+33 1 00 00 00 00, noc@demo.example",
            "lau_code": "75056",
            "nuts3_code": "FR101",
            "dc_type": "colocation",
            "structure_type": "structure",
            "operation_start_year": 2019,
            "operation_start_month": 4,
            "red_el_hv": "2N",
            "red_el_lv": "2N",
            "red_el_rack": "2N",
            "red_cool_room": "N+1",
            "red_cool_rack": "N",
        },
    )
    folder = settings.VAR_DIR / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    meters_csv = folder / "PAR1-meters.csv"
    meters_csv.write_text(METERS)
    with meters_csv.open(newline="") as handle:
        report = ingest.import_meters(handle)
    stdout.write(f"   meters ({meters_csv}): {report.summary()}")

    readings_csv = folder / f"PAR1-{YEAR}-readings.csv"
    rows = _write_readings(readings_csv)
    started = time.perf_counter()
    with readings_csv.open(newline="") as handle:
        report = ingest.ingest_csv(handle)
    elapsed = time.perf_counter() - started
    if not report.accepted:
        raise RuntimeError(f"demo readings rejected: {report.errors.shown[:3]}")
    stdout.write(
        f"   readings ({readings_csv}, {rows} rows): {report.summary()} in {elapsed:.1f} s"
    )
    _period(site)
    return site


def _write_readings(path) -> int:
    start = datetime(YEAR, 1, 1, tzinfo=TZ).astimezone(UTC)
    end = datetime(YEAR + 1, 1, 1, tzinfo=TZ).astimezone(UTC)
    step = timedelta(minutes=15)
    counter, water, rows = Decimal("8123456.000"), Decimal("52000.000"), 0
    gap = (GAP[0].astimezone(UTC), GAP[1].astimezone(UTC))
    replaced = REPLACED_AT.astimezone(UTC)
    with path.open("w", newline="") as out:
        out.write("meter,timestamp,value\n")
        ts = start
        while True:
            stamp = ts.isoformat().replace("+00:00", "Z")
            out.write(f"PAR1-MAIN,{stamp},{counter}\nPAR1-WATER,{stamp},{water}\n")
            rows += 2
            if ts >= end:
                break
            local = ts.astimezone(TZ)
            day = local.timetuple().tm_yday
            season = math.cos(2 * math.pi * (day - 200) / 365)  # +1 in July, -1 in January
            hour = local.hour + local.minute / 60
            it = Decimal(f"{100 + 8 * math.sin(2 * math.pi * (hour - 9) / 24):.3f}")  # kWh/15 min
            overhead = Decimal(f"{0.32 + 0.08 * season:.4f}")  # PUE 1.24 winter - 1.40 summer
            heat = Decimal(f"{max(0.0, -season) * 30:.3f}")  # district heating in winter
            pv = Decimal(
                f"{max(0.0, math.sin(math.pi * (hour - 6) / 14)) * 6 * (1.2 + season):.3f}"
            )
            end_of_interval = ts + step
            estamp = end_of_interval.isoformat().replace("+00:00", "Z")
            if not (gap[0] < end_of_interval <= gap[1]):
                out.write(f"PAR1-UPS,{estamp},{it}\n")
                rows += 1
            out.write(f"PAR1-HEAT,{estamp},{heat}\nPAR1-HEAT-OWN,{estamp},{heat / 10:.3f}\n")
            out.write(f"PAR1-PV,{estamp},{pv}\n")
            rows += 3
            counter += (it * (1 + overhead)).quantize(Decimal("0.001"))
            water += Decimal(f"{0.035 + 0.025 * season:.4f}")
            if end_of_interval == replaced:
                counter = Decimal("0.000")  # the new meter starts from zero
            ts = end_of_interval
    return rows


def _period(site: Site) -> None:
    period = open_period(site, YEAR, pdit_basis="installed", wue_category=2)
    if period.status != PeriodStatus.DRAFT:
        return
    if not period.segments.exists():
        PowerDemandSegment.objects.create(
            period=period, first_day=date(YEAR, 1, 1), last_day=date(YEAR, 6, 30), power_kw=800
        )
        PowerDemandSegment.objects.create(
            period=period, first_day=date(YEAR, 7, 1), last_day=date(YEAR, 12, 31), power_kw=1000
        )
    if not period.instruments.exists():
        RenewableInstrument.objects.create(
            period=period, kind="go", volume_kwh=1_500_000, certificate_ids="FR-GO-2025-0001…0150"
        )
        RenewableInstrument.objects.create(
            period=period, kind="ppa", volume_kwh=900_000, gos_not_owned_kwh=100_000
        )
        RenewableInstrument.objects.create(period=period, kind="onsite", volume_kwh=None)
    # (value, basis, instrument or document for a measured value, note)
    entered = {
        "SDC": ("4200", "measured", "as-built floor plans, 2024 survey", ""),
        "SCR": ("2600", "measured", "as-built floor plans, 2024 survey", ""),
        "TWH": ("32", "measured", "heat-exchanger outlet sensor (BMS trend, annual mean)", ""),
        "TIN": ("24", "estimated", "", "BMS supply-air set point, not a measured temperature"),
        "CDD": ("96", "measured", "Copernicus CDS ERA5 via Eurostat nrg_chdd, NUTS-3 FR101", ""),
        "WIN-POT": ("900", "allocated", "", "share of building invoices by floor area"),
        "CSTOR": ("12.5", "estimated", "", "tenant survey"),
    }
    for symbol, (value, quality, measured_by, note) in entered.items():
        entry = FieldValue(
            period=period,
            symbol=symbol,
            value=Decimal(value),
            quality=quality,
            measured_by=measured_by,
            note=note,
        )
        if not FieldValue.objects.filter(period=period, symbol=symbol).exists():
            entry.full_clean()
            entry.save()


def run_demo_kpis(stdout) -> PeriodResult:
    """Compute PAR1's 2025 indicators through the Celery task path and print them."""
    from reporting.tasks import compute_year

    run = TaskRun.objects.create(name="reporting.compute_year", year=YEAR)
    compute_year.delay(YEAR, CODE, str(run.pk))
    deadline = time.monotonic() + 300
    while not run.finished_at and time.monotonic() < deadline:
        time.sleep(0.2)
        run.refresh_from_db()
    result = PeriodResult.objects.select_related("period").get(
        period__site__code=CODE, period__year=YEAR
    )
    stdout.write(f"   task {run.pk}: {run.status}; {result.period} by {result.code_version}")
    for symbol in ("EDC", "EIT", "WIN", "EREUSE", "ERES-TOT", "PDIT"):
        i = result.inputs[symbol]
        coverage = f", coverage {i['coverage_pct']} %" if i.get("coverage_pct") else ""
        stdout.write(
            f"   {symbol:8} {_fmt(i['value'])} {i['unit']} [{i['quality']}, {i['source']}"
            f"{coverage}]"
        )
    ind = result.indicators
    stdout.write(
        "   "
        + "  ".join(f"{k} {_fmt(ind[k], 3)}" for k in ("PUE", "WUE", "ERF", "REF", "CUE", "ERE"))
        + f"  size class {ind['size_class']}"
    )
    for code, c in result.coverage.items():
        gaps = [g for g in c["gaps"] if "from" in g]
        notes = [f"{len(gaps)} gap(s)"] if gaps else []
        notes += [f"gap {g['from']} → {g['to']} ({g['missing_intervals']} intervals)" for g in gaps]
        notes += [f"counter reset at {r['at']} ({r['before']} → {r['after']})" for r in c["resets"]]
        stdout.write(
            f"   {code:14} {c['pct']:>6} % of {c['expected']} intervals  {'; '.join(notes)}"
        )
    for finding in result.findings:
        stdout.write(f"   {finding['severity']}: {finding['message']}")
    return result


def _fmt(value, places: int = 0) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value):,.{places}f}"
