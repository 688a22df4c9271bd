"""Reuse fit, inference estimates and carbon payback, checked against circular.md §3–§4.

Pure: no Django. Expected values are transcribed from the reference tables, not computed with the
code under test. Run with ``pytest -p no:django``.
"""

import math

import numpy as np
import pandas as pd
import pytest

from hardware import inference as inf

NAN = float("nan")

# circular.md §3.2, dense tensor throughput; embodied kgCO2e from the last column (§1.6b).
# None for supports_* means "not declared": the numeric compute capability decides.
DEVICES = {
    "v100-sxm2-16": dict(
        memory_gb=16, bandwidth_gbps=900, tdp_w=300, fp16_tflops=125, bf16_tflops=NAN,
        int8_tops=NAN, compute_capability=7.0, embodied_kgco2e=206,
    ),
    "t4": dict(
        memory_gb=16, bandwidth_gbps=320, tdp_w=70, fp16_tflops=65, bf16_tflops=NAN,
        int8_tops=130, compute_capability=7.5, embodied_kgco2e=131,
    ),
    "a10": dict(
        memory_gb=24, bandwidth_gbps=600, tdp_w=150, fp16_tflops=125, bf16_tflops=125,
        int8_tops=250, compute_capability=8.6, embodied_kgco2e=184,
    ),
    "a100-sxm4-40": dict(
        memory_gb=40, bandwidth_gbps=1555, tdp_w=400, fp16_tflops=312, bf16_tflops=312,
        int8_tops=624, compute_capability=8.0, embodied_kgco2e=319,
    ),
    "a100-sxm4-80": dict(
        memory_gb=80, bandwidth_gbps=2039, tdp_w=400, fp16_tflops=312, bf16_tflops=312,
        int8_tops=624, compute_capability=8.0, embodied_kgco2e=568,
    ),
    "h100-sxm5-80": dict(
        memory_gb=80, bandwidth_gbps=3350, tdp_w=700, fp16_tflops=989, bf16_tflops=989,
        int8_tops=1979, compute_capability=9.0, embodied_kgco2e=575,
    ),
    "l4": dict(
        memory_gb=24, bandwidth_gbps=300, tdp_w=72, fp16_tflops=121, bf16_tflops=121,
        int8_tops=242, compute_capability=8.9, embodied_kgco2e=124,
    ),
    # §3.1: an MI250 shows up as two 64 GB GCDs, so one row is half the §3.2 package figures
    # (128 GB, 3,277 GB/s, 500 W, 362 TF); ROCm target, no numeric compute capability.
    "mi250-gcd": dict(
        memory_gb=64, bandwidth_gbps=1638.5, tdp_w=250, fp16_tflops=181, bf16_tflops=181,
        int8_tops=181, compute_capability="gfx90a", supports_bf16=True, supports_fp8=False,
    ),
}  # fmt: skip

# §3.3: params (B) and KV cache at 8k context, BF16, in GB
MODELS_33 = {
    "llama-3-8b": (8.03, 1.07),
    "llama-3-70b": (70.55, 2.68),
    "mistral-7b": (7.24, 1.07),
    "phi-3-mini": (3.82, 3.22),
    "gemma-2-9b": (9.24, 2.82),
    "qwen2.5-7b": (7.62, 0.47),
    "qwen2.5-14b": (14.77, 1.61),
    "qwen2.5-32b": (32.76, 2.15),
}

# §3.4, single device, 8k context, batch 1: (model, precision, need GB, {device: fits}).
# The table prints INT4 at a flat 0.5 byte/param; V100/T4 "BF16" rows mean FP16.
FIT_MATRIX = [
    ("llama-3-8b", "fp16", 20.5, {"t4": False, "a10": True, "a100-sxm4-40": True}),
    ("llama-3-8b", "int8", 11.3, {"t4": True, "a10": True, "a100-sxm4-40": True}),
    ("llama-3-8b", "int4", 6.7, {"t4": True, "v100-sxm2-16": True, "l4": True}),
    ("llama-3-70b", "int4", 44.3, {"a100-sxm4-40": False, "a100-sxm4-80": True, "l4": False}),
    ("gemma-2-9b", "fp16", 25.1, {"a10": False, "a100-sxm4-40": True, "l4": False}),
    ("qwen2.5-14b", "int8", 19.6, {"t4": False, "a10": True, "v100-sxm2-16": False}),
    ("qwen2.5-32b", "int8", 40.8, {"a100-sxm4-40": False, "a100-sxm4-80": True}),
]

