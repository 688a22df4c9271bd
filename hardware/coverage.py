"""The range printed with every speed: a stated 80 % interval, and how often it holds.

Pure (no Django). Two kinds of residual log(measured ÷ estimated) size it, each the situation
an estimate is in:

- **A GPU the fit has measurements of** (a buyer's usual case): the shipped constants against
  published measurements that no fit reads and that serve only to size the range
  (`range_measurements.csv`): new publishers on known GPUs, exactly what a buyer compares an
  estimate with. Each publication table (one source and date) weighs the same, whatever its
  row count, because its rows share a setup and a method and hold or miss together; the ends
  are the table-weighted 10th and 90th percentiles. Used where the estimate's engine, its
  concurrency class and its GPU-count class each appear in at least `MIN_TABLES` tables.
- **Anything else** (a GPU without measurements, or a setup those tables lack): split-conformal
  on the residuals of each GPU left out of the fit (`calibration.leave_one_gpu_out`), per
  engine with at least `MIN_ROWS` residuals; its ends are the finite-sample conformal order
  statistics (⌊(n+1)·0.1⌋-th and ⌈(n+1)·0.9⌉-th smallest), so few residuals widen them by
  themselves. Any other engine (few or no measurements) takes the stated prior: the pooled
  residuals' 90 % interval, wider because that engine's own bias is not known, and the answer
  says "few measurements".

Coverage is measured where nothing that sized the range saw the row: leave one GPU out (each
GPU's interval from the other GPUs' residuals only, that GPU counted as one without
measurements), each range table left out in turn (reported, not held to the goal: these tables
chose the method), and the independent check (`validation_measurements.csv`, intervals as
shipped). The goal: 75–90 % of rows inside the 80 % interval overall and in every class with at
least `GOAL_MIN_ROWS` rows, on leave one GPU out and on the check, and a median estimate ÷
measured of 0.9–1.1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from hardware import chance

ALL = "all rows"
TIMES_IN_TEN = f"{round(chance.FAMILY * 10)} times in 10"
LEVEL = 0.8  # the interval we state
PRIOR_LEVEL = 0.9  # the wider interval an engine with few measurements takes
MIN_ROWS = 10  # residuals an engine needs for an interval of its own
MIN_TABLES = 3  # range tables an engine, a concurrency class and a GPU-count class each need
GOAL_COVERAGE = (0.75, 0.9)
GOAL_MEDIAN = (0.9, 1.1)
GOAL_MIN_ROWS = 10

CLASSES = {
    "engine": "engine",
    "precision": "precision",
    "concurrency": "concurrent requests",
    "devices": "GPUs",
}


def conformal(log_ratios, level: float = LEVEL) -> tuple[float, float] | None:
    """Ends (as factors) of the split-conformal interval of log(measured ÷ estimated); None when
    there are too few residuals for that level (the order statistic would lie beyond them)."""
    r = np.sort(np.asarray(log_ratios, dtype=float))
    n, tail = len(r), (1 - level) / 2
    lo, hi = math.floor((n + 1) * tail), math.ceil((n + 1) * (1 - tail))
    if lo < 1 or hi > n:
        return None
    return round(math.exp(r[lo - 1]), 3), round(math.exp(r[hi - 1]), 3)


def weighted_ends(log_ratios, weights, level: float = LEVEL) -> tuple[float, float]:
    """Ends (as factors) of the interval holding `level` of the weight: the weighted
    (1 − level)/2 and (1 + level)/2 quantiles (the first value whose cumulative weight reaches
    each)."""
    order = np.argsort(np.asarray(log_ratios, dtype=float), kind="stable")
    r = np.asarray(log_ratios, dtype=float)[order]
    cumulative = np.cumsum(np.asarray(weights, dtype=float)[order])
    cumulative /= cumulative[-1]
    tail = (1 - level) / 2
    lo = r[min(np.searchsorted(cumulative, tail - 1e-12), len(r) - 1)]
    hi = r[min(np.searchsorted(cumulative, 1 - tail - 1e-12), len(r) - 1)]
    return round(math.exp(lo), 3), round(math.exp(hi), 3)


def offered(rows: pd.DataFrame) -> np.ndarray:
    """Rows of a setup an estimate is given for: the engine's own kernels. A row run with a
    named quantisation library (`weight_format`, e.g. bitsandbytes) informs the fit, which
    keeps that library's cost apart from the engine's, but no estimate runs that library, so
    its residual says nothing about the range an estimate is given."""
    if "weight_format" not in rows:
        return np.ones(len(rows), dtype=bool)
    return (rows["weight_format"].fillna("").astype(str) == "").to_numpy()


def publication_table(rows: pd.DataFrame) -> np.ndarray:
    """Each row's publication table: its source and date."""
    return (rows["source"].astype(str) + " (" + rows["published"].astype(str) + ")").to_numpy()


