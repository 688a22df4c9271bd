"""The decode model's calibration: stored = fresh fit, honest accuracy, bad data refused.

Pure: reads the shipped CSV files, no database.
"""

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from hardware import calibration, coverage, inference

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def table():
    return calibration.load_table()


@pytest.fixture(scope="module")
def validation():
    return calibration.load_validation()


@pytest.fixture(scope="module")
def published():
    return calibration.load_range()


@pytest.fixture(scope="module")
def fresh(table, validation, published):
    return calibration.calibrate(table, validation, published)


@pytest.fixture(scope="module")
def stored():
    return calibration.stored()


def test_stored_constants_equal_a_fresh_fit_of_the_shipped_data(fresh, stored):
    assert stored is not None, "run `manage.py calibrate_reuse`"
    assert stored["data_sha256"] == fresh["data_sha256"], "data changed: run calibrate_reuse"
    assert stored["constants"] == fresh["constants"]
    assert stored["band"] == fresh["band"]
    assert stored["coverage"] == json.loads(calibration.to_json(fresh, "-"))["coverage"]
    assert stored["cv"] == json.loads(json.dumps(fresh["cv"]))
    assert stored["validation"] == json.loads(calibration.to_json(fresh, "-"))["validation"]
    assert stored["range"] == json.loads(calibration.to_json(fresh, "-"))["range"]
    assert stored["builds"] == fresh["builds"]
    assert stored["fitted_on"]


def test_the_fit_is_deterministic(table):
    assert calibration.fit(table) == calibration.fit(table.sample(frac=1, random_state=3))


def test_docs_and_plot_show_the_stored_calibration(fresh, stored):
    docs = inference.CATALOGUE_DIR.parent.parent / "docs"
    page = (docs / "reuse.md").read_text(encoding="utf-8")
    assert calibration.docs_block(fresh, stored["fitted_on"]) in page
    svg = (docs / "reuse-calibration.svg").read_text(encoding="utf-8")
    assert svg == calibration.plot_svg(
        fresh["_cv_rows"], "Decode tokens/s: estimate (GPU left out) vs measured"
    )
    svg = (docs / "reuse-coverage.svg").read_text(encoding="utf-8")
    assert svg == coverage.plot_svg(fresh["coverage"])
    svg = (docs / "reuse-validation.svg").read_text(encoding="utf-8")
    assert svg == calibration.plot_svg(
        fresh["validation"]["_rows"],
        "Decode tokens/s: estimate vs independent measurement (never fitted)",
        y_label="estimated tokens/s (shipped constants)",
    )


def test_the_data_set_covers_what_the_estimates_are_used_for(table):
    assert len(table) >= 60
    assert table["gpu"].nunique() >= 10
    assert table["engine"].nunique() >= 3
    assert (table["concurrency"] == 1).any() and (table["concurrency"] > 1).any()
    assert (table["n_devices"] > 1).any()


# Publishers whose measurements size the range (range_measurements.csv) ...
RANGE_SOURCES = (
    "xiongjiedai",
    "casper-hansen/autoawq",
    "docs.nvidia.com/nim",
    "oobabooga.github.io",
    "jan.ai/post/benchmarking-nvidia-tensorrt-llm",
    "stefanthoss/stefandroid-blog",
    "hkadm/ollama_gpu_test",
    "qwenlm/qwen2.5",
    "ninehills/llm-inference-benchmark",
    "mushfiqrahman.dev",
    "gpustack/gpustack/blob/main/docs/performance-lab",
    "bitsandbytes-foundation/bitsandbytes",
    "quack-ai/companion",
    "huggingface.co/microsoft/phi-3-mini-4k-instruct-onnx",
)
# ... and those of the independent check (validation_measurements.csv).
CHECK_SOURCES = (
    "bereketlemma/llm-inference-bench",
    "aws-samples/awsome-inference",
    "france-travail/results_benchmark_llm_serving",
    "mostlygeek/llama-swap",
    "kogolobo/llm_inference_benchmark",
    "gparemsky/48gb4090",
    "hamzahtariq11/llama.cpp-and-vllm-benchmarks",
    "ggml-org/llama.cpp/issues/2641",
    "acaracappa/cloud-gpu-shopper",
    "minhngyuen/llm-benchmark",
    "mrdbourke/gpu-benchmarking",
    "bencyna/hpml-llama2-tgi",
    "dennislee22/vllm-benchmarking",
    "subrahmanyam2305/llm-serve",
    "swapnil99007/nvidia-llm-inference-bench",
    "turboderp-org/exllamav2/issues/346",
    "argonne-lcf/llm-inference-bench",
    "cssnoeasy/a100-vllm-benchmark-blog",
    "vllm-project/vllm/issues/20469",
    "mit-han-lab/llm-awq/issues/78",
    "utilityai/llama-cpp-rs",
    "autogptq/autogptq/blob",
    "autogptq/autogptq/pull/219",
    "d893a/localscore-insights",
    "liltom-eth/llama2-webui",
    "blog.eduard3v.com",
    "netease-media/grps_trtllm",
    "opennmt/ctranslate2/issues/1388",
    "turboderp-org/exllamav2/issues/109",
    "turboderp/exllama/issues/266",
    "junweiliang/mllms",
    "eugenesiow/llm-insights",
    "tharindu-sankalpa/huggingface-learning",
    "ineshreddy249/llama-trt-optimization",
    "vllm-project/vllm/issues/7567",
    "huggingface/text-generation-inference/issues/1452",
    "aws-samples/foundation-model-benchmarking-tool",
    "alexsjones/llmfit",
    "tokey-tahmid/llm-inference-bench",
    "ravichrn/llm-inference-benchmarking",
    "augmxnt/llm-tracker.info-vault",
    "augmxnt/speed-benchmarking",
    "orimanabu/zenndocs",
    "nvidia/tensorrt-llm/issues/329",
    "vsevolod-zaytsev/rtx3090-vllm-benchmark",
    "klsatorlac2/vllm-benchmark-lab",
)


