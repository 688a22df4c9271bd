"""Which accelerators can serve which LLM, how fast, at what energy, and when to replace them.

Pure domain math (no Django), from the reference note circular.md §3 (reuse matching for AI
inference) and §4 (carbon payback). Every default carries its circular.md section and tag:
[C] confirmed, [D] derived, [L] low authority, [U] unconfirmed.

Units, fixed throughout:
- memory in GB = 1e9 bytes. §3.4 uses decimal GB: Llama-3-8B's 8k KV cache is 2**30 bytes and
  the table prints 1.07 GB, and its 20.5 GB BF16 need only comes out with 1e9.
- bandwidth in GB/s (``bandwidth_gbps`` means gigabytes, not gigabits), compute in TFLOPS/TOPS
  (1e12 ops/s), power in W, energy in J, grid intensity in kgCO2e/kWh, carbon in kgCO2e.
- ``params_b`` is billions of parameters, so ``params_b × bytes_per_param`` is already GB.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"

GB = 1e9  # bytes; see module docstring for why not GiB
HOURS_PER_YEAR = 8760  # §4.1
JOULES_PER_KWH = 3.6e6

# §3.1: bytes per weight. INT4 is 0.5 plus group scales, "≈0.53–0.56 in practice" [U];
# §3.4/§3.5 tabulate INT4 at a flat 0.5, pass bytes_per_param=0.5 to reproduce those cells.
PRECISION_BYTES: dict[str, float] = {
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.55,
}
KV_BYTES = 2.0  # §3.1: 2 bytes per KV element unless the KV cache is quantised

MBU = 0.7  # §3.5 default; typical 0.6–0.85 on optimised stacks (§3.1) [L]
MFU = 0.5  # §3.5 batched table cap [D]; no published source for the value [U]
OVERHEAD = 0.15  # o: activations/fragmentation, §3.1 range 0.10–0.20, §3.4 uses 0.15 [D]
RUNTIME_GB = 1.0  # C_rt: CUDA/ROCm context, §3.1 0.5–1 GB, §3.4 uses 1 GB [D]
USABLE_FRACTION = 0.9  # u: serving engines pre-allocate ~90 % (§3.1) [U for the vLLM default]
TP_OVERHEAD = 0.05  # §3.1: "+~5 % per extra GPU for replicated buffers" [U]
UTIL_BATCH_1 = 0.7  # §3.5 batch-1 table: P = 0.7 × TDP [D]
UTIL_BATCHED = 0.85  # §3.5 batched table: P = 0.85 × TDP [D]
TP_SIZES = (1, 2, 4, 8)

BF16_MIN_CC = 8.0  # §3.1: Ampere or later [C via §3.1 text]
FP8_MIN_CC = 8.9  # §3.1: Ada/Hopper [U: NVIDIA arch docs not retrieved]

ASSUMPTIONS: dict[str, dict[str, object]] = {
    "gb": {"value": GB, "unit": "bytes", "source": "§3.4 figures reproduce with 1e9", "tag": "D"},
    "bytes_per_param": {
        "value": dict(PRECISION_BYTES),
        "unit": "bytes",
        "source": "§3.1; int4 0.55 = 0.5 + group scales (0.53–0.56)",
        "tag": "U",
    },
    "kv_bytes": {"value": KV_BYTES, "unit": "bytes", "source": "§3.1", "tag": "D"},
    "overhead": {"value": OVERHEAD, "unit": "fraction of W", "source": "§3.1, §3.4", "tag": "D"},
    "runtime_gb": {"value": RUNTIME_GB, "unit": "GB", "source": "§3.1, §3.4", "tag": "D"},
    "usable_fraction": {
        "value": USABLE_FRACTION,
        "unit": "fraction of VRAM",
        "source": "§3.1 (vLLM gpu_memory_utilization default)",
        "tag": "U",
    },
    "tp_overhead": {
        "value": TP_OVERHEAD,
        "unit": "fraction of need per extra device",
        "source": "§3.1 replicated buffers; applied to the need, not the capacity",
        "tag": "U",
    },
    "tp_scaling": {
        "value": "ideal",
        "unit": None,
        "source": "n devices in TP give n × bandwidth and n × FLOPS; interconnect cost ignored",
        "tag": "U",
    },
    "mbu": {"value": MBU, "unit": "fraction", "source": "§3.1 (0.6–0.85), §3.5", "tag": "L"},
    "mfu": {"value": MFU, "unit": "fraction", "source": "§3.5 batched table", "tag": "U"},
    "kv_read_per_step": {
        "value": "full context",
        "unit": None,
        "source": "§3.5: every step reads the KV cache of all B sequences at context S",
        "tag": "D",
    },
    "util": {
        "value": {"batch_1": UTIL_BATCH_1, "batched": UTIL_BATCHED},
        "unit": "fraction of TDP",
        "source": "§3.5: 0.7 × TDP at concurrency 1, 0.85 × TDP above",
        "tag": "D",
    },
    "compute_peak": {
        "value": {
            "fp16": "fp16",
            "bf16": "bf16 (else fp16)",
            "int8": "int8 (else fp16: weight-only on V100)",
            "fp8": "int8 rate (dense FP8 = INT8 on Ada/Hopper)",
            "int4": "fp16 (W4A16 kernels dequantise to FP16)",
        },
        "unit": "TFLOPS/TOPS",
        "source": "§3.1 compute cap; mapping per precision is ours",
        "tag": "U",
    },
    "bf16_min_cc": {"value": BF16_MIN_CC, "unit": None, "source": "§3.1", "tag": "C"},
    "fp8_min_cc": {"value": FP8_MIN_CC, "unit": None, "source": "§3.1", "tag": "U"},
    "hours_per_year": {"value": HOURS_PER_YEAR, "unit": "h", "source": "§4.1", "tag": "D"},
}


@dataclass(frozen=True)
class LLMSpec:
    """A decoder-only LLM as far as memory and bandwidth care (circular.md §3.3)."""

    name: str
    slug: str
    params_b: float  # billions of parameters
    layers: int
    kv_heads: int  # GQA: KV heads, not query heads
    head_dim: int
    source: str = ""


def load_llm_models(path: Path | str | None = None) -> dict[str, LLMSpec]:
    """The §3.3 reference models keyed by slug."""
    path = Path(path) if path else CATALOGUE_DIR / "llm_models.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        return {
            row["slug"]: LLMSpec(
                name=row["name"],
                slug=row["slug"],
                params_b=float(row["params_b"]),
                layers=int(row["layers"]),
                kv_heads=int(row["kv_heads"]),
                head_dim=int(row["head_dim"]),
                source=f"{row['source_note']} ({row['source_url']})",
            )
            for row in csv.DictReader(fh)
        }


def load_grid_intensity(path: Path | str | None = None) -> dict[str, float]:
    """§4.2 Ember 2023 life-cycle intensities as kgCO2e/kWh keyed by country (EU27 for the EU)."""
    path = Path(path) if path else CATALOGUE_DIR / "grid_intensity.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["country"]: float(row["g_co2e_per_kwh"]) / 1000 for row in csv.DictReader(fh)}


# --- memory (§3.1) ---------------------------------------------------------------------------


def _precision(precision: str) -> str:
    p = precision.lower()
    if p not in PRECISION_BYTES:
        raise ValueError(
            f"unknown precision {precision!r}; expected one of {list(PRECISION_BYTES)}"
        )
    return p


def weights_gb(model: LLMSpec, precision: str, bytes_per_param: float | None = None) -> float:
    """W = N · b."""
    b = PRECISION_BYTES[_precision(precision)] if bytes_per_param is None else bytes_per_param
    return model.params_b * b


def kv_cache_gb(model: LLMSpec, context: int, concurrency: int = 1, kv_bytes=KV_BYTES) -> float:
    """KV = 2 · L · h_kv · d · b_kv · S · B (2 = K and V)."""
    per_token = 2 * model.layers * model.kv_heads * model.head_dim * kv_bytes
    return per_token * context * concurrency / GB


def memory_need_gb(
    model: LLMSpec,
    precision: str,
    context: int,
    concurrency: int = 1,
    n_devices=1,
    *,
    bytes_per_param: float | None = None,
    kv_bytes: float = KV_BYTES,
):
    """need = (W·(1+o) + KV + C_rt) · (1 + 5 % per extra device); n_devices may be an array.

    The replicated-buffer allowance grows the need rather than shrinking the capacity: the
    buffers are memory the group must hold, and this keeps ``available`` a plain u × Σ VRAM.
    """
    w = weights_gb(model, precision, bytes_per_param)
    single = w * (1 + OVERHEAD) + kv_cache_gb(model, context, concurrency, kv_bytes) + RUNTIME_GB
    return single * (1 + TP_OVERHEAD * (np.asarray(n_devices, dtype=float) - 1))


# --- throughput and energy (§3.1 roofline, §3.5) ---------------------------------------------


def decode_tokens_per_s(
    model: LLMSpec,
    precision: str,
    context: int,
    concurrency: int,
    bandwidth_gbps,
    peak_tflops=np.inf,
    n_devices=1,
    *,
    mbu: float = MBU,
    mfu: float = MFU,
    bytes_per_param: float | None = None,
    kv_bytes: float = KV_BYTES,
):
    """B · MBU · n·BW / (W + KV read per step), capped at MFU · n·peak / (2·N).

    Tensor parallelism is taken as ideal: n devices give n × bandwidth and n × FLOPS [U].
    A NaN peak means "unknown" and leaves the compute cap off (decode is memory-bound anyway).
    """
    n = np.asarray(n_devices, dtype=float)
    bytes_per_step = weights_gb(model, precision, bytes_per_param) + kv_cache_gb(
        model, context, concurrency, kv_bytes
    )
    memory_bound = concurrency * mbu * n * np.asarray(bandwidth_gbps, dtype=float) / bytes_per_step
    peak = np.nan_to_num(np.asarray(peak_tflops, dtype=float), nan=np.inf)
    compute_bound = mfu * n * peak * 1e12 / (2 * model.params_b * 1e9)
    return np.minimum(memory_bound, compute_bound)


def utilisation(concurrency: int) -> float:
    """Average fraction of TDP drawn while decoding (§3.5: 0.7 at batch 1, 0.85 batched)."""
    return UTIL_BATCH_1 if concurrency <= 1 else UTIL_BATCHED


def joules_per_token(power_w, tokens_per_s, pue: float = 1.0):
    """E = P_avg · PUE / tokens/s; leave pue at 1 for the device-level figure."""
    return np.asarray(power_w, dtype=float) * pue / np.asarray(tokens_per_s, dtype=float)


def kgco2e_per_mtok(joules_per_token_facility, grid_kg_per_kwh: float):
    """C_op = E_token · 1e6 / 3.6e6 · CI (§3.6 step 3); pass the PUE-inclusive energy."""
    return (
        np.asarray(joules_per_token_facility, dtype=float) * 1e6 / JOULES_PER_KWH * grid_kg_per_kwh
    )


# --- precision gates (§3.1 hard constraints) --------------------------------------------------


def _flag(values) -> pd.Series:
    """Nullable boolean from bools, None/NaN or 'true'/'false' strings (CSV imports)."""
    text = pd.Series(values, dtype="object").astype("string").str.strip().str.lower()
    words = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    return text.map(words).astype("boolean")


def precision_gate(precision: str, compute_capability, supports_bf16, supports_fp8):
    """(allowed, reason) arrays: can each device run ``precision`` at all?

    A numeric CUDA compute capability decides BF16 (≥ 8.0) and FP8 (≥ 8.9). Where it is not
    numeric (ROCm targets such as "gfx90a") the explicit supports_* flag decides; an explicit
    False flag always refuses. FP16, INT8 and INT4 run everywhere: on V100 (no INT8 tensor cores)
    INT8/INT4 are weight-only and dequantise to FP16, which still saves memory and bandwidth [U].
    """
    p = _precision(precision)
    cc = pd.to_numeric(pd.Series(compute_capability, dtype="object"), errors="coerce")
    cc = cc.to_numpy(dtype=float)
    n = len(cc)
    if p not in ("bf16", "fp8"):
        return np.ones(n, dtype=bool), np.full(n, "", dtype=object)
    min_cc, flag = (BF16_MIN_CC, supports_bf16) if p == "bf16" else (FP8_MIN_CC, supports_fp8)
    flag = _flag(flag)
    flag_true = flag.fillna(False).to_numpy(dtype=bool)
    flag_false = (~flag).fillna(False).to_numpy(dtype=bool)
    has_cc = ~np.isnan(cc)
    cc_ok = has_cc & (cc >= min_cc)
    allowed = np.where(has_cc, cc_ok, flag_true) & ~flag_false
    cc_text = pd.Series(cc).map("{:.1f}".format).to_numpy(dtype=object)
    reason = np.select(
        [has_cc & ~cc_ok, flag_false, ~has_cc & ~flag_true],
        [
            f"{p} needs compute capability ≥ {min_cc:.1f} (has " + cc_text + ")",
            f"device is flagged as not supporting {p}",
            f"{p} support unknown: no numeric compute capability and no supports_{p} flag",
        ],
        default="",
    )
    return allowed, reason


def _peak_tflops(devices: pd.DataFrame, precision: str) -> pd.Series:
    """Dense peak for the compute cap (mapping: ASSUMPTIONS["compute_peak"])."""
    fp16 = devices["fp16_tflops"].fillna(devices["bf16_tflops"])
    if precision == "bf16":
        return devices["bf16_tflops"].fillna(fp16)
    if precision in ("int8", "fp8"):
        return devices["int8_tops"].fillna(fp16)
    return fp16


# --- vectorised entry point (§3.6 steps 1–4) --------------------------------------------------

_DEVICE_COLUMNS = (
    "memory_gb",
    "bandwidth_gbps",
    "fp16_tflops",
    "bf16_tflops",
    "int8_tops",
    "tdp_w",
    "compute_capability",
    "supports_bf16",
    "supports_fp8",
    "embodied_kgco2e",
    "devices_per_server",
)
# hardware/catalogue/models.csv spellings of the same columns
_ALIASES = {"memory_bandwidth_gbps": "bandwidth_gbps", "embodied_gwp_kgco2e": "embodied_kgco2e"}
_NUMERIC = ("memory_gb", "bandwidth_gbps", "fp16_tflops", "bf16_tflops", "int8_tops", "tdp_w")


def _normalise(devices: pd.DataFrame) -> pd.DataFrame:
    d = devices.rename(columns={k: v for k, v in _ALIASES.items() if v not in devices.columns})
    d = d.copy()
    for col in _DEVICE_COLUMNS:
        if col not in d.columns:
            d[col] = np.nan
    for col in (*_NUMERIC, "embodied_kgco2e", "devices_per_server"):
        d[col] = pd.to_numeric(d[col], errors="coerce").astype(float)
    return d


def _fmt(values, spec: str = "{:.1f}") -> pd.Series:
    return pd.Series(values, dtype=float).map(spec.format).astype(object)


def evaluate(
    devices: pd.DataFrame,
    model: LLMSpec,
    precision: str,
    context: int,
    concurrency: int,
    pue: float,
    grid_kg_per_kwh: float,
    target_tokens_per_s: float | None = None,
    max_devices_per_group: int = 8,
    *,
    mbu: float = MBU,
    mfu: float = MFU,
    bytes_per_param: float | None = None,
    kv_bytes: float = KV_BYTES,
) -> pd.DataFrame:
    """Can each device group serve ``model`` at ``precision``, and at what speed and carbon?

    ``devices`` has one row per device type/group: memory_gb, bandwidth_gbps (GB/s), fp16_tflops,
    bf16_tflops, int8_tops, tdp_w, compute_capability (float, or NaN/"gfx90a" for ROCm),
    supports_bf16, supports_fp8, embodied_kgco2e (per device) and devices_per_server. Each row is
    one addressable device: an MI250 is two rows' worth of 64 GB GCDs (§3.1), so give it
    memory_gb=64 and devices_per_server counting GCDs.

    The tensor-parallel group is the smallest n in {1, 2, 4, 8}, capped at devices_per_server
    (NaN → 1) and max_devices_per_group, with need ≤ u · n · VRAM. Rows that fit nowhere report
    the largest n tried. Energy is provisioned power over delivered tokens/s: one group at full
    speed, or with ``target_tokens_per_s`` T, ceil(T / tokens_per_s) groups serving T (§3.6).
    ``embodied_avoided_kgco2e`` is the cut-off credit for reusing those devices instead of buying
    the same number new (§3.6 step 4), before refurbishment/transport burdens.

    Returns a frame on ``devices``' index; ``.attrs['assumptions']`` echoes the values used.
    """
    d = _normalise(devices)
    p = _precision(precision)
    b = PRECISION_BYTES[p] if bytes_per_param is None else bytes_per_param
    rows = len(d)

    allowed, gate_reason = precision_gate(
        p, d["compute_capability"], d["supports_bf16"], d["supports_fp8"]
    )

    vram = d["memory_gb"].to_numpy()
    max_n = np.clip(
        np.minimum(d["devices_per_server"].fillna(1).to_numpy(), max_devices_per_group), 1, None
    )
    chosen = np.full(rows, np.nan)
    largest = np.ones(rows)
    for n in TP_SIZES:
        in_server = n <= max_n
        need_n = memory_need_gb(
            model, p, context, concurrency, n, bytes_per_param=b, kv_bytes=kv_bytes
        )
        fits_n = in_server & (need_n <= USABLE_FRACTION * n * vram)
        chosen = np.where(np.isnan(chosen) & fits_n, n, chosen)
        largest = np.where(in_server, n, largest)
    fits = ~np.isnan(chosen)
    n_dev = np.where(fits, chosen, largest)

    need = memory_need_gb(
        model, p, context, concurrency, n_dev, bytes_per_param=b, kv_bytes=kv_bytes
    )
    available = USABLE_FRACTION * n_dev * vram
    marginal = ~fits & (need <= n_dev * vram)  # §3.4 "≈": fits only with u → 1.0
    supported = allowed & fits

    tps = decode_tokens_per_s(
        model,
        p,
        context,
        concurrency,
        d["bandwidth_gbps"].to_numpy(),
        _peak_tflops(d, p).to_numpy(),
        n_dev,
        mbu=mbu,
        mfu=mfu,
        bytes_per_param=b,
        kv_bytes=kv_bytes,
    )
    tps = np.where(supported, tps, np.nan)

    util = utilisation(concurrency)
    group_power_w = util * d["tdp_w"].to_numpy() * n_dev
    if target_tokens_per_s is None:
        groups = np.where(supported, 1.0, np.nan)
        delivered = tps
    else:
        groups = np.ceil(target_tokens_per_s / tps)
        delivered = np.full(rows, float(target_tokens_per_s))
    j_device = joules_per_token(groups * group_power_w, delivered)
    j_facility = j_device * pue
    total_devices = groups * n_dev

    # Human-readable reason: the first gate that fails, else how it fits.
    group = pd.Series(np.where(n_dev > 1, _fmt(n_dev, "{:.0f}") + " × ", ""))
    capacity = f"{USABLE_FRACTION:g} × " + group + _fmt(vram, "{:g}") + " GB"
    tp_note = pd.Series(np.where(n_dev > 1, " (TP=" + _fmt(n_dev, "{:.0f}") + ")", ""))
    too_big = "needs " + _fmt(need) + " GB > " + capacity + tp_note
    too_big = too_big + pd.Series(np.where(marginal, "; fits only with u → 1.0", ""))
    ok = "fits: " + _fmt(need) + " GB ≤ " + capacity + tp_note
    reason = np.where(~allowed, gate_reason, np.where(fits, ok, too_big))

    used = {k: dict(v) for k, v in ASSUMPTIONS.items()}
    used["mbu"]["value"], used["mfu"]["value"], used["util"]["value"] = mbu, mfu, util
    used["bytes_per_param"]["value"], used["kv_bytes"]["value"] = b, kv_bytes
    used["request"] = {
        "value": {
            "model": model.slug,
            "precision": p,
            "context": context,
            "concurrency": concurrency,
            "pue": pue,
            "grid_kg_per_kwh": grid_kg_per_kwh,
            "target_tokens_per_s": target_tokens_per_s,
        },
        "unit": None,
        "source": "caller",
        "tag": None,
    }

    out = pd.DataFrame(
        {
            "supported": supported,
            "reason": reason,
            "precision_supported": allowed,
            "fits": fits,
            "marginal": marginal,
            "n_devices": n_dev.astype(int),
            "need_gb": need,
            "available_gb": available,
            "tokens_per_s": tps,
            "groups": groups,
            "total_devices": total_devices,
            "power_w": np.where(supported, groups * group_power_w, np.nan),
            "joules_per_token": j_device,
            "joules_per_token_facility": j_facility,
            "kgco2e_per_mtok": kgco2e_per_mtok(j_facility, grid_kg_per_kwh),
            "embodied_avoided_kgco2e": total_devices * d["embodied_kgco2e"].to_numpy(),
            "util": util,
            "mbu": mbu,
            "bytes_per_param": b,
        },
        index=devices.index,
    )
    out.attrs["assumptions"] = used
    return out


# --- embodied credit and keep-vs-replace (§3.6 step 4, §4.1) ----------------------------------


def embodied_avoided_kgco2e(
    n_devices: float, ef_new_equivalent_kg: float, burdens_kg: float = 0.0
) -> float:
    """n · EF_new_equivalent − refurbishment/transport/test burdens (cut-off allocation).

    Reused hardware carries no new manufacturing burden, so reusing it avoids buying the
    equivalent new kit. No default burden was found [U]; pass it when known.
    """
    return n_devices * ef_new_equivalent_kg - burdens_kg


@dataclass(frozen=True)
class Payback:
    """Keep-vs-replace result: ``years`` is ``math.inf`` when replacing never pays back."""

    delta_kwh_per_yr: float
    years: float
    reason: str

    @property
    def never(self) -> bool:
        return math.isinf(self.years)

    def replace_pays_off(self, remaining_life_yr: float) -> bool:
        """§4.1: replace only if ΔE > 0 and payback < remaining useful life of the old kit."""
        return not self.never and self.years < remaining_life_yr


def payback(
    p_old_kw: float,
    p_new_equiv_kw: float,
    ef_new_kg: float,
    grid_kg_per_kwh: float,
    pue: float,
    *,
    ef_transport_kg: float = 0.0,
    ef_refurb_kg: float = 0.0,
    hours_per_year: float = HOURS_PER_YEAR,
) -> Payback:
    """ΔE_yr = (P_old − P_new_equiv) · 8760 · PUE; payback = ΣEF / (ΔE_yr · CI) (§4.1).

    P are average kW for the same delivered service (the new kit's share if it is shared).
    """
    delta = (p_old_kw - p_new_equiv_kw) * hours_per_year * pue
    if delta <= 0:
        return Payback(delta, math.inf, "never: no operational gain")
    if grid_kg_per_kwh <= 0:
        return Payback(delta, math.inf, "never: zero-carbon grid, energy saved avoids no carbon")
    years = (ef_new_kg + ef_transport_kg + ef_refurb_kg) / (delta * grid_kg_per_kwh)
    return Payback(delta, years, f"pays back in {years:.1f} years")