def concurrency_class(requests: float) -> str:
    return "1" if requests <= 1 else "2–16" if requests <= 16 else "> 16"


def devices_class(n_devices: float) -> str:
    return "several" if n_devices > 1 else "one"


def _classes(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "engine": rows["engine"].astype(str).to_numpy(),
        "concurrency": row_class(rows, "concurrency"),
        "devices": row_class(rows, "devices"),
    }


def seen_band(published: pd.DataFrame) -> dict:
    """The interval for a GPU the fit has measurements of, from the range tables' residuals
    (rows with `ratio`, `source`, `published`, `engine`, `concurrency`, `n_devices`)."""
    tables = publication_table(published)
    weights = 1 / pd.Series(tables).map(pd.Series(tables).value_counts()).to_numpy(float)
    log = np.log(1 / published["ratio"].to_numpy(float))
    low, high = weighted_ends(log, weights, LEVEL)
    covered = {
        kind: {
            str(label): int(len(set(tables[labels == label])))
            for label in sorted(set(labels))
            if len(set(tables[labels == label])) >= MIN_TABLES
        }
        for kind, labels in _classes(published).items()
    }
    return {
        "low": low,
        "high": high,
        "rows": int(len(published)),
        "tables": int(len(set(tables))),
        "min_tables": MIN_TABLES,
        "covers": covered,
        "method": "table-weighted 80 % interval of measured ÷ estimated over the range tables "
        f"(shipped constants, GPUs the fit has measurements of); used where the engine, the "
        f"concurrency class and the GPU-count class each appear in ≥ {MIN_TABLES} tables",
    }


def bands(residuals: pd.DataFrame, published: pd.DataFrame | None = None, gpus=None) -> dict:
    """The stored intervals: from leave-one-GPU-out rows (`engine`, `ratio`), and, given the
    range tables' rows (`published`) and the GPUs the fit has measurements of, the interval
    for those GPUs."""
    log = np.log(1 / residuals["ratio"].to_numpy(float))
    pooled, prior = conformal(log, LEVEL), conformal(log, PRIOR_LEVEL)
    per_engine = {}
    for engine, part in residuals.groupby("engine", sort=True):
        own = conformal(np.log(1 / part["ratio"].to_numpy(float)), LEVEL)
        if len(part) >= MIN_ROWS and own is not None:
            per_engine[str(engine)] = {"low": own[0], "high": own[1], "rows": int(len(part))}
    out = {
        "level": LEVEL,
        "low": pooled[0],
        "high": pooled[1],
        "rows": int(len(residuals)),
        "min_rows": MIN_ROWS,
        "per_engine": per_engine,
        "prior": {"level": PRIOR_LEVEL, "low": prior[0], "high": prior[1]},
        "method": "split-conformal 80 % interval of measured ÷ estimated, each GPU left out of "
        f"the fit; per engine with ≥ {MIN_ROWS} residuals, else the pooled 90 % interval "
        "(few measurements)",
    }
    if published is not None and len(published) and gpus is not None:
        out["seen"] = {**seen_band(published), "gpus": sorted(gpus)}
    return out


def band_for(
    stored: dict, engine: str, gpu: str = "", concurrency: float = 1, n_devices: float = 1
) -> tuple[float, float, bool]:
    """(low factor, high factor, few measurements) for one estimate."""
    seen = stored.get("seen")
    if seen is not None and gpu in seen["gpus"]:
        labels = {
            "engine": engine,
            "concurrency": concurrency_class(concurrency),
            "devices": devices_class(n_devices),
        }
        if all(label in seen["covers"][kind] for kind, label in labels.items()):
            return seen["low"], seen["high"], False
    own = stored.get("per_engine", {}).get(engine)
    if own is not None:
        return own["low"], own["high"], False
    prior = stored.get("prior")
    if prior is None:  # a calibration stored before intervals per engine: the pooled one
        return stored["low"], stored["high"], False
    return prior["low"], prior["high"], True