# §4.2, Ember 2023 life-cycle, kgCO2e/kWh
GRID = {"FR": 0.0560, "DE": 0.3809, "IE": 0.2908, "NL": 0.2676, "SE": 0.0407, "PL": 0.6619,
        "EU27": 0.2438}  # fmt: skip


def devices(*names, devices_per_server=1):
    frame = pd.DataFrame.from_dict({n: DEVICES[n] for n in names}, orient="index")
    frame["devices_per_server"] = devices_per_server
    return frame


@pytest.fixture(scope="module")
def models():
    return inf.load_llm_models()


def run(names, model, precision, context=8192, concurrency=1, **kw):
    kw.setdefault("devices_per_server", 1)
    frame = devices(*names, devices_per_server=kw.pop("devices_per_server"))
    return inf.evaluate(frame, model, precision, context, concurrency, 1.3, GRID["DE"], **kw)


# --- reference data ---------------------------------------------------------------------------


@pytest.mark.parametrize("slug, params_b, kv_8k_gb", [(k, *v) for k, v in MODELS_33.items()])
def test_model_catalogue_matches_the_33_table(models, slug, params_b, kv_8k_gb):
    assert models[slug].params_b == params_b
    assert inf.kv_cache_gb(models[slug], 8192) == pytest.approx(kv_8k_gb, abs=0.005)


def test_grid_intensity_catalogue_is_ember_2023():
    assert inf.load_grid_intensity() == pytest.approx(GRID)


# --- memory fit (§3.4) ------------------------------------------------------------------------


@pytest.mark.parametrize("slug, precision, need_gb, verdicts", FIT_MATRIX)
def test_fit_matrix_at_8k_context_batch_1(models, slug, precision, need_gb, verdicts):
    bytes_per_param = 0.5 if precision == "int4" else None
    result = run(verdicts, models[slug], precision, bytes_per_param=bytes_per_param)
    assert result["need_gb"].to_numpy() == pytest.approx(need_gb, abs=0.1)
    assert result["fits"].to_dict() == verdicts


def test_llama_3_8b_fp16_fits_a10_and_a100_but_not_t4(models):
    result = run(["t4", "a10", "a100-sxm4-40"], models["llama-3-8b"], "fp16")
    assert result["supported"].to_dict() == {"t4": False, "a10": True, "a100-sxm4-40": True}
    assert result.loc["t4", "reason"] == "needs 20.5 GB > 0.9 × 16 GB"


def test_llama_3_8b_int8_fits_all_three(models):
    result = run(["t4", "a10", "a100-sxm4-40"], models["llama-3-8b"], "int8")
    assert result["supported"].all()


def test_gemma_int8_on_16_gb_is_marginal_not_a_fit(models):
    # §3.4 "≈": 14.4 GB needed, 0.9 × 16 = 14.4 usable; fits only with u → 1.0
    result = run(["t4"], models["gemma-2-9b"], "int8")
    assert not result.loc["t4", "fits"]
    assert result.loc["t4", "marginal"]
    assert "fits only with u → 1.0" in result.loc["t4", "reason"]


def test_llama_3_70b_int4_fits_a100_80_but_not_a100_40_alone(models):
    result = run(["a100-sxm4-40", "a100-sxm4-80"], models["llama-3-70b"], "int4")
    assert result["fits"].to_dict() == {"a100-sxm4-40": False, "a100-sxm4-80": True}


def test_llama_3_70b_int4_fits_two_a100_40_with_tensor_parallel(models):
    result = run(["a100-sxm4-40"], models["llama-3-70b"], "int4", devices_per_server=8)
    row = result.loc["a100-sxm4-40"]
    assert row["supported"] and row["n_devices"] == 2
    assert row["available_gb"] == pytest.approx(0.9 * 2 * 40)
    assert "(TP=2)" in row["reason"]


def test_tensor_parallel_is_capped_by_the_group_limit(models):
    result = run(
        ["a100-sxm4-40"], models["llama-3-70b"], "int4", devices_per_server=8,
        max_devices_per_group=1,
    )  # fmt: skip
    assert not result.loc["a100-sxm4-40", "fits"]