def _urls(name):
    with open(inference.CATALOGUE_DIR / name, encoding="utf-8") as fh:
        return {r["source_url"].lower() for r in csv.DictReader(fh)}


def test_no_publisher_has_two_roles():
    urls = {
        name: " ".join(_urls(name))
        for name in ("decode_measurements.csv", calibration.RANGE_FILE, calibration.VALIDATION_FILE)
    }
    for sources, own in ((RANGE_SOURCES, calibration.RANGE_FILE),
                         (CHECK_SOURCES, calibration.VALIDATION_FILE)):  # fmt: skip
        for source in sources:
            assert not any(source in text for name, text in urls.items() if name != own), source
    assert not set(RANGE_SOURCES) & set(CHECK_SOURCES)


@pytest.mark.parametrize(
    ("name", "sources"),
    [(calibration.VALIDATION_FILE, CHECK_SOURCES), (calibration.RANGE_FILE, RANGE_SOURCES)],
)
def test_each_never_fitted_file_reads_only_its_own_publishers(name, sources):
    urls = _urls(name)
    assert urls and all(any(s in url for s in sources) for url in urls)
    assert not urls & _urls("decode_measurements.csv")


def test_the_never_fitted_sets_are_large_enough_to_judge(validation, published):
    for rows in (validation, published):
        assert len(rows) >= 30
        assert rows.groupby(["source", "published"]).ngroups >= 3


def test_the_fit_never_reads_the_never_fitted_rows(table, validation, published, fresh):
    # The constants are the same with or without the check and the range rows, and whatever
    # their rows say.
    assert calibration.calibrate(table)["constants"] == fresh["constants"]
    twisted = validation.assign(tokens_per_s=validation["tokens_per_s"] * 3)
    again = calibration.calibrate(table, twisted, published)
    assert again["constants"] == fresh["constants"]
    assert again["band"] == fresh["band"]  # nor does the check size the range
    assert again["validation"]["median_ratio"] == pytest.approx(
        fresh["validation"]["median_ratio"] / 3, rel=0.01
    )
    slower = calibration.calibrate(
        table, validation, published.assign(tokens_per_s=published["tokens_per_s"] / 2)
    )
    assert slower["constants"] == fresh["constants"]
    # The range rows move only the range for GPUs with measurements, by their own factor.
    assert {k: v for k, v in slower["band"].items() if k != "seen"} == {
        k: v for k, v in fresh["band"].items() if k != "seen"
    }
    # Measured at half the speed: measured ÷ estimated halves, and so do the range's ends.
    assert slower["band"]["seen"]["high"] == pytest.approx(
        fresh["band"]["seen"]["high"] / 2, rel=0.01
    )


def test_the_independent_check_estimates_with_the_shipped_constants(fresh, validation):
    rows = fresh["validation"]["_rows"]
    expected = calibration.predict(validation, fresh["constants"])
    by_id = dict(zip(validation["id"], expected, strict=True))
    assert rows["estimate"].tolist() == [by_id[i] for i in rows["id"]]
    assert fresh["validation"]["rows"] == len(validation)


def test_cross_validation_is_computed_without_the_held_out_gpu(table):
    cv = calibration.leave_one_gpu_out(table)
    gpu = cv["gpu"].iloc[0]
    params = calibration.fit(table[table["gpu"] != gpu])
    held = cv[cv["gpu"] == gpu]
    assert np.allclose(held["estimate"], calibration.predict(held, params))