def apply(rows: pd.DataFrame, stored: dict) -> pd.DataFrame:
    """Rows with `engine`, `ratio` (and `gpu`, `concurrency`, `n_devices`): adds band_low,
    band_high, few, covered."""
    ends = [
        band_for(stored, e, g, c, n)
        for e, g, c, n in zip(
            rows["engine"], rows["gpu"], rows["concurrency"], rows["n_devices"], strict=True
        )
    ]
    out = rows.assign(
        band_low=[e[0] for e in ends], band_high=[e[1] for e in ends], few=[e[2] for e in ends]
    )
    measured_over_estimate = 1 / out["ratio"]
    out["covered"] = (measured_over_estimate >= out["band_low"]) & (
        measured_over_estimate <= out["band_high"]
    )
    return out


def leave_one_gpu_out(cv: pd.DataFrame) -> pd.DataFrame:
    """Each GPU's rows against intervals built from the other GPUs' residuals only (the GPU
    left out is one without measurements, so the range tables' interval never applies)."""
    parts = [
        apply(cv[cv["gpu"] == gpu], bands(cv[cv["gpu"] != gpu])) for gpu in sorted(set(cv["gpu"]))
    ]
    return pd.concat(parts).sort_values("id", kind="stable")


def leave_one_table_out(published: pd.DataFrame, cv: pd.DataFrame, gpus) -> pd.DataFrame:
    """Each range table's rows against intervals sized without that table."""
    tables = publication_table(published)
    parts = [
        apply(published[tables == t], bands(cv, published[tables != t], gpus))
        for t in sorted(set(tables))
    ]
    return pd.concat(parts).sort_values("id", kind="stable")


def row_class(rows: pd.DataFrame, kind: str) -> np.ndarray:
    if kind == "precision":
        bits = rows["bits_per_weight"].to_numpy(float)
        return np.where(bits >= 15, "16-bit", np.where(bits >= 8, "8-bit", "4-bit"))
    if kind == "concurrency":
        return np.array([concurrency_class(b) for b in rows["concurrency"].to_numpy(float)])
    if kind == "devices":
        return np.array([devices_class(n) for n in rows["n_devices"].to_numpy(float)])
    return rows["engine"].astype(str).to_numpy()


def _figures(rows: pd.DataFrame) -> dict:
    return {
        "rows": int(len(rows)),
        # Rows of one table hold or miss together: a class of few tables is few trials.
        "tables": int(len(set(publication_table(rows))))
        if "source" in rows and "published" in rows
        else None,
        "coverage": round(float(rows["covered"].mean()), 3),
        "median_ratio": round(float(np.median(rows["ratio"])), 3),
        "few_measurements": int(rows["few"].sum()),
    }


def publication_tables(rows: pd.DataFrame) -> dict:
    """Coverage counted per publication table (same source and date) instead of per row.

    Rows of one table share a setup and a method, so they tend to hold or miss together: a set
    of many rows from few tables is few independent trials. A table counts as inside when most
    of its rows are. `chance` is how likely at least that many tables would be inside if each
    were one independent draw from a range that holds `LEVEL` of the time (binomial; a share far
    above `LEVEL` with a `chance` that is not small is not, by itself, evidence of a range too
    wide)."""
    if "source" not in rows or "published" not in rows:
        return {}
    inside = rows.groupby(publication_table(rows), sort=True)["covered"].mean() > 0.5
    n, k = int(len(inside)), int(inside.sum())
    chance = sum(math.comb(n, i) * LEVEL**i * (1 - LEVEL) ** (n - i) for i in range(k, n + 1))
    return {"tables": n, "inside": k, "chance_at_least": round(chance, 3)}


def summary(rows: pd.DataFrame, icc: float | None = None) -> dict:
    """Coverage and median ratio overall and per class, from `apply`'s rows; given `icc` (the
    share of the spread between publication tables), also the band each share inside would
    stay within if the range were exactly right (`chance.bands`), as `chance`."""
    out = {
        **_figures(rows),
        "publication_tables": publication_tables(rows),
        "per_class": {
            kind: {
                str(label): _figures(part)
                for label, part in rows.groupby(row_class(rows, kind), sort=True)
            }
            for kind in CLASSES
        },
    }
    if icc is not None and len(rows) and "source" in rows and "published" in rows:
        _with_chance(out, rows, icc)
    return out


