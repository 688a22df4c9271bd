"""Fit the decode-speed model to published measurements; cross-validate it; plot it.

Pure (no Django): reads CSV files and returns plain data, so the fit is the same wherever it
runs. `manage.py calibrate_reuse` writes the result into hardware/catalogue/reuse_calibration.json
(with the data's SHA-256 and the date) and the plot into docs/; a test refits and compares.

The model (`hardware.inference.step_time_s`) is linear in its constants, so the fit is one
weighted least-squares solve: residuals are relative (t_est − t_meas) / t_meas, so a T4 row counts
as much as an H100 row. Weak priors pull terms the data barely sees towards a pooled value
(a memory technology or engine with one source towards the average), and time terms that would
come out negative are pinned at zero (a step never takes less than its parts).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hardware import chance, coverage, inference
from hardware.naming import model_name

#: Where `calibrate_reuse --site-measurements` finds a site's recorded runs: a function from
#: site codes to rows shaped like decode_measurements.csv. The registry keeps those runs and
#: hardware cannot import it, so the registry adds its reader here from its AppConfig.ready().
SITE_MEASUREMENT_READERS: list = []

MEASUREMENT_COLUMNS = (
    "id",
    "llm",
    "params_b",
    "precision",
    "bits_per_weight",
    "gpu",
    "n_gpus",
    "interconnect",
    "engine",
    "concurrency",
    "context_tokens",
    "output_tokens",
    "tokens_per_s",
    "tokens_per_s_basis",
    "power_w",
    "source_url",
    "source_title",
    "published",
    "note",
)
# Optional: a quantisation library whose kernels are not the engine's own (e.g. bitsandbytes);
# the KV cache's bits when the engine stored it below 16 (blank = fp16); how a run split the
# model over its GPUs when it is not the engine's present default (blank = engines.csv).
# The engine build's date (the source's own date where it names no build; blank = unknown),
# read against the engine's documented speed-ups (engine_changes.csv).
OPTIONAL_COLUMNS = ("weight_format", "kv_bits", "split", "engine_date")
SPLITS = ("layer", "tensor", "row")
INTERCONNECTS = ("none", "nvlink", "pcie", "fabric")
# Published measurements kept out of every fit, to check the shipped estimates against.
VALIDATION_FILE = "validation_measurements.csv"
# Published measurements kept out of every fit that size the range for GPUs the fit has
# measurements of (hardware.coverage); never counted as a check.
RANGE_FILE = "range_measurements.csv"
WITHIN = 0.35  # the ±35 % accuracy goal
GOAL_MEDIAN = (0.9, 1.1)
GOAL_SHARE = 0.9
DEFAULT_UTIL = (0.7, 0.85)  # fraction of TDP, one request / batched, when no power is measured
MIN_POWER_ROWS = 3

# prior value, scale (how far the data may move it before the prior weighs as one row)
PRIORS = {
    "memory": (1 / 0.7, 1.0),
    "memory:": (0.0, 0.1),  # ≤ 3 GPUs per technology: kept close to the pooled η
    "memory_engine:": (0.0, 0.3),
    "quant:": (0.0, 0.3),
    "t0:": (0.003, 0.003),
    "launch:": (5e-5, 5e-5),  # per layer and step: ~10 kernel launches of a few µs
    # what a build older than the engine's last documented speed-up paid on top, per layer
    # (CUDA graphs and kernel fusion cut launches per layer: engine_changes.csv)
    "launch_old:": (5e-5, 5e-5),
    "tp:": (2e-5, 2e-5),
    # hand-over of the activations to the next device (layer split): the engine's own copy and
    # synchronisation, far more than the few kB an activation weighs on any link
    "hop:": (1e-3, 1e-3),
    "request": (0.05, 0.05),  # fixed latency of one request: scheduling, tokenising, HTTP
    "compute": (2.0, 2.0),
    "prefill": (2.0, 2.0),
}
NON_NEGATIVE = (
    "t0:",
    "launch:",
    "launch_old:",
    "tp:",
    "hop:",
    "compute",
    "prefill",
    "request",
    "quant:",
)

# Both chosen once by the leave-one-GPU-out score (ridge 0.03/0.1/0.3 × Huber 0.3/1.0; the
# spread between them was a few rows out of ~100, so the middle ridge was kept).
RIDGE = 0.1
# A row whose engine build predates the engine's last documented speed-up (engine_changes.csv)
# weighs half, and pays `launch_old:<engine>@<change>` per layer on top for every documented
# speed-up its build predates (a per-engine slow-down factor on the whole step was tried
# instead, and the independent check refuted it: docs/reuse.md).
OLDER_BUILD_WEIGHT = 0.5
HUBER = 1.0  # log residual beyond which a row weighs less (a factor e ≈ 2.7 off)
GAUSS_NEWTON_STEPS = 60
# A row faster than this share of its physical ceiling (every weight read once per step at the
# datasheet bandwidth of all its GPUs, nothing else) cannot have run as described. The 20 %
# allows for what the ceiling overstates: the input embedding table, of which a step reads one
# row (7 % of Llama 3 8B's weights, more for small models with large vocabularies), and memory
# clocked above the datasheet's figure.
CEILING_MARGIN = 1.2


class MeasurementError(ValueError):
    """A measurement file is malformed; `problems` names file, row, field and reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Accelerator:
    slug: str
    name: str  # as people read it: 'NVIDIA A100 SXM4 80 GB'
    bandwidth_gbps: float
    fp16_tflops: float
    bf16_tflops: float
    int8_tops: float
    tdp_w: float
    per_package: float
    memory_technology: str
    interconnect: str


def _num(text: str) -> float:
    text = (text or "").strip()
    return float(text) if text else math.nan