def test_mi250_serves_70b_int8_across_both_gcds(models):
    # §3.1: models over 64 GB need TP=2 across the GCDs; §3.4 MI250 ✔ for Llama-3-70B INT8
    result = run(["mi250-gcd"], models["llama-3-70b"], "int8", devices_per_server=2)
    assert result.loc["mi250-gcd", "supported"]
    assert result.loc["mi250-gcd", "n_devices"] == 2


def test_replicated_buffers_add_five_percent_per_extra_device(models):
    one = inf.memory_need_gb(models["llama-3-8b"], "fp16", 8192, 1, 1)
    four = inf.memory_need_gb(models["llama-3-8b"], "fp16", 8192, 1, 4)
    assert four == pytest.approx(one * 1.15)


def test_concurrency_grows_the_kv_cache_until_the_device_no_longer_fits(models):
    # §3.5 batched table, Llama-3-8B BF16 (FP16 bytes) at 2k context: the A10 holds B = 7
    a10 = ["a10"]
    assert run(a10, models["llama-3-8b"], "fp16", 2048, 1)["fits"].all()
    assert run(a10, models["llama-3-8b"], "fp16", 2048, 7)["fits"].all()
    assert not run(a10, models["llama-3-8b"], "fp16", 2048, 8)["fits"].any()
    kv_1 = inf.kv_cache_gb(models["llama-3-8b"], 2048, 1)
    assert inf.kv_cache_gb(models["llama-3-8b"], 2048, 8) == pytest.approx(8 * kv_1)


# --- precision gates (§3.1) -------------------------------------------------------------------


def test_bf16_is_refused_on_v100_and_t4_with_a_reason(models):
    result = run(["v100-sxm2-16", "t4", "a100-sxm4-80"], models["phi-3-mini"], "bf16")
    assert result["precision_supported"].to_dict() == {
        "v100-sxm2-16": False, "t4": False, "a100-sxm4-80": True,
    }  # fmt: skip
    assert result.loc["v100-sxm2-16", "reason"] == "bf16 needs compute capability ≥ 8.0 (has 7.0)"
    assert result.loc["t4", "reason"] == "bf16 needs compute capability ≥ 8.0 (has 7.5)"
    assert not result.loc["t4", "supported"]  # fits in memory, still refused


def test_fp8_needs_ada_or_hopper(models):
    result = run(["a100-sxm4-80", "l4", "h100-sxm5-80"], models["llama-3-8b"], "fp8")
    assert result["supported"].to_dict() == {
        "a100-sxm4-80": False, "l4": True, "h100-sxm5-80": True,
    }  # fmt: skip
    assert result.loc["a100-sxm4-80", "reason"] == "fp8 needs compute capability ≥ 8.9 (has 8.0)"


@pytest.mark.parametrize("precision", ["fp16", "int8", "int4"])
def test_fp16_and_weight_only_quantisation_run_on_v100(models, precision):
    assert run(["v100-sxm2-16"], models["phi-3-mini"], precision)["precision_supported"].all()


def test_rocm_support_comes_from_the_declared_flags(models):
    model = models["llama-3-8b"]
    assert run(["mi250-gcd"], model, "bf16")["supported"].all()
    fp8 = run(["mi250-gcd"], model, "fp8")
    assert not fp8["supported"].any()
    assert fp8.loc["mi250-gcd", "reason"] == "device is flagged as not supporting fp8"


def test_flags_from_csv_strings_are_understood(models):
    frame = devices("mi250-gcd").assign(supports_bf16="true", supports_fp8="false")
    frame = frame.rename(columns={"bandwidth_gbps": "memory_bandwidth_gbps"})
    result = inf.evaluate(frame, models["llama-3-8b"], "bf16", 8192, 1, 1.3, GRID["DE"])
    assert result["supported"].all()


def test_unknown_precision_is_rejected(models):
    with pytest.raises(ValueError):
        run(["a10"], models["llama-3-8b"], "fp4")


# --- throughput and energy (§3.5) -------------------------------------------------------------