def _with_chance(out: dict, rows: pd.DataFrame, icc: float) -> None:
    """Adds `chance` (low, high) to the set's figures and to each class's, and the set's
    `chance_goal`: how often a range exactly right meets the goal as written on these rows,
    with the tables' clustering `icc` and with every row independent."""
    masks = {ALL: np.ones(len(rows), dtype=bool)}
    for kind in CLASSES:
        labels = row_class(rows, kind)
        masks.update({(kind, str(label)): labels == label for label in sorted(set(labels))})
    held = {name for name, mask in masks.items() if name == ALL or mask.sum() >= GOAL_MIN_ROWS}
    tables = publication_table(rows)
    clustered = chance.bands(tables, masks, icc, held, GOAL_COVERAGE, LEVEL)
    independent = chance.bands(tables, masks, 0.0, held, GOAL_COVERAGE, LEVEL)
    for name, band in clustered["per_class"].items():
        figures = out if name == ALL else out["per_class"][name[0]][name[1]]
        figures["chance"] = [band["low"], band["high"]]
    out["chance_goal"] = {
        "icc": icc,
        "family": clustered["family"],
        "draws": clustered["draws"],
        "goal_as_written": clustered["goal_as_written"],
        "independent_rows": independent["goal_as_written"],
    }


def _held(result: dict):
    """(name, figures, overall) for each set held to the goal and each of its classes with at
    least `GOAL_MIN_ROWS` rows."""
    for where, figures in result.items():
        if where not in HELD:
            continue
        yield f"{SETS[where]}, overall", figures, True
        for kind, groups in figures["per_class"].items():
            for label, g in groups.items():
                if g["rows"] >= GOAL_MIN_ROWS:
                    yield f"{SETS[where]}, {class_label(kind, label)}", g, False


def misses(result: dict) -> list[str]:
    """Where a summary falls short of the goal, in words (empty: goal met)."""
    out = []
    for name, figures, overall in _held(result):
        lo, hi = GOAL_COVERAGE
        if not lo <= figures["coverage"] <= hi:
            out.append(
                f"{name}: {figures['coverage']:.0%} of {_rows_words(figures)} inside (goal 75–90 %)"
            )
        if overall and not GOAL_MEDIAN[0] <= figures["median_ratio"] <= GOAL_MEDIAN[1]:
            out.append(f"{name}: median estimate ÷ measured {figures['median_ratio']:.2f}")
    return out


def beyond_chance(result: dict) -> list[str]:
    """Where a held share inside lies outside the band that a range exactly right stays within
    (`summary(rows, icc)`), in words: the misses chance does not explain."""
    return [
        f"{name}: {f['coverage']:.0%} of {_rows_words(f)} inside, where a right range lands "
        f"at {f['chance'][0]:.0%}–{f['chance'][1]:.0%}"
        for name, f, _ in _held(result)
        if f.get("chance") and not f["chance"][0] - 1e-9 <= f["coverage"] <= f["chance"][1] + 1e-9
    ]


@lru_cache(maxsize=1)
def engine_names() -> dict[str, str]:
    """Each engine's name as people read it (engines.csv), by slug."""
    from hardware import inference  # it imports this module

    return {slug: engine.name for slug, engine in inference.engines().items()}


def class_label(kind: str, label: str) -> str:
    """A class as people read it: an engine by its name (engines.csv), others as they are."""
    if kind == "engine":
        return f"engine {engine_names().get(label, label)}"
    return f"{CLASSES[kind]} {label}"


def _rows_words(figures: dict) -> str:
    tables = figures.get("tables")
    if tables is None:
        return f"{figures['rows']}"
    return f"{figures['rows']} rows in {tables} table{'' if tables == 1 else 's'}"


SETS = {
    "check": "independent check (never fitted)",
    "logo": "leave one GPU out",
    "range": "range tables, each left out in turn",
}
# Held to the goal: the range tables chose how the range is sized, so their figures are shown,
# not counted.
HELD = ("check", "logo")


