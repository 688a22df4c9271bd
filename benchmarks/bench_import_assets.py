"""import_assets (validate + assets with history + purchased events) vs a bare Asset bulk_create.

Both sides start from the same N rows. The baseline is `Asset.objects.bulk_create` of Asset
objects built from already-parsed values: no file reading, no validation, no history rows and no
ledger events. `import_assets` reads the CSV, validates every row against lookups fetched once,
then writes the assets, their history rows and their `purchased` events (COPY on PostgreSQL).
Goal: ≤ 2×.

Fairness: before every timed run the three tables are emptied (TRUNCATE … RESTART IDENTITY on
PostgreSQL; DELETE on SQLite, with the ledger trigger lifted for the purpose), re-ANALYZEd and, on
PostgreSQL, checkpointed when the role may, so both sides start from the same empty, warm
database with no pending writes of the other side's run. The two sides alternate which goes
first, and each side's best of `repeat` runs (3 quick, 2 full) is compared.
"""

import csv
import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

from benchmarks import fleet
from benchmarks.harness import timed, vendor
from hardware.models import HardwareModel
from registry.importing import BATCH, import_assets
from registry.models import Asset, Site

GOAL = 2.0


def _rows(n: int, models: list[str], sites: list[str]) -> list[dict]:
    return [
        {
            "asset_tag": f"BENCH-{i:07d}",
            "serial_number": f"SN{i:09d}",
            "hardware_model": models[i % len(models)],
            "site": sites[i % len(sites)],
            "room": f"R{i % 4}",
            "rack": f"K{i % 40:02d}",
            "position_u": str(i % 42 + 1),
            "owner": "bench",
            "purchase_date": "2024-03-01",
            "purchase_price": "1234.50",
            "currency": "EUR",
            "supplier": "Bench Supplies",
            "warranty_end": "2027-03-01",
            "planned_eol": "2029-03-01",
            "measured_mass_kg": "",
            "state": "in-stock",
        }
        for i in range(n)
    ]


def run(quick: bool) -> dict:
    n = 2_000 if quick else 100_000
    repeat = 3 if quick else 2
    sites = []
    for code, tz in (("BENCH-PAR", "Europe/Paris"), ("BENCH-FRA", "Europe/Berlin")):
        site, _ = Site.objects.get_or_create(
            code=code, defaults={"name": code, "country": "FR", "time_zone": tz}
        )
        sites.append(site)
    models = list(HardwareModel.objects.order_by("slug")[:20])
    rows = _rows(n, [m.slug for m in models], [s.code for s in sites])
    by_slug = {m.slug: m.pk for m in models}
    by_code = {s.code: s.pk for s in sites}

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "assets.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

        def bare():
            Asset.objects.bulk_create(
                [
                    Asset(
                        asset_tag=r["asset_tag"],
                        serial_number=r["serial_number"],
                        hardware_model_id=by_slug[r["hardware_model"]],
                        site_id=by_code[r["site"]],
                        room=r["room"],
                        rack=r["rack"],
                        position_u=int(r["position_u"]),
                        owner=r["owner"],
                        purchase_date=dt.date(2024, 3, 1),
                        purchase_price=Decimal(r["purchase_price"]),
                        currency=r["currency"],
                        supplier=r["supplier"],
                        warranty_end=dt.date(2027, 3, 1),
                        planned_eol=dt.date(2029, 3, 1),
                        state=r["state"],
                    )
                    for r in rows
                ],
                batch_size=BATCH,
            )

        def imported():
            report = import_assets(path)
            assert report.ok, report.errors[:5]

        best = {bare: float("inf"), imported: float("inf")}
        for i in range(repeat):
            for side in (bare, imported) if i % 2 == 0 else (imported, bare):
                fleet.wipe()
                best[side] = min(best[side], timed(side)[0])
        fleet.wipe()
    bare_s, import_s = best[bare], best[imported]

    ratio = import_s / bare_s
    return {
        "ratio": ratio,
        "goal": GOAL,
        "goal_met": ratio <= GOAL,
        "rows": n,
        "lines": [
            f"{vendor()}: {n:,} assets; bare bulk_create {bare_s:.2f} s, import_assets "
            f"{import_s:.2f} s ({n / import_s:,.0f} rows/s), ratio {ratio:.2f}x (goal ≤ {GOAL}x)"
        ],
    }
