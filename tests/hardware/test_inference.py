"""Memory fit, the decode model's structure, energy and carbon payback.

Pure: no Django. Expected values are worked by hand in the comments beside them (sizes from the
models' config files, bandwidths from datasheets), never produced by the code under test.
"""

import math

import numpy as np
import pandas as pd
import pytest

from hardware import inference as inf

NAN = float("nan")

# Datasheet figures; embodied kgCO2e as in the catalogue.
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
    # An MI250 shows up as two 64 GB GCDs, so one row is half the package figures
    # (128 GB, 3,277 GB/s, 500 W, 362 TF); ROCm target, no numeric compute capability.
    "mi250-gcd": dict(
        memory_gb=64, bandwidth_gbps=1638.5, tdp_w=250, fp16_tflops=181, bf16_tflops=181,
        int8_tops=181, compute_capability="gfx90a", supports_bf16=True, supports_fp8=False,
    ),
    "v100-pcie-32": dict(
        memory_gb=32, bandwidth_gbps=900, tdp_w=250, fp16_tflops=112, bf16_tflops=NAN,
        int8_tops=NAN, compute_capability=7.0, embodied_kgco2e=288,
    ),
    "rtx-4090": dict(
        memory_gb=24, bandwidth_gbps=1008, tdp_w=450, fp16_tflops=330, bf16_tflops=165,
        int8_tops=660, compute_capability=8.9, embodied_kgco2e=NAN,
    ),
}  # fmt: skip
TECH = {"t4": "gddr6", "a10": "gddr6", "l4": "gddr6", "rtx-4090": "gddr6x", "v100-sxm2-16": "hbm2",
        "v100-pcie-32": "hbm2", "a100-sxm4-40": "hbm2", "a100-sxm4-80": "hbm2e",
        "h100-sxm5-80": "hbm3", "mi250-gcd": "hbm2e"}  # fmt: skip
for _name, _spec in DEVICES.items():
    _spec["memory_technology"] = TECH[_name]
    _spec["interconnect"] = "nvlink" if "sxm" in _name else "pcie"

# §4.2, Ember 2023 life-cycle, kgCO2e/kWh
GRID = {"FR": 0.0560, "DE": 0.3809, "IE": 0.2908, "NL": 0.2676, "SE": 0.0407, "PL": 0.6619,
        "EU27": 0.2438}  # fmt: skip
GIB = 2**30

# A hand-made calibration, so that speeds can be worked by hand: memory read at 80 % of the
# datasheet bandwidth (1 / 0.8 = 1.25), 2 ms fixed cost per step, 30 µs per layer and log2(n)
# across tensor-parallel devices, 1 ms per hand-over between layer-split devices, compute at 50 %
# of peak. The terms only a measured run has (request latency, prefill) are set to show they do
# not touch an estimate.
CAL = inf.Calibration(
    params={"memory": 1.25, "t0:vllm": 0.002, "t0:llama.cpp": 0.002, "tp:nvlink": 3e-5,
            "tp:pcie": 3e-5, "hop:llama.cpp": 1e-3, "compute": 2.0, "request": 5.0, "prefill": 9.0},
    util_batch_1=0.7, util_batched=0.85, util_source="test", band_low=0.8, band_high=1.2,
)  # fmt: skip


def devices(*names, devices_per_server=1):
    frame = pd.DataFrame.from_dict({n: DEVICES[n] for n in names}, orient="index")
    frame["devices_per_server"] = devices_per_server
    return frame


@pytest.fixture(scope="module")
def models():
    return inf.load_llm_models()


def run(names, model, precision, context=8192, concurrency=1, **kw):
    kw.setdefault("devices_per_server", 1)
    kw.setdefault("cal", CAL)
    frame = devices(*names, devices_per_server=kw.pop("devices_per_server"))
    return inf.evaluate(frame, model, precision, context, concurrency, 1.3, GRID["DE"], **kw)


