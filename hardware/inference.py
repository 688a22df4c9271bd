"""Which accelerators can serve which LLM, how fast, at what energy, and when to replace them.

Pure domain math (no Django). The decode-speed constants are not hand-picked: they are fitted to
published measurements (hardware/catalogue/decode_measurements.csv) by `hardware.calibration`
and stored, with the data's hash, in hardware/catalogue/reuse_calibration.json. docs/reuse.md
gives the method and its cross-validated accuracy.

Units, fixed throughout:
- bytes for sizes, GiB (2**30 bytes) for what is compared with a card's memory: vendors' "16 GB"
  cards hold 16 GiB, so a catalogue ``memory_gb`` of 16 is read as 16 GiB.
- bandwidth in GB/s (1e9 bytes/s), compute in TFLOPS/TOPS (1e12 ops/s), power in W, energy in J,
  grid intensity in kgCO2e/kWh, carbon in kgCO2e.
- ``params_b`` is billions of parameters.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from hardware import coverage

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
CALIBRATION_FILE = CATALOGUE_DIR / "reuse_calibration.json"

GIB = 2**30
GB = 1e9
HOURS_PER_YEAR = 8760
JOULES_PER_KWH = 3.6e6

PRECISIONS = ("fp16", "bf16", "fp8", "int8", "int4")
# Bits per weight of each storage format, scales included (derived from the format layouts):
# llama.cpp Q4_0 = 32 × 4-bit + one fp16 scale per block of 32 → 4.5; Q8_0 → 8.5; Q4_K_M mixes
# Q4_K (4.5) with Q6_K for some tensors → ≈ 4.85; AWQ/GPTQ 4-bit with group size 128 carry one
# fp16 scale and one 4-bit zero per group → 4 + 20/128 ≈ 4.16; FP8/INT8 with per-channel scales
# ≈ 8.
QUANT_FORMATS: dict[str, tuple[str, float]] = {
    # format: (precision class, bits per weight)
    "fp16": ("fp16", 16.0),
    "bf16": ("bf16", 16.0),
    "fp8": ("fp8", 8.0),
    "int8": ("int8", 8.0),
    "q8_0": ("int8", 8.5),
    "q4_0": ("int4", 4.5),
    "q4_k_m": ("int4", 4.85),
    "awq": ("int4", 4.16),
    "gptq": ("int4", 4.16),
}
KV_BYTES = 2.0  # fp16 KV cache unless the engine quantises it
FIT_HEADROOM = 0.05  # the last 5 % of memory: "marginal" (allocator slack, fragmentation)
TP_SIZES = (1, 2, 4, 8)
DEFAULT_ENGINE = "vllm"

BF16_MIN_CC = 8.0  # Ampere or later
FP8_MIN_CC = 8.9  # Ada and Hopper


@dataclass(frozen=True)
class LLMSpec:
    """A decoder-only LLM as far as memory and bandwidth care."""

    name: str
    slug: str
    params_b: float  # billions of parameters
    layers: int
    kv_heads: int  # GQA: KV heads, not query heads
    head_dim: int
    source: str = ""
    # Mixture of experts: the parameters one token reads (blank in the CSV = dense, all of them).
    active_params_b: float | None = None

    @property
    def read_params_b(self) -> float:
        """Billions of parameters each decode step reads per token: all, or a MoE's active ones."""
        return self.active_params_b or self.params_b

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V of every layer for one token, at fp16."""
        return 2 * self.layers * self.kv_heads * self.head_dim * KV_BYTES


def load_llm_models(*paths: Path | str) -> dict[str, LLMSpec]:
    """The reference models keyed by slug: llm_models.csv and llm_models_extra.csv."""
    paths = paths or tuple(
        p for p in (CATALOGUE_DIR / "llm_models.csv", CATALOGUE_DIR / "llm_models_extra.csv")
        if p.exists()
    )  # fmt: skip
    out: dict[str, LLMSpec] = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                out[row["slug"]] = LLMSpec(
                    name=row["name"],
                    slug=row["slug"],
                    params_b=float(row["params_b"]),
                    layers=int(row["layers"]),
                    kv_heads=int(row["kv_heads"]),
                    head_dim=int(row["head_dim"]),
                    source=f"{row['source_note']} ({row['source_url']})",
                    active_params_b=float(row["active_params_b"])
                    if (row.get("active_params_b") or "").strip()
                    else None,
                )
    return out


@dataclass(frozen=True)
class Engine:
    slug: str
    name: str
    runtime_overhead_gib: float
    int8_format: str
    int4_format: str
    tensor_parallel: bool  # False: layers split across devices, read one after the other
    source: str


@lru_cache(maxsize=1)
def engines() -> dict[str, Engine]:
    with open(CATALOGUE_DIR / "engines.csv", newline="", encoding="utf-8") as fh:
        return {
            r["slug"]: Engine(
                r["slug"],
                r["name"],
                float(r["runtime_overhead_gib"]),
                r["int8_format"],
                r["int4_format"],
                r["multi_gpu"] == "tensor",
                f"{r['source_title']} ({r['source_url']}); {r['note']}",
            )
            for r in csv.DictReader(fh)
        }


@lru_cache(maxsize=1)
def accelerator_memory() -> dict[str, dict[str, str]]:
    """Memory technology and in-server interconnect per catalogue accelerator slug."""
    with open(CATALOGUE_DIR / "accelerator_memory.csv", newline="", encoding="utf-8") as fh:
        return {r["model"]: r for r in csv.DictReader(fh)}


def _engine(slug: str) -> Engine:
    known = engines()
    if slug not in known:
        raise ValueError(f"unknown engine {slug!r}; expected one of {sorted(known)}")
    return known[slug]


def _precision(precision: str) -> str:
    p = precision.lower()
    if p not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {list(PRECISIONS)}")
    return p


def weight_format(precision: str, engine: str = DEFAULT_ENGINE, fmt: str | None = None) -> str:
    """The storage format a precision takes on an engine (llama.cpp int4 → q4_0, vLLM → awq)."""
    p = _precision(precision)
    if fmt is not None:
        if fmt not in QUANT_FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(QUANT_FORMATS)}")
        if QUANT_FORMATS[fmt][0] != p and {QUANT_FORMATS[fmt][0], p} != {"fp16", "bf16"}:
            raise ValueError(f"format {fmt!r} is not a {p} format")
        return fmt
    e = _engine(engine)
    return {"int8": e.int8_format, "int4": e.int4_format}.get(p, p)


def bits_per_weight(precision: str, engine: str = DEFAULT_ENGINE, fmt: str | None = None) -> float:
    return QUANT_FORMATS[weight_format(precision, engine, fmt)][1]


# --- memory ---------------------------------------------------------------------------------


def weights_bytes(model: LLMSpec, bits: float) -> float:
    return model.params_b * 1e9 * bits / 8


def kv_cache_bytes(model: LLMSpec, context, concurrency=1):
    return model.kv_bytes_per_token * np.asarray(context, dtype=float) * concurrency


def memory_need_gib(
    model: LLMSpec,
    precision: str,
    context,
    concurrency=1,
    n_devices=1,
    *,
    engine: str = DEFAULT_ENGINE,
    fmt: str | None = None,
):
    """Per-device need in GiB: (weights + KV) split over the TP group + the engine's runtime.

    Each device of a tensor-parallel group holds 1/n of the weights and of the KV heads, and its
    own CUDA context and activation buffers (the engine's runtime overhead).
    """
    bits = bits_per_weight(precision, engine, fmt)
    shared = weights_bytes(model, bits) + kv_cache_bytes(model, context, concurrency)
    n = np.asarray(n_devices, dtype=float)
    return shared / n / GIB + _engine(engine).runtime_overhead_gib


def fit_status(need_gib, vram_gib) -> np.ndarray:
    """'fits' (≤ 95 % of memory), 'marginal' (in the last 5 %) or 'does-not-fit'."""
    need, vram = np.asarray(need_gib, dtype=float), np.asarray(vram_gib, dtype=float)
    return np.select(
        [need <= (1 - FIT_HEADROOM) * vram, need <= vram],
        ["fits", "marginal"],
        default="does-not-fit",
    ).astype(object)


def largest_fitting(
    model: LLMSpec, precision, context, concurrency, n_devices, vram_gib, *, engine, fmt=None
) -> tuple[np.ndarray, np.ndarray]:
    """(largest context at this concurrency, largest concurrency at this context) that fit in
    95 % of memory; 0 where even the weights do not."""
    bits = bits_per_weight(precision, engine, fmt)
    n = np.asarray(n_devices, dtype=float)
    room = ((1 - FIT_HEADROOM) * np.asarray(vram_gib, dtype=float)) - _engine(
        engine
    ).runtime_overhead_gib
    kv_room = room * n * GIB - weights_bytes(model, bits)
    per_token = model.kv_bytes_per_token
    with np.errstate(invalid="ignore"):
        max_context = np.floor(np.clip(kv_room, 0, None) / (per_token * concurrency))
        max_concurrency = np.floor(np.clip(kv_room, 0, None) / (per_token * context))
    return np.nan_to_num(max_context), np.nan_to_num(max_concurrency)


# --- decode speed: the calibrated model -------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Fitted constants of the decode model (see `step_time_s`); read from the catalogue."""

    params: dict[str, float]
    util_batch_1: float
    util_batched: float
    util_source: str
    band_low: float  # measured ÷ estimated: the pooled 80 % interval's low end
    band_high: float  # … its high end
    meta: dict = field(default_factory=dict)
    bands: dict = field(default_factory=dict)  # per engine and the prior (hardware.coverage)

    def get(self, name: str, default: float = 0.0) -> float:
        return self.params.get(name, default)

    def band(
        self, engine: str, gpu: str = "", concurrency: float = 1, n_devices: float = 1
    ) -> tuple[float, float, bool]:
        """(low, high, few measurements) of the speed interval for one estimate: `gpu` is the
        catalogue slug (blank: a GPU without published measurements)."""
        if not self.bands:
            return self.band_low, self.band_high, False
        return coverage.band_for(self.bands, engine, gpu, concurrency, n_devices)


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    """The stored fit (`manage.py calibrate_reuse` writes it)."""
    with open(CALIBRATION_FILE, encoding="utf-8") as fh:
        data = json.load(fh)
    return calibration_from_dict(data)


def calibration_from_dict(data: dict) -> Calibration:
    power = data["power"]
    return Calibration(
        params=dict(data["constants"]),
        util_batch_1=power["util_batch_1"],
        util_batched=power["util_batched"],
        util_source=power["source"],
        band_low=data["band"]["low"],
        band_high=data["band"]["high"],
        bands=data["band"],
        meta={
            k: data[k]
            for k in ("data_sha256", "fitted_on", "rows", "cv", "coverage", "builds")
            if k in data
        },
    )


def step_features(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The physical terms of one decode step, per row, before any fitted constant.

    ``frame`` columns: params_b (optional active_params_b for a mixture of experts), layers,
    kv_bytes_per_token, bits_per_weight, n_devices, bandwidth_gbps, peak_tflops, concurrency,
    kv_context, engine; optional split (a measured run's own: layer or tensor), prefill_per_output
    (prompt tokens ÷ output tokens of a measured run) and per_output (1 ÷ output tokens of a
    measured run). Times are seconds at 100 % of the datasheet rate:
    - memory: bytes each device reads ÷ its bandwidth: the weights one token uses (a MoE's active
      experts only) plus every stream's KV cache at its context. With tensor parallelism the n
      devices read their shares at once; engines that split layers across devices read them one
      after another, so the step reads every byte at one device's bandwidth.
    - compute: FLOPs per device ÷ its peak (unknown where the peak is: no speed is estimated).
    - prefill: the same for the prompt, spread over the output tokens, where a measured run's
      throughput includes its prompts (0 for an estimate of steady decoding).
    - per_output: 1 ÷ output tokens of a measured request (fixed request latency — scheduling,
      tokenising, HTTP — spread over its tokens; 0 for an estimate of steady decoding).
    - layers: per-layer kernel launches of one step (engine overhead grows with depth).
    - layers_tp: tensor parallel over n > 1 devices: two all-reduces per layer, each of
      log2(n) latency-bound steps; else 0.
    - hops: layer split over n > 1 devices: n − 1 hand-overs per step; else 0.
    - quantised: the memory term again for weights below 16 bits (dequantisation kernels).
    """
    n = frame["n_devices"].to_numpy(dtype=float)
    split = np.array(
        [engines()[e].tensor_parallel if e in engines() else True for e in frame["engine"]]
    )
    if "split" in frame:  # a measured run's own split, where it is not the engine's default
        given = frame["split"].fillna("").astype(str).to_numpy()
        split = np.where(given == "", split, given == "tensor")
    readers = np.where(split, n, 1.0)
    batch = frame["concurrency"].to_numpy(dtype=float)
    total = frame["params_b"].to_numpy(dtype=float)
    if "active_params_b" in frame:
        active = pd.to_numeric(frame["active_params_b"], errors="coerce").to_numpy(dtype=float)
        total = np.where(active > 0, active, total)
    params = total * 1e9
    bits = frame["bits_per_weight"].to_numpy(dtype=float)
    kv = (
        frame["kv_bytes_per_token"].to_numpy(dtype=float)
        * frame["kv_context"].to_numpy(dtype=float)
        * batch
    )
    memory = (params * bits / 8 + kv) / readers / (frame["bandwidth_gbps"].to_numpy(float) * 1e9)

    def optional(name):
        if name not in frame:
            return np.zeros(len(frame))
        return np.nan_to_num(frame[name].to_numpy(dtype=float))

    peak = frame["peak_tflops"].to_numpy(dtype=float) * 1e12
    # An unknown peak leaves the compute time unknown (NaN), and so the speed: never 0 s.
    compute = 2 * params * batch / (readers * np.where(peak > 0, peak, np.nan))
    layers = frame["layers"].to_numpy(dtype=float)
    multi = n > 1
    return {
        "memory": memory,
        "compute": compute,
        "prefill": compute * optional("prefill_per_output"),
        "per_output": optional("per_output"),
        "layers": layers,
        "layers_tp": np.where(multi & split, layers * np.log2(np.maximum(n, 1)), 0.0),
        "hops": np.where(multi & ~split, n - 1, 0.0),
        "quantised": np.where(bits < 16, memory, 0.0),
        "batch": batch,
    }


def quant_keys(frame: pd.DataFrame) -> list[str]:
    """Whose dequantisation kernels a row runs: a named library (weight_format) or the engine's."""
    formats = frame["weight_format"] if "weight_format" in frame else [""] * len(frame)
    return [
        f if isinstance(f, str) and f else e for f, e in zip(formats, frame["engine"], strict=True)
    ]


def step_time_s(frame: pd.DataFrame, cal: Calibration) -> np.ndarray:
    """t = memory·(η⁻¹ + tech + engine) + quantised·q(engine) + t₀(engine)
    + layers·launch(engine) + layers·log2(n)·c(interconnect) + (n − 1)·hop(engine)
    + compute·k [+ prefill·p + request ÷ output tokens, for a measured run].

    The terms are fitted by `hardware.calibration.fit`; a technology, engine or interconnect the
    data never saw takes the pooled value (its own term 0, the engine's t₀, launch and hop the
    median over the engines fitted, an unseen interconnect PCIe's).
    """
    f = step_features(frame)
    tech = frame["memory_technology"].astype(object).to_numpy()
    engine = frame["engine"].astype(object).to_numpy()
    link = frame["interconnect"].astype(object).to_numpy()

    def pooled(prefix):
        values = [v for k, v in cal.params.items() if k.startswith(prefix)]
        return float(np.median(values)) if values else 0.0

    t0_default, launch_default = pooled("t0:"), pooled("launch:")
    inv_eta = cal.get("memory") + np.array(
        [
            cal.get(f"memory:{t}") + cal.get(f"memory_engine:{e}")
            for t, e in zip(tech, engine, strict=True)
        ]
    )
    # Nothing reads memory faster than its datasheet bandwidth.
    inv_eta = np.maximum(inv_eta, 1.0)
    t0 = np.array([cal.get(f"t0:{e}", t0_default) for e in engine])
    launch = np.array([cal.get(f"launch:{e}", launch_default) for e in engine])
    per_layer = np.array([cal.get(f"tp:{x}", cal.get("tp:pcie")) for x in link])
    hop_default = pooled("hop:")
    per_hop = np.array([cal.get(f"hop:{e}", hop_default) for e in engine])
    quant = np.array([cal.get(f"quant:{k}") for k in quant_keys(frame)])
    return (
        f["memory"] * inv_eta
        + f["quantised"] * quant
        + t0
        + f["layers"] * launch
        + f["layers_tp"] * per_layer
        + f["hops"] * per_hop
        + f["compute"] * cal.get("compute")
        + f["prefill"] * cal.get("prefill")
        + f["per_output"] * cal.get("request")
    )


def decode_tokens_per_s(frame: pd.DataFrame, cal: Calibration | None = None) -> np.ndarray:
    """Aggregate decode tokens/s over all streams: concurrency / step time."""
    cal = cal or calibration()
    return frame["concurrency"].to_numpy(dtype=float) / step_time_s(frame, cal)


def utilisation(concurrency: int, cal: Calibration | None = None) -> float:
    """Average fraction of TDP drawn while decoding."""
    cal = cal or calibration()
    return cal.util_batch_1 if concurrency <= 1 else cal.util_batched


def joules_per_token(power_w, tokens_per_s, pue: float = 1.0):
    """E = P_avg · PUE / tokens/s; leave pue at 1 for the device-level figure."""
    return np.asarray(power_w, dtype=float) * pue / np.asarray(tokens_per_s, dtype=float)


def kgco2e_per_mtok(joules_per_token_facility, grid_kg_per_kwh):
    """Operational carbon of a million tokens: E_token · 1e6 / 3.6e6 · CI."""
    return (
        np.asarray(joules_per_token_facility, dtype=float)
        * 1e6
        / JOULES_PER_KWH
        * np.asarray(grid_kg_per_kwh, dtype=float)
    )


# --- precision gates ------------------------------------------------------------------------


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
    INT8/INT4 are weight-only and dequantise to FP16, which still saves memory and bandwidth.
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


def peak_tflops(devices: pd.DataFrame, precision: str) -> pd.Series:
    """Dense peak used for the compute term: INT8/FP8 kernels at the INT8 rate, INT4 weight-only
    kernels dequantise to FP16, BF16 at its own rate (else FP16)."""
    fp16 = devices["fp16_tflops"].fillna(devices["bf16_tflops"])
    if precision == "bf16":
        return devices["bf16_tflops"].fillna(fp16)
    if precision in ("int8", "fp8"):
        return devices["int8_tops"].fillna(fp16)
    return fp16


# --- vectorised entry point -----------------------------------------------------------------

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
    "embodied_low_kgco2e",
    "embodied_high_kgco2e",
    "devices_per_server",
    "memory_technology",
    "interconnect",
)
# hardware/catalogue/models.csv spellings of the same columns
_ALIASES = {
    "memory_bandwidth_gbps": "bandwidth_gbps",
    "embodied_gwp_kgco2e": "embodied_kgco2e",
    "embodied_gwp_min_kgco2e": "embodied_low_kgco2e",
    "embodied_gwp_max_kgco2e": "embodied_high_kgco2e",
}
_NUMERIC = (
    "memory_gb",
    "bandwidth_gbps",
    "fp16_tflops",
    "bf16_tflops",
    "int8_tops",
    "tdp_w",
    "embodied_kgco2e",
    "embodied_low_kgco2e",
    "embodied_high_kgco2e",
    "devices_per_server",
)


def _normalise(devices: pd.DataFrame) -> pd.DataFrame:
    d = devices.rename(columns={k: v for k, v in _ALIASES.items() if v not in devices.columns})
    d = d.copy()
    for col in _DEVICE_COLUMNS:
        if col not in d.columns:
            d[col] = np.nan
    for col in _NUMERIC:
        d[col] = pd.to_numeric(d[col], errors="coerce").astype(float)
    # A missing range is the central value: one number, no band from this term.
    d["embodied_low_kgco2e"] = d["embodied_low_kgco2e"].fillna(d["embodied_kgco2e"])
    d["embodied_high_kgco2e"] = d["embodied_high_kgco2e"].fillna(d["embodied_kgco2e"])
    return d


def _fmt(values, spec: str = "{:.1f}") -> pd.Series:
    return pd.Series(values, dtype=float).map(spec.format).astype(object)


def _hint(status, max_context, max_concurrency, context, concurrency) -> np.ndarray:
    """What to lower for a marginal or failing fit, when lowering context/concurrency helps."""
    ctx = _fmt(max_context, "{:.0f}").to_numpy()
    conc = _fmt(max_concurrency, "{:.0f}").to_numpy()
    lower_context = np.where(
        (max_context >= 1) & (max_context < context), "context to ≤ " + ctx + " tokens", ""
    )
    lower_conc = np.where(
        (max_concurrency >= 1) & (max_concurrency < concurrency),
        "concurrency to ≤ " + conc,
        "",
    )
    both = np.where(
        (lower_context != "") & (lower_conc != ""),
        lower_context + " or " + lower_conc,
        lower_context + lower_conc,
    )
    text = np.where(both != "", "lower " + both, "")
    weights_only = (max_context < 1) & (status != "fits")
    text = np.where(
        weights_only, "the weights alone do not fit: use more devices or fewer bits", text
    )
    return np.where(status == "fits", "", text).astype(object)


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
    engine: str = DEFAULT_ENGINE,
    fmt: str | None = None,
    cal: Calibration | None = None,
) -> pd.DataFrame:
    """Can each device group serve ``model`` at ``precision``, and at what speed and carbon?

    ``devices`` has one row per device type/group: memory_gb (read as GiB), bandwidth_gbps,
    fp16_tflops, bf16_tflops, int8_tops, tdp_w, compute_capability, supports_bf16, supports_fp8,
    embodied_kgco2e (+ _low/_high), devices_per_server, memory_technology, interconnect. Each row
    is one addressable device: an MI250 is two 64 GB GCDs, so give memory_gb=64.

    The tensor-parallel group is the smallest n in {1, 2, 4, 8} (≤ devices_per_server, NaN → 1,
    and ≤ max_devices_per_group) whose status is `fits`; else the smallest that is `marginal`;
    else the largest tried, `does-not-fit`. Energy is provisioned power over delivered tokens/s:
    one group at full speed, or with ``target_tokens_per_s`` T, ceil(T / tokens/s) groups.
    Every speed, energy and carbon figure has _low and _high columns: the band of the
    cross-validated residuals (speed) and of the embodied-carbon range.
    """
    cal = cal or calibration()
    d = _normalise(devices)
    p = _precision(precision)
    chosen_fmt = weight_format(p, engine, fmt)
    bits = QUANT_FORMATS[chosen_fmt][1]
    rows = len(d)

    allowed, gate_reason = precision_gate(
        p, d["compute_capability"], d["supports_bf16"], d["supports_fp8"]
    )
    vram = d["memory_gb"].to_numpy()
    max_n = np.clip(
        np.minimum(d["devices_per_server"].fillna(1).to_numpy(), max_devices_per_group), 1, None
    )
    chosen_fit = np.full(rows, np.nan)
    chosen_marginal = np.full(rows, np.nan)
    largest = np.ones(rows)
    for n in TP_SIZES:
        in_server = n <= max_n
        status_n = fit_status(
            memory_need_gib(model, p, context, concurrency, n, engine=engine, fmt=chosen_fmt),
            vram,
        )
        chosen_fit = np.where(
            np.isnan(chosen_fit) & in_server & (status_n == "fits"), n, chosen_fit
        )
        chosen_marginal = np.where(
            np.isnan(chosen_marginal) & in_server & (status_n == "marginal"), n, chosen_marginal
        )
        largest = np.where(in_server, n, largest)
    n_dev = np.where(
        ~np.isnan(chosen_fit),
        chosen_fit,
        np.where(~np.isnan(chosen_marginal), chosen_marginal, largest),
    )
    need = memory_need_gib(model, p, context, concurrency, n_dev, engine=engine, fmt=chosen_fmt)
    status = fit_status(need, vram)
    fits = status == "fits"
    marginal = status == "marginal"
    supported = allowed & (fits | marginal)
    max_context, max_conc = largest_fitting(
        model, p, context, concurrency, n_dev, vram, engine=engine, fmt=chosen_fmt
    )
    hint = _hint(status, max_context, max_conc, context, concurrency)

    frame = pd.DataFrame(
        {
            "params_b": model.params_b,
            "active_params_b": model.read_params_b,
            "layers": model.layers,
            "kv_bytes_per_token": model.kv_bytes_per_token,
            "bits_per_weight": bits,
            "n_devices": n_dev,
            "bandwidth_gbps": d["bandwidth_gbps"].to_numpy(),
            "peak_tflops": peak_tflops(d, p).to_numpy(),
            "concurrency": concurrency,
            "kv_context": context,
            "memory_technology": d["memory_technology"].to_numpy(),
            "interconnect": np.where(n_dev > 1, d["interconnect"].to_numpy(), "none"),
            "engine": engine,
        }
    )
    tps = np.where(supported, decode_tokens_per_s(frame, cal), np.nan)
    # The stated 80 % interval of measured ÷ estimated for this engine on this GPU, at this
    # concurrency and GPU count (hardware.coverage).
    slugs = d["slug"].astype(str).to_numpy() if "slug" in d else np.full(rows, "")
    ends = [cal.band(engine, g, concurrency, n) for g, n in zip(slugs, n_dev, strict=True)]
    band_low = np.array([e[0] for e in ends])
    band_high = np.array([e[1] for e in ends])
    few = np.array([e[2] for e in ends], dtype=bool)
    tps_low, tps_high = tps * band_low, tps * band_high

    util = utilisation(concurrency, cal)
    group_power_w = util * d["tdp_w"].to_numpy() * n_dev
    if target_tokens_per_s is None:
        groups = np.where(supported, 1.0, np.nan)
        delivered = tps
        power = np.where(supported, group_power_w, np.nan)
        j = joules_per_token(power, tps)
        # More tokens per second for the same power: fewer joules per token.
        j_low, j_high = joules_per_token(power, tps_high), joules_per_token(power, tps_low)
    else:
        groups = np.ceil(target_tokens_per_s / tps)
        delivered = np.full(rows, float(target_tokens_per_s))
        power = groups * group_power_w
        j = joules_per_token(power, delivered)
        j_low = joules_per_token(np.ceil(target_tokens_per_s / tps_high) * group_power_w, delivered)
        j_high = joules_per_token(np.ceil(target_tokens_per_s / tps_low) * group_power_w, delivered)
    total_devices = groups * n_dev

    group = pd.Series(np.where(n_dev > 1, _fmt(n_dev, "{:.0f}") + " × ", ""))
    capacity = group + _fmt(vram, "{:g}") + " GiB"
    per_device = pd.Series(np.where(n_dev > 1, " per device", ""))
    verdict = pd.Series(status).map(
        {"fits": "fits", "marginal": "marginal", "does-not-fit": "does not fit"}
    )
    text = verdict + ": needs " + _fmt(need) + " GiB" + per_device + " of " + capacity
    text = text + pd.Series(np.where(hint != "", "; " + hint, ""))
    no_peak = supported & np.isnan(frame["peak_tflops"].to_numpy(dtype=float))
    text = text + pd.Series(
        np.where(no_peak, "; speed unknown: the catalogue has no FP16/BF16/INT8 peak for it", "")
    )
    reason = np.where(~allowed, gate_reason, text)

    out = pd.DataFrame(
        {
            "supported": supported,
            "reason": reason,
            "precision_supported": allowed,
            "fit": status,
            "fits": fits,
            "marginal": marginal,
            "lower_hint": hint,
            "max_context": max_context,
            "max_concurrency": max_conc,
            "n_devices": n_dev.astype(int),
            "need_gib": need,
            "memory_gib": vram,
            "tokens_per_s": tps,
            "tokens_per_s_low": tps_low,
            "tokens_per_s_high": tps_high,
            "groups": groups,
            "total_devices": total_devices,
            "power_w": np.where(supported, power, np.nan),
            "joules_per_token": j,
            "joules_per_token_low": j_low,
            "joules_per_token_high": j_high,
            "kgco2e_per_mtok": kgco2e_per_mtok(j * pue, grid_kg_per_kwh),
            "embodied_avoided_kgco2e": total_devices * d["embodied_kgco2e"].to_numpy(),
            "util": util,
            "bits_per_weight": bits,
            "weight_format": chosen_fmt,
            "delivered_tokens_per_s": delivered,
            "few_measurements": np.where(supported, few, False),
        },
        index=devices.index,
    )
    out.attrs["assumptions"] = assumptions(cal, engine, p, chosen_fmt, util)
    return out


def _accuracy_words(cv: dict) -> str:
    """The leave-one-GPU-out summary as docs/reuse.md's accuracy table reads it: the median is
    of estimate ÷ measured, the inverse of the band's ratio."""
    if "median_ratio" not in cv or "share_within_35" not in cv:
        return "not recorded"
    return (
        f"median estimate ÷ measured {cv['median_ratio']:.2f}, "
        f"{cv['share_within_35'] * 100:.0f} % within ±35 %"
    )


def _band_words(cal: Calibration, e: Engine) -> str:
    low, high, few = cal.band(e.slug)
    level = cal.bands.get("level", 0.8)
    seen = cal.bands.get("seen")
    published = ""
    if seen and e.slug in seen["covers"]["engine"]:
        published = (
            f"On a GPU with published measurements, at a concurrency and GPU count that "
            f"{seen['min_tables']} or more publications cover: × {seen['low']:.2f} to "
            f"× {seen['high']:.2f} ({level:.0%} range, from {seen['tables']} publications no "
            "fit read). Otherwise: "
        )
    if few:
        level = cal.bands.get("prior", {}).get("level", level)
        return published + (
            f"× {low:.2f} to × {high:.2f} of the central estimate: few measurements of "
            f"{e.name}, so the wider {level:.0%} range of all engines stands for its 80 % range"
        )
    rows = cal.bands.get("per_engine", {}).get(e.slug, {}).get("rows")
    whose = f"from {rows} measurements of {e.name}" if rows else "from all engines"
    return published + (
        f"× {low:.2f} to × {high:.2f} of the central estimate ({level:.0%} range, {whose}, "
        "each GPU left out of the fit)"
    )


def _dates_words(dates: list[str]) -> str:
    return dates[0] if len(dates) == 1 else ", ".join(dates[:-1]) + " and " + dates[-1]


def build_words(span: dict | None, name: str) -> str:
    """Which builds of the serving software its estimate describes (`calibration.builds`), in
    words."""
    if not span:
        return (
            f"no published measurement of {name} informs the fit, so its speed is that of the "
            "engines in general"
        )
    oldest, newest, rows = span["oldest"], span["newest"], span["rows"]
    if not oldest:
        ran = "builds they do not date"
    elif newest.startswith(oldest):  # "2024" and "2024-01": the year says all that is known
        ran = f"builds of {oldest}"
    else:
        ran = f"builds of {oldest} to {newest}"
    if rows == 1:
        ran = ran.replace("builds of", "a build of").replace("builds they", "a build it")
    measured = f"{rows} fitted measurement{'' if rows == 1 else 's'} ({ran})"
    changes = span["changes"]
    if changes:
        plural = len(changes) > 1
        return (
            f"estimated as its builds since {changes[-1]} run. The documented speed-up"
            f"{'s' if plural else ''} of {_dates_words(changes)} {'are' if plural else 'is'} in "
            f"the model, so its {measured} {'is' if rows == 1 else 'are'} read as today's build"
        )
    return (
        f"estimated as its {measured} show{'s' if rows == 1 else ''} it. No documented "
        "speed-up since is in the model, "
        "so a newer build may run at another speed"
    )


def range_record(cal: Calibration, engine: str) -> dict | None:
    """How the range held for `engine` on the independent check (rows no fit saw): its share
    inside, rows, tables, the band a range exactly right would land in (`hardware.chance`), and
    `verdict`: "below" or "above" that band (more than chance explains), "within", or "few"
    (under 10 rows: not judged). None when the check holds no row of it."""
    figures = (
        cal.meta.get("coverage", {}).get("check", {}).get("per_class", {}).get("engine", {})
    ).get(engine)
    if not figures:
        return None
    band = figures.get("chance")
    verdict = "few" if figures["rows"] < coverage.GOAL_MIN_ROWS or not band else "within"
    if verdict == "within" and figures["coverage"] < band[0] - 1e-9:
        verdict = "below"
    elif verdict == "within" and figures["coverage"] > band[1] + 1e-9:
        verdict = "above"
    return {**figures, "verdict": verdict}


def range_record_words(record: dict | None, name: str) -> str:
    """A `range_record` as a sentence."""
    if record is None:
        return f"The independent check holds no published measurement of {name}."
    held = (
        f"On published measurements of {name} that no fit saw, the range held "
        f"{record['coverage']:.0%} of {record['rows']} (from {record['tables']} "
        f"publication{'' if record['tables'] == 1 else 's'})"
    )
    if record["verdict"] == "few":
        return held + ": too few to judge."
    right = f"a range exactly right would hold {record['chance'][0]:.0%}–{record['chance'][1]:.0%}"
    return (
        held
        + {
            "within": f"; {right} there, so this is no more than chance.",
            "below": f", where {right}: the true speed lies outside it more often than stated.",
            "above": f", where {right}: it is wider than it needs to be.",
        }[record["verdict"]]
    )


def _coverage_words(cov: dict) -> str:
    parts = [
        f"{words} {cov[key]['coverage']:.0%} of {cov[key]['rows']} inside"
        for key, words in (
            ("logo", "each GPU left out"),
            ("range", "each range publication left out"),
            ("check", "independent check"),
        )
        if key in cov
    ]
    return "; ".join(parts) or "not recorded"


def assumptions(cal: Calibration, engine: str, precision: str, fmt: str, util: float) -> dict:
    """What an answer assumed, in words: {key: {what, value, source}}."""
    e = _engine(engine)
    meta = cal.meta
    cv = meta.get("cv", {})
    return {
        "engine": {
            "what": "Serving software assumed",
            "value": f"{e.name}: {build_words(meta.get('builds', {}).get(e.slug), e.name)}",
            "source": "chosen in the query (default vLLM); builds from the fitted "
            "measurements' own dates, speed-ups from the engines' release notes and blogs",
        },
        "weight_format": {
            "what": "How the weights are stored",
            "value": f"{fmt}, {QUANT_FORMATS[fmt][1]:g} bits per weight (scales included)",
            "source": f"{precision} on {e.name}; bits from the format's block layout",
        },
        "memory": {
            "what": "Memory a card offers",
            "value": "its label in GiB (a 16 GB card holds 16 GiB); the last 5 % is 'marginal'",
            "source": "vendor capacities are binary; How these figures are made, Memory fit",
        },
        "runtime_overhead": {
            "what": "Memory the serving software needs besides weights and KV cache",
            "value": f"{e.runtime_overhead_gib:g} GiB per device",
            "source": e.source,
        },
        "kv_cache": {
            "what": "Attention cache (keys and values of every token kept)",
            "value": "16-bit, full context for every concurrent request",
            "source": "model shape from the catalogue's table of language models",
        },
        "speed": {
            "what": "Decode speed model",
            "value": "time per step = bytes read ÷ bandwidth × fitted factor + fitted fixed cost "
            "+ fitted cost per layer across devices + compute time × fitted factor",
            "source": f"fitted to {meta.get('rows', '?')} published measurements "
            f"(data {str(meta.get('data_sha256', ''))[:12]}, fitted {meta.get('fitted_on', '?')})",
        },
        "speed_band": {
            "what": "Range given for speed, energy and carbon",
            "value": _band_words(cal, e)
            + ". "
            + range_record_words(range_record(cal, e.slug), e.name),
            "source": "measured ÷ estimated on publications no fit read (GPUs with "
            "measurements), else when each GPU is left out of the fit (accuracy: "
            f"{_accuracy_words(cv)}; coverage on measurements no fit saw: "
            f"{_coverage_words(meta.get('coverage', {}))})",
        },
        "power": {
            "what": "Power drawn while generating",
            "value": f"{util:.2f} × the card's rated power (TDP)",
            "source": cal.util_source,
        },
    }


# --- embodied credit and keep-vs-replace ------------------------------------------------------


def embodied_avoided_kgco2e(
    n_devices: float, ef_new_equivalent_kg: float, burdens_kg: float = 0.0
) -> float:
    """n · EF_new_equivalent − refurbishment/transport/test burdens (cut-off allocation).

    Reused hardware carries no new manufacturing burden, so reusing it avoids buying the
    equivalent new kit. No default burden was found; pass it when known.
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
        """Replace only if ΔE > 0 and payback < remaining useful life of the old kit."""
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
    """ΔE_yr = (P_old − P_new_equiv) · 8760 · PUE; payback = ΣEF / (ΔE_yr · CI).

    P are average kW for the same delivered service (the new kit's share if it is shared).
    """
    delta = (p_old_kw - p_new_equiv_kw) * hours_per_year * pue
    if delta <= 0:
        return Payback(delta, math.inf, "never: no operational gain")
    if grid_kg_per_kwh <= 0:
        return Payback(delta, math.inf, "never: zero-carbon grid, energy saved avoids no carbon")
    years = (ef_new_kg + ef_transport_kg + ef_refurb_kg) / (delta * grid_kg_per_kwh)
    return Payback(delta, years, f"pays back in {years:.1f} years")


def payback_years(p_old_kw, p_new_kw, ef_new_kg, grid_kg_per_kwh, pue) -> np.ndarray:
    """Vectorised `payback`: years, inf when there is no gain or the grid is carbon-free."""
    delta = (np.asarray(p_old_kw, float) - np.asarray(p_new_kw, float)) * HOURS_PER_YEAR * pue
    with np.errstate(divide="ignore", invalid="ignore"):
        years = np.asarray(ef_new_kg, float) / (delta * grid_kg_per_kwh)
    return np.where((delta <= 0) | (np.asarray(grid_kg_per_kwh) <= 0), np.inf, years)