def test_calibrated_model_beats_the_former_roofline(fresh):
    cv = fresh["cv"]
    assert abs(np.log(cv["median_ratio"])) < abs(np.log(cv["roofline"]["median_ratio"]))
    assert cv["share_within_35"] > cv["roofline"]["share_within_35"]


def _stored(kind: str) -> str:
    """The misses (`misses`, `beyond_chance`) the stored calibration records, in its own words
    (stale stored data fails test_stored_constants_equal_a_fresh_fit_of_the_shipped_data)."""
    stored = calibration.stored() or {}
    return "; ".join((stored.get("coverage") or {}).get(kind) or ["none recorded"])


@pytest.mark.xfail(
    strict=True,
    reason="Goal not met in every class (docs/reuse.md, The range; `calibrate_reuse --check` "
    "lists each miss with its rows and tables): " + _stored("misses"),
)
def test_the_80_percent_range_holds_75_to_90_percent_in_every_class(fresh):
    # Computed from the data by hardware.coverage: overall and every class with >= 10 rows,
    # on leave one GPU out and on the independent check, plus the median 0.9-1.1.
    assert coverage.misses(fresh["coverage"]) == []


@pytest.mark.xfail(
    strict=True,
    reason="Some classes miss by more than chance explains (docs/reuse.md, How much of the miss "
    "is chance): " + _stored("beyond_chance"),
)
def test_every_class_lies_where_a_right_range_would_put_it(fresh):
    # Each held class inside the band a range exactly right stays within (hardware.chance): 9
    # times in 10 per set, about 4 in 5 over the check and leave one GPU out together; a range
    # with nothing wrong meets it that often, against 18 % for 75-90 % in every class.
    assert coverage.beyond_chance(fresh["coverage"]) == []


def test_the_80_percent_range_holds_75_to_90_percent_of_the_independent_check(fresh):
    # Overall, on rows that neither fitted the constants nor sized the range.
    check = fresh["coverage"]["check"]
    assert coverage.GOAL_COVERAGE[0] <= check["coverage"] <= coverage.GOAL_COVERAGE[1]
    assert coverage.GOAL_MEDIAN[0] <= check["median_ratio"] <= coverage.GOAL_MEDIAN[1]
    assert check["rows"] >= 100 and check["publication_tables"]["tables"] >= 10


def test_leave_one_gpu_out_coverage_meets_the_goal_overall(fresh):
    logo = fresh["coverage"]["logo"]
    assert coverage.GOAL_COVERAGE[0] <= logo["coverage"] <= coverage.GOAL_COVERAGE[1]
    assert coverage.GOAL_MEDIAN[0] <= logo["median_ratio"] <= coverage.GOAL_MEDIAN[1]


def test_coverage_is_reported_per_class_on_both_sets(fresh, table, validation):
    for where, rows in (("logo", table), ("check", validation)):
        figures = fresh["coverage"][where]
        counted = rows[coverage.offered(rows)]  # a library no estimate runs is not counted
        assert figures["rows"] == len(counted)
        assert fresh["coverage"]["not_offered"][where] == len(rows) - len(counted)
        assert set(figures["per_class"]) == set(coverage.CLASSES)
        for kind, groups in figures["per_class"].items():
            assert sum(g["rows"] for g in groups.values()) == len(counted), (where, kind)
    assert set(fresh["coverage"]["logo"]["per_class"]["concurrency"]) == {"1", "2–16", "> 16"}
    assert set(fresh["coverage"]["logo"]["per_class"]["precision"]) == {
        "16-bit", "8-bit", "4-bit"
    }  # fmt: skip


def test_a_held_out_gpu_never_sets_its_own_range(fresh):
    cv = fresh["_cv_rows"]
    gpu = "nvidia-a100-sxm4-80gb"
    held = coverage.leave_one_gpu_out(cv).set_index("id")
    expected = coverage.apply(cv[cv["gpu"] == gpu], coverage.bands(cv[cv["gpu"] != gpu]))
    for _, row in expected.iterrows():
        assert held.loc[row["id"], "band_low"] == row["band_low"]
        assert held.loc[row["id"], "band_high"] == row["band_high"]
    # Twisting that GPU's own residuals does not move its range.
    twisted = cv.assign(ratio=np.where(cv["gpu"] == gpu, cv["ratio"] * 5, cv["ratio"]))
    again = coverage.leave_one_gpu_out(twisted).set_index("id")
    ids = expected["id"]
    assert (again.loc[ids, "band_low"] == held.loc[ids, "band_low"]).all()


def test_the_conformal_range_widens_with_few_residuals():
    residuals = np.log(np.linspace(0.5, 2.0, 9))
    assert coverage.conformal(residuals) is None  # 9 rows cannot place a 90th percentile
    wide = coverage.conformal(np.log(np.linspace(0.5, 2.0, 10)))
    assert wide == (0.5, 2.0)  # with 10 rows the 80 % range is the extremes
    narrow = coverage.conformal(np.log(np.linspace(0.5, 2.0, 1000)))
    assert 0.5 < narrow[0] < 0.7 and 1.8 < narrow[1] < 2.0