# batch 1, 2k context: theoretical tok/s at MBU = 1, J/token at MBU 0.7 and P = 0.7 × TDP
BATCH_1 = [
    ("llama-3-8b", "int8", "a100-sxm4-40", 187, 2.1),
    ("llama-3-8b", "fp16", "a100-sxm4-40", 95, 4.2),
    ("llama-3-8b", "fp16", "h100-sxm5-80", 205, 3.4),
    ("llama-3-8b", "fp16", "l4", 18, 3.9),
    ("llama-3-8b", "int8", "t4", 39, 1.8),
    ("qwen2.5-14b", "int8", "a10", 40, 3.8),
    ("llama-3-70b", "int4", "a100-sxm4-80", 57, 7.1),
]


@pytest.mark.parametrize("slug, precision, device, tokens_per_s, joules", BATCH_1)
def test_batch_1_decode_matches_the_35_table(models, slug, precision, device, tokens_per_s, joules):
    b = 0.5 if precision == "int4" else None  # the table's INT4 basis
    ideal = run([device], models[slug], precision, 2048, 1, mbu=1.0, bytes_per_param=b)
    assert ideal.loc[device, "tokens_per_s"] == pytest.approx(tokens_per_s, rel=0.05)
    real = run([device], models[slug], precision, 2048, 1, bytes_per_param=b)
    assert real.loc[device, "joules_per_token"] == pytest.approx(joules, abs=0.05)


def test_batched_decode_matches_the_35_table(models):
    # Llama-3-8B BF16, 2k context, MBU 0.7, P = 0.85 × TDP: "32: 1413/0.24" and "7: 164/0.78"
    a100 = run(["a100-sxm4-40"], models["llama-3-8b"], "bf16", 2048, 32)
    assert a100.loc["a100-sxm4-40", "tokens_per_s"] == pytest.approx(1413, rel=0.01)
    assert a100.loc["a100-sxm4-40", "joules_per_token"] == pytest.approx(0.24, abs=0.005)
    assert a100.loc["a100-sxm4-40", "util"] == 0.85
    a10 = run(["a10"], models["llama-3-8b"], "bf16", 2048, 7)
    assert a10.loc["a10", "tokens_per_s"] == pytest.approx(164, rel=0.01)
    assert a10.loc["a10", "joules_per_token"] == pytest.approx(0.78, abs=0.005)


def test_compute_cap_binds_at_large_batch():
    # 1B params, 1e12 FLOPS, MFU 0.5: at most 0.5 × 1e12 / 2e9 = 250 tok/s, whatever the bandwidth
    tiny = inf.LLMSpec("tiny", "tiny", params_b=1.0, layers=1, kv_heads=1, head_dim=1)
    tps = inf.decode_tokens_per_s(tiny, "fp16", 1, 1000, bandwidth_gbps=1e6, peak_tflops=1.0)
    assert tps == pytest.approx(250)


def test_tensor_parallel_scales_bandwidth_and_power(models):
    # Llama-3-70B INT4 needs two A100-40s: twice the bandwidth and twice 0.7 × 400 W
    row = run(["a100-sxm4-40"], models["llama-3-70b"], "int4", devices_per_server=8).iloc[0]
    one_device_bound = 1555 * 0.7 / (70.55 * 0.55 + inf.kv_cache_gb(models["llama-3-70b"], 8192))
    assert row["tokens_per_s"] == pytest.approx(2 * one_device_bound)
    assert row["power_w"] == pytest.approx(2 * 0.7 * 400)


def test_carbon_per_million_tokens_uses_pue_and_grid(models):
    # A100-40 Llama-3-8B BF16 batch 1: 4.2 J/token (§3.5) × PUE 1.3 = 5.46 J;
    # 5.46e6 J / 3.6e6 J/kWh × 0.3809 kg/kWh (DE) = 0.578 kg per million tokens
    row = run(["a100-sxm4-40"], models["llama-3-8b"], "bf16", 2048, 1).iloc[0]
    assert row["joules_per_token_facility"] == pytest.approx(5.46, rel=0.01)
    assert row["kgco2e_per_mtok"] == pytest.approx(0.578, rel=0.01)


