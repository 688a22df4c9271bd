"""Reuse-candidate endpoint vs the plain asset list on fleets of several shapes, under load.

Goal (PostgreSQL, 1,000,000 assets per shape): with ranges and site measurements on, the
reuse-candidate endpoint sustains ≥ 0.5× the req/s of the plain DRF list endpoint over the same
table, with ≤ 2× its p99, at 16 connections against 2 gunicorn workers, in the same run, on every
shape: a bulk import with a few thousand in service, loose GPUs in stock across many sites, GPUs
inside servers, and a fleet of mostly non-accelerators. Quick mode: 20,000 assets per shape, 3 s
per endpoint. Assets are generated in SQL (INSERT … SELECT generate_series); no ledger rows are
written, neither endpoint reads them.
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

from benchmarks.harness import vendor

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 16
BASE_SITES = [
    ("PAR1", "FR"), ("PAR2", "FR"), ("FRA1", "DE"), ("DUB1", "IE"), ("AMS1", "NL"),
    ("STO1", "SE"), ("WAW1", "PL"), ("MAD1", "ES"), ("FRA2", "DE"), ("AMS2", "NL"),
]  # fmt: skip
GPU_STATES = ["in-service", "in-service", "in-stock", "awaiting-disposition", "in-service",
              "reserved", "sold", "in-service", "awaiting-disposition", "recycled"]  # fmt: skip
OTHER_STATES = ["in-service"] * 6 + ["in-stock", "awaiting-disposition", "sold", "recycled"]
GPU_SERVER = "nvidia-dgx-a100"
REUSE_PARAMS = "model=llama-3-8b&precision=int8&context=8192&concurrency=4&engine=vllm"
LIST_QUERY = "state=in-service&site=PAR1"  # 50 rows per page: a real page, not an empty one
COLS = (
    "asset_tag, hardware_model_id, site_id, parent_id, state, "
    "serial_number, room, rack, owner, currency, supplier, workload, notes, created_at, "
    "updated_at, data_bearing"
)
COMMON = "'', '', '', '', '', '', '', now(), now(), false"  # room … notes, times, data


def _ids(kind_filter: str) -> list[int]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT id FROM hardware_hardwaremodel WHERE {kind_filter} ORDER BY id")  # noqa: S608
        return [r[0] for r in cur.fetchall()]


def _sites(n: int) -> list[int]:
    from registry.models import Site

    codes = BASE_SITES + [(f"S{i:03d}", "DE") for i in range(n - len(BASE_SITES))]
    return [
        Site.objects.get_or_create(
            code=code, defaults={"name": code, "country": cc, "time_zone": "Europe/Paris"}
        )[0].id
        for code, cc in codes[:n]
    ]


def populate_servers(n_assets: int) -> dict:
    """GPUs inside servers: 10 % accelerators (60 % of them in 8-GPU servers), mixed states."""
    site_ids = _sites(len(BASE_SITES))
    gpus = _ids("kind = 'accelerator'")
    others = _ids("kind NOT IN ('accelerator')")
    server = _ids(f"slug = '{GPU_SERVER}'")[0]
    n_gpu = n_assets // 10
    n_servers = (n_gpu * 6 // 10) // 8
    n_installed = n_servers * 8
    n_loose = n_gpu - n_installed
    n_other = n_assets - n_gpu - n_servers
    common = "'', '', '', '', '', '', '', now(), now(), false"  # room … notes, times, data
    cols = (
        "asset_tag, hardware_model_id, site_id, parent_id, state, "
        "serial_number, room, rack, owner, currency, supplier, workload, notes, created_at, "
        "updated_at, data_bearing"
    )
    sql = [
        (
            f"INSERT INTO registry_asset ({cols}) SELECT 'BS-' || g, %(server)s, "
            "(%(sites)s::bigint[])[1 + mod(g, %(ns)s)], NULL, "
            f"(%(gstates)s::text[])[1 + mod(g * 7, 10)], '', {common} "
            "FROM generate_series(1, %(n_servers)s) g",
        ),
        (
            f"INSERT INTO registry_asset ({cols}) SELECT 'BG-' || g, "
            "(%(gpus)s::bigint[])[1 + mod((g - 1) / 8, %(ng)s)], s.site_id, s.id, "
            "CASE WHEN mod(g, 5) = 0 THEN (%(gstates)s::text[])[1 + mod(g * 3, 10)] "
            f"ELSE s.state END, '', {common} "
            "FROM generate_series(1, %(n_installed)s) g "
            "JOIN registry_asset s ON s.asset_tag = 'BS-' || ((g - 1) / 8 + 1)",
        ),
        (
            f"INSERT INTO registry_asset ({cols}) SELECT 'BL-' || g, "
            "(%(gpus)s::bigint[])[1 + mod(g * 13, %(ng)s)], "
            "(%(sites)s::bigint[])[1 + mod(g, %(ns)s)], NULL, "
            f"(%(gstates)s::text[])[1 + mod(g * 3, 10)], '', {common} "
            "FROM generate_series(1, %(n_loose)s) g",
        ),
        (
            f"INSERT INTO registry_asset ({cols}) SELECT 'BO-' || g, "
            "(%(others)s::bigint[])[1 + mod(g * 7, %(no)s)], "
            "(%(sites)s::bigint[])[1 + mod(g, %(ns)s)], NULL, "
            f"(%(ostates)s::text[])[1 + mod(g * 3, 10)], '', {common} "
            "FROM generate_series(1, %(n_other)s) g",
        ),
    ]
    params = {
        "server": server,
        "sites": site_ids,
        "ns": len(site_ids),
        "gpus": gpus,
        "ng": len(gpus),
        "others": others,
        "no": len(others),
        "gstates": GPU_STATES,
        "ostates": OTHER_STATES,
        "n_servers": n_servers,
        "n_installed": n_installed,
        "n_loose": n_loose,
        "n_other": n_other,
    }
    with connection.cursor() as cur:
        for (statement,) in sql:
            cur.execute(statement, params)
    return _finish(gpus) | {"gpu_servers": n_servers}


def _insert(sql: str, params: dict) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _finish(gpus: list[int]) -> dict:
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE registry_asset")
        cur.execute("SELECT count(*), count(*) FILTER (WHERE hardware_model_id = ANY(%s)) "
                    "FROM registry_asset", [gpus])  # fmt: skip
        total, accelerators = cur.fetchone()
    return {"assets": total, "accelerators": accelerators}


def populate_bulk_import(n_assets: int) -> dict:
    """One bulk import at PAR1: 30 % loose accelerators, nearly all in stock; 3 % in service."""
    site = _sites(1)[0]
    gpus, others = _ids("kind = 'accelerator'"), _ids("kind NOT IN ('accelerator')")
    _insert(
        f"INSERT INTO registry_asset ({COLS}) SELECT 'BI-' || g, "
        "CASE WHEN mod(g, 10) < 3 THEN (%(gpus)s::bigint[])[1 + mod(g * 7, %(ng)s)] "
        "ELSE (%(others)s::bigint[])[1 + mod(g * 7, %(no)s)] END, %(site)s, NULL, "
        f"CASE WHEN mod(g, 33) = 0 THEN 'in-service' ELSE 'in-stock' END, '', {COMMON} "
        "FROM generate_series(1, %(n)s) g",
        {"gpus": gpus, "ng": len(gpus), "others": others, "no": len(others), "site": site,
         "n": n_assets},
    )  # fmt: skip
    return _finish(gpus)


def populate_loose_many_sites(n_assets: int) -> dict:
    """Loose GPUs in stock across 200 sites: 40 % accelerators, the rest mixed hardware.

    Kind, model and state are drawn from the asset's rank k within its site (g / 200), so every
    site holds every accelerator model in every state: 200 × 16 (model, site) groups, and the
    baseline's PAR1 in-service page is full (drawn from g alone, PAR1 held only in-stock GPUs of
    two models and the baseline was an empty page)."""
    sites = _sites(200)
    gpus, others = _ids("kind = 'accelerator'"), _ids("kind NOT IN ('accelerator')")
    _insert(
        f"INSERT INTO registry_asset ({COLS}) SELECT 'BL-' || g, "
        "CASE WHEN mod(g / %(ns)s, 10) < 4 "
        "THEN (%(gpus)s::bigint[])[1 + mod(g / %(ns)s / 10 + g, %(ng)s)] "
        "ELSE (%(others)s::bigint[])[1 + mod(g * 7, %(no)s)] END, "
        "(%(sites)s::bigint[])[1 + mod(g, %(ns)s)], NULL, "
        f"(%(states)s::text[])[1 + mod(g / %(ns)s / 10 / %(ng)s + g, 10)], '', {COMMON} "
        "FROM generate_series(1, %(n)s) g",
        {"gpus": gpus, "ng": len(gpus), "others": others, "no": len(others), "sites": sites,
         "ns": len(sites), "states": ["in-stock"] * 6 + ["in-service"] * 3 + ["sold"],
         "n": n_assets},
    )  # fmt: skip
    return _finish(gpus)


def populate_mostly_other(n_assets: int) -> dict:
    """Mostly non-accelerators: 1 % loose GPUs among servers, drives, memory, switches."""
    sites = _sites(len(BASE_SITES))
    gpus, others = _ids("kind = 'accelerator'"), _ids("kind NOT IN ('accelerator')")
    _insert(
        f"INSERT INTO registry_asset ({COLS}) SELECT 'BO-' || g, "
        "CASE WHEN mod(g, 100) = 0 THEN (%(gpus)s::bigint[])[1 + mod(g * 13, %(ng)s)] "
        "ELSE (%(others)s::bigint[])[1 + mod(g * 7, %(no)s)] END, "
        "(%(sites)s::bigint[])[1 + mod(g, %(ns)s)], NULL, "
        f"(%(states)s::text[])[1 + mod(g * 3, 10)], '', {COMMON} "
        "FROM generate_series(1, %(n)s) g",
        {"gpus": gpus, "ng": len(gpus), "others": others, "no": len(others), "sites": sites,
         "ns": len(sites), "states": OTHER_STATES, "n": n_assets},
    )  # fmt: skip
    return _finish(gpus)


# name: (populate, reuse query string)
SHAPES = {
    "bulk-import": (populate_bulk_import, f"{REUSE_PARAMS}&site=PAR1"),
    "loose-many-sites": (populate_loose_many_sites, REUSE_PARAMS),
    "gpus-in-servers": (populate_servers, f"{REUSE_PARAMS}&site=PAR1"),
    "mostly-other": (populate_mostly_other, f"{REUSE_PARAMS}&site=PAR1"),
}


def add_measurements() -> int:
    """A recorded run matching the benchmark query per site and loose accelerator model, so
    `measured` rows are served."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO registry_reusemeasurement (asset_id, site_id, hardware_model_id, llm, "
            "precision, engine, n_devices, concurrency, context_tokens, tokens_per_s, power_w, "
            "duration_s, measured_on, note, created_at) "
            "SELECT a.id, a.site_id, a.hardware_model_id, 'llama-3-8b', 'int8', 'vllm', 1, 4, "
            "8192, 120.5, 200, 600, current_date, 'benchmark', now() FROM ("
            "  SELECT DISTINCT ON (site_id, hardware_model_id) id, site_id, hardware_model_id "
            "  FROM registry_asset WHERE parent_id IS NULL AND hardware_model_id IN "
            "  (SELECT id FROM hardware_hardwaremodel WHERE kind = 'accelerator')"
            "  ORDER BY site_id, hardware_model_id, id) a"
        )
        return cur.rowcount