def test_an_engine_with_few_measurements_gets_the_wider_stated_prior(fresh, table):
    band = fresh["band"]
    counts = table["engine"].value_counts()
    few = [e for e, n in counts.items() if n < coverage.MIN_ROWS]
    assert few and set(band["per_engine"]) <= set(counts[counts >= coverage.MIN_ROWS].index)
    low, high, is_few = coverage.band_for(band, few[0])
    assert is_few and (low, high) == (band["prior"]["low"], band["prior"]["high"])
    assert low < band["low"] and high > band["high"]
    low, high, is_few = coverage.band_for(band, "vllm")
    assert not is_few and (low, high) == (
        band["per_engine"]["vllm"]["low"], band["per_engine"]["vllm"]["high"]
    )  # fmt: skip
    cal = inference.calibration_from_dict(json.loads(calibration.to_json(fresh, "-")))
    assert cal.band("autoawq")[2] and not cal.band("llama.cpp")[2]


def test_no_source_is_both_fitted_and_never_fitted(table, validation, published):
    assert not set(table["source"]) & set(validation["source"])
    assert not set(table["source"]) & set(published["source"])
    assert not set(validation["source"]) & set(published["source"])


def _residuals(**columns):
    n = len(columns["ratio"])
    base = {"id": [str(i) for i in range(n)], "engine": ["vllm"] * n, "gpu": ["g1"] * n,
            "concurrency": [1.0] * n, "n_devices": [1.0] * n, "source": ["s"] * n,
            "published": [""] * n}  # fmt: skip
    return pd.DataFrame({**base, **columns})


def test_a_quantisation_library_no_estimate_runs_sizes_no_range(fresh, table, published):
    # The h2oGPT rows run Transformers with bitsandbytes: they inform the fit (its own
    # quantisation term) but an estimate never runs bitsandbytes, so the range ignores them.
    library = table[~coverage.offered(table)]
    assert set(library["weight_format"]) == {"bitsandbytes"}
    assert "quant:bitsandbytes" in fresh["constants"]
    cv = fresh["_cv_rows"]
    assert fresh["band"]["rows"] == coverage.offered(cv).sum() < len(cv)
    assert fresh["coverage"]["not_offered"]["logo"] == len(library)
    # Were they counted, the range of Transformers would be another.
    with_library = coverage.bands(cv)["per_engine"]["hf-transformers"]
    assert with_library != fresh["band"]["per_engine"]["hf-transformers"]


def test_each_publication_table_weighs_the_same_in_the_range():
    # 100 rows of one table at measured = estimate, and four tables of one row each far off:
    # counted by row the range would be a point; counted by table, the four set its ends.
    ratio = [1.0] * 100 + [1 / 0.5, 1 / 0.7, 1 / 1.4, 1 / 2.0]
    source = ["big"] * 100 + ["t1", "t2", "t3", "t4"]
    seen = coverage.seen_band(_residuals(ratio=ratio, source=source))
    assert seen["tables"] == 5 and seen["rows"] == 104
    assert seen["low"] == 0.5 and seen["high"] == 2.0


def test_the_range_tables_serve_only_gpus_with_measurements_and_setups_they_cover(fresh):
    band = fresh["band"]
    seen = band["seen"]
    gpu = seen["gpus"][0]
    engine = sorted(seen["covers"]["engine"])[0]
    assert coverage.band_for(band, engine, gpu, 1, 1) == (seen["low"], seen["high"], False)
    # A GPU without measurements, or a setup fewer than MIN_TABLES tables cover, takes the
    # leave-one-GPU-out range.
    fallback = coverage.band_for(band, engine)
    assert coverage.band_for(band, engine, "a-gpu-nobody-measured", 1, 1) == fallback
    uncovered = [c for c in ("1", "2–16", "> 16") if c not in seen["covers"]["concurrency"]]
    requests = {"1": 1, "2–16": 8, "> 16": 64}[uncovered[0]]
    assert coverage.band_for(band, engine, gpu, requests, 1) == fallback
    missing = sorted(set(band["per_engine"]) - set(seen["covers"]["engine"]))[0]
    assert coverage.band_for(band, missing, gpu, 1, 1) == coverage.band_for(band, missing)
    cal = inference.calibration_from_dict(json.loads(calibration.to_json(fresh, "-")))
    assert cal.band(engine, gpu) == (seen["low"], seen["high"], False)