# --- memory fit: the cases that must hold ------------------------------------------------------


def test_llama_2_13b_fp16_with_2k_context_fits_one_32_gb_card(models):
    # weights 13.02e9 × 2 B = 24.25 GiB; KV 2 × 40 layers × 40 heads × 128 × 2 B = 819,200 B per
    # token × 2,048 = 1.5625 GiB; vLLM runtime 1.5 GiB → 27.31 GiB ≤ 0.95 × 32 GiB = 30.4.
    result = run(["v100-pcie-32"], models["llama-2-13b"], "fp16", context=2048)
    row = result.iloc[0]
    assert row["fit"] == "fits" and row["n_devices"] == 1
    assert row["need_gib"] == pytest.approx(27.31, abs=0.01)


def test_llama_3_8b_fp16_with_8k_context_does_not_fit_a_16_gb_t4(models):
    # weights 8.03e9 × 2 B = 14.96 GiB; KV 131,072 B per token × 8,192 = 1 GiB; + 1.5 = 17.46.
    row = run(["t4"], models["llama-3-8b"], "fp16").iloc[0]
    assert row["fit"] == "does-not-fit" and not row["supported"]
    assert row["need_gib"] == pytest.approx(17.46, abs=0.01)
    # 14.96 + 1.5 > 15.2 GiB: no context is small enough, so lowering it is not offered.
    assert "weights alone do not fit" in row["reason"]
    assert np.isnan(row["tokens_per_s"])


@pytest.mark.parametrize("engine", ["vllm", "llama.cpp"])
def test_llama_70b_4_bit_fits_two_24_gb_cards_in_one_server(models, engine):
    # AWQ: 70.55e9 × 4.16 / 8 = 34.17 GiB; q4_0: × 4.5 / 8 = 36.96 GiB. KV at 8k: 327,680 B ×
    # 8,192 = 2.5 GiB. Per device: (34.17 + 2.5) / 2 + 1.5 = 19.83; (36.96 + 2.5) / 2 + 0.6 =
    # 20.33 GiB — both ≤ 0.95 × 24 = 22.8. One card alone cannot (> 24 GiB).
    two = run(["rtx-4090"], models["llama-3-70b"], "int4", devices_per_server=2, engine=engine)
    assert two.iloc[0]["fit"] == "fits" and two.iloc[0]["n_devices"] == 2
    expected = {"vllm": 19.83, "llama.cpp": 20.33}[engine]
    assert two.iloc[0]["need_gib"] == pytest.approx(expected, abs=0.01)
    one = run(["rtx-4090"], models["llama-3-70b"], "int4", engine=engine)
    assert one.iloc[0]["fit"] == "does-not-fit"


def test_llama_70b_4_bit_fits_one_80_gb_card(models):
    row = run(["a100-sxm4-80"], models["llama-3-70b"], "int4", devices_per_server=8).iloc[0]
    # 34.17 + 2.5 + 1.5 = 38.17 GiB on one 80 GiB card: no need for a second device.
    assert row["fit"] == "fits" and row["n_devices"] == 1


def test_the_last_five_percent_is_marginal_and_says_what_to_lower(models):
    # Llama-3-8B fp16 on a 24 GiB A10 at 57,344 tokens: 14.96 + 7 + 1.5 = 23.46 GiB, between
    # 22.8 and 24. Largest context in 22.8 GiB: (21.3 × 2**30 − 16.06e9) / 131,072 = 51,961.
    row = run(["a10"], models["llama-3-8b"], "fp16", context=57344).iloc[0]
    assert row["fit"] == "marginal" and row["supported"] and not row["fits"]
    assert row["max_context"] == 51961
    assert "lower context to ≤ 51961 tokens" in row["reason"]
    assert "concurrency" not in row["lower_hint"]  # one request already: nothing to lower