def test_target_throughput_provisions_whole_groups(models):
    # A10 Llama-3-8B INT8, batch 1, 2k context: 0.7 × 600 / 8.30 GB ≈ 50.6 tok/s, so 100 tok/s
    # needs 2 devices drawing 2 × 0.7 × 150 W = 210 W: 2.1 J/token; 2 × 184 kg avoided (§3.6)
    row = run(["a10"], models["llama-3-8b"], "int8", 2048, 1, target_tokens_per_s=100).iloc[0]
    assert row["groups"] == 2 and row["total_devices"] == 2
    assert row["joules_per_token"] == pytest.approx(2.1)
    assert row["embodied_avoided_kgco2e"] == pytest.approx(368)


# --- vectorised entry point -------------------------------------------------------------------


def test_evaluate_returns_one_row_per_device_on_the_same_index(models):
    frame = devices(*DEVICES)
    result = inf.evaluate(frame, models["llama-3-8b"], "bf16", 8192, 1, 1.3, GRID["FR"])
    assert list(result.index) == list(frame.index)
    assert result.loc[~result["supported"], "tokens_per_s"].isna().all()
    assert result.loc[result["supported"], "tokens_per_s"].gt(0).all()
    assert result.attrs["assumptions"]["usable_fraction"]["value"] == 0.9


def test_assumptions_carry_a_source_and_tag():
    for name, entry in inf.ASSUMPTIONS.items():
        assert {"value", "source", "tag"} <= entry.keys(), name


# --- embodied credit and payback (§3.6, §4.1, §4.3) -------------------------------------------


def test_reuse_avoids_the_embodied_carbon_of_the_new_equivalent():
    assert inf.embodied_avoided_kgco2e(3, 123.5) == pytest.approx(370.5)
    assert inf.embodied_avoided_kgco2e(3, 123.5, burdens_kg=20) == pytest.approx(350.5)


# §4.3 at PUE 1.3: (P_old kW, P_new_equiv kW, EF kg, ΔE kWh/yr, {country: payback years})
PAYBACK = [
    # 2 old 2-socket servers (250 W each) → 1 new (350 W; EF 1,300 kg)
    (0.500, 0.350, 1300, 1708, {"FR": 13.6, "DE": 2.0, "IE": 2.6, "NL": 2.8, "SE": 18.7,
                                 "PL": 1.1, "EU27": 3.1}),
    # 1 V100 SXM2 (0.7 × 300 W) → 3 L4 (3 × 0.7 × 72 W; EF 3 × 123.5 kg)
    (0.210, 0.1512, 370.5, 670, {"FR": 9.9, "DE": 1.5, "IE": 1.9, "NL": 2.1, "SE": 13.6,
                                  "PL": 0.8, "EU27": 2.3}),
]  # fmt: skip


@pytest.mark.parametrize("p_old, p_new, ef, delta, years", PAYBACK)
def test_payback_matches_the_43_examples(p_old, p_new, ef, delta, years):
    for country, expected in years.items():
        result = inf.payback(p_old, p_new, ef, GRID[country], pue=1.3)
        assert result.delta_kwh_per_yr == pytest.approx(delta, abs=1)
        assert result.years == pytest.approx(expected, abs=0.05), country


@pytest.mark.parametrize(
    "p_old, p_new, delta",
    [
        (0.7 * 0.070, 0.7 * 0.072 * 320 / 300, -54),  # T4 → L4 at equal bandwidth
        (0.7 * 0.400, 0.7 * 0.700 * 2039 / 3350, -208),  # A100-80 SXM → H100 SXM share
    ],
)
def test_replacing_without_operational_gain_never_pays_back(p_old, p_new, delta):
    result = inf.payback(p_old, p_new, 575, GRID["PL"], pue=1.3)
    assert result.delta_kwh_per_yr == pytest.approx(delta, abs=1)
    assert result.never and math.isinf(result.years)
    assert result.reason == "never: no operational gain"
    assert not result.replace_pays_off(remaining_life_yr=10)


def test_replace_only_within_the_remaining_life():
    result = inf.payback(0.5, 0.35, 1300, GRID["DE"], pue=1.3)  # 2.0 years
    assert result.replace_pays_off(remaining_life_yr=3)
    assert not result.replace_pays_off(remaining_life_yr=1.5)


def test_numpy_inputs_are_accepted_by_the_scalar_helpers(models):
    needs = inf.memory_need_gb(models["llama-3-8b"], "int8", 8192, 1, np.array([1, 2]))
    assert needs.shape == (2,)