def engine_change_dates(directory: Path = inference.CATALOGUE_DIR) -> dict[str, tuple[str, ...]]:
    """Each engine's documented speed-ups (engine_changes.csv), oldest first: engine → dates."""
    path = directory / "engine_changes.csv"
    if not path.exists():
        path = inference.CATALOGUE_DIR / "engine_changes.csv"
    out: dict[str, set[str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["engine"], set()).add(r["changed_on"].strip())
    return {engine: tuple(sorted(dates)) for engine, dates in out.items()}


def engine_changes(directory: Path = inference.CATALOGUE_DIR) -> dict[str, str]:
    """Each engine's last documented speed-up (engine_changes.csv): engine → YYYY-MM."""
    return {engine: dates[-1] for engine, dates in engine_change_dates(directory).items()}


def missed_changes(engine: str, engine_date: str, dates: dict[str, tuple[str, ...]]) -> tuple:
    """The engine's documented speed-ups this run's build predates (read as `older_build`
    reads a date; blank is unknown and predates nothing)."""
    if not engine_date:
        return ()
    return tuple(d for d in dates.get(engine, ()) if engine_date < d)


def builds(table: pd.DataFrame, dates: dict[str, tuple[str, ...]] | None = None) -> dict:
    """Per engine, what its estimate describes: its fitted rows, the oldest and newest build
    they name (to the month; a row without a build date counts in `rows` only), and the
    documented speed-ups in the model (engine_changes.csv)."""
    dates = engine_change_dates() if dates is None else dates
    out = {}
    for engine, part in table.groupby("engine", sort=True):
        named = sorted(str(d).strip()[:7] for d in part["engine_date"] if _is_date(str(d).strip()))
        out[str(engine)] = {
            "rows": int(len(part)),
            "dated": len(named),
            "oldest": named[0] if named else None,
            "newest": named[-1] if named else None,
            "changes": list(dates.get(str(engine), ())),
        }
    return out


def older_build(engine: str, engine_date: str, changes: dict[str, str]) -> bool:
    """Was this run's build older than its engine's last documented speed-up? A date known to
    the year or month is read as its first day (the earliest the build can be); blank is
    unknown, and an unknown build is not marked older."""
    changed = changes.get(engine)
    return bool(changed and engine_date and engine_date < changed)


def load_accelerators(directory: Path = inference.CATALOGUE_DIR) -> dict[str, Accelerator]:
    """Catalogue accelerators from models.csv + accelerator_memory.csv, per logical device."""
    memory_file = directory / "accelerator_memory.csv"
    if not memory_file.exists():
        memory_file = inference.CATALOGUE_DIR / "accelerator_memory.csv"
    with open(memory_file, newline="", encoding="utf-8") as fh:
        memory = {r["model"]: r for r in csv.DictReader(fh)}
    out = {}
    with open(directory / "models.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["kind"] != "accelerator":
                continue
            per = _num(r["devices_per_package"])
            per = 1.0 if math.isnan(per) or per < 1 else per
            m = memory.get(r["slug"], {})
            out[r["slug"]] = Accelerator(
                slug=r["slug"],
                name=model_name(r["manufacturer"], r["name"]),
                bandwidth_gbps=_num(r["memory_bandwidth_gbps"]) / per,
                fp16_tflops=_num(r["fp16_tflops"]) / per,
                bf16_tflops=_num(r["bf16_tflops"]) / per,
                int8_tops=_num(r["int8_tops"]) / per,
                tdp_w=_num(r["tdp_w"]) / per,
                per_package=per,
                memory_technology=m.get("memory_technology", ""),
                interconnect=m.get("interconnect", ""),
            )
    return out


def read_measurements(path: Path, problems: list[str] | None = None) -> list[dict]:
    """Rows of a decode_measurements.csv (header checked), each with its spreadsheet row number."""
    own = problems is None
    problems = [] if own else problems
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in MEASUREMENT_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                problems.append(f"{path.name}: row 1: header lacks column(s) {', '.join(missing)}")
            else:
                for row in reader:
                    rows.append({**row, "_row": reader.line_num, "_file": path.name})
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path.name}: cannot be read: {exc}")
    if own and problems:
        raise MeasurementError(problems)
    return rows


def source_label(row: dict) -> str:
    """Which publication a row comes from: its URL without scheme or file path inside a
    repository (a pull request or issue keeps its number), else the file it was read from."""
    url = (row.get("source_url") or "").strip()
    if not url:
        return row["_file"]
    url = url.split("://", 1)[-1].removeprefix("www.")
    return url.split("/blob/", 1)[0].split("#", 1)[0].rstrip("/")


def feature_table(
    rows: list[dict],
    llms: dict[str, inference.LLMSpec],
    accelerators: dict[str, Accelerator],
) -> pd.DataFrame:
    """One row per measurement with everything the model reads; bad rows raise, naming them."""
    problems, out, excluded = [], [], []
    known_engines = inference.engines()
    changes = engine_changes()
    change_dates = engine_change_dates()
    for r in rows:
        where = f"{r['_file']}: row {r['_row']}"
        bad = []
        llm = llms.get(r["llm"].strip())
        if llm is None:
            bad.append(f"field llm: '{r['llm']}' is not in llm_models.csv")
        acc = accelerators.get(r["gpu"].strip())
        if acc is None:
            bad.append(f"field gpu: '{r['gpu']}' is not a catalogue accelerator")
        engine = r["engine"].strip()
        if engine not in known_engines:
            bad.append(f"field engine: '{engine}' is not in engines.csv")
        precision = r["precision"].strip().lower()
        if precision not in inference.PRECISIONS:
            bad.append(f"field precision: '{r['precision']}' is not one of {inference.PRECISIONS}")
        link = r["interconnect"].strip() or "none"
        if link not in INTERCONNECTS:
            bad.append(f"field interconnect: '{link}' is not one of {INTERCONNECTS}")
        values = {}
        for name in ("n_gpus", "concurrency", "tokens_per_s", "bits_per_weight"):
            value = _num(r[name])
            # Blank is unknown: only the concurrency of a published run may be unknown.
            if not value > 0 and not (name == "concurrency" and not r[name].strip()):
                bad.append(f"field {name}: '{r[name]}' must be a number above 0")
            values[name] = value
        kv_text = (r.get("kv_bits") or "").strip()
        try:
            kv_bits = float(kv_text) if kv_text else 16.0
        except ValueError:
            kv_bits = math.nan
        if not 0 < kv_bits <= 32:
            bad.append(f"field kv_bits: '{kv_text}' must be a number of bits between 1 and 32")
        engine_date = (r.get("engine_date") or "").strip()
        if engine_date and not _is_date(engine_date):
            bad.append(f"field engine_date: '{engine_date}' is not YYYY, YYYY-MM or YYYY-MM-DD")
        split = (r.get("split") or "").strip()
        if split and split not in SPLITS:
            bad.append(f"field split: '{split}' is not one of {SPLITS} (or blank)")
        for name in ("context_tokens", "output_tokens", "power_w"):
            value = _num(r[name])
            if value < 0:
                bad.append(f"field {name}: '{r[name]}' must not be negative")
            values[name] = value
        if acc is not None and math.isnan(acc.fp16_tflops) and math.isnan(acc.bf16_tflops):
            bad.append(f"field gpu: '{acc.slug}' has no FP16 or BF16 peak in models.csv")
        if acc is not None and values["power_w"] > 3 * acc.tdp_w * values["n_gpus"]:
            bad.append(f"field power_w: {r['power_w']} W is above 3 × the GPUs' rated power")
        if bad:
            problems.extend(f"{where}: {b}" for b in bad)
            continue
        if split == "row":
            # The estimates serve the engines as they run today (engines.csv); a split the
            # engine has since replaced is not what a reuse candidate would run.
            excluded.append({"id": str(r["id"]).strip(), "reason": "row split, since replaced"})
            continue
        if math.isnan(values["concurrency"]):
            excluded.append({"id": str(r["id"]).strip(), "reason": "concurrency not published"})
            continue
        if values["concurrency"] > 1 and not values["context_tokens"] > 0:
            # A batched throughput without its prompt length mixes unknown prefill into decode.
            excluded.append(
                {"id": str(r["id"]).strip(), "reason": "batched, prompt length unknown"}
            )
            continue
        context = 0.0 if math.isnan(values["context_tokens"]) else values["context_tokens"]
        output = 0.0 if math.isnan(values["output_tokens"]) else values["output_tokens"]
        # A decode-only figure (llama.cpp's eval time, llama-bench tg) leaves the prompt and the
        # request's fixed latency out of its time: the run paid them, the figure does not show it.
        timed = output if output > 0 and not _decode_only(r) else 0.0
        device = pd.DataFrame(
            [{"fp16_tflops": acc.fp16_tflops, "bf16_tflops": acc.bf16_tflops,
              "int8_tops": acc.int8_tops}]
        )  # fmt: skip
        out.append(
            {
                "id": str(r["id"]).strip(),
                "source": source_label(r),
                "published": (r.get("published") or "").strip(),
                "gpu": acc.slug,
                "llm": llm.slug,
                "params_b": llm.params_b,
                "active_params_b": llm.read_params_b,
                "layers": llm.layers,
                # fp16 KV cache unless the row says the engine stored it in fewer bits.
                "kv_bytes_per_token": llm.kv_bytes_per_token * kv_bits / 16,
                "bits_per_weight": values["bits_per_weight"],
                "n_devices": values["n_gpus"],
                "bandwidth_gbps": acc.bandwidth_gbps,
                "peak_tflops": float(inference.peak_tflops(device, precision).iloc[0]),
                "concurrency": values["concurrency"],
                # The cache grows while decoding: on average the prompt plus half the output.
                "kv_context": context + output / 2,
                # A run of `output` tokens after a `context`-token prompt also paid the prefill.
                "prefill_per_output": context / timed if timed else 0.0,
                # A fixed latency per request (scheduling, HTTP) is shared by its output tokens.
                "per_output": 1 / timed if timed else 0.0,
                "memory_technology": acc.memory_technology,
                "interconnect": link if values["n_gpus"] > 1 else "none",
                "engine": engine,
                # A quantisation library whose kernels differ from the engine's own (optional).
                "weight_format": (r.get("weight_format") or "").strip(),
                # e.g. llama.cpp before its PR #4766 (January 2024) split each matrix by rows.
                "split": split,
                "engine_date": engine_date,
                "older_build": older_build(engine, engine_date, changes),
                # Every documented speed-up the build predates (space-separated dates).
                "missed_changes": " ".join(missed_changes(engine, engine_date, change_dates)),
                "tokens_per_s": values["tokens_per_s"],
                "power_w": values["power_w"],
                "tdp_w": acc.tdp_w,
            }
        )
    if problems:
        raise MeasurementError(problems)
    table = pd.DataFrame(out)
    if len(table):
        share = table["tokens_per_s"].to_numpy(float) / bandwidth_ceiling(table)
        impossible = share > CEILING_MARGIN
        excluded.extend(
            {
                "id": row_id,
                "reason": f"faster than its GPUs' memory allows: {s:.2f} × the ceiling "
                "(every weight read once per step at the datasheet bandwidth of all its GPUs)",
            }
            for row_id, s in zip(table["id"][impossible], share[impossible], strict=True)
        )
        table = table[~impossible].reset_index(drop=True)
    table.attrs["excluded"] = excluded
    return table


def bandwidth_ceiling(table: pd.DataFrame) -> np.ndarray:
    """Tokens/s no run can exceed: each step reads every weight it uses once, at 100 % of the
    datasheet bandwidth of all its GPUs together, and does nothing else (no KV cache, no
    compute, no launches), for `concurrency` tokens."""
    ideal = table.assign(split="tensor", kv_context=0.0)
    return table["concurrency"].to_numpy(float) / inference.step_features(ideal)["memory"]


def _is_date(text: str) -> bool:
    import re

    return re.fullmatch(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?", text) is not None


def _decode_only(row: dict) -> bool:
    return (row.get("tokens_per_s_basis") or "").strip().lower().startswith("decode-only")


def data_hash(table: pd.DataFrame) -> str:
    """SHA-256 of exactly what the fit reads (so edits elsewhere in the catalogue do not count)."""
    buffer = io.StringIO()
    # Labels the fit never reads.
    table = table.drop(columns=["source", "published", "engine_date"], errors="ignore")
    table.sort_values("id", kind="stable").to_csv(
        buffer, index=False, float_format="%.10g", lineterminator="\n"
    )
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def _param_names(table: pd.DataFrame) -> list[str]:
    techs = sorted(set(table["memory_technology"]) - {""})
    engines = sorted(set(table["engine"]))
    f = inference.step_features(table)
    tp_links = sorted(set(table.loc[f["layers_tp"] > 0, "interconnect"]) - {"none"})
    hop_engines = sorted(set(table.loc[f["hops"] > 0, "engine"]))
    quant_engines = sorted(set(inference.quant_keys(table.loc[table["bits_per_weight"] < 16])))
    names = [
        "memory",
        *(f"memory:{t}" for t in techs),
        *(f"memory_engine:{e}" for e in engines),
        *(f"quant:{e}" for e in quant_engines),
        *(f"t0:{e}" for e in engines),
        *(f"launch:{e}" for e in engines),
        *sorted(
            {
                f"launch_old:{e}@{d}"
                for e, missed in zip(table["engine"], _missed(table), strict=True)
                for d in missed
            }
        ),
        *(f"tp:{x}" for x in tp_links),
        *(f"hop:{e}" for e in hop_engines),
        "compute",
        "prefill",
        "request",
    ]
    return names


def _older(table: pd.DataFrame) -> np.ndarray:
    if "older_build" not in table:
        return np.zeros(len(table), dtype=bool)
    return table["older_build"].to_numpy(bool)


def _missed(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each row's documented speed-ups its build predates; none for a row estimated as the
    current build (`older_build` False)."""
    if "missed_changes" not in table:
        return [()] * len(table)
    return [
        tuple(m.split()) if old else ()
        for m, old in zip(table["missed_changes"].fillna(""), _older(table), strict=True)
    ]


def _prior(name: str) -> tuple[float, float]:
    return PRIORS.get(name) or PRIORS[name.split(":")[0] + ":"]


def _design(table: pd.DataFrame, names: list[str]) -> np.ndarray:
    f = inference.step_features(table)
    index = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(table), len(names)))
    rows = np.arange(len(table))
    for name, values in (("memory", f["memory"]), ("compute", f["compute"]),
                         ("prefill", f["prefill"]), ("request", f["per_output"])):  # fmt: skip
        if name in index:
            x[:, index[name]] = values
    table = table.assign(quant_key=inference.quant_keys(table))
    for col, prefix, values in (
        ("memory_technology", "memory:", f["memory"]),
        ("engine", "memory_engine:", f["memory"]),
        ("quant_key", "quant:", f["quantised"]),
        ("engine", "t0:", np.ones(len(table))),
        ("engine", "launch:", f["layers"]),
        ("interconnect", "tp:", f["layers_tp"]),
        ("engine", "hop:", f["hops"]),
    ):
        keys = [f"{prefix}{v}" for v in table[col]]
        for i, key in zip(rows, keys, strict=True):
            if key in index:
                x[i, index[key]] = values[i]
    # A build pays a per-layer cost for every documented speed-up it predates.
    for i, (engine, missed) in enumerate(zip(table["engine"], _missed(table), strict=True)):
        for d in missed:
            key = f"launch_old:{engine}@{d}"
            if key in index:
                x[i, index[key]] = f["layers"][i]
    return x


def fit(table: pd.DataFrame) -> dict[str, float]:
    """Least squares on log(step time), robust (Huber) and lightly regularised, terms ≥ 0.

    Gauss–Newton from the priors: the model is linear in its constants, so each step is one
    weighted linear solve. Log residuals make a 2× over- and a 2× under-estimate weigh the same;
    the Huber weights keep a few rows the model cannot explain (e.g. slow quantisation kernels)
    from pulling every other estimate off. A fixed number of steps: the same data give the same
    constants.
    """
    names = _param_names(table)
    measured = table["concurrency"].to_numpy(float) / table["tokens_per_s"].to_numpy(float)
    x = _design(table, names)
    priors = np.array([_prior(n)[0] for n in names])
    scales = np.array([_prior(n)[1] for n in names])
    bounded = np.array([n.startswith(NON_NEGATIVE) for n in names])
    # A build older than its engine's last documented speed-up counts less: the estimates
    # describe each engine as it runs today.
    counts = np.where(_older(table), OLDER_BUILD_WEIGHT, 1.0)
    theta = priors.copy()
    for _ in range(GAUSS_NEWTON_STEPS):
        estimate = np.maximum(x @ theta, 1e-9)
        residual = np.log(estimate) - np.log(measured)
        weight = np.minimum(1.0, HUBER / np.maximum(np.abs(residual), 1e-12)) * counts
        jac = x / estimate[:, None] * np.sqrt(weight)[:, None]
        target = -residual * np.sqrt(weight)
        ridge = np.diag(math.sqrt(RIDGE) / scales)
        a = np.vstack([jac, ridge])
        b = np.concatenate([target, ridge @ (priors - theta)])
        step = np.linalg.lstsq(a, b, rcond=None)[0]
        theta = theta + 0.5 * step
        theta = np.where(bounded, np.maximum(theta, 0.0), theta)
    return {n: float(f"{v:.6g}") for n, v in zip(names, theta, strict=True)}


def _calibration(
    params: dict, util=DEFAULT_UTIL, band=(1.0, 1.0), source=""
) -> inference.Calibration:
    return inference.Calibration(params, util[0], util[1], source, band[0], band[1])


def predict(table: pd.DataFrame, params: dict) -> np.ndarray:
    """Tokens/s of each row as it was run: a build older than its engine's last documented
    speed-up also pays `launch_old` per layer. A user's estimate is the current build's
    (`inference.decode_tokens_per_s`, which never reads that term)."""
    current = inference.decode_tokens_per_s(table, _calibration(params))
    layers = inference.step_features(table)["layers"]
    extra = np.array(
        [
            sum(params.get(f"launch_old:{e}@{d}", 0.0) for d in missed)
            for e, missed in zip(table["engine"], _missed(table), strict=True)
        ]
    )
    extra = extra * layers
    concurrency = table["concurrency"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return concurrency / (concurrency / current + extra)


def roofline(table: pd.DataFrame) -> np.ndarray:
    """The former estimate, for comparison: 0.7 of datasheet bandwidth, ideal tensor parallel,
    every parameter read (it knew no mixture of experts)."""
    f = inference.step_features(table.drop(columns="active_params_b", errors="ignore"))
    return f["batch"] / (f["memory"] / 0.7)


def leave_one_gpu_out(table: pd.DataFrame) -> pd.DataFrame:
    """Each GPU's rows estimated by a fit that never saw that GPU."""
    parts = []
    for gpu in sorted(set(table["gpu"])):
        held = table["gpu"] == gpu
        params = fit(table[~held])
        part = table[held].copy()
        part["estimate"] = predict(part, params)
        parts.append(part)
    out = pd.concat(parts).sort_values("id", kind="stable")
    out["ratio"] = out["estimate"] / out["tokens_per_s"]
    out["roofline_ratio"] = roofline(out) / out["tokens_per_s"]
    return out


CLASSES = ("requests", "devices", "weights", "memory", "engine", "source")
VALIDATION_CLASSES = ("devices", "weights", "table")


def row_class(table: pd.DataFrame, kind: str) -> np.ndarray:
    """Which class of measurement each row is, for the per-class accuracy."""
    if kind == "requests":
        return np.where(table["concurrency"] > 1, "batched", "one request")
    if kind == "devices":
        return np.where(
            table["n_devices"] > 1, "several devices (" + table["interconnect"] + ")", "one device"
        )
    if kind == "weights":
        return np.where(table["bits_per_weight"] < 16, "quantised", "16-bit")
    if kind == "memory":
        return table["memory_technology"].str.upper().to_numpy()
    if kind == "source":
        return table["source"].to_numpy()
    if kind == "table":  # one publication's tables are told apart by their date
        dated = table["published"].replace("", "undated")
        return (table["source"] + " (" + dated + ")").to_numpy()
    return table["engine"].to_numpy()


def summarise(ratios: np.ndarray) -> dict:
    ratios = np.asarray(ratios, dtype=float)
    log = np.log(ratios)
    worst = ratios[np.argmax(np.abs(log))]
    return {
        "median_ratio": round(float(np.median(ratios)), 3),
        "share_within_35": round(float(np.mean(np.abs(ratios - 1) <= WITHIN)), 3),
        "worst_ratio": round(float(worst), 3),
    }


def power_fit(table: pd.DataFrame) -> dict:
    """Median measured power ÷ (devices × TDP), one request and batched; else the defaults."""
    measured = table[table["power_w"].notna()]
    share = measured["power_w"] / (measured["n_devices"] * measured["tdp_w"])
    single = share[measured["concurrency"] <= 1]
    batched = share[measured["concurrency"] > 1]
    out, notes = {}, []
    for key, words, values, default in (
        ("util_batch_1", "one request", single, DEFAULT_UTIL[0]),
        ("util_batched", "several requests", batched, DEFAULT_UTIL[1]),
    ):
        if len(values) >= MIN_POWER_ROWS:
            out[key] = round(float(np.median(values)), 3)
            notes.append(f"{words}: {out[key]} × TDP, the median of {len(values)} measurements")
        else:
            out[key] = default
            given = "none gives" if not len(values) else f"only {len(values)} give"
            notes.append(
                f"{words}: {default} × TDP, assumed (of the published measurements, {given} "
                f"the power drawn; {MIN_POWER_ROWS} are needed)"
            )
    out["source"] = "; ".join(notes)
    return out


def _accuracy(rows: pd.DataFrame, kinds) -> dict:
    return {
        "per_gpu": {
            gpu: {"rows": int(len(part)), **summarise(part["ratio"])}
            for gpu, part in rows.groupby("gpu", sort=True)
        },
        "per_class": {
            kind: {
                str(label): {"rows": int(len(part)), **summarise(part["ratio"])}
                for label, part in rows.groupby(row_class(rows, kind), sort=True)
            }
            for kind in kinds
        },
    }


def estimated(rows: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Rows with the shipped constants' `estimate` and `ratio` (estimate ÷ measured)."""
    rows = rows.copy()
    rows["estimate"] = predict(rows, params)
    rows["ratio"] = rows["estimate"] / rows["tokens_per_s"]
    return rows


def validate(validation: pd.DataFrame, params: dict) -> dict:
    """The shipped estimates against independent measurements that no fit reads.

    ``params`` is the fit of the whole data set: what a user is shown. It has seen the same
    GPUs, never these rows or their publications (a test keeps them out of the data set)."""
    rows = estimated(validation, params)
    return {
        "method": "the constants above, fitted without these rows, against them",
        **_described(validation, rows),
        "roofline": summarise(roofline(rows) / rows["tokens_per_s"]),
        **_accuracy(rows, VALIDATION_CLASSES),
        "_rows": rows,
    }


def _described(source: pd.DataFrame, rows: pd.DataFrame) -> dict:
    return {
        "data_sha256": data_hash(source),
        "rows": int(len(rows)),
        "tables": int(len(set(coverage.publication_table(rows)))) if len(rows) else 0,
        "excluded": source.attrs.get("excluded", []),
        "sources": sorted(set(rows["source"])),
        **(summarise(rows["ratio"]) if len(rows) else {}),
    }


def calibrate(
    table: pd.DataFrame,
    validation: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
) -> dict:
    """Everything `calibrate_reuse` stores, except the date. ``validation`` is only estimated,
    never fitted; ``published`` (the range tables) only sizes the range."""
    params = fit(table)
    cv = leave_one_gpu_out(table)
    gpus = set(table["gpu"])
    ranged = estimated(published, params) if published is not None and len(published) else None
    # The range describes the estimates a user is given: residuals of setups no estimate
    # offers (a named quantisation library) size it and count in its coverage nowhere.
    cv_offered = cv[coverage.offered(cv)]
    ranged_offered = ranged[coverage.offered(ranged)] if ranged is not None else None
    band = coverage.bands(cv_offered, ranged_offered, gpus)
    summary = summarise(cv["ratio"])
    goal = (
        GOAL_MEDIAN[0] <= summary["median_ratio"] <= GOAL_MEDIAN[1]
        and summary["share_within_35"] >= GOAL_SHARE
    )
    result = {
        "model": "step time = memory × (memory + memory:<technology> + memory_engine:<engine>) "
        "+ quantised × quant:<engine or library> + t0:<engine> + layers × launch:<engine> "
        "+ layers × log2(n) × tp:<interconnect> (tensor parallel) "
        "+ (n − 1) × hop:<engine> (layer split) + compute × compute "
        "[+ prefill × prefill + request ÷ output tokens, measured runs only] "
        "[+ layers × launch_old:<engine>@<change> for each documented speed-up the build "
        "predates; builds older than the engine's last documented "
        "speed-up only; such rows weigh half]; tokens/s = concurrency / step time",
        "data_sha256": data_hash(table),
        "rows": int(len(table)),
        "excluded": table.attrs.get("excluded", []),
        "gpus": sorted(gpus),
        "engines": sorted(set(table["engine"])),
        "builds": builds(table),
        "constants": params,
        "power": power_fit(table),
        "band": band,
        "cv": {
            "method": "leave one GPU out: each GPU's rows estimated by a fit without that GPU",
            **summary,
            "goal_met": bool(goal),
            "roofline": summarise(cv["roofline_ratio"]),
            **_accuracy(cv, CLASSES),
        },
        "_cv_rows": cv,
    }
    # How much of the spread lies between publication tables: measured on the residuals that
    # size the range (never on the rows judged); it sets how far chance alone moves a class.
    spread_from = ranged_offered if ranged_offered is not None else cv_offered
    icc = chance.between_table_share(
        np.log(spread_from["ratio"].to_numpy(float)), coverage.publication_table(spread_from)
    )
    held = {"logo": coverage.summary(coverage.leave_one_gpu_out(cv_offered), icc)}
    not_offered = {"logo": int(len(cv) - len(cv_offered))}
    if ranged is not None:
        result["range"] = {
            "method": "the constants above against these rows, which size the range only",
            **_described(published, ranged),
        }
        held["range"] = coverage.summary(
            coverage.leave_one_table_out(ranged_offered, cv_offered, gpus)
        )
        not_offered["range"] = int(len(ranged) - len(ranged_offered))
    if validation is not None and len(validation):
        result["validation"] = validate(validation, params)
        rows = result["validation"]["_rows"]
        checked = coverage.apply(rows[coverage.offered(rows)], band)
        held["check"] = coverage.summary(checked, icc)
        not_offered["check"] = int(len(rows) - len(checked))
        result["validation"]["_rows"] = rows.join(checked[["band_low", "band_high", "covered"]])
    result["coverage"] = {
        **held,
        "misses": coverage.misses(held),
        "beyond_chance": coverage.beyond_chance(held),
        "between_tables": {
            "share": icc,
            "from": "the range tables" if ranged_offered is not None else "leave one GPU out",
            "tables": int(len(set(coverage.publication_table(spread_from)))),
        },
        "not_offered": not_offered,
    }
    return result


# --- the plot (hand-written SVG: no plotting dependency, byte-identical on every run) ---------

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def plot_svg(
    cv: pd.DataFrame, title: str, y_label: str = "estimated tokens/s (GPU left out of the fit)"
) -> str:
    """Log-log scatter of estimated vs measured tokens/s, ±35 % lines."""
    w, h, m = 640, 520, 60
    values = np.concatenate([cv["estimate"], cv["tokens_per_s"]])
    lo = 10 ** math.floor(math.log10(values.min()))
    hi = 10 ** math.ceil(math.log10(values.max()))
    span = math.log10(hi) - math.log10(lo)

    def px(v):
        return m + (math.log10(v) - math.log10(lo)) / span * (w - 2 * m)

    def py(v):
        return h - m - (math.log10(v) - math.log10(lo)) / span * (h - 2 * m)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
    ]
    decade = lo
    while decade <= hi:
        x, y = px(decade), py(decade)
        out += [
            f'<line x1="{x:.1f}" y1="{m}" x2="{x:.1f}" y2="{h - m}" stroke="#ddd"/>',
            f'<line x1="{m}" y1="{y:.1f}" x2="{w - m}" y2="{y:.1f}" stroke="#ddd"/>',
            f'<text x="{x:.1f}" y="{h - m + 16}" text-anchor="middle">{decade:g}</text>',
            f'<text x="{m - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:g}</text>',
        ]
        decade *= 10
    for factor, dash in ((1.0, ""), (1 + WITHIN, ' stroke-dasharray="4 3"'),
                         (1 - WITHIN, ' stroke-dasharray="4 3"')):  # fmt: skip
        out.append(
            f'<line x1="{px(lo):.1f}" y1="{py(min(hi, lo * factor)):.1f}" '
            f'x2="{px(min(hi, hi / factor)):.1f}" y2="{py(min(hi, hi / factor) * factor):.1f}" '
            f'stroke="#555"{dash}/>'
        )
    techs = sorted(set(cv["memory_technology"]))
    colour = {t: _COLOURS[i % len(_COLOURS)] for i, t in enumerate(techs)}
    for _, r in cv.iterrows():
        out.append(
            f'<circle cx="{px(r["tokens_per_s"]):.1f}" cy="{py(r["estimate"]):.1f}" r="3.5" '
            f'fill="{colour[r["memory_technology"]]}" fill-opacity="0.75">'
            f"<title>{r['id']}: {r['gpu']} {r['llm']} {r['engine']} ×{r['concurrency']:g}"
            f"</title></circle>"
        )
    for i, t in enumerate(techs):
        out += [
            f'<circle cx="{m + 12}" cy="{m + 12 + 16 * i}" r="4" fill="{colour[t]}"/>',
            f'<text x="{m + 22}" y="{m + 16 + 16 * i}">{t.upper()}</text>',
        ]
    out += [
        f'<text x="{w / 2}" y="{h - 18}" text-anchor="middle">measured tokens/s (published)</text>',
        f'<text x="16" y="{h / 2}" text-anchor="middle" transform="rotate(-90 16 {h / 2})">'
        f"{y_label}</text>",
        "</svg>",
    ]
    return "\n".join(out) + "\n"


# --- the stored result ----------------------------------------------------------------------

DOCS_BEGIN = "<!-- calibration:begin (written by calibrate_reuse) -->"
DOCS_END = "<!-- calibration:end -->"


def load_table(directory: Path = inference.CATALOGUE_DIR, extra_rows: list[dict] = ()):
    """The published measurements (plus any site measurements given) as the fit reads them."""
    rows = read_measurements(directory / "decode_measurements.csv") + list(extra_rows)
    return feature_table(rows, inference.load_llm_models(), load_accelerators(directory))


def load_validation(directory: Path = inference.CATALOGUE_DIR) -> pd.DataFrame:
    """The independent measurements (validation_measurements.csv), read like the data set."""
    rows = read_measurements(directory / VALIDATION_FILE)
    return feature_table(rows, inference.load_llm_models(), load_accelerators(directory))


def load_range(directory: Path = inference.CATALOGUE_DIR) -> pd.DataFrame:
    """The measurements that size the range (range_measurements.csv), read like the data set."""
    rows = read_measurements(directory / RANGE_FILE)
    return feature_table(rows, inference.load_llm_models(), load_accelerators(directory))


def stored(path: Path = inference.CALIBRATION_FILE) -> dict | None:
    import json

    if not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def to_json(result: dict, fitted_on: str) -> str:
    import json

    def public(d):
        return {k: public(v) if isinstance(v, dict) else v for k, v in d.items() if k[0] != "_"}

    data = public(result)
    data["fitted_on"] = fitted_on
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def docs_block(result: dict, fitted_on: str) -> str:
    """The accuracy section of docs/reuse.md, from the numbers just fitted."""
    cv, roof = result["cv"], result["cv"]["roofline"]
    lines = [
        DOCS_BEGIN,
        "",
        f"Fitted on {fitted_on} to {result['rows']} published measurements "
        f"({len(result['gpus'])} GPUs, {len(result['engines'])} engines; data SHA-256 "
        f"`{result['data_sha256'][:16]}…`). Leave one GPU out: every GPU's measurements are "
        "estimated by a fit that never saw that GPU.",
        "",
        "| | calibrated model | former roofline (0.7 × bandwidth) | goal |",
        "|---|---|---|---|",
        f"| median estimate ÷ measured | {cv['median_ratio']:.2f} | {roof['median_ratio']:.2f} "
        "| 0.9–1.1 |",
        f"| share within ±35 % | {cv['share_within_35']:.0%} | {roof['share_within_35']:.0%} "
        "| ≥ 90 % |",
        f"| worst estimate ÷ measured | {cv['worst_ratio']:.2f} | {roof['worst_ratio']:.2f} | |",
        "",
        "**Goal "
        + ("met" if cv["goal_met"] else "not met")
        + ".** "
        + (
            ""
            if cv["goal_met"]
            else (
                "The median is where it should be, but "
                if GOAL_MEDIAN[0] <= cv["median_ratio"] <= GOAL_MEDIAN[1]
                else "The median is outside 0.9–1.1, and "
            )
            + "too many points lie outside ±35 %: treat a single figure as a central estimate "
            "and read the range given with it."
        ),
        "",
        *_accuracy_tables(cv, CLASSES),
        "",
        *coverage_lines(result),
        "",
        "![Estimated vs measured decode tokens/s, each GPU left out of the fit]"
        "(reuse-calibration.svg)",
        "",
        *(_range_lines(result["range"]) if "range" in result else ()),
        *(_validation_lines(result["validation"]) if "validation" in result else ()),
        DOCS_END,
    ]
    return "\n".join(lines)


def coverage_lines(result: dict) -> list[str]:
    """The range's stated level and how often it held where no fit saw the row (also what
    `calibrate_reuse --check` prints)."""
    band, cov = result["band"], result["coverage"]
    named = coverage.engine_names()
    engines = ", ".join(
        f"{named.get(e, e)} × {b['low']:.2f}–{b['high']:.2f} ({b['rows']} rows)"
        for e, b in band["per_engine"].items()
    )
    misses = cov["misses"]
    seen = band.get("seen")
    published = (
        [
            f"For a GPU with published measurements — what a buyer usually holds — the range is "
            f"× {seen['low']:.2f} to × {seen['high']:.2f}: the {band['level']:.0%} interval of "
            f"measured ÷ estimated over {seen['rows']} measurements in {seen['tables']} "
            "publication tables that no fit reads (`range_measurements.csv`, estimated with the "
            "shipped constants), each table weighing the same. It serves the setups those tables "
            f"cover, an engine, a concurrency class and a GPU-count class each in at least "
            f"{seen['min_tables']} tables: "
            + "; ".join(
                f"{words} "
                + ", ".join(
                    f"{named.get(k, k) if kind == 'engine' else k} ({n})"
                    for k, n in seen["covers"][kind].items()
                )
                for kind, words in (
                    ("engine", "engines"),
                    ("concurrency", "concurrent requests"),
                    ("devices", "GPUs"),
                )
            )
            + ".",
            "",
        ]
        if seen
        else []
    )
    return [
        "### The range: a stated 80 % interval",
        "",
        *published,
        f"Any other estimate (a GPU without published measurements, or a setup those tables "
        f"do not cover) takes the {band['level']:.0%} interval of measured ÷ estimated, "
        f"split-conformal on the {band['rows']} leave-one-GPU-out residuals — pooled "
        f"× {band['low']:.2f} to × {band['high']:.2f}; per engine with at least "
        f"{band['min_rows']} residuals: {engines}. Any other engine has few measurements: it "
        f"takes the pooled {band['prior']['level']:.0%} interval, × {band['prior']['low']:.2f} "
        f'to × {band["prior"]["high"]:.2f}, and the answer says "few measurements". The range '
        "holds for speed and for the energy and carbon that follow from it.",
        "",
        *coverage.table(cov),
        "",
        *_table_lines(cov),
        "![Share of never-fitted measurements inside the 80 % range, per class]"
        "(reuse-coverage.svg)",
        "",
        "Held to the goal: leave one GPU out and the independent check. The range tables, "
        "each left out in turn, are shown and not counted: they chose how the range is sized. "
        "Rows run with a quantisation library no estimate offers (`weight_format`, e.g. "
        "bitsandbytes) inform the fit and the accuracy tables, not the range: "
        + ", ".join(
            f"{n} rows of {words}"
            for where, words in (
                ("logo", "leave one GPU out"),
                ("range", "the range tables"),
                ("check", "the independent check"),
            )
            if (n := cov.get("not_offered", {}).get(where)) is not None
        )
        + ".",
        "",
        (
            "**Goal met**: 75–90 % inside overall and in every class with at least 10 rows, "
            "median 0.9–1.1."
            if not misses
            else "**Goal not met** where: " + "; ".join(misses) + "."
        ),
        *chance_lines(cov),
    ]


def chance_lines(cov: dict) -> list[str]:
    """How often a range exactly right would meet the goal on the same rows and tables, and
    which shares inside lie beyond what chance explains (`hardware.chance`), in words."""
    spread = cov.get("between_tables")
    named = {"check": "the independent check", "logo": "leave one GPU out"}
    sets = [
        (named[where], cov[where]["chance_goal"])
        for where in coverage.HELD
        if where in cov and "chance_goal" in cov[where]
    ]
    if not spread or spread["share"] is None or not sets:
        return []
    goal = sets[0][1]
    beyond = cov.get("beyond_chance") or []
    return [
        "",
        "**How much of that is chance.** Rows of one publication table share a setup and a "
        f"method, so they hold or miss together: over {spread['from']} ({spread['tables']} "
        f"tables), {spread['share']:.0%} of the spread of measured ÷ estimated lies between "
        f"tables and the rest within them. Drawn {goal['draws']:,} times with the very rows and "
        "tables of each set and that clustering, a range that is exactly right for every row "
        "meets the goal as written in "
        + " and ".join(f"{g['goal_as_written']:.0%} of draws on {name}" for name, g in sets)
        + " ("
        + " and ".join(f"{g['independent_rows']:.0%}" for _, g in sets)
        + " if every row were independent): a class of some 30 rows, or of a few tables, "
        "spreads wider than the goal's 75–90 % by chance alone. The column *a right range "
        f"lands at* gives the band such a range stays within, in every class of the set at once, "
        f"{goal['family']:.0%} of the time. "
        + (
            "Outside it, more than chance explains:"
            if beyond
            else "Every share inside lies within it: the misses above are no more than chance "
            "gives a range that is right."
        ),
        *([""] + [f"- {line}." for line in beyond] if beyond else []),
    ]


def round_lines(result: dict, first: int, last: int) -> list[str]:
    """The range's coverage on the independent check's rows `first`–`last` only: one round of
    the check, judged apart from the rows that came before it."""
    heading = f"### The independent check's rows {first}–{last} only"
    rows = (result.get("validation") or {}).get("_rows")
    part = None
    if rows is not None:
        ids = pd.to_numeric(rows["id"], errors="coerce")
        part = rows[(ids >= first) & (ids <= last)]
        part = part[coverage.offered(part)]
    if part is None or part.empty:
        return ["", heading, "", f"No counted row of the check has an id from {first} to {last}."]
    icc = (result["coverage"].get("between_tables") or {}).get("share")
    held = {"check": coverage.summary(coverage.apply(part, result["band"]), icc)}
    misses = coverage.misses(held)
    return [
        "",
        heading,
        "",
        *coverage.table(held),
        "",
        *_table_lines(held),
        "**Goal met** on these rows."
        if not misses
        else "**Goal not met** where: " + "; ".join(misses) + ".",
        *chance_lines(
            {
                **held,
                "beyond_chance": coverage.beyond_chance(held),
                "between_tables": result["coverage"].get("between_tables"),
            }
        ),
    ]


def _table_lines(cov: dict) -> list[str]:
    """Coverage counted per publication table (`coverage.publication_tables`), in words."""
    parts = [
        f"{coverage.SETS[where]}: {t['inside']} of {t['tables']} tables inside "
        f"(at least that many with a chance of {t['chance_at_least']:.0%} if each table were "
        "one draw from a range that holds 80 % of the time)"
        for where in coverage.SETS
        if (t := cov.get(where, {}).get("publication_tables"))
    ]
    if not parts:
        return []
    return [
        "Counted per publication table (rows of one source and date share a setup and a "
        "method, so they hold or miss together; a table is inside when most of its rows are): "
        + "; ".join(parts)
        + ".",
        "",
    ]


def _accuracy_tables(accuracy: dict, kinds) -> list[str]:
    def table(heading, groups):
        return [
            f"| {heading} | rows | median ratio | within ±35 % | worst |",
            "|---|---|---|---|---|",
            *(
                f"| {label} | {g['rows']} | {g['median_ratio']:.2f} | "
                f"{g['share_within_35']:.0%} | {g['worst_ratio']:.2f} |"
                for label, g in groups
            ),
        ]

    gpus = {slug: acc.name for slug, acc in load_accelerators().items()}
    classes = [
        (coverage.class_label("engine", label) if kind == "engine" else label, g)
        for kind in kinds
        for label, g in accuracy["per_class"][kind].items()
    ]
    by_gpu = [(gpus.get(slug, slug), g) for slug, g in accuracy["per_gpu"].items()]
    return [*table("GPU", by_gpu), "", *table("class", classes)]


def _range_lines(r: dict) -> list[str]:
    return [
        "### Range tables",
        "",
        f"{r['rows']} published measurements in {r['tables']} tables that no fit reads "
        f"(`{RANGE_FILE}`, data SHA-256 `{r['data_sha256'][:16]}…`; "
        + ", ".join(r["sources"])
        + f"). They size the range only. Estimated with the constants above: median estimate ÷ "
        f"measured {r['median_ratio']:.2f}, {r['share_within_35']:.0%} within ±35 %, worst "
        f"{r['worst_ratio']:.2f}."
        + (
            f" {len(r['excluded'])} further rows of the file are left out by the rules the fit "
            "follows (listed under `range.excluded` in the stored calibration)."
            if r["excluded"]
            else ""
        ),
        "",
    ]


def _validation_lines(v: dict) -> list[str]:
    roof = v["roofline"]
    return [
        "### Independent check",
        "",
        f"{v['rows']} published measurements that no fit reads "
        f"(`{VALIDATION_FILE}`, data SHA-256 `{v['data_sha256'][:16]}…`; "
        + ", ".join(v["sources"])
        + "), estimated with the constants above, as a user is shown them, and judged against "
        "the range as shipped. Neither the fit nor the range has seen these rows or their "
        "publishers."
        + (
            f" {len(v['excluded'])} further rows of the file are left out by the rules the fit "
            "follows (listed under `validation.excluded` in the stored calibration)."
            if v["excluded"]
            else ""
        ),
        "",
        "| | calibrated model | former roofline (0.7 × bandwidth) |",
        "|---|---|---|",
        f"| median estimate ÷ measured | {v['median_ratio']:.2f} | {roof['median_ratio']:.2f} |",
        f"| share within ±35 % | {v['share_within_35']:.0%} | {roof['share_within_35']:.0%} |",
        f"| worst estimate ÷ measured | {v['worst_ratio']:.2f} | {roof['worst_ratio']:.2f} |",
        "",
        *_accuracy_tables(v, VALIDATION_CLASSES),
        "",
        "![Estimated vs measured decode tokens/s, independent measurements](reuse-validation.svg)",
        "",
    ]


def replace_docs_block(text: str, block: str) -> str:
    if DOCS_BEGIN in text and DOCS_END in text:
        head, rest = text.split(DOCS_BEGIN, 1)
        tail = rest.split(DOCS_END, 1)[1]
        return head + block + tail
    return text.rstrip("\n") + "\n\n" + block + "\n"