def test_concurrency_is_offered_when_it_is_what_to_lower(models):
    # 8 requests at 8k on the A10: 14.96 + 8 + 1.5 = 24.46 GiB > 24. Room for KV in 22.8 GiB:
    # 6.81e9 B = 51,961 tokens → 6 requests of 8,192, or 6,495 tokens each for 8 requests.
    row = run(["a10"], models["llama-3-8b"], "fp16", concurrency=8).iloc[0]
    assert row["fit"] == "does-not-fit"
    assert row["lower_hint"] == "lower context to ≤ 6495 tokens or concurrency to ≤ 6"


def test_vendor_gigabytes_are_gibibytes(models):
    # Need in GiB against the label read as GiB: int8 weights 8.03e9 B = 7.48 GiB (not 8.03),
    # + 1 GiB cache + 1.5 GiB runtime = 9.98 GiB of a "16 GB" T4's 16 GiB.
    row = run(["t4"], models["llama-3-8b"], "int8").iloc[0]
    assert row["need_gib"] == pytest.approx(9.98, abs=0.01)
    assert row["memory_gib"] == 16


@pytest.mark.parametrize(
    ("engine", "precision", "fmt", "bits"),
    [
        ("llama.cpp", "int4", "q4_0", 4.5),
        ("llama.cpp", "int8", "q8_0", 8.5),
        ("vllm", "int4", "awq", 4.16),
        ("hf-transformers", "int4", "gptq", 4.16),
        ("vllm", "fp8", "fp8", 8.0),
        ("tgi", "bf16", "bf16", 16.0),
    ],
)
def test_weight_format_follows_the_engine(engine, precision, fmt, bits):
    assert inf.weight_format(precision, engine) == fmt
    assert inf.bits_per_weight(precision, engine) == bits


def test_an_explicit_format_must_match_the_precision():
    assert inf.bits_per_weight("int4", "vllm", "q4_k_m") == 4.85
    with pytest.raises(ValueError, match="not a int4 format"):
        inf.weight_format("int4", "vllm", "q8_0")
    with pytest.raises(ValueError, match="unknown engine"):
        inf.weight_format("int4", "ollama-ish")


def test_runtime_overhead_is_per_device_in_a_tensor_parallel_group(models):
    one = inf.memory_need_gib(models["llama-3-70b"], "int4", 8192, 1, 1, engine="vllm")
    two = inf.memory_need_gib(models["llama-3-70b"], "int4", 8192, 1, 2, engine="vllm")
    # (W + KV) halves, the 1.5 GiB runtime does not.
    assert two == pytest.approx((one - 1.5) / 2 + 1.5)


def test_concurrency_grows_the_kv_cache_until_the_device_no_longer_fits(models):
    fits = [run(["a10"], models["llama-3-8b"], "fp16", concurrency=b).iloc[0]["fit"] for b in
            (1, 2, 6, 7, 8)]  # fmt: skip
    # 14.96 + 1.5 + b GiB: 17.46, 18.46, 22.46 fit; 23.46 marginal; 24.46 does not.
    assert fits == ["fits", "fits", "fits", "marginal", "does-not-fit"]


# --- precision gates ------------------------------------------------------------------------


def test_bf16_is_refused_on_v100_and_t4_with_a_reason(models):
    result = run(["v100-sxm2-16", "t4", "a10"], models["llama-3-8b"], "bf16", context=1024)
    assert list(result["precision_supported"]) == [False, False, True]
    assert "bf16 needs compute capability ≥ 8.0 (has 7.0)" in result.iloc[0]["reason"]
    assert not result.iloc[0]["supported"]


def test_fp8_needs_ada_or_hopper(models):
    result = run(["a100-sxm4-80", "l4", "h100-sxm5-80"], models["llama-3-8b"], "fp8")
    assert list(result["precision_supported"]) == [False, True, True]


