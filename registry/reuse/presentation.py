"""A ranked result as the page, the API and the command show it: rows, words and numbers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hardware import inference
from registry.reuse.tags import tags_for

if TYPE_CHECKING:
    from registry.reuse.query import CandidateResult

ESTIMATE_LABEL = (
    "Estimates from catalogue specs and a model fitted to published measurements; each figure "
    "has a low–high range (speed: a stated 80 % range), ranking uses the central value, and "
    "each candidate says where its range leaves a comparison open. See docs/reuse.md."
)


def _num(value, places: int = 3):
    if value is None:
        return None
    value = float(value)
    return round(value, places) if math.isfinite(value) else None


def _int(value):
    value = float(value)
    return int(value) if math.isfinite(value) else None


def new_summary(new: pd.Series) -> dict:
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
    tags = tags_for(c, positions, result.request["states"])
    n = len(c["hardware_model_id"])
    # The page's slice of every per-candidate column, as Python values (cheaper to shape).
    p = {
        name: values[positions].tolist()
        for name, values in c.items()
        if isinstance(values, np.ndarray) and values.shape == (n,) and name != "site_code"
    }
    from registry.reuse.query import PAYBACK_HORIZON_YEARS, RANK_LABELS

    ranked_by = RANK_LABELS[result.request["rank"]]
    record = inference.range_record(inference.calibration(), result.request["engine"])
    missed = record is not None and record["verdict"] == "below"
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
                "few_measurements": bool(p["few_measurements"][i]),
                "overlaps_previous": bool(p["overlaps_previous"][i]),
                "overlaps_next": bool(p["overlaps_next"][i]),
                "faster_than_new": p["faster_than_new"][i],
                "pays_back_in_horizon": p["pays_back_in_horizon"][i],
            }
        )
        out[-1]["caveats"] = caveats(
            out[-1], ranked_by, PAYBACK_HORIZON_YEARS, record if missed else None
        )
    return out


def caveats(row: dict, ranked_by: str, horizon: float, missed: dict | None = None) -> list[str]:
    """Where the candidate's ranges leave a decision open, one sentence each; `missed`: the
    serving software's record on the independent check (`inference.range_record`) when its
    range held less often there than chance explains."""
    out = []
    if missed is not None and row["basis"] == "estimated" and row["tokens_per_s"] is not None:
        out.append(
            f"This serving software's speed range held only {missed['coverage']:.0%} of "
            f"{missed['rows']} published measurements no fit saw (a range that is right: "
            f"{missed['chance'][0]:.0%}–{missed['chance'][1]:.0%}): its true speed may well "
            "lie outside the range shown."
        )
    if row["few_measurements"]:
        out.append(
            "Few published measurements of this serving software: its speed range is the wider "
            "stated one, not one measured for it."
        )
    near = [w for w, flag in (("above", "overlaps_previous"), ("below", "overlaps_next"))
            if row[flag]]  # fmt: skip
    if near:
        out.append(
            f"Its range of {ranked_by} overlaps that of the candidate ranked just "
            f"{' and '.join(near)} it: the order between them is not settled by the figures."
        )
    if row["faster_than_new"] == "uncertain":
        out.append(
            "Whether it is faster than the new equivalent depends on where in its speed range "
            "it runs."
        )
    if row["pays_back_in_horizon"] == "uncertain":
        out.append(
            f"Whether buying new pays back within {horizon:g} years depends on where in its "
            "range the figures fall."
        )
    return out


def _band(p: dict, name: str, i: int, places: int) -> dict:
    return {
        name: _num(p[name][i], places),
        f"{name}_low": _num(p[f"{name}_low"][i], places),
        f"{name}_high": _num(p[f"{name}_high"][i], places),
    }


def embodied_words(new) -> str:
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