def clear() -> None:
    with connection.cursor() as cur:
        cur.execute("DELETE FROM registry_reusemeasurement")
        cur.execute("DELETE FROM registry_asset")


def _token() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts import tokens

    user, _ = get_user_model().objects.get_or_create(username="bench-buyer")
    user.groups.add(Group.objects.get(name="procurement"))
    return tokens.issue(user, days=1)[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_gunicorn(port: int) -> subprocess.Popen:
    env = os.environ | {
        "DATABASE_URL": _database_url(),
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "CONN_MAX_AGE": "600",
        "DJANGO_SETTINGS_MODULE": "circulus.settings",
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "120",
         "circulus.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-2000:]
                raise RuntimeError(f"gunicorn exited: {err}") from None
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("gunicorn did not start within 30 s")


def _get(url: str, token: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (127.0.0.1 only)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(url: str, token: str, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-H", f"Authorization: Token {token}", url],
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout} {out.stderr}")
    out = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)],
        "errors": int(bad.group(1)) if bad else 0,
        "tool": "wrk",
    }


def _python_load(url: str, token: str, seconds: int) -> dict:
    """Fallback when wrk is missing: 16 threads, closed loop, bounded by time."""
    latencies, errors, lock = [], [0], threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        while time.monotonic() < stop:
            started = time.perf_counter()
            code, _ = _get(url, token)
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                errors[0] += code != 200

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan")
    return {"rps": len(latencies) / elapsed, "p99_ms": p99, "errors": errors[0], "tool": "python"}