def test_rocm_support_comes_from_the_declared_flags(models):
    result = run(["mi250-gcd"], models["llama-3-8b"], "bf16")
    assert result.iloc[0]["precision_supported"]
    result = run(["mi250-gcd"], models["llama-3-8b"], "fp8")
    assert not result.iloc[0]["precision_supported"]
    assert "flagged as not supporting fp8" in result.iloc[0]["reason"]


def test_flags_from_csv_strings_are_understood(models):
    frame = devices("mi250-gcd")
    frame["supports_bf16"] = "true"
    result = inf.evaluate(frame, models["llama-3-8b"], "bf16", 1024, 1, 1.0, 0.1, cal=CAL)
    assert result.iloc[0]["precision_supported"]


def test_unknown_precision_is_rejected(models):
    with pytest.raises(ValueError, match="unknown precision"):
        run(["a10"], models["llama-3-8b"], "fp4")


# --- the decode model's structure (hand-made constants) ------------------------------------


def test_one_request_is_bytes_over_effective_bandwidth_plus_a_fixed_cost(models):
    # Llama-3-8B int8 (8 bits) on an A10: 8.03e9 B + KV 131,072 × 1,024 = 8.164e9 B at
    # 600 GB/s = 13.61 ms × 1.25 = 17.01 ms; + 2 ms; compute 2 × 8.03e9 / 250e12 = 64 µs × 2 =
    # 0.13 ms → 19.14 ms per token → 52.2 tokens/s.
    row = run(["a10"], models["llama-3-8b"], "int8", context=1024).iloc[0]
    assert row["tokens_per_s"] == pytest.approx(52.2, abs=0.1)
    assert row["tokens_per_s_low"] == pytest.approx(52.2 * 0.8, abs=0.1)
    assert row["tokens_per_s_high"] == pytest.approx(52.2 * 1.2, abs=0.1)


def test_tensor_parallel_pays_a_cost_per_layer(models):
    # Llama-3-70B int4 on 2 × RTX 4090, vLLM: (34.17 GiB + KV 327,680 × 1,024 B) / 2 per card
    # = 18.51e9 B at 1,008 GB/s = 18.37 ms × 1.25 = 22.96 ms; + 2 ms; + 80 layers × 30 µs =
    # 2.4 ms; compute 2 × 70.55e9 / (2 × 330e12) × 2 = 0.43 ms → 27.79 ms → 36.0 tokens/s.
    row = run(["rtx-4090"], models["llama-3-70b"], "int4", context=1024, devices_per_server=2)
    assert row.iloc[0]["n_devices"] == 2
    assert row.iloc[0]["tokens_per_s"] == pytest.approx(36.0, abs=0.1)


def test_engines_that_split_layers_read_them_one_device_after_another(models):
    # llama.cpp q4_0: 70.55e9 × 4.5 / 8 + 327,680 × 1,024 = 40.02e9 B at one card's 1,008 GB/s
    # = 39.70 ms × 1.25 = 49.63 ms; + 2 ms; one hand-over 1 ms (no all-reduce per layer);
    # compute 2 × 70.55e9 / 330e12 × 2 = 0.86 ms → 53.49 ms → 18.7 tokens/s: two cards give
    # memory, not speed.
    row = run(
        ["rtx-4090"], models["llama-3-70b"], "int4", context=1024, devices_per_server=2,
        engine="llama.cpp",
    )  # fmt: skip
    assert row.iloc[0]["tokens_per_s"] == pytest.approx(18.7, abs=0.1)


def _frame(**kw):
    # A known peak (an unknown one leaves the step unknown); the calibrations below that give
    # no "compute" constant price compute at 0.
    row = {"params_b": 8.0, "layers": 32, "kv_bytes_per_token": 0.0, "bits_per_weight": 16,
           "n_devices": 1, "bandwidth_gbps": 1000.0, "peak_tflops": 100.0, "concurrency": 1,
           "kv_context": 0, "memory_technology": "hbm3", "interconnect": "nvlink",
           "engine": "vllm"}  # fmt: skip
    return pd.DataFrame([{**row, **kw}])