def test_a_range_table_never_sets_its_own_range(fresh, published):
    cv, gpus = fresh["_cv_rows"], set(fresh["gpus"])
    rows = calibration.estimated(published, fresh["constants"])
    tables = coverage.publication_table(rows)
    one = sorted(set(tables))[0]
    held = coverage.leave_one_table_out(rows, cv, gpus).set_index("id")
    twisted = rows.assign(ratio=np.where(tables == one, rows["ratio"] * 5, rows["ratio"]))
    again = coverage.leave_one_table_out(twisted, cv, gpus).set_index("id")
    ids = rows["id"][tables == one]
    assert (again.loc[ids, "band_low"] == held.loc[ids, "band_low"]).all()
    assert (again.loc[ids, "band_high"] == held.loc[ids, "band_high"]).all()


def test_a_build_older_than_the_engines_last_speed_up_is_marked_and_counts_less(table):
    changes = calibration.engine_changes()
    last = changes["llama.cpp"]
    assert calibration.older_build("llama.cpp", "2023-12", changes)
    assert not calibration.older_build("llama.cpp", last, changes)
    assert not calibration.older_build("llama.cpp", "", changes)  # unknown is not older
    assert not calibration.older_build("tgi", "2023-01", changes)  # no documented change
    older = table[table["older_build"]]
    assert len(older) and set(older["engine"]) <= set(changes)
    # Halving a row's weight is the same as the fit without its duplicate: doubling an older
    # row moves the constants less than doubling it as a current build would.
    row = older.iloc[[0]]
    base = calibration.fit(table)
    as_old = calibration.fit(pd.concat([table, row]))
    as_new = calibration.fit(pd.concat([table, row.assign(older_build=False)]))

    def moved(params):
        return sum(abs(params[k] - base[k]) for k in base)

    assert moved(as_old) < moved(as_new)


def test_an_older_build_pays_its_extra_launch_cost_and_a_users_estimate_does_not(fresh, table):
    params = fresh["constants"]
    dates = calibration.engine_change_dates()["llama.cpp"]
    keys = [f"launch_old:llama.cpp@{d}" for d in dates]
    assert len(dates) >= 2 and set(keys) <= set(params) and sum(params[k] for k in keys) > 0
    row = table[table["id"] == "131"]  # llama.cpp on an RTX 3090, January 2024
    assert row["older_build"].all() and row["missed_changes"].iloc[0] == " ".join(dates)
    as_run = calibration.predict(row, params)[0]
    today = calibration.predict(row.assign(older_build=False), params)[0]
    assert as_run < today
    layers = inference.step_features(row)["layers"][0]
    # It predates every documented speed-up, so it pays each one's cost per layer.
    assert 1 / as_run - 1 / today == pytest.approx(sum(params[k] for k in keys) * layers)
    # The shipped estimate is the current build's, whatever the row's date.
    cal = calibration._calibration(params)
    assert inference.decode_tokens_per_s(row, cal)[0] == pytest.approx(today)


def test_a_build_pays_only_for_the_speed_ups_it_predates():
    dates = {"llama.cpp": ("2024-04", "2025-08")}
    assert calibration.missed_changes("llama.cpp", "2023-12", dates) == ("2024-04", "2025-08")
    assert calibration.missed_changes("llama.cpp", "2024-05", dates) == ("2025-08",)
    assert calibration.missed_changes("llama.cpp", "2025-08-28", dates) == ()
    assert calibration.missed_changes("llama.cpp", "", dates) == ()  # unknown predates nothing
    assert calibration.missed_changes("vllm", "2023-01", dates) == ()


def test_vllms_builds_are_read_against_its_own_documented_speed_ups(table):
    """v0.6.0 (2024-09) and V1 by default (v0.8.0, 2025-03): a January 2024 build predates
    both, a build dated only '2025' is read as January 2025 (before V1 was the default), and a
    named 0.8.5 build is dated by its release, after both."""
    assert calibration.engine_change_dates()["vllm"] == ("2024-09", "2025-03")
    missed = dict(zip(table["id"], table["missed_changes"], strict=True))
    assert missed["35"] == "2024-09 2025-03"  # premAI, January 2024
    assert missed["143"] == "2025-03"  # Apolo, 2025
    assert missed["150"] == ""  # ree2raz, vLLM 0.8.5


def test_an_older_vllm_build_is_estimated_slower_and_a_users_estimate_is_todays(fresh, table):
    params = fresh["constants"]
    keys = ["launch_old:vllm@2024-09", "launch_old:vllm@2025-03"]
    assert set(keys) <= set(params) and sum(params[k] for k in keys) > 0
    row = table[table["id"] == "35"]  # premAI, January 2024: predates both
    as_run = calibration.predict(row, params)[0]
    today = calibration.predict(row.assign(older_build=False), params)[0]
    layers = inference.step_features(row)["layers"][0]
    assert 1 / as_run - 1 / today == pytest.approx(sum(params[k] for k in keys) * layers)
    cal = calibration._calibration(params)
    assert inference.decode_tokens_per_s(row, cal)[0] == pytest.approx(today)


