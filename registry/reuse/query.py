"""The reuse query: which accelerators we own can serve an LLM, ranked.

`find_candidates(query)` groups candidate accelerators by (hardware model, server, site) in ONE
aggregate query, evaluates the distinct hardware rows once (`evaluation`), joins back, applies
each site's PUE and grid intensity (`context`) and measured runs (`measured`), and ranks in numpy.
Nothing loops over candidates in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.db.models import Count, Min

from hardware import inference
from registry.lifecycle import State
from registry.models import Asset, Site
from registry.reuse.cache import READ_VERSION, may_keep, registry_version, versioned
from registry.reuse.context import DEFAULT_PUE_SOURCE, site_context
from registry.reuse.evaluation import BUCKET_OF, BUCKETS, MAX_GROUP, catalogue_rows, evaluation
from registry.reuse.measured import prefer_measured

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
RANKING_NOTE = (
    "ranked by the central value of {column}; where a candidate's low–high range overlaps the "
    "next one's, the answer says so: their order is not settled by the figures"
)
# Range columns of each rank key (low end, high end).
RANK_RANGES = {
    "energy": ("joules_per_token_facility_low", "joules_per_token_facility_high"),
    "avoided_carbon": ("embodied_avoided_low_kgco2e", "embodied_avoided_high_kgco2e"),
    "tokens_per_s": ("tokens_per_s_low", "tokens_per_s_high"),
}
# The horizon a payback range is read against: a server's usual life (Boavizta's default
# lifetime, 4 years; docs/reuse.md, Decisions that survive the range).
PAYBACK_HORIZON_YEARS = 4.0


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


def _groups(query: ReuseQuery, accelerator_ids) -> np.ndarray:
    """Candidate accelerators grouped by (model, server, site) with counts: ONE query.

    Reserved assets are excluded by state. A GPU in a server groups with its identical siblings
    (a tensor-parallel group is identical devices in one server); loose GPUs group by model and
    site, and each serves alone. Columns: hw id, parent id (-1 loose), site id, count, min id.
    The aggregate reads every candidate row (0.1 s at a million assets): kept while the registry
    is unchanged (`versioned`).
    """
    key = (
        "groups",
        tuple(query.states),
        None if query.site is None else query.site.id,
        tuple(int(i) for i in accelerator_ids),
    )
    return versioned(key, lambda: _aggregate_groups(query, accelerator_ids))


def _aggregate_groups(query: ReuseQuery, accelerator_ids) -> np.ndarray:
    qs = Asset.objects.filter(state__in=query.states, hardware_model_id__in=accelerator_ids)
    if not query.include_in_service:
        # A part of a unit in service serves with it (recorded before parts followed their
        # server, it may still read in-stock): offered only when in-service units are asked for.
        qs = qs.exclude(parent__state=State.IN_SERVICE)
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


def find_candidates(query: ReuseQuery) -> CandidateResult:
    """Every candidate group, ranked: a handful of queries whatever the number of candidates or
    sites. On PostgreSQL the reads of assets, sites and measured runs are kept while none of
    them changed (`versioned`), so a repeated question costs the counter, PUE and tag reads."""
    token = READ_VERSION.set(registry_version() if may_keep() else None)
    try:
        return _find(query)
    finally:
        READ_VERSION.reset(token)


def _find(query: ReuseQuery) -> CandidateResult:
    ev = evaluation(
        catalogue_rows(),
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
    bucket_pos = np.searchsorted(BUCKETS, BUCKET_OF[logical.astype(int)])
    row = hw_pos * len(BUCKETS) + bucket_pos
    c = {name: values[row] for name, values in ev.columns.items()}

    sites = site_context(query, np.unique(site_id))
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
    prefer_measured(query, c, ev.new)
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
    _decisions(c, order, query.rank, ev.new)
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


def _rank(c: dict, rank: str, sites: list[dict]) -> np.ndarray:
    """Supported first, then the key (NaN last), then site code, model slug, first asset id."""
    column, ascending = RANK_KEYS[rank]
    key = c[column].astype(float)
    key = np.where(np.isnan(key), np.inf, key if ascending else -key)
    site_rank = np.argsort(np.argsort([s["code"] for s in sites]))  # sites are few
    site_key = site_rank[c["site_pos"]] if len(sites) else c["site_pos"]
    slug_key = np.unique(c["slug"].astype(str), return_inverse=True)[1]
    return np.lexsort((c["first_id"], slug_key, site_key, key, ~c["supported"].astype(bool)))


def _decisions(c: dict, order: np.ndarray, rank: str, new) -> None:
    """What the ranges leave open, per candidate (vectorised; docs/reuse.md).

    - overlaps_previous / overlaps_next: its range of the rank key overlaps that of the
      supported candidate ranked just above / below it, so their order is not settled;
    - faster_than_new: "yes" when its whole speed range is above the new equivalent's
      estimate, "no" when wholly below, "uncertain" when the range straddles it;
    - pays_back_in_horizon: the same reading of the payback range against
      `PAYBACK_HORIZON_YEARS` (None where no payback is computed).
    """
    n = len(c["supported"])
    supported = c["supported"].astype(bool)
    lo_col, hi_col = RANK_RANGES[rank]
    low, high = c[lo_col].astype(float), c[hi_col].astype(float)
    ranked = order[supported[order]]
    a, b = ranked[:-1], ranked[1:]
    touch = (low[a] <= high[b]) & (low[b] <= high[a])  # NaN compares False: no claim
    c["overlaps_next"], c["overlaps_previous"] = np.zeros(n, bool), np.zeros(n, bool)
    c["overlaps_next"][a] = touch
    c["overlaps_previous"][b] = touch

    tps_low, tps_high = c["tokens_per_s_low"].astype(float), c["tokens_per_s_high"].astype(float)
    faster = np.full(n, None, dtype=object)
    if new is not None and np.isfinite(new["tokens_per_s"]):
        new_tps = float(new["tokens_per_s"])
        known = supported & np.isfinite(tps_low) & np.isfinite(tps_high)
        faster[known] = np.where(
            tps_low[known] > new_tps, "yes", np.where(tps_high[known] < new_tps, "no", "uncertain")
        )
    c["faster_than_new"] = faster

    years, short, long = (c[f"payback{s}_years"].astype(float) for s in ("", "_low", "_high"))
    horizon = PAYBACK_HORIZON_YEARS
    within = np.full(n, None, dtype=object)
    computed = supported & ~np.isnan(years)  # +inf: never pays back; NaN: not computed
    # The high end is +inf (never) or NaN where the longest payback never comes.
    long = np.where(np.isnan(long), np.inf, long)
    within[computed] = np.where(
        long[computed] <= horizon, "yes", np.where(short[computed] > horizon, "no", "uncertain")
    )
    c["pays_back_in_horizon"] = within


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