def test_all_reduce_latency_grows_with_the_log_of_the_tensor_parallel_group():
    cal = inf.Calibration({"memory": 1.0, "tp:nvlink": 1e-4}, 0.7, 0.85, "test", 1.0, 1.0)
    steps = {n: inf.step_time_s(_frame(n_devices=n), cal)[0] for n in (1, 2, 4, 8)}
    # 16e9 B over n devices at 1 TB/s, + 32 layers × log2(n) × 0.1 ms.
    for n, t in steps.items():
        assert t == pytest.approx(16 / n / 1000 + 32 * np.log2(n) * 1e-4)


def test_a_mixture_of_experts_reads_its_active_weights_but_stores_all_of_them(models):
    cal = inf.Calibration({"memory": 1.0}, 0.7, 0.85, "test", 1.0, 1.0)
    moe = _frame(params_b=20.9, active_params_b=3.6)
    dense = _frame(params_b=20.9)
    # 3.6e9 × 2 B at 1 TB/s = 7.2 ms, not 41.8 ms.
    assert inf.step_time_s(moe, cal)[0] == pytest.approx(3.6 * 2 / 1000)
    assert inf.step_time_s(dense, cal)[0] == pytest.approx(20.9 * 2 / 1000)
    oss = models["gpt-oss-20b"]
    assert oss.read_params_b < oss.params_b
    # Memory fit still holds every expert.
    assert inf.weights_bytes(oss, 16) == pytest.approx(oss.params_b * 1e9 * 2)


def test_request_latency_and_prefill_only_count_for_measured_runs():
    cal = inf.Calibration(
        {"memory": 1.0, "request": 0.5, "prefill": 1.0, "compute": 1.0}, 0.7, 0.85, "test", 1, 1
    )
    steady = inf.step_time_s(_frame(peak_tflops=100.0), cal)[0]
    run_ = _frame(peak_tflops=100.0, per_output=1 / 50, prefill_per_output=2.0)
    # + 0.5 s ÷ 50 output tokens + the prompt's compute (2 × the step's 0.16 ms).
    assert inf.step_time_s(run_, cal)[0] == pytest.approx(steady + 0.01 + 2 * 0.16e-3)


def test_a_quantisation_library_has_its_own_dequantisation_cost():
    cal = inf.Calibration(
        {"memory": 1.0, "quant:vllm": 0.0, "quant:bitsandbytes": 3.0}, 0.7, 0.85, "test", 1, 1
    )
    own = inf.step_time_s(_frame(bits_per_weight=4.0), cal)[0]
    bnb = inf.step_time_s(_frame(bits_per_weight=4.0, weight_format="bitsandbytes"), cal)[0]
    assert bnb == pytest.approx(4 * own)


def test_batching_multiplies_tokens_until_compute_and_cache_bind(models):
    one = run(["a100-sxm4-80"], models["llama-3-8b"], "fp16", context=1024).iloc[0]
    many = run(["a100-sxm4-80"], models["llama-3-8b"], "fp16", context=1024, concurrency=64)
    many = many.iloc[0]
    assert one["tokens_per_s"] < many["tokens_per_s"] < 64 * one["tokens_per_s"]


def test_an_unknown_peak_leaves_the_speed_unknown_never_a_free_compute_step(models):
    frame = devices("a100-sxm4-80")
    frame[["fp16_tflops", "bf16_tflops", "int8_tops"]] = NAN
    row = inf.evaluate(frame, models["llama-3-8b"], "fp16", 1024, 64, 1.3, GRID["DE"], cal=CAL)
    row = row.iloc[0]
    assert row["fit"] == "fits"  # memory is still known
    assert np.isnan(row["tokens_per_s"]) and np.isnan(row["joules_per_token"])
    assert "speed unknown" in row["reason"]