def test_a_build_between_two_speed_ups_pays_the_later_ones_cost_only(fresh, table):
    params = fresh["constants"]
    first, last = calibration.engine_change_dates()["llama.cpp"][:2]
    row = table[table["id"] == "131"].assign(missed_changes=last)  # as if built between them
    today = calibration.predict(row.assign(older_build=False), params)[0]
    as_run = calibration.predict(row, params)[0]
    layers = inference.step_features(row)["layers"][0]
    assert 1 / as_run - 1 / today == pytest.approx(params[f"launch_old:llama.cpp@{last}"] * layers)
    assert f"launch_old:llama.cpp@{first}" in params


def test_accuracy_is_reported_per_class_of_measurement(fresh, table):
    per_class = fresh["cv"]["per_class"]
    assert set(per_class) == set(calibration.CLASSES)
    for kind, groups in per_class.items():
        assert sum(g["rows"] for g in groups.values()) == len(table), kind
    assert set(per_class["requests"]) == {"one request", "batched"}


def test_accuracy_is_reported_per_source(fresh, table):
    per_source = fresh["cv"]["per_class"]["source"]
    # One group per publication: a llama.cpp pull request is its own source, not "github.com".
    assert "github.com/ggml-org/llama.cpp/pull/4766" in per_source
    assert sum(g["rows"] for g in per_source.values()) == len(table)


def test_the_source_of_a_row_does_not_change_the_data_hash(table):
    relabelled = table.assign(source="elsewhere")
    assert calibration.data_hash(relabelled) == calibration.data_hash(table)


def test_a_mixture_of_experts_is_fitted_on_its_active_parameters(table):
    moe = table[table["llm"] == "gpt-oss-20b"]
    assert len(moe) and (moe["active_params_b"] < moe["params_b"]).all()
    dense = table[table["llm"] == "llama-2-7b"]
    assert (dense["active_params_b"] == dense["params_b"]).all()


def test_a_kv_cache_stored_in_fewer_bits_is_read_as_such(tmp_path):
    rows = calibration.read_measurements(_write(tmp_path, [GOOD, {**GOOD, "id": "x2"}]))
    rows[1]["kv_bits"] = "8"
    table = calibration.feature_table(
        rows, inference.load_llm_models(), calibration.load_accelerators()
    )
    assert table["kv_bytes_per_token"].iloc[1] == table["kv_bytes_per_token"].iloc[0] / 2


def test_a_named_quantisation_library_is_fitted_apart_from_its_engine(fresh, table):
    assert (table["weight_format"] == "bitsandbytes").any()
    assert "quant:bitsandbytes" in fresh["constants"]
    assert "quant:hf-transformers" in fresh["constants"]


def test_bands_bracket_the_central_estimate(fresh):
    band = fresh["band"]
    assert band["low"] < 1 < band["high"] and band["level"] == 0.8
    for own in band["per_engine"].values():
        assert own["low"] < 1 < own["high"] and own["rows"] >= coverage.MIN_ROWS


def _write(tmp_path, rows):
    path = tmp_path / "decode_measurements.csv"
    buffer = io.StringIO()
    columns = calibration.MEASUREMENT_COLUMNS + calibration.OPTIONAL_COLUMNS
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


GOOD = dict(
    id="x1", llm="llama-3-8b", params_b="8.03", precision="fp16", bits_per_weight="16",
    gpu="nvidia-a10", n_gpus="1", interconnect="none", engine="vllm", concurrency="1",
    context_tokens="128", output_tokens="128", tokens_per_s="30", tokens_per_s_basis="aggregate",
    power_w="", source_url="https://example.org", source_title="t", published="2024", note="",
)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"engine": "warp-drive"}, "engine"),
        ({"tokens_per_s": "0"}, "tokens_per_s"),
        ({"tokens_per_s": "-3"}, "tokens_per_s"),
        ({"power_w": "451"}, "power_w"),  # A10: 150 W rated, 3 × 150 = 450
        ({"gpu": "dell-poweredge-r740"}, "gpu"),
        ({"llm": "gpt-9"}, "llm"),
        ({"precision": "fp4"}, "precision"),
        ({"kv_bits": "0"}, "kv_bits"),
        ({"kv_bits": "eight"}, "kv_bits"),
        ({"split": "diagonal"}, "split"),
    ],
)
def test_bad_measurements_are_refused_naming_row_and_field(tmp_path, change, field):
    path = _write(tmp_path, [GOOD, {**GOOD, "id": "x2", **change}])
    rows = calibration.read_measurements(path)
    with pytest.raises(calibration.MeasurementError) as exc:
        calibration.feature_table(
            rows, inference.load_llm_models(), calibration.load_accelerators()
        )
    assert exc.value.problems == [p for p in exc.value.problems if p.startswith(
        "decode_measurements.csv: row 3: ")]  # fmt: skip
    assert any(f"field {field}:" in p for p in exc.value.problems)


