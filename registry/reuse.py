"""Reuse candidates for procurement: which accelerators we own can serve an LLM.

Selector: `find_candidates(query)` groups candidate accelerators by (hardware model, server,
site) in ONE aggregate query, evaluates the distinct hardware rows once with the vectorised
`hardware.inference.evaluate`, joins back, ranks and paginates in pandas, then fetches a bounded
list of asset tags for the page only. Nothing loops over candidates in Python.

Service: `reserve_for_request` / `release_reservation` write through `services.record_event`,
one asset at a time (each locks its row), and report per-asset outcomes.

Method: docs/reuse.md (memory fit, the decode model fitted to published measurements, bands,
avoided embodied carbon, payback).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Count, F, FloatField, Min, Q, Window
from django.db.models.functions import Cast, RowNumber
from django.utils import timezone

from hardware import inference
from hardware.models import HardwareKind, HardwareModel
from registry import permissions
from registry.lifecycle import EventKind, State
from registry.models import Asset, ReuseMeasurement, Site
from registry.services import LifecycleError, record_event

# --- PUE: dependency inversion (registry must not import reporting) ---------------------------

# A typical PUE, close to the EU's first-round weighted average of 1.36 (docs/eu-reporting.md).
# Used only when no provider knows the site's PUE.
DEFAULT_PUE = Decimal("1.3")
DEFAULT_PUE_SOURCE = "default 1.3: no computed PUE for the site (EU first-round average 1.36)"

PueAnswer = "Decimal | float | tuple[Decimal | float, str] | None"
PueProvider = Callable[[Site], PueAnswer]
#: Functions returning a site's latest computed PUE, or None when they do not know it; a provider
#: may answer (PUE, where it comes from in user words). The first non-None answer wins. reporting
#: registers its provider from its AppConfig.ready().
PUE_PROVIDERS: list[PueProvider] = []
LATEST_PUE_SOURCE = "the site's latest computed PUE"


def _pue_answer(answer) -> tuple[float, str]:
    value, basis = answer if isinstance(answer, tuple) else (answer, LATEST_PUE_SOURCE)
    return float(value), basis


def register_pue_provider(fn: PueProvider) -> PueProvider:
    """Add a PUE provider (usable as a decorator); registering one function twice is a no-op."""
    if fn not in PUE_PROVIDERS:
        PUE_PROVIDERS.append(fn)
    return fn


def sites_pue(sites: list[Site]) -> dict[int, tuple[float, str]]:
    """`site_pue` for many sites: a provider with a `for_sites(sites) -> {site id: PUE}`
    attribute answers them all at once (one query, however many sites the answer spans)."""
    out: dict[int, tuple[float, str]] = {}
    pending = list(sites)
    for provider in PUE_PROVIDERS:
        if not pending:
            break
        many = getattr(provider, "for_sites", None)
        values = many(pending) if many else {s.id: provider(s) for s in pending}
        for site in pending:
            if values.get(site.id) is not None:
                out[site.id] = _pue_answer(values[site.id])
        pending = [s for s in pending if s.id not in out]
    for site in pending:
        out[site.id] = (float(DEFAULT_PUE), DEFAULT_PUE_SOURCE)
    return out


def site_pue(site: Site | None) -> tuple[float, str]:
    """(PUE, where it came from) for a site: the first provider that knows it, else the default."""
    if site is not None:
        for provider in PUE_PROVIDERS:
            answer = provider(site)
            if answer is not None:
                return _pue_answer(answer)
    return float(DEFAULT_PUE), DEFAULT_PUE_SOURCE


# --- grid intensity (shipped in hardware/catalogue/grid_intensity.csv) --------------------------

FALLBACK_COUNTRY = "EU27"


@dataclass(frozen=True)
class GridRow:
    country: str
    kg_per_kwh: float
    year: int
    source: str
    tag: str


@lru_cache(maxsize=1)
def grid_table() -> dict[str, GridRow]:
    with open(inference.CATALOGUE_DIR / "grid_intensity.csv", newline="", encoding="utf-8") as fh:
        return {
            r["country"]: GridRow(
                r["country"],
                float(r["g_co2e_per_kwh"]) / 1000,
                int(r["year"]),
                f"{r['source']} {r['url']}",
                r["tag"],
            )
            for r in csv.DictReader(fh)
        }


def grid_for(country: str) -> tuple[GridRow, str]:
    """The row for a country; unknown countries fall back to the EU-27 mean, and say so."""
    table = grid_table()
    if country in table:
        row = table[country]
        return row, f"{row.country} {row.year}: {row.source}"
    row = table[FALLBACK_COUNTRY]
    return row, (
        f"no figure shipped for {country or '?'}: EU-27 {row.year} generation-weighted mean "
        f"({row.source})"
    )


# --- the query ------------------------------------------------------------------------------

CANDIDATE_STATES = (State.IN_STOCK, State.AWAITING_DISPOSITION)
RANK_KEYS = {
    # key: (column, ascending)
    "energy": ("joules_per_token_facility", True),
    "avoided_carbon": ("embodied_avoided_kgco2e", False),
    "tokens_per_s": ("tokens_per_s", False),
}
RANK_LABELS = {
    "energy": "energy per token (facility)",
    "avoided_carbon": "avoided embodied carbon",
    "tokens_per_s": "tokens per second",
}
MAX_GROUP = 8  # largest tensor-parallel group (inference.TP_SIZES)
TAGS_PER_GROUP = 8  # asset tags listed per candidate row (the page's second, bounded query)
ESTIMATE_LABEL = (
    "Estimates from catalogue specs and a model fitted to published measurements; each figure "
    "has a low–high range, and ranking uses the central value. See docs/reuse.md."
)
RANKING_NOTE = "ranked by the central value of {column}; the low–high range is not used to rank"


@dataclass(frozen=True)
class ReuseQuery:
    """One procurement question."""

    model: inference.LLMSpec
    precision: str
    context: int = 8192
    concurrency: int = 1
    site: Site | None = None
    country: str | None = None
    pue: float | None = None
    target_tokens_per_s: float | None = None
    include_in_service: bool = False
    rank: str = "energy"
    only_fitting: bool = False
    engine: str = inference.DEFAULT_ENGINE

    @property
    def states(self) -> tuple[str, ...]:
        return CANDIDATE_STATES + ((State.IN_SERVICE,) if self.include_in_service else ())


@dataclass
class CandidateResult:
    """Candidate groups in ranked order (numpy columns) and what was assumed to compute them."""

    columns: dict[str, np.ndarray]
    order: np.ndarray  # positions into `columns`, best first
    assumptions: dict
    request: dict
    new_equivalent: dict | None

    @property
    def total(self) -> int:
        return len(self.order)


@lru_cache(maxsize=1)
def llm_models() -> dict[str, inference.LLMSpec]:
    return inference.load_llm_models()


def custom_model(params_b: float, layers: int, kv_heads: int, head_dim: int) -> inference.LLMSpec:
    return inference.LLMSpec(
        name=f"custom {params_b:g} B",
        slug="custom",
        params_b=float(params_b),
        layers=int(layers),
        kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        source="given by the caller",
    )


_HW_FIELDS = (
    "id",
    "slug",
    "name",
    "release_year",
    "memory_gb",
    "memory_bandwidth_gbps",
    "fp16_tflops",
    "bf16_tflops",
    "int8_tops",
    "tdp_w",
    "compute_capability",
    "supports_bf16",
    "supports_fp8",
    "devices_per_package",
    "embodied_gwp_kgco2e",
    "embodied_gwp_min_kgco2e",
    "embodied_gwp_max_kgco2e",
)
# Per-package figures that split across logical devices (MI250: 2 GCDs).
_PER_PACKAGE = (
    "memory_gb",
    "bandwidth_gbps",
    "fp16_tflops",
    "bf16_tflops",
    "int8_tops",
    "tdp_w",
    "embodied_kgco2e",
    "embodied_low_kgco2e",
    "embodied_high_kgco2e",
)
# evaluate() only asks which TP sizes (1, 2, 4, 8) fit in a server, so "up to n devices" has
# four classes: bucket[n] = largest TP size ≤ n.
_BUCKETS = np.array(inference.TP_SIZES)
_BUCKET_OF = np.array([1, 1, 2, 2, 4, 4, 4, 4, 8])  # index: devices available (0–8)


@dataclass(frozen=True)
class _Evaluation:
    """Every catalogue accelerator × TP bucket, evaluated once per request shape (cached)."""

    hw_ids: np.ndarray  # sorted
    per_package: np.ndarray  # by hw position
    columns: dict[str, np.ndarray]  # by row = hw position × 4 + bucket position
    assumptions: dict
    new_equivalent: dict | None
    new: pd.Series | None  # the new equivalent's evaluated row (for measured candidates)


def _catalogue_rows() -> tuple:
    """The catalogue's accelerators (a few dozen rows); also the evaluation's cache key."""
    return _versioned(
        ("catalogue",),
        lambda: tuple(
            HardwareModel.objects.filter(kind=HardwareKind.ACCELERATOR)
            .order_by("id")
            .values_list(*_HW_FIELDS)
        ),
    )


@lru_cache(maxsize=256)
def _evaluation(rows: tuple, model, precision, context, concurrency, target, engine) -> _Evaluation:
    """One vectorised `inference.evaluate` over hw × {1, 2, 4, 8}, at PUE 1 and CI 1.

    Pure in its arguments (the catalogue rows are part of the key), hence cached: PUE and grid
    intensity are per site and enter linearly, so they are applied per candidate afterwards.
    """
    hw = pd.DataFrame.from_records(list(rows), columns=_HW_FIELDS).rename(
        columns={
            "memory_bandwidth_gbps": "bandwidth_gbps",
            "embodied_gwp_kgco2e": "embodied_kgco2e",
            "embodied_gwp_min_kgco2e": "embodied_low_kgco2e",
            "embodied_gwp_max_kgco2e": "embodied_high_kgco2e",
        }
    )
    memory = inference.accelerator_memory()
    hw["memory_technology"] = [memory.get(s, {}).get("memory_technology") for s in hw["slug"]]
    hw["interconnect"] = [memory.get(s, {}).get("interconnect", "pcie") for s in hw["slug"]]
    hw["per_package"] = pd.to_numeric(hw["devices_per_package"]).fillna(1).clip(lower=1)
    for col in _PER_PACKAGE:
        hw[col] = pd.to_numeric(hw[col], errors="coerce").astype(float) / hw["per_package"]
    # No published range: the central figure is both ends.
    hw["embodied_low_kgco2e"] = hw["embodied_low_kgco2e"].fillna(hw["embodied_kgco2e"])
    hw["embodied_high_kgco2e"] = hw["embodied_high_kgco2e"].fillna(hw["embodied_kgco2e"])
    devices = hw.loc[hw.index.repeat(len(_BUCKETS))].reset_index(drop=True)
    devices["devices_per_server"] = np.tile(_BUCKETS, len(hw))
    out = inference.evaluate(
        devices,
        model,
        precision,
        context,
        concurrency,
        pue=1.0,
        grid_kg_per_kwh=1.0,
        target_tokens_per_s=target,
        max_devices_per_group=MAX_GROUP,
        engine=engine,
    )
    table = devices.join(out)
    new = _newest_equivalent(table[table["devices_per_server"] == MAX_GROUP])
    _payback_columns(table, new, target)
    assumptions = dict(out.attrs["assumptions"])
    assumptions["new_equivalent"] = {
        "what": "New hardware reuse would replace",
        "value": "none serves this request" if new is None else f"{new['name']} ({new['slug']})",
        "source": "the newest catalogue accelerator (release year) with an embodied-carbon "
        "figure that serves the same request in up to 8 identical devices",
    }
    assumptions["embodied"] = {
        "what": "Carbon of making the new hardware",
        "value": _embodied_words(new),
        "source": "published estimates, one source per value (docs/hardware-catalogue.md)",
    }
    assumptions["refurbishment_burden"] = {
        "what": "Carbon of refurbishing, testing and moving the reused hardware",
        "value": "0 kgCO2e",
        "source": "no published default found; counts in favour of reuse",
    }
    columns = {
        name: table[name].to_numpy()
        for name in (
            "slug",
            "name",
            "supported",
            "precision_supported",
            "fits",
            "fit",
            "lower_hint",
            "reason",
            "n_devices",
            "need_gib",
            "memory_gib",
            "tokens_per_s",
            "tokens_per_s_low",
            "tokens_per_s_high",
            "groups",
            "power_w",
            "joules_per_token",
            "joules_per_token_low",
            "joules_per_token_high",
            "new_devices",
            "embodied_avoided_kgco2e",
            "embodied_avoided_low_kgco2e",
            "embodied_avoided_high_kgco2e",
            "payback_base_years",
            "payback_base_low_years",
            "payback_base_high_years",
            "payback_reason",
        )
    }
    columns["boards_per_group"] = np.ceil(table["n_devices"] / table["per_package"]).to_numpy()
    return _Evaluation(
        hw_ids=hw["id"].to_numpy(dtype=np.int64),
        per_package=hw["per_package"].to_numpy(dtype=float),
        columns=columns,
        assumptions=assumptions,
        new_equivalent=None if new is None else _new_summary(new),
        new=new,
    )


def _newest_equivalent(catalogue: pd.DataFrame) -> pd.Series | None:
    """The newest catalogue accelerator (release year) with an embodied figure that serves the
    request in a group of ≤ 8; ties go to the lower energy per token, then the slug."""
    new = catalogue[catalogue["supported"] & catalogue["embodied_kgco2e"].notna()]
    if new.empty:
        return None
    new = new.sort_values(
        ["release_year", "joules_per_token", "slug"], ascending=[False, True, True]
    )
    return new.iloc[0]


def _payback_columns(rows: pd.DataFrame, new: pd.Series | None, target) -> None:
    """Avoided embodied carbon and keep-vs-replace payback per evaluated row, with ranges.

    The new kit must deliver the same tokens/s as the candidate (or the target): it takes
    ceil(delivered / new group's tokens/s) groups. Avoided = those devices' embodied carbon
    (cut-off, no refurbishment burden known), low–high from the catalogue's embodied range.
    Payback compares the candidate's provisioned power with the new kit's energy share for the
    same service (J/token × tokens/s): the shortest payback pairs the low embodied figure with
    the new kit's best energy, the longest the high figure with its worst. At PUE 1 and CI 1
    here: years scale as 1 / (PUE · CI), applied per site later.
    """
    n = len(rows)
    if new is None:
        for col in (
            "new_devices",
            "embodied_avoided_kgco2e",
            "embodied_avoided_low_kgco2e",
            "embodied_avoided_high_kgco2e",
            "payback_base_years",
            "payback_base_low_years",
            "payback_base_high_years",
        ):
            rows[col] = np.nan
        rows["payback_reason"] = "no catalogue accelerator serves the request"
        return
    delivered = np.full(n, float(target)) if target is not None else rows["tokens_per_s"].to_numpy()
    for name, values in _payback_figures(new, delivered, rows["power_w"].to_numpy()).items():
        rows[name] = values


def _payback_figures(new, delivered: np.ndarray, power_w: np.ndarray) -> dict[str, np.ndarray]:
    """New devices, avoided carbon and payback (at PUE 1, CI 1) for candidates delivering
    `delivered` tokens/s at `power_w`: from the estimate, or from a measured run."""
    new_devices = np.ceil(delivered / new["tokens_per_s"]) * new["n_devices"]
    p_old_kw = power_w / 1000
    out = {"new_devices": new_devices}
    for suffix, ef, j_new in (
        ("", new["embodied_kgco2e"], new["joules_per_token"]),
        ("_low", new["embodied_low_kgco2e"], new["joules_per_token_low"]),
        ("_high", new["embodied_high_kgco2e"], new["joules_per_token_high"]),
    ):
        avoided = inference.embodied_avoided_kgco2e(new_devices, ef)
        out[f"embodied_avoided{suffix}_kgco2e"] = avoided
        out[f"payback_base{suffix}_years"] = inference.payback_years(
            p_old_kw, delivered * j_new / 1000, avoided, 1.0, 1.0
        )
    serves = ~np.isnan(p_old_kw)
    no_gain = serves & np.isinf(out["payback_base_years"])
    out["payback_reason"] = np.where(
        ~serves,
        "does not serve the request",
        np.where(no_gain, "never: no operational gain", "pays back"),
    ).astype(object)
    for col in ("payback_base_years", "payback_base_low_years", "payback_base_high_years"):
        out[col] = np.where(serves, out[col], np.nan)
    return out


def _groups(query: ReuseQuery, accelerator_ids) -> np.ndarray:
    """Candidate accelerators grouped by (model, server, site) with counts: ONE query.

    Reserved assets are excluded by state. A GPU in a server groups with its identical siblings
    (a tensor-parallel group is identical devices in one server); loose GPUs group by model and
    site, and each serves alone. Columns: hw id, parent id (-1 loose), site id, count, min id.
    The aggregate reads every candidate row (0.1 s at a million assets): kept while the registry
    is unchanged (`_versioned`).
    """
    key = (
        "groups",
        tuple(query.states),
        None if query.site is None else query.site.id,
        tuple(int(i) for i in accelerator_ids),
    )
    return _versioned(key, lambda: _aggregate_groups(query, accelerator_ids))


def _aggregate_groups(query: ReuseQuery, accelerator_ids) -> np.ndarray:
    qs = Asset.objects.filter(state__in=query.states, hardware_model_id__in=accelerator_ids)
    if query.site is not None:
        qs = qs.filter(site=query.site)
    rows = list(
        qs.order_by()
        .values_list("hardware_model_id", "parent_id", "site_id")
        .annotate(assets=Count("id"), first_id=Min("id"))
    )
    if not rows:
        return np.empty((0, 5), dtype=np.int64)
    out = np.array([(h, -1 if p is None else p, s, n, i) for h, p, s, n, i in rows])
    return out.astype(np.int64)


# registry migration 0007: every statement writing assets, sites, measured runs or catalogue
# hardware models holds this advisory lock (shared, until its transaction ends) and bumps the
# registry_version sequence.
REGISTRY_WRITE_LOCK = 1919248177
VERSIONED_TABLES = (
    "registry_asset",
    "registry_site",
    "registry_reusemeasurement",
    "hardware_hardwaremodel",
)
_VERSION_SQL = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM registry_version"
_CACHE: dict[tuple, tuple[int, object]] = {}
_CACHE_SIZE = 64


# The counter read once at the start of `find_candidates`, for all its kept reads.
_READ_VERSION: ContextVar[int | None] = ContextVar("registry_version", default=None)


def _may_keep() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _registry_version() -> int:
    with connection.cursor() as cur:
        cur.execute(_VERSION_SQL)
        return cur.fetchone()[0]


def _versioned(key: tuple, compute: Callable[[], object]):
    """`compute()` — a read of VERSIONED_TABLES only — kept in this process while
    none of those tables changed (PostgreSQL; elsewhere, and inside a transaction, it runs).

    Hit: the counter equals the one stored with the answer (one tiny query). Miss: in one
    transaction, share-lock the tables (a TRUNCATE waits for us rather than deadlocking), try
    the writers' advisory lock exclusively — granted only when no transaction that wrote them is
    still open, and writers' next statements wait until we finish — then read the counter and
    compute: the answer is exactly the committed tables at that counter, and is stored. While a
    writer is open, compute without storing.
    """
    if not _may_keep():
        return compute()
    version = _READ_VERSION.get()
    if version is None:
        version = _registry_version()
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(f"LOCK TABLE {', '.join(VERSIONED_TABLES)} IN ACCESS SHARE MODE")
            cur.execute(
                f"SELECT pg_try_advisory_xact_lock({REGISTRY_WRITE_LOCK}), ({_VERSION_SQL})"  # noqa: S608
            )
            quiet, version = cur.fetchone()
        value = compute()
    if quiet:
        _CACHE.pop(key, None)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))  # the oldest entry
        _CACHE[key] = (version, value)
    return value


def _all_sites() -> list[Site]:
    return [
        Site(id=i, code=code, country=country)
        for i, code, country in Site.objects.order_by("code").values_list("id", "code", "country")
    ]


def _site_context(query: ReuseQuery, site_ids) -> list[dict]:
    """PUE and grid intensity per site in the result (one query for the sites, a handful)."""
    if query.site is not None:
        sites = [query.site]
    else:
        # Every site, kept while the registry is unchanged, filtered here: cheaper than
        # binding hundreds of ids into a query on each request.
        wanted = {int(s) for s in site_ids}
        sites = [site for site in _versioned(("sites",), _all_sites) if site.id in wanted]
    known = {} if query.pue is not None else sites_pue(sites)
    out = []
    for site in sites:  # per distinct site, never per candidate
        if query.pue is not None:
            pue, pue_source = float(query.pue), "given by the caller"
        else:
            pue, pue_source = known[site.id]
        grid, grid_source = grid_for(query.country or site.country)
        out.append(
            {
                "id": site.id,
                "code": site.code,
                "pue": pue,
                "pue_source": pue_source,
                "grid": grid,
                "grid_source": grid_source,
            }
        )
    return out


def find_candidates(query: ReuseQuery) -> CandidateResult:
    """Every candidate group, ranked: a handful of queries whatever the number of candidates or
    sites. On PostgreSQL the reads of assets, sites and measured runs are kept while none of
    them changed (`_versioned`), so a repeated question costs the counter, PUE and tag reads."""
    token = _READ_VERSION.set(_registry_version() if _may_keep() else None)
    try:
        return _find(query)
    finally:
        _READ_VERSION.reset(token)


def _find(query: ReuseQuery) -> CandidateResult:
    ev = _evaluation(
        _catalogue_rows(),
        query.model,
        query.precision,
        query.context,
        query.concurrency,
        query.target_tokens_per_s,
        query.engine,
    )
    groups = _groups(query, list(ev.hw_ids))
    hw_id, parent_id, site_id, assets, first_id = groups.T
    hw_pos = np.searchsorted(ev.hw_ids, hw_id)
    per_package = ev.per_package[hw_pos]
    logical = np.where(parent_id >= 0, np.minimum(assets * per_package, MAX_GROUP), per_package)
    bucket_pos = np.searchsorted(_BUCKETS, _BUCKET_OF[logical.astype(int)])
    row = hw_pos * len(_BUCKETS) + bucket_pos
    c = {name: values[row] for name, values in ev.columns.items()}

    sites = _site_context(query, np.unique(site_id))
    site_ids = np.array([s["id"] for s in sites], dtype=np.int64)
    site_order = np.argsort(site_ids)
    at = site_order[np.searchsorted(site_ids[site_order], site_id)] if len(sites) else site_id
    pue = np.array([s["pue"] for s in sites], dtype=float)[at] if len(sites) else np.array([])
    ci = np.array([s["grid"].kg_per_kwh for s in sites], dtype=float)[at] if len(sites) else pue
    c.update(
        hardware_model_id=hw_id,
        parent_id=parent_id,
        site_id=site_id,
        site_pos=at,
        assets=assets,
        first_id=first_id,
        pue=pue,
        grid_kg_per_kwh=ci,
    )
    _prefer_measured(query, c, ev.new)
    # evaluate()'s device J/token already covers the `groups` groups serving a target.
    for suffix in ("", "_low", "_high"):
        facility = c[f"joules_per_token{suffix}"] * pue
        c[f"joules_per_token_facility{suffix}"] = facility
        c[f"kgco2e_per_mtok{suffix}"] = inference.kgco2e_per_mtok(facility, ci)
        with np.errstate(divide="ignore", invalid="ignore"):
            c[f"payback{suffix}_years"] = c[f"payback_base{suffix}_years"] / (pue * ci)
    c["payback_reason"] = np.where(
        (ci <= 0) & c["supported"], "never: zero-carbon grid", c["payback_reason"]
    )
    c["groups_available"] = np.floor(assets / c["boards_per_group"])
    c["meets_target"] = c["supported"] & (
        np.isnan(c["groups"].astype(float)) | (c["groups_available"] >= c["groups"])
    )
    order = _rank(c, query.rank, sites)
    if query.only_fitting:
        order = order[c["supported"][order].astype(bool)]

    assumptions = dict(ev.assumptions)
    assumptions["pue"] = {
        "what": "Facility overhead (PUE: total energy ÷ IT energy)",
        "value": _per_site(sites, lambda s: f"{s['pue']:g}") or "—",
        "source": _per_site(sites, lambda s: s["pue_source"]) or DEFAULT_PUE_SOURCE,
    }
    assumptions["grid_intensity"] = {
        "what": "Carbon per kWh of electricity",
        "value": _per_site(sites, lambda s: f"{s['grid'].kg_per_kwh:g} kgCO2e/kWh") or "—",
        "source": _per_site(sites, lambda s: s["grid_source"]) or "—",
    }
    assumptions["ranking"] = {
        "what": "Order of the answer",
        "value": RANKING_NOTE.format(column=RANK_LABELS[query.rank]),
        "source": "chosen in the query",
    }
    return CandidateResult(
        columns=c | {"site_code": np.array([s["code"] for s in sites], dtype=object)},
        order=order,
        assumptions=assumptions,
        request=_request_echo(query),
        new_equivalent=ev.new_equivalent,
    )


def _per_site(sites: list[dict], text: Callable[[dict], str]) -> str:
    """'PAR1, PAR2: a; FRA1: b': sites sharing a text are listed once (200 sites that share
    the default PUE make one entry, not 200 copies of its source)."""
    by_text: dict[str, list[str]] = {}
    for site in sites:
        by_text.setdefault(text(site), []).append(site["code"])
    return "; ".join(f"{', '.join(codes)}: {value}" for value, codes in by_text.items())


def _key(hw, site, n) -> np.ndarray:
    return (np.asarray(hw, np.int64) << 32) + (np.asarray(site, np.int64) << 8) + np.asarray(n)


def _latest_runs(query: ReuseQuery) -> tuple[np.ndarray, np.ndarray]:
    """The latest matching run per (model, site, devices): sorted keys, and rows of (id, hw,
    site, devices, tokens/s, power W) — one query, kept while the registry is unchanged."""

    def read():
        runs = ReuseMeasurement.objects.filter(
            llm=query.model.slug,
            precision=query.precision,
            engine=query.engine,
            concurrency=query.concurrency,
            context_tokens__gte=query.context / 2,
            context_tokens__lte=query.context * 2,
        ).order_by("measured_on", "id")
        if query.site is not None:
            runs = runs.filter(site=query.site)
        # Floats straight from the cursor, past the ORM's per-value converters: one run per
        # site and model is thousands of rows across a large estate.
        sql, params = (
            runs.annotate(
                tps=Cast("tokens_per_s", FloatField()), watts=Cast("power_w", FloatField())
            )
            .values_list("id", "hardware_model_id", "site_id", "n_devices", "tps", "watts")
            .query.sql_with_params()
        )
        with connection.cursor() as cur:
            cur.execute(sql, params)
            table = np.array(cur.fetchall(), dtype=float).reshape(-1, 6)  # no power: NaN
        # Ordered by date: the last run of each key is the latest; keep it (sorted by key).
        as_int = table[:, 1:4].astype(np.int64)
        keys, last = np.unique(_key(*as_int.T)[::-1], return_index=True)
        return keys, table[::-1][last]

    key = (
        "runs",
        query.model.slug,
        query.precision,
        query.engine,
        query.concurrency,
        query.context,
        None if query.site is None else query.site.id,
    )
    return _versioned(key, read)


def _prefer_measured(query: ReuseQuery, c: dict, new: pd.Series | None) -> None:
    """Where the site recorded a matching run, its figures replace the estimate (one query),
    and so do the figures that follow from them: avoided carbon and payback.

    Matching: same site, accelerator model and number of accelerators, language model,
    precision, engine and concurrency, context within a factor of two; the latest run wins.
    """
    n = len(c["hardware_model_id"])
    c["basis"] = np.full(n, "estimated", dtype=object)
    c["energy_basis"] = np.full(n, "estimated", dtype=object)  # power, J/token, carbon, payback
    c["measurement_id"] = np.zeros(n, dtype=np.int64)
    if n == 0 or query.model.slug == "custom":
        return
    keys, chosen = _latest_runs(query)
    if not len(keys):
        return
    run_id = chosen[:, 0].astype(np.int64)
    run_tps = chosen[:, 4]
    run_power = chosen[:, 5]
    wanted = _key(c["hardware_model_id"], c["site_id"], c["n_devices"])
    at = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    hit = keys[at] == wanted
    if not hit.any():
        return
    # A run recorded on hardware the estimate says cannot serve the request shows that it can:
    # the measurement stands, and the reason keeps what the estimate said.
    ran = hit & ~c["supported"].astype(bool)
    if ran.any():
        c["supported"] = c["supported"].astype(bool) | hit
        said = pd.Series(c["reason"], dtype=object).fillna("").astype(str)
        c["reason"] = np.where(
            ran, "runs here (measured), although the estimate said: " + said, c["reason"]
        ).astype(object)
    tps = np.where(hit, run_tps[at], c["tokens_per_s"])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_group = c["power_w"] / c["groups"]  # unknown (NaN) where the estimate had none
        per_group = np.where(hit & ~np.isnan(run_power[at]), run_power[at], per_group)
        if query.target_tokens_per_s is not None:
            groups = np.where(hit, np.ceil(query.target_tokens_per_s / tps), c["groups"])
            joules = groups * per_group / query.target_tokens_per_s
        else:
            groups = np.where(ran, 1.0, c["groups"])
            joules = per_group / tps
    c["groups"] = groups
    c["power_w"] = np.where(hit, groups * per_group, c["power_w"])
    for suffix in ("", "_low", "_high"):
        c[f"tokens_per_s{suffix}"] = np.where(hit, tps, c[f"tokens_per_s{suffix}"])
        c[f"joules_per_token{suffix}"] = np.where(hit, joules, c[f"joules_per_token{suffix}"])
    c["basis"] = np.where(hit, "measured", c["basis"]).astype(object)
    c["energy_basis"] = np.where(hit & ~np.isnan(run_power[at]), "measured", "estimated").astype(
        object
    )
    c["measurement_id"] = np.where(hit, run_id[at], 0)
    if new is not None:
        target = query.target_tokens_per_s
        delivered = tps if target is None else np.full(n, float(target))
        for name, values in _payback_figures(new, delivered, c["power_w"]).items():
            c[name] = np.where(hit, values, c[name])


def _rank(c: dict, rank: str, sites: list[dict]) -> np.ndarray:
    """Supported first, then the key (NaN last), then site code, model slug, first asset id."""
    column, ascending = RANK_KEYS[rank]
    key = c[column].astype(float)
    key = np.where(np.isnan(key), np.inf, key if ascending else -key)
    site_rank = np.argsort(np.argsort([s["code"] for s in sites]))  # sites are few
    site_key = site_rank[c["site_pos"]] if len(sites) else c["site_pos"]
    slug_key = np.unique(c["slug"].astype(str), return_inverse=True)[1]
    return np.lexsort((c["first_id"], slug_key, site_key, key, ~c["supported"].astype(bool)))


def _request_echo(query: ReuseQuery) -> dict:
    return {
        "model": query.model.slug,
        "model_name": query.model.name,
        "params_b": query.model.params_b,
        "layers": query.model.layers,
        "kv_heads": query.model.kv_heads,
        "head_dim": query.model.head_dim,
        "precision": query.precision,
        "context": query.context,
        "concurrency": query.concurrency,
        "target_tokens_per_s": query.target_tokens_per_s,
        "site": query.site.code if query.site else None,
        "country": query.country,
        "pue": query.pue,
        "states": list(query.states),
        "rank": query.rank,
        "engine": query.engine,
    }


def _num(value, places: int = 3):
    if value is None:
        return None
    value = float(value)
    return round(value, places) if math.isfinite(value) else None


def _int(value):
    value = float(value)
    return int(value) if math.isfinite(value) else None


def _new_summary(new: pd.Series) -> dict:
    return {
        "hardware_model": new["slug"],
        "name": new["name"],
        "release_year": int(new["release_year"]),
        "n_devices": int(new["n_devices"]),
        "tokens_per_s": _num(new["tokens_per_s"], 1),
        "joules_per_token": _num(new["joules_per_token"]),
        "embodied_kgco2e_per_device": _num(new["embodied_kgco2e"], 1),
    }


def page(result: CandidateResult, offset: int, limit: int) -> list[dict]:
    """The rows of one page as plain dicts, with their asset tags (one bounded query)."""
    c = result.columns
    positions = result.order[offset : offset + limit]
    tags = _tags_for(c, positions, result.request["states"])
    n = len(c["hardware_model_id"])
    # The page's slice of every per-candidate column, as Python values (cheaper to shape).
    p = {
        name: values[positions].tolist()
        for name, values in c.items()
        if isinstance(values, np.ndarray) and values.shape == (n,) and name != "site_code"
    }
    out = []
    for i in range(len(positions)):  # one page (≤ page size): shaping only
        key = (p["hardware_model_id"][i], p["parent_id"][i], p["site_id"][i])
        found = tags.get(key, {"parent": None, "assets": []})
        years = _num(p["payback_years"][i], 2)
        low, high = _num(p["payback_low_years"][i], 2), _num(p["payback_high_years"][i], 2)
        out.append(
            {
                "basis": p["basis"][i],
                "energy_basis": p["energy_basis"][i],
                "measurement_id": int(p["measurement_id"][i]) or None,
                "hardware_model": p["slug"][i],
                "hardware_model_name": p["name"][i],
                "site": c["site_code"][p["site_pos"][i]],
                "server": found["parent"],
                "assets_available": int(p["assets"][i]),
                "assets": found["assets"],
                "supported": bool(p["supported"][i]),
                "precision_supported": bool(p["precision_supported"][i]),
                "fit": p["fit"][i],
                "fits": bool(p["fits"][i]),
                "lower": p["lower_hint"][i],
                "reason": p["reason"][i],
                "n_devices": int(p["n_devices"][i]),
                "assets_per_group": int(p["boards_per_group"][i]),
                "groups_available": int(p["groups_available"][i]),
                "groups_needed": _int(p["groups"][i]),
                "meets_target": bool(p["meets_target"][i]),
                "need_gib": _num(p["need_gib"][i], 2),
                "memory_gib": _num(p["memory_gib"][i], 2),
                **_band(p, "tokens_per_s", i, 1),
                "power_w": _num(p["power_w"][i], 1),
                **_band(p, "joules_per_token", i, 4),
                **_band(p, "joules_per_token_facility", i, 4),
                **_band(p, "kgco2e_per_mtok", i, 4),
                "pue": _num(p["pue"][i], 3),
                "grid_kg_per_kwh": _num(p["grid_kg_per_kwh"][i], 4),
                "new_equivalent_devices": _int(p["new_devices"][i]),
                "embodied_avoided_kgco2e": _num(p["embodied_avoided_kgco2e"][i], 1),
                "embodied_avoided_kgco2e_low": _num(p["embodied_avoided_low_kgco2e"][i], 1),
                "embodied_avoided_kgco2e_high": _num(p["embodied_avoided_high_kgco2e"][i], 1),
                "payback_years": years,
                "payback_years_low": low,
                "payback_years_high": high,
                "payback": _payback_text(years, low, high, p["payback_reason"][i]),
            }
        )
    return out


def _band(p: dict, name: str, i: int, places: int) -> dict:
    return {
        name: _num(p[name][i], places),
        f"{name}_low": _num(p[f"{name}_low"][i], places),
        f"{name}_high": _num(p[f"{name}_high"][i], places),
    }


def _embodied_words(new) -> str:
    """The new device's embodied figure as the answer uses it; a catalogue entry with a single
    published estimate has no range, so the avoided carbon's low and high are the central."""
    if new is None:
        return "none: no new equivalent"
    central, low, high = (
        float(new[k]) for k in ("embodied_kgco2e", "embodied_low_kgco2e", "embodied_high_kgco2e")
    )
    spread = "low = high, no range" if low == high else f"range {low:g}–{high:g}"
    return f"{new['name']}: {central:g} kgCO2e per device ({spread})"


def _payback_text(years, low, high, reason: str) -> str:
    if years is None:
        # The central figure never pays back; the low end of the range may (docs/reuse.md).
        return reason if low is None else f"{reason} (range: {low:.1f} years – never)"
    if low is not None and high is not None and (low, high) != (years, years):
        return f"replacing pays back in {years:.1f} years ({low:.1f}–{high:.1f})"
    if high is None and low is not None:
        return f"replacing pays back in {years:.1f} years ({low:.1f} – never)"
    return f"replacing pays back in {years:.1f} years"


_TAG_FIELDS = ("id", "asset_tag", "state", "hardware_model_id", "parent_id", "site_id")
# The first assets of each loose (model, site) group of a page, through the
# (hardware_model, site, id) index: cost grows with the page, not with the groups.
_LOOSE_TAGS_SQL = """
SELECT a.id, a.asset_tag, a.state, a.hardware_model_id, a.parent_id, a.site_id, NULL
FROM unnest(%s::bigint[], %s::bigint[]) AS k(hw, site)
CROSS JOIN LATERAL (
    SELECT id, asset_tag, state, hardware_model_id, parent_id, site_id FROM registry_asset
    WHERE hardware_model_id = k.hw AND site_id = k.site AND parent_id IS NULL
      AND state = ANY(%s)
    ORDER BY id LIMIT %s
) a
"""
_SERVER_TAGS_SQL = """
SELECT a.id, a.asset_tag, a.state, a.hardware_model_id, a.parent_id, a.site_id, p.asset_tag
FROM registry_asset a JOIN registry_asset p ON p.id = a.parent_id
WHERE a.parent_id = ANY(%s) AND a.state = ANY(%s)
"""


def _tags_for(c: dict, positions, states: list[str]) -> dict:
    """Up to TAGS_PER_GROUP asset tags per page row, in two queries whatever the group sizes.

    A bulk import puts thousands of identical cards in one group: on PostgreSQL each loose
    group reads only its first few assets (a lateral join through an index), and servers read
    their components; other databases take the portable path of `_tags_rows_orm`.
    """
    if len(positions) == 0:
        return {}
    if connection.vendor == "postgresql":
        rows = _tags_rows_postgres(c, positions, states)
    else:
        rows = _tags_rows_orm(c, positions, states)
    wanted = {
        (int(c["hardware_model_id"][i]), int(c["parent_id"][i]), int(c["site_id"][i]))
        for i in positions
    }
    out: dict = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        key = (
            r["hardware_model_id"],
            -1 if r["parent_id"] is None else r["parent_id"],
            r["site_id"],
        )
        if key not in wanted:
            continue
        entry = out.setdefault(key, {"parent": r["parent__asset_tag"], "assets": []})
        if len(entry["assets"]) < TAGS_PER_GROUP:
            entry["assets"].append(
                {"id": r["id"], "asset_tag": r["asset_tag"], "state": r["state"]}
            )
    return out


def _tags_rows_postgres(c: dict, positions, states: list[str]) -> list[dict]:
    loose = [i for i in positions if c["parent_id"][i] < 0]
    servers = sorted({int(c["parent_id"][i]) for i in positions if c["parent_id"][i] >= 0})
    found = []
    with connection.cursor() as cur:
        if loose:
            cur.execute(
                _LOOSE_TAGS_SQL,
                [
                    [int(c["hardware_model_id"][i]) for i in loose],
                    [int(c["site_id"][i]) for i in loose],
                    list(states),
                    TAGS_PER_GROUP,
                ],
            )
            found += cur.fetchall()
        if servers:
            cur.execute(_SERVER_TAGS_SQL, [servers, list(states)])
            found += cur.fetchall()
    return [dict(zip((*_TAG_FIELDS, "parent__asset_tag"), row, strict=True)) for row in found]


def _tags_rows_orm(c: dict, positions, states: list[str]) -> list[dict]:
    """The portable path: groups of at most TAGS_PER_GROUP assets (their size is known from the
    grouping query) are read whole in one query; a window function numbers the larger ones."""
    fields = _TAG_FIELDS
    small, large = Q(pk__in=[]), []
    for i in positions:  # page rows only (≤ page size)
        parent = int(c["parent_id"][i])
        match = Q(
            Q(parent__isnull=True) if parent < 0 else Q(parent_id=parent),
            hardware_model_id=int(c["hardware_model_id"][i]),
            site_id=int(c["site_id"][i]),
        )
        if c["assets"][i] <= TAGS_PER_GROUP:
            small |= match
        else:
            large.append(match)
    rows = list(Asset.objects.filter(small, state__in=states).values(*fields, "parent__asset_tag"))
    if large:
        either = Q(pk__in=[])
        for m in large:
            either |= m
        rows += list(
            Asset.objects.filter(either, state__in=states)
            .annotate(
                rn=Window(
                    RowNumber(),
                    partition_by=[F("hardware_model_id"), F("parent_id"), F("site_id")],
                    order_by=F("id").asc(),
                )
            )
            .filter(rn__lte=TAGS_PER_GROUP)
            .values(*fields, "parent__asset_tag")
        )
    return rows


# --- service: reserve and release -------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one asset of a reservation or release request."""

    asset: str
    asset_id: int | None
    status: str  # "reserved" | "released" | "refused" | "forbidden" | "not-found"
    state: str | None = None
    errors: dict | None = None
    event_id: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _lookup(asset_ids: Iterable[int] = (), asset_tags: Iterable[str] = ()):
    ids, tags = list(dict.fromkeys(asset_ids)), list(dict.fromkeys(asset_tags))
    found = Asset.objects.select_related("site").filter(Q(id__in=ids) | Q(asset_tag__in=tags))
    by_id = {a.id: a for a in found}
    by_tag = {a.asset_tag: a for a in by_id.values()}
    wanted = [(str(i), by_id.get(i)) for i in ids] + [(t, by_tag.get(t)) for t in tags]
    return wanted


def _act(kind, wanted, *, actor, details, occurred_at, ok_status) -> list[Outcome]:
    outcomes = []
    for label, asset in wanted:  # one ledger write per asset: each locks its own row
        if asset is None:
            outcomes.append(Outcome(label, None, "not-found", errors={"asset": ["no such asset"]}))
            continue
        if actor is not None and not permissions.can_record(actor, kind, asset.site):
            outcomes.append(
                Outcome(
                    asset.asset_tag,
                    asset.id,
                    "forbidden",
                    asset.state,
                    {"asset": [f"you may not record '{kind}' at site {asset.site.code}"]},
                )
            )
            continue
        try:
            event = record_event(asset, kind, occurred_at=occurred_at, actor=actor, details=details)
        except LifecycleError as exc:
            asset.refresh_from_db(fields=["state"])
            outcomes.append(
                Outcome(asset.asset_tag, asset.id, "refused", asset.state, exc.message_dict)
            )
            continue
        outcomes.append(
            Outcome(asset.asset_tag, asset.id, ok_status, event.state_after, event_id=event.id)
        )
    return outcomes


def reserve_for_request(
    *,
    request_name: str,
    purpose: str,
    actor=None,
    requester: str | None = None,
    asset_ids: Iterable[int] = (),
    asset_tags: Iterable[str] = (),
    occurred_at: dt.datetime | None = None,
) -> list[Outcome]:
    """Reserve each asset for a named request; per-asset outcomes, never all-or-nothing.

    Two concurrent reservations of one asset serialise on its row lock in record_event: the
    second finds it `reserved` and is refused ('reserved-for-reuse' is not allowed from there).
    """
    reserved_by = requester or (actor.get_username() if actor is not None else "")
    details = {"reserved_by": reserved_by, "purpose": purpose, "request_ref": request_name}
    return _act(
        EventKind.RESERVED_FOR_REUSE,
        _lookup(asset_ids, asset_tags),
        actor=actor,
        details=details,
        occurred_at=occurred_at or timezone.now(),
        ok_status="reserved",
    )


def release_reservation(
    *,
    actor=None,
    asset_ids: Iterable[int] = (),
    asset_tags: Iterable[str] = (),
    request_name: str | None = None,
    reason: str = "",
    occurred_at: dt.datetime | None = None,
) -> list[Outcome]:
    """Release reservations (back to the state before them), by asset or by request name."""
    wanted = _lookup(asset_ids, asset_tags)
    if request_name:
        held = (
            Asset.objects.select_related("site")
            .filter(
                state=State.RESERVED,
                events__kind=EventKind.RESERVED_FOR_REUSE,
                events__details__request_ref=request_name,
            )
            .distinct()
            .order_by("id")
        )
        seen = {a.id for _, a in wanted if a is not None}
        wanted += [(a.asset_tag, a) for a in held if a.id not in seen]
    return _act(
        EventKind.RESERVATION_RELEASED,
        wanted,
        actor=actor,
        details={"reason": reason} if reason else {},
        occurred_at=occurred_at or timezone.now(),
        ok_status="released",
    )
