"""Measured runs recorded at a site replace the estimate for the candidates they match."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import FloatField
from django.db.models.functions import Cast

from registry.models import ReuseMeasurement
from registry.reuse.cache import versioned
from registry.reuse.evaluation import payback_figures

if TYPE_CHECKING:
    from registry.reuse.query import ReuseQuery


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
    return versioned(key, read)


def prefer_measured(query: ReuseQuery, c: dict, new: pd.Series | None) -> None:
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
    # A measured run's range is the run itself: no estimate's width to qualify.
    c["few_measurements"] = np.where(hit, False, c["few_measurements"])
    if new is not None:
        target = query.target_tokens_per_s
        delivered = tps if target is None else np.full(n, float(target))
        for name, values in payback_figures(new, delivered, c["power_w"]).items():
            c[name] = np.where(hit, values, c[name])
