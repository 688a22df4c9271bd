"""Reuse-candidate endpoint vs the plain asset list on fleets of several shapes, under load.

Goal (PostgreSQL, 1,000,000 assets per shape): with ranges and site measurements on, the
reuse-candidate endpoint sustains ≥ 0.5× the req/s of the plain DRF list endpoint over the same
table, with ≤ 2× its p99, at 16 connections against 2 gunicorn workers, in the same run, on every
shape: a bulk import with a few thousand in service, loose GPUs in stock across many sites, GPUs
inside servers, and a fleet of mostly non-accelerators. Quick mode: 20,000 assets per shape, 3 s
per endpoint. Fleets are made through the product's writers, ledger rows and all
(benchmarks/fleet.py): the bulk importer, then each life story recorded once by the ledger's
writer and copied to the assets that share it; servers get their GPUs installed and their
stories recorded by the writer itself.
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

from benchmarks import fleet
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
# A server with components is not sold whole (they are removed first): sold servers are in
# service here, and their GPUs with them.
SERVER_STATES = [s if s != "sold" else "in-service" for s in GPU_STATES]


def _slugs(kind_filter: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT slug FROM hardware_hardwaremodel WHERE {kind_filter} ORDER BY id")  # noqa: S608
        return [r[0] for r in cur.fetchall()]


def _sites(n: int) -> list[str]:
    from registry.models import Site

    codes = BASE_SITES + [(f"S{i:03d}", "DE") for i in range(n - len(BASE_SITES))]
    for code, cc in codes[:n]:
        Site.objects.get_or_create(
            code=code, defaults={"name": code, "country": cc, "time_zone": "Europe/Paris"}
        )
    return [code for code, _ in codes[:n]]


def _make(rows: list[tuple[str, str, str, str]]) -> None:
    """(tag, model slug, site code, final state) rows through the product's writers."""
    fleet.register({"asset_tag": t, "hardware_model": m, "site": s} for t, m, s, _ in rows)
    fleet.live({tag: state for tag, _, _, state in rows})


def populate_servers(n_assets: int) -> dict:
    """GPUs inside servers: 10 % accelerators (60 % of them in 8-GPU servers), mixed states;
    installed GPUs are in their server's state (the writer takes them along)."""
    sites = _sites(len(BASE_SITES))
    gpus, others = _slugs("kind = 'accelerator'"), _slugs("kind NOT IN ('accelerator')")
    n_gpu = n_assets // 10
    n_servers = (n_gpu * 6 // 10) // 8
    n_installed = n_servers * 8
    n_loose = n_gpu - n_installed
    n_other = n_assets - n_gpu - n_servers
    ng, no, ns = len(gpus), len(others), len(sites)
    servers = [f"BS-{g}" for g in range(1, n_servers + 1)]
    fleet.register(
        {"asset_tag": tag, "hardware_model": GPU_SERVER, "site": sites[g % len(sites)]}
        for g, tag in enumerate(servers, start=1)
    )
    fleet.register(
        {
            "asset_tag": f"BG-{g}",
            "hardware_model": gpus[((g - 1) // 8) % len(gpus)],
            "site": sites[((g - 1) // 8 + 1) % len(sites)],  # its server's site
        }
        for g in range(1, n_installed + 1)
    )
    fleet.assemble(
        {tag: [f"BG-{8 * (k - 1) + j}" for j in range(1, 9)] for k, tag in enumerate(servers, 1)},
        {tag: SERVER_STATES[(g * 7) % 10] for g, tag in enumerate(servers, start=1)},
    )
    _make(
        [
            (f"BL-{g}", gpus[(g * 13) % ng], sites[g % ns], GPU_STATES[(g * 3) % 10])
            for g in range(1, n_loose + 1)
        ]
        + [
            (
                f"BO-{g}",
                others[(g * 7) % no],
                sites[g % len(sites)],
                OTHER_STATES[(g * 3) % 10],
            )
            for g in range(1, n_other + 1)
        ]
    )
    return _finish() | {"gpu_servers": n_servers}


def _finish() -> dict:
    with connection.cursor() as cur:
        # VACUUM (the visibility map, for index-only scans) runs outside a transaction only.
        verb = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        cur.execute(f"{verb} registry_asset")
        cur.execute(f"{verb} registry_lifecycleevent")
        cur.execute("SELECT count(*), count(*) FILTER (WHERE m.kind = 'accelerator') "
                    "FROM registry_asset a JOIN hardware_hardwaremodel m "
                    "ON m.id = a.hardware_model_id")  # fmt: skip
        total, accelerators = cur.fetchone()
    return {"assets": total, "accelerators": accelerators}


def populate_bulk_import(n_assets: int) -> dict:
    """One bulk import at PAR1: 30 % loose accelerators, nearly all in stock; 3 % in service."""
    site = _sites(1)[0]
    gpus, others = _slugs("kind = 'accelerator'"), _slugs("kind NOT IN ('accelerator')")
    _make(
        [
            (
                f"BI-{g}",
                gpus[(g * 7) % len(gpus)] if g % 10 < 3 else others[(g * 7) % len(others)],
                site,
                "in-service" if g % 33 == 0 else "in-stock",
            )
            for g in range(1, n_assets + 1)
        ]
    )
    return _finish()


def populate_loose_many_sites(n_assets: int) -> dict:
    """Loose GPUs in stock across 200 sites: 40 % accelerators, the rest mixed hardware.

    Kind, model and state are drawn from the asset's rank k within its site (g / 200), so every
    site holds every accelerator model in every state: 200 × 16 (model, site) groups, and the
    baseline's PAR1 in-service page is full (drawn from g alone, PAR1 held only in-stock GPUs of
    two models and the baseline was an empty page)."""
    sites = _sites(200)
    gpus, others = _slugs("kind = 'accelerator'"), _slugs("kind NOT IN ('accelerator')")
    ns, ng, no = len(sites), len(gpus), len(others)
    states = ["in-stock"] * 6 + ["in-service"] * 3 + ["sold"]
    _make(
        [
            (
                f"BL-{g}",
                gpus[(g // ns // 10 + g) % ng] if (g // ns) % 10 < 4 else others[(g * 7) % no],
                sites[g % ns],
                states[(g // ns // 10 // ng + g) % 10],
            )
            for g in range(1, n_assets + 1)
        ]
    )
    return _finish()


def populate_mostly_other(n_assets: int) -> dict:
    """Mostly non-accelerators: 1 % loose GPUs among servers, drives, memory, switches."""
    sites = _sites(len(BASE_SITES))
    gpus, others = _slugs("kind = 'accelerator'"), _slugs("kind NOT IN ('accelerator')")
    _make(
        [
            (
                f"BO-{g}",
                gpus[(g * 13) % len(gpus)] if g % 100 == 0 else others[(g * 7) % len(others)],
                sites[g % len(sites)],
                OTHER_STATES[(g * 3) % 10],
            )
            for g in range(1, n_assets + 1)
        ]
    )
    return _finish()


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
    fleet.wipe("registry_reusemeasurement")


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