def test_nothing_reads_memory_faster_than_its_datasheet():
    cal = inf.Calibration({"memory": 0.5}, 0.7, 0.85, "test", 1.0, 1.0)
    frame = pd.DataFrame(
        [{"params_b": 1.0, "layers": 1, "kv_bytes_per_token": 0.0, "bits_per_weight": 8,
          "n_devices": 1, "bandwidth_gbps": 1.0, "peak_tflops": 1.0, "concurrency": 1,
          "kv_context": 0, "memory_technology": "hbm3", "interconnect": "none",
          "engine": "vllm"}]
    )  # fmt: skip
    # 1e9 B at 1 GB/s is one second per token at best, whatever the fit says.
    assert inf.decode_tokens_per_s(frame, cal)[0] == pytest.approx(1.0)


def test_energy_and_carbon_carry_the_speed_band(models):
    row = run(["a10"], models["llama-3-8b"], "int8", context=1024).iloc[0]
    # 0.7 × 150 W / tokens/s; faster is fewer joules, so the low J uses the high speed.
    assert row["power_w"] == pytest.approx(105)
    assert row["joules_per_token"] == pytest.approx(105 / row["tokens_per_s"])
    assert row["joules_per_token_low"] == pytest.approx(105 / row["tokens_per_s_high"])
    assert row["joules_per_token_high"] == pytest.approx(105 / row["tokens_per_s_low"])
    # J × PUE 1.3 × 1e6 / 3.6e6 × 0.3809 kg/kWh
    expected = row["joules_per_token"] * 1.3 * 1e6 / 3.6e6 * GRID["DE"]
    assert row["kgco2e_per_mtok"] == pytest.approx(expected)


def test_target_throughput_provisions_whole_groups(models):
    row = run(["a10"], models["llama-3-8b"], "int8", context=1024, target_tokens_per_s=200)
    row = row.iloc[0]
    # 52.2 tokens/s per card → 4 cards for 200 tokens/s, each drawing 105 W.
    assert row["groups"] == 4
    assert row["joules_per_token"] == pytest.approx(4 * 105 / 200)


def test_assumptions_are_words_with_a_source(models):
    result = run(["a10"], models["llama-3-8b"], "int8")
    for name, entry in result.attrs["assumptions"].items():
        assert set(entry) == {"what", "value", "source"}, name
        assert entry["what"] and entry["source"], name
        assert "circular.md" not in str(entry), name


def test_assumptions_name_no_repository_path(models):
    result = run(["a10"], models["llama-3-8b"], "int8")
    for name, entry in result.attrs["assumptions"].items():
        for word in ("docs/", ".csv", ".md", "hardware/"):
            assert word not in entry["value"] + entry["source"], (name, word)


def test_the_engine_assumption_says_which_builds_its_estimate_describes(models):
    from hardware import calibration

    table = pd.DataFrame(
        {
            "engine": ["a", "a", "a", "b", "c"],
            "engine_date": ["2023-10", "2024-01-26", "", "2024", "2025-06"],
        }
    )
    spans = calibration.builds(table, {"c": ("2024-09", "2025-03")})
    assert spans["a"] == {
        "rows": 3, "dated": 2, "oldest": "2023-10", "newest": "2024-01", "changes": []
    }  # fmt: skip
    old = inf.build_words(spans["a"], "A")
    assert "3 fitted measurements (builds of 2023-10 to 2024-01)" in old
    assert "a newer build may run at another speed" in old
    assert "1 fitted measurement (a build of 2024) shows it" in inf.build_words(spans["b"], "B")
    today = inf.build_words(spans["c"], "C")
    assert today.startswith("estimated as its builds since 2025-03 run")
    assert "speed-ups of 2024-09 and 2025-03 are in the model" in today
    assert "no published measurement of D" in inf.build_words(None, "D")
    cal = inf.calibration()
    result = run(["a10"], models["llama-3-8b"], "int8", cal=cal)
    vllm = cal.meta["builds"]["vllm"]
    assert vllm["changes"] == list(calibration.engine_change_dates()["vllm"])
    words = result.attrs["assumptions"]["engine"]["value"]
    assert words == f"vLLM: {inf.build_words(vllm, 'vLLM')}"