def test_a_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "decode_measurements.csv"
    path.write_text("id,llm\n1,llama-3-8b\n", encoding="utf-8")
    with pytest.raises(calibration.MeasurementError, match="row 1: header lacks"):
        calibration.read_measurements(path)


def test_unknown_concurrency_or_prompt_length_is_left_out_not_refused(tmp_path):
    rows = [
        GOOD,
        {**GOOD, "id": "x2", "concurrency": ""},
        {**GOOD, "id": "x3", "concurrency": "8", "context_tokens": ""},
    ]
    table = calibration.feature_table(
        calibration.read_measurements(_write(tmp_path, rows)),
        inference.load_llm_models(),
        calibration.load_accelerators(),
    )
    assert list(table["id"]) == ["x1"]
    assert table.attrs["excluded"] == [
        {"id": "x2", "reason": "concurrency not published"},
        {"id": "x3", "reason": "batched, prompt length unknown"},
    ]


def test_no_estimate_is_faster_than_its_memory_allows(table, validation, published, stored):
    # Every setup of the three files, served by every engine as a user's estimate is (today's
    # build, steady decoding, an empty cache): never above the physical ceiling.
    setups = pd.concat([table, validation, published]).assign(
        older_build=False, missed_changes="", prefill_per_output=0.0, per_output=0.0,
        kv_context=0.0, weight_format="",
    )  # fmt: skip
    cal = calibration._calibration(stored["constants"])
    for engine in inference.engines():
        rows = setups.assign(engine=engine)
        speed = inference.decode_tokens_per_s(rows, cal)
        assert (speed <= calibration.bandwidth_ceiling(rows)).all(), engine


def test_a_row_faster_than_its_memory_allows_is_left_out(tmp_path):
    # An A10 reads 600 GB/s; Llama 3 8B at 16 bits is 16.06 GB: at most 37.4 tokens/s at one
    # request, 74.7 on two A10s sharing the weights. The rule allows 20 % above that ceiling.
    rows = [
        {**GOOD, "id": "x1", "tokens_per_s": "44"},  # 1.18 × the ceiling: kept
        {**GOOD, "id": "x2", "tokens_per_s": "46"},  # 1.23 ×: cannot have run as described
        {**GOOD, "id": "x3", "tokens_per_s": "80", "n_gpus": "2", "interconnect": "pcie"},
    ]
    table = _features(tmp_path, rows)
    assert list(table["id"]) == ["x1", "x3"]
    assert table.attrs["excluded"] == [
        {
            "id": "x2",
            "reason": "faster than its GPUs' memory allows: 1.23 × the ceiling (every weight "
            "read once per step at the datasheet bandwidth of all its GPUs)",
        }
    ]


def _features(tmp_path, rows):
    return calibration.feature_table(
        calibration.read_measurements(_write(tmp_path, rows)),
        inference.load_llm_models(),
        calibration.load_accelerators(),
    )


def test_a_decode_only_figure_is_not_charged_its_prompt_or_request(tmp_path):
    rows = [GOOD, {**GOOD, "id": "x2", "tokens_per_s_basis": "decode-only (llama-bench tg)"}]
    table = _features(tmp_path, rows).set_index("id")
    assert table.loc["x1", "prefill_per_output"] == 1.0  # 128 prompt ÷ 128 output tokens
    assert table.loc["x1", "per_output"] == pytest.approx(1 / 128)
    assert table.loc["x2", "prefill_per_output"] == 0.0
    assert table.loc["x2", "per_output"] == 0.0


def test_a_split_the_engine_has_replaced_is_left_out_and_a_stated_split_is_used(tmp_path):
    multi = {**GOOD, "engine": "llama.cpp", "n_gpus": "4", "interconnect": "pcie"}
    rows = [
        {**multi, "id": "x1"},
        {**multi, "id": "x2", "split": "row"},
        {**multi, "id": "x3", "split": "tensor"},
    ]
    table = _features(tmp_path, rows)
    assert list(table["id"]) == ["x1", "x3"]
    assert table.attrs["excluded"] == [{"id": "x2", "reason": "row split, since replaced"}]
    f = inference.step_features(table)
    # llama.cpp splits layers by default (3 hand-overs, one reader); x3 ran tensor parallel.
    assert list(f["hops"]) == [3, 0]
    assert f["memory"][1] == pytest.approx(f["memory"][0] / 4)


def test_the_hand_over_cost_is_fitted_per_engine(fresh, table):
    f = inference.step_features(table)
    engines = set(table.loc[f["hops"] > 0, "engine"])
    assert {k for k in fresh["constants"] if k.startswith("hop:")} == {f"hop:{e}" for e in engines}


