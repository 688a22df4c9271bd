"""The estimate: every catalogue accelerator × tensor-parallel size, evaluated once per request
shape with the vectorised `hardware.inference.evaluate`, with avoided embodied carbon and payback.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from hardware import inference
from hardware.models import HardwareKind, HardwareModel
from registry.reuse.cache import versioned
from registry.reuse.presentation import embodied_words, new_summary

MAX_GROUP = 8  # largest tensor-parallel group (inference.TP_SIZES)

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
BUCKETS = np.array(inference.TP_SIZES)
BUCKET_OF = np.array([1, 1, 2, 2, 4, 4, 4, 4, 8])  # index: devices available (0–8)


@dataclass(frozen=True)
class Evaluation:
    """Every catalogue accelerator × TP bucket, evaluated once per request shape (cached)."""

    hw_ids: np.ndarray  # sorted
    per_package: np.ndarray  # by hw position
    columns: dict[str, np.ndarray]  # by row = hw position × 4 + bucket position
    assumptions: dict
    new_equivalent: dict | None
    new: pd.Series | None  # the new equivalent's evaluated row (for measured candidates)


def catalogue_rows() -> tuple:
    """The catalogue's accelerators (a few dozen rows); also the evaluation's cache key."""
    return versioned(
        ("catalogue",),
        lambda: tuple(
            HardwareModel.objects.filter(kind=HardwareKind.ACCELERATOR)
            .order_by("id")
            .values_list(*_HW_FIELDS)
        ),
    )


@lru_cache(maxsize=256)
def evaluation(rows: tuple, model, precision, context, concurrency, target, engine) -> Evaluation:
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
    devices = hw.loc[hw.index.repeat(len(BUCKETS))].reset_index(drop=True)
    devices["devices_per_server"] = np.tile(BUCKETS, len(hw))
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
        "value": "none serves this request"
        if new is None
        else f"{new['name']} (released {int(new['release_year'])})",
        "source": "the newest catalogue accelerator (release year) with an embodied-carbon "
        "figure that serves the same request in up to 8 identical devices",
    }
    assumptions["embodied"] = {
        "what": "Carbon of making the new hardware",
        "value": embodied_words(new),
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
            "few_measurements",
        )
    }
    columns["boards_per_group"] = np.ceil(table["n_devices"] / table["per_package"]).to_numpy()
    return Evaluation(
        hw_ids=hw["id"].to_numpy(dtype=np.int64),
        per_package=hw["per_package"].to_numpy(dtype=float),
        columns=columns,
        assumptions=assumptions,
        new_equivalent=None if new is None else new_summary(new),
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
    for name, values in payback_figures(new, delivered, rows["power_w"].to_numpy()).items():
        rows[name] = values


def payback_figures(new, delivered: np.ndarray, power_w: np.ndarray) -> dict[str, np.ndarray]:
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