def _load(url: str, token: str, seconds: int) -> dict:
    code, body = _get(url, token)
    if code != 200:
        raise RuntimeError(f"GET {url} → {code}: {body[:500]!r}")
    runner = _wrk if shutil.which("wrk") else _python_load
    runner(url, token, 1)  # warm both workers' caches and connections
    return runner(url, token, seconds)


def _one_shape(name: str, n_assets: int, seconds: int, token: str) -> dict:
    populate, reuse_query = SHAPES[name]
    clear()
    started = time.perf_counter()
    sizes = populate(n_assets)
    sizes["measurements"] = add_measurements()
    populate_s = time.perf_counter() - started
    port = _free_port()
    proc = _start_gunicorn(port)
    try:
        base = f"http://127.0.0.1:{port}"
        plain = _load(f"{base}/api/assets/?{LIST_QUERY}", token, seconds)
        reuse = _load(f"{base}/api/reuse-candidates/?{reuse_query}", token, seconds)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    rps_ratio = reuse["rps"] / plain["rps"]
    p99_ratio = reuse["p99_ms"] / plain["p99_ms"]
    goal_met = rps_ratio >= 0.5 and p99_ratio <= 2.0 and not (plain["errors"] or reuse["errors"])
    return {
        "shape": name,
        "sizes": sizes,
        "populate_s": populate_s,
        "plain": plain,
        "reuse": reuse,
        "reuse_query": reuse_query,
        "ratio": rps_ratio,
        "p99_ratio": p99_ratio,
        "goal_met": goal_met,
    }


