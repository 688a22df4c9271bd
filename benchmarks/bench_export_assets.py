"""export_assets to XLSX vs a bare XlsxWriter constant-memory write of the same rows.

Both sides write the same N assets × 21 columns. The baseline gets the export's own rows
already fetched into a list (no database, no filtering, no per-column dispatch) and writes them
with typed XlsxWriter calls in constant-memory mode. The export runs the real command
(`manage.py export_assets`) in a child process — query, chunked iteration, safe cells — whose
peak RSS is read from the kernel (wait4). Goals: time ≤ 1.2× the baseline; peak RSS < 300 MB.
1,000,000 assets in full mode, 20,000 with --quick, made through the product's writers with their
ledgers (benchmarks/fleet.py). On SQLite the in-memory test database is copied to a file so the
child can read it.
"""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter
from django.db import connection

from benchmarks import fleet
from benchmarks.harness import vendor
from hardware.models import HardwareModel
from registry.lifecycle import State
from registry.models import Asset, Site
from reporting.exports import assets, cells

GOAL_RATIO = 1.2
GOAL_RSS_MB = 300
ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import os, sys, time, django
django.setup()
if sys.argv[1] == "export":
    # Imports and the connection are fixed costs, paid before the clock starts on both sides.
    from django.core.management import call_command
    from django.db import connection
    import reporting.exports.management.commands.export_assets
    connection.ensure_connection()
    started = time.perf_counter()
    call_command("export_assets", "--out", sys.argv[2], stdout=open(os.devnull, "w"))
    print(time.perf_counter() - started)
else:
    from benchmarks.bench_export_assets import bare_write
    from registry.models import Asset
    from reporting.exports.assets import export_rows
    import gc
    rows = list(export_rows(Asset.objects.all()))  # pre-fetched: not timed
    gc.freeze()  # the held rows must not slow the baseline's garbage collections
    print(bare_write(rows, sys.argv[2]))
"""


def _generate(n: int) -> None:
    """n assets in service, made through the product's writers with their ledgers
    (benchmarks/fleet.py); one in a hundred carries a note that looks like a formula."""
    codes = []
    for code, tz in (("BENCH-PAR", "Europe/Paris"), ("BENCH-FRA", "Europe/Berlin")):
        Site.objects.get_or_create(
            code=code, defaults={"name": code, "country": "FR", "time_zone": tz}
        )
        codes.append(code)
    models = list(HardwareModel.objects.order_by("slug").values_list("slug", flat=True)[:20])
    fleet.register(
        {
            "asset_tag": f"BENCH-{i:07d}",
            "serial_number": f"SN{i:09d}",
            "hardware_model": models[i % len(models)],
            "site": codes[i % 2],
            "room": f"R{i % 4}",
            "rack": f"K{i % 40}",
            "position_u": 1 + i % 42,
            "owner": "bench",
            "warranty_end": "2027-03-01",
            "planned_eol": "2029-03-01",
            "measured_mass_kg": "12.345" if i % 10 == 0 else "",
        }
        for i in range(1, n + 1)
    )
    fleet.live({f"BENCH-{i:07d}": State.IN_SERVICE for i in range(1, n + 1)})
    # Notes are a plain attribute, written as the asset's update door writes it.
    Asset.objects.filter(asset_tag__in=[f"BENCH-{i:07d}" for i in range(100, n + 1, 100)]).update(
        notes='=HYPERLINK("x")'
    )
    fleet.analyse()


def _wipe() -> None:
    fleet.wipe()


def _database_url(tmp: Path) -> str:
    conf = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
        return (
            f"postgres://{auth}@{conf['HOST'] or 'localhost'}:{conf['PORT'] or 5432}/{conf['NAME']}"
        )
    # The SQLite test database lives in memory: copy it to a file the child can open.
    path = tmp / "bench.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return f"sqlite:///{path}"


def _child(mode: str, out: Path, database_url: str) -> tuple[float, float]:
    """(seconds timed inside the child, its peak RSS in MB): `export` runs the command, `bare`
    the baseline write of pre-fetched rows."""
    env = os.environ | {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "circulus.settings",
        "DEBUG": "1",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("CELERY_BROKER_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(out)], env=env, cwd=ROOT, stdout=subprocess.PIPE
    )
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{mode} child failed with {proc.returncode}")
    return float(output.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def bare_write(rows: list, out) -> float:
    """The baseline: typed XlsxWriter calls over pre-fetched rows, constant-memory mode."""
    started = time.perf_counter()
    book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    ws = book.add_worksheet("Assets")
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    for col, header in enumerate(assets.HEADERS):
        ws.write_string(0, col, header)
    kinds = [c.kind for c, _ in assets.COLUMNS]
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            kind = kinds[c]
            if kind == cells.TEXT:
                ws.write_string(r, c, value)
            elif kind == cells.NUMBER:
                ws.write_number(r, c, float(value))
            else:
                ws.write_datetime(
                    r, c, cells.utc_naive(value) if kind == cells.DATETIME else value, date_fmt
                )
    book.close()
    return time.perf_counter() - started


def run(quick: bool) -> dict:
    n = 20_000 if quick else 1_000_000
    repeat = 3 if quick else 1
    _wipe()
    started = time.perf_counter()
    _generate(n)
    generate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        url = _database_url(tmp)
        if connection.vendor == "postgresql":
            connection.close()  # the child uses its own connection
        # Both sides in fresh child processes, interleaved, best of `repeat` (the machine is
        # shared); the RSS goal applies to the export's worst run.
        export_runs, bare_runs = [], []
        for _ in range(repeat):
            export_runs.append(_child("export", tmp / "export.xlsx", url))
            bare_runs.append(_child("bare", tmp / "bare.xlsx", url))
        export_s, rss_mb = min(s for s, _ in export_runs), max(m for _, m in export_runs)
        bare_s = min(s for s, _ in bare_runs)
        sizes = {p.name: p.stat().st_size for p in tmp.glob("*.xlsx")}
    _wipe()
    ratio = export_s / bare_s
    met = ratio <= GOAL_RATIO and rss_mb < GOAL_RSS_MB
    return {
        "ratio": ratio,
        "goal": GOAL_RATIO,
        "goal_met": met,
        "rows": n,
        "export_s": export_s,
        "bare_s": bare_s,
        "peak_rss_mb": rss_mb,
        "lines": [
            f"{vendor()}: {n:,} assets generated in {generate_s:.1f} s; export_assets "
            f"{export_s:.2f} s ({n / export_s:,.0f} rows/s) vs bare xlsxwriter {bare_s:.2f} s: "
            f"ratio {ratio:.2f}x (goal ≤ {GOAL_RATIO}x); export peak RSS {rss_mb:.0f} MB "
            f"(goal < {GOAL_RSS_MB} MB); files {json.dumps(sizes)}"
        ],
    }