def test_coverage_is_also_counted_per_publication_table():
    # Rows of one table hold or miss together: the count and its binomial chance are stated.
    rows = pd.DataFrame(
        {
            "source": ["a", "a", "a", "b", "b", "c"],
            "published": ["2024", "2024", "2024", "2025", "2025", ""],
            "covered": [True, True, False, False, False, True],
        }
    )
    figures = coverage.publication_tables(rows)
    assert figures["tables"] == 3 and figures["inside"] == 2  # a (2 of 3) and c; not b
    assert figures["chance_at_least"] == pytest.approx(3 * 0.8**2 * 0.2 + 0.8**3, abs=1e-3)
    assert coverage.publication_tables(rows.drop(columns="published")) == {}


def test_each_class_states_how_many_publication_tables_its_rows_come_from(fresh, validation):
    # A class of 36 rows from one table is one trial: the table and the misses say so.
    rows = fresh["validation"]["_rows"]
    rows = rows[coverage.offered(rows)]
    for label, figures in fresh["coverage"]["check"]["per_class"]["engine"].items():
        part = rows[rows["engine"] == label]
        assert figures["tables"] == part.groupby(["source", "published"]).ngroups
    lines = coverage.table(fresh["coverage"])
    assert lines[0].split(" | ")[2] == "publication tables"
    for miss in coverage.misses(fresh["coverage"]):
        assert " rows in " in miss or "median" in miss


def test_the_stored_coverage_counts_publication_tables(fresh, validation):
    tables = fresh["coverage"]["check"]["publication_tables"]
    assert tables["tables"] == validation.groupby(["source", "published"]).ngroups
    assert 0 <= tables["inside"] <= tables["tables"]


def test_one_round_of_the_check_is_reported_on_its_own_rows(fresh):
    every = calibration.round_lines(fresh, 0, 10**9)
    whole = coverage.table({"check": fresh["coverage"]["check"]})
    # All ids: the round's table is the check's own.
    assert whole[2] in every
    # One publisher's ids: its counted rows, read from the file, and nothing else.
    with open(inference.CATALOGUE_DIR / calibration.VALIDATION_FILE, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if 11001 <= int(r["id"]) <= 11999]
    counted = [r for r in rows if not r["weight_format"]]
    line = next(x for x in calibration.round_lines(fresh, 11001, 11999) if "| all rows |" in x)
    assert line.split(" | ")[2] == str(len(counted))
    assert "No counted row" in calibration.round_lines(fresh, 99001, 99999)[-1]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--check-rows", "12001-13999"], "give --check as well"),
        (["--check", "--check-rows", "13999-12001"], "'13999-12001': give the first and the last"),
        (["--check", "--check-rows", "12001"], "'12001': give the first and the last"),
    ],
)
def test_check_rows_are_refused_in_words_when_malformed(args, words):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=words):
        call_command("calibrate_reuse", *args)


def test_classes_are_named_as_people_read_them(fresh):
    with open(inference.CATALOGUE_DIR / "engines.csv", encoding="utf-8") as fh:
        names = {r["slug"]: r["name"] for r in csv.DictReader(fh)}
    text = "\n".join(coverage.table(fresh["coverage"])) + coverage.plot_svg(fresh["coverage"])
    text += "\n".join(fresh["coverage"]["misses"])
    assert f"engine {names['hf-transformers']}" in text
    assert "engine hf-transformers" not in text and "engine tgi" not in text


def test_a_round_of_an_empty_check_says_so_in_words():
    assert "No counted row" in calibration.round_lines({"validation": None}, 1, 2)[-1]


def test_the_accuracy_tables_name_gpus_and_engines_as_people_read_them(fresh):
    with open(inference.CATALOGUE_DIR / "models.csv", encoding="utf-8") as fh:
        names = {r["slug"]: f"{r['manufacturer']} {r['name']}" for r in csv.DictReader(fh)}
    block = calibration.docs_block(fresh, "2026-12-07")
    for slug in fresh["cv"]["per_gpu"]:
        assert f"| {names[slug]} |" in block and f"| {slug} |" not in block
    assert "| engine Text Generation Inference |" in block and "| tgi |" not in block


def test_a_gpu_is_named_as_the_catalogue_names_it_the_maker_said_once():
    from hardware.naming import model_name

    assert model_name("NVIDIA", "A100 SXM4 80 GB") == "NVIDIA A100 SXM4 80 GB"
    assert model_name("NVIDIA", "NVIDIA L40S") == "NVIDIA L40S"
    assert calibration.load_accelerators()["nvidia-a100-sxm4-80gb"].name == "NVIDIA A100 SXM4 80 GB"