def table(result: dict) -> list[str]:
    """The coverage table (Markdown), one row per class and set."""
    lines = [
        "| class | | rows | publication tables | inside the 80 % range | "
        f"a right range lands at ({TIMES_IN_TEN}) | "
        "median estimate ÷ measured | rows with few measurements |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(name, where, f):
        mark = "" if f["rows"] >= GOAL_MIN_ROWS else " (< 10 rows: not held to the goal)"
        band = f"{f['chance'][0]:.0%}–{f['chance'][1]:.0%}" if f.get("chance") else ""
        lines.append(
            f"| {name} | {SETS[where]} | {f['rows']} | {f.get('tables') or ''} | "
            f"{f['coverage']:.0%}{mark} | {band} | "
            f"{f['median_ratio']:.2f} | {f['few_measurements']} |"
        )

    result = {w: result[w] for w in SETS if w in result}
    for where in result:
        row(ALL, where, result[where])
    for kind in CLASSES:
        labels = sorted({label for w in result.values() for label in w["per_class"][kind]})
        for label in labels:
            for where in SETS:
                if where in result and label in result[where]["per_class"][kind]:
                    row(class_label(kind, label), where, result[where]["per_class"][kind][label])
    return lines


def plot_svg(result: dict) -> str:
    """Share of never-fitted rows inside the 80 % range, per class (hand-written SVG, the same
    bytes on every run): one bar per set, the goal's 75–90 % band shaded, classes with fewer
    than 10 rows pale."""
    result = {w: result[w] for w in SETS if w in result}
    groups = [(ALL, {w: result[w] for w in result})]
    for kind in CLASSES:
        labels = sorted({label for w in result.values() for label in w["per_class"][kind]})
        for label in labels:
            found = {w: r["per_class"][kind][label] for w, r in result.items()
                     if label in r["per_class"][kind]}  # fmt: skip
            groups.append((class_label(kind, label), found))
    row_h, top, left, width = 24, 50, 300, 360
    h = top + row_h * len(groups) + 34 + 16 * (len(SETS) + 1)
    w = left + width + 40

    def x(share):
        return left + share * width

    colour = {"logo": "#1f77b4", "check": "#d62728", "range": "#7f7f7f"}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">'
        "Share of never-fitted measurements inside the 80 % range</text>",
        f'<rect x="{x(GOAL_COVERAGE[0]):.1f}" y="{top - 8}" '
        f'width="{x(GOAL_COVERAGE[1]) - x(GOAL_COVERAGE[0]):.1f}" '
        f'height="{row_h * len(groups) + 8}" fill="#e6f2e6"/>',
        f'<line x1="{x(LEVEL):.1f}" y1="{top - 8}" x2="{x(LEVEL):.1f}" '
        f'y2="{top + row_h * len(groups)}" stroke="#2ca02c" stroke-dasharray="4 3"/>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<text x="{x(tick):.1f}" y="{top + row_h * len(groups) + 16}" '
            f'text-anchor="middle">{tick:.0%}</text>'
        )
    for i, (name, found) in enumerate(groups):
        y = top + i * row_h
        out.append(f'<text x="{left - 8}" y="{y + 9}" text-anchor="end">{name}</text>')
        for where, figures in found.items():
            j = list(SETS).index(where)  # each set keeps its slot in every class
            few = figures["rows"] < GOAL_MIN_ROWS
            out.append(
                f'<rect x="{left}" y="{y + j * 7}" width="{figures["coverage"] * width:.1f}" '
                f'height="6" fill="{colour[where]}" fill-opacity="{0.3 if few else 0.85}">'
                f"<title>{SETS[where]}: {figures['coverage']:.0%} of {figures['rows']}"
                "</title></rect>"
            )
            if figures.get("chance") and not few:
                lo, hi = figures["chance"]
                mid = y + j * 7 + 3
                out.append(
                    f'<path d="M{x(lo):.1f} {mid - 3}v6M{x(lo):.1f} {mid}H{x(hi):.1f}'
                    f'M{x(hi):.1f} {mid - 3}v6" stroke="#333" stroke-width="1" fill="none">'
                    f"<title>a range exactly right: {lo:.0%}–{hi:.0%}</title></path>"
                )
    legend_y = top + row_h * len(groups) + 34
    for j, where in enumerate(SETS):
        out += [
            f'<rect x="{left}" y="{legend_y + 16 * j}" width="10" height="10" '
            f'fill="{colour[where]}"/>',
            f'<text x="{left + 14}" y="{legend_y + 16 * j + 9}">{SETS[where]}'
            + (" (shown, not held to the goal)" if where not in HELD else "")
            + "</text>",
        ]
    out.append(
        f'<text x="{left - 8}" y="{legend_y + 9}" text-anchor="end">goal 75–90 % shaded; '
        "pale: &lt; 10 rows</text>"
    )
    whisker_y = legend_y + 16 * len(SETS) + 5
    out += [
        f'<path d="M{left} {whisker_y - 3}v6M{left} {whisker_y}H{left + 10}M{left + 10} '
        f'{whisker_y - 3}v6" stroke="#333" stroke-width="1" fill="none"/>',
        f'<text x="{left + 14}" y="{whisker_y + 4}">where a range exactly right lands, '
        f"{TIMES_IN_TEN} (held sets)</text>",
    ]
    out.append("</svg>")
    return "\n".join(out) + "\n"