def run(quick: bool, shapes: list[str] | None = None) -> dict:
    if vendor() != "postgresql":
        return {
            "ratio": None,
            "goal_met": None,
            "lines": ["skipped: the goal is stated for PostgreSQL; set DATABASE_URL=postgres://…"],
        }
    n_assets = int(os.environ.get("BENCH_REUSE_ASSETS", 20_000 if quick else 1_000_000))
    seconds = 3 if quick else 30
    token = _token()
    results = [_one_shape(name, n_assets, seconds, token) for name in shapes or SHAPES]
    clear()
    tool = results[0]["reuse"]["tool"]
    lines = [
        f"{vendor()}: {n_assets:,} assets per shape; {tool}"
        + ("" if tool == "wrk" else " (wrk not installed)")
        + f", {CONNECTIONS} connections, {seconds} s per endpoint, gunicorn 2 workers; "
        "ranges and site measurements on"
    ]
    for r in results:
        lines += [
            f"{r['shape']}: {r['sizes']['assets']:,} assets ({r['sizes']['accelerators']:,} "
            f"accelerators, {r['sizes']['measurements']} measurements), made in "
            f"{r['populate_s']:.1f} s",
            f"  plain list /api/assets/?{LIST_QUERY}: {r['plain']['rps']:.0f} req/s, "
            f"p99 {r['plain']['p99_ms']:.1f} ms, errors {r['plain']['errors']}",
            f"  reuse /api/reuse-candidates/?{r['reuse_query']}: {r['reuse']['rps']:.0f} req/s, "
            f"p99 {r['reuse']['p99_ms']:.1f} ms, errors {r['reuse']['errors']}",
            f"  req/s ratio {r['ratio']:.2f} (goal ≥ 0.5), p99 ratio {r['p99_ratio']:.2f} "
            "(goal ≤ 2.0): " + ("goal met" if r["goal_met"] else "goal NOT met"),
        ]
    if quick:
        lines.append("[quick size: indicative only]")
    return {
        "ratio": min(r["ratio"] for r in results),
        "p99_ratio": max(r["p99_ratio"] for r in results),
        "goal_met": all(r["goal_met"] for r in results),
        "shapes": results,
        "lines": lines,
    }