def _with_check(engine_figures: dict) -> inf.Calibration:
    cal = inf.calibration()
    meta = {**cal.meta, "coverage": {"check": {"per_class": {"engine": engine_figures}}}}
    return inf.Calibration(**{**cal.__dict__, "meta": meta})


def test_each_engines_record_on_the_check_is_judged_against_chance():
    figures = {
        "low": {"coverage": 0.4, "rows": 30, "tables": 5, "chance": [0.6, 0.95]},
        "high": {"coverage": 0.99, "rows": 90, "tables": 8, "chance": [0.65, 0.9]},
        "fine": {"coverage": 0.7, "rows": 40, "tables": 4, "chance": [0.6, 0.95]},
        "small": {"coverage": 0.2, "rows": 9, "tables": 2, "chance": [0.0, 1.0]},
    }
    cal = _with_check(figures)
    verdicts = {e: inf.range_record(cal, e)["verdict"] for e in figures}
    assert verdicts == {"low": "below", "high": "above", "fine": "within", "small": "few"}
    assert inf.range_record(cal, "unheard-of") is None
    words = inf.range_record_words(inf.range_record(cal, "low"), "Low Engine")
    assert "held 40% of 30 (from 5 publications)" in words and "60%–95%" in words
    assert "outside it more often than stated" in words
    assert "wider than it needs to be" in inf.range_record_words(inf.range_record(cal, "high"), "H")
    assert "no more than chance" in inf.range_record_words(inf.range_record(cal, "fine"), "F")
    assert "too few to judge" in inf.range_record_words(inf.range_record(cal, "small"), "S")
    assert "holds no published measurement" in inf.range_record_words(None, "Nobody")


def test_the_speed_range_assumption_says_how_the_engines_range_held(models):
    cal = inf.calibration()
    for engine in ("vllm", "llama.cpp", "hf-transformers"):
        result = run(["a10"], models["llama-3-8b"], "int8", engine=engine, cal=cal)
        value = result.attrs["assumptions"]["speed_band"]["value"]
        record = inf.range_record(cal, engine)
        assert inf.range_record_words(record, inf.engines()[engine].name) in value


# --- embodied credit and payback (§3.6, §4.1, §4.3) -------------------------------------------


def test_reuse_avoids_the_embodied_carbon_of_the_new_equivalent():
    assert inf.embodied_avoided_kgco2e(3, 123.5) == pytest.approx(370.5)
    assert inf.embodied_avoided_kgco2e(3, 123.5, burdens_kg=20) == pytest.approx(350.5)


# Worked examples at PUE 1.3: (P_old kW, P_new_equiv kW, EF kg, ΔE kWh/yr, {country: payback years})
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


def test_vectorised_payback_matches_the_scalar_one():
    years = inf.payback_years(np.array([0.5, 0.2]), np.array([0.35, 0.3]), 1300, GRID["DE"], 1.3)
    assert years[0] == pytest.approx(inf.payback(0.5, 0.35, 1300, GRID["DE"], pue=1.3).years)
    assert math.isinf(years[1])


def test_the_speed_band_source_says_which_ratio_its_median_is():
    """The band is measured ÷ estimated; the stored median is of estimate ÷ measured (the
    accuracy table of docs/reuse.md): the words must not pin one on the other."""
    import json

    with open(inf.CALIBRATION_FILE, encoding="utf-8") as fh:
        data = json.load(fh)
    data["cv"] = {"median_ratio": 0.8, "share_within_35": 0.571}
    cal = inf.calibration_from_dict(data)
    source = inf.assumptions(cal, "vllm", "int8", "int8", 0.85)["speed_band"]["source"]
    assert "median estimate ÷ measured 0.80" in source
    assert "57 % within ±35 %" in source
