"""How far a range that is exactly right can still miss its goal, by chance alone.

Pure (no Django). The goal asks an 80 % range to hold 75–90 % of the never-fitted rows
overall and in every class of at least 10 rows. A class's share inside is a count over few
trials, and rows of one publication table (one source and date) share a setup and a method,
so they hold or miss together. A range that is exactly right for every row still lands a
class of 31 rows from 7 tables outside 75–90 % quite often. This module says how often, and
where an observed share lies beyond what chance explains.

The model of chance (stated, not fitted to the rows judged): each row's log(measured ÷
estimated) is a table's shift plus the row's own scatter, both normal; `icc`, the share of
the spread that lies between tables, is estimated on the range tables (the residuals that
size the range, never the check: `between_table_share`). A range exactly right covers the
central 80 % of that spread for every row. `bands` draws `DRAWS` such worlds (seeded: the
same figures on every run) with the rows and tables of the set judged and reports, per class,
the band its share inside stays within in every class at once `FAMILY` of the time, and how
often the goal as written would be met.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

DRAWS = 4000
SEED = 20261207
FAMILY = 0.9  # a right range stays inside every class's band at once this often


def between_table_share(log_ratios, tables) -> float | None:
    """The share of the spread of `log_ratios` that lies between `tables` (one-way random
    effects, method of moments; 0 when the tables differ no more than their rows do). None
    with fewer than 3 tables or no row-to-row spread."""
    frame = pd.DataFrame({"r": np.asarray(log_ratios, dtype=float), "t": np.asarray(tables)})
    groups = frame.groupby("t")["r"]
    sizes = groups.size()
    k, n = len(sizes), len(frame)
    if k < 3 or n <= k:
        return None
    within = float(((frame["r"] - groups.transform("mean")) ** 2).sum() / (n - k))
    between = float((sizes * (groups.mean() - frame["r"].mean()) ** 2).sum() / (k - 1))
    n0 = (n - float((sizes**2).sum()) / n) / (k - 1)
    share_between = max((between - within) / n0, 0.0)
    if within + share_between <= 0:
        return None
    return round(share_between / (share_between + within), 3)


def _draws(tables: np.ndarray, icc: float, level: float, draws: int, seed: int) -> np.ndarray:
    """(draws × rows) booleans: each row inside a range exactly right (the central `level` of
    its spread), in `draws` worlds."""
    codes, uniques = pd.factorize(pd.Series(tables))
    rng = np.random.default_rng(seed)
    shift = rng.standard_normal((draws, len(uniques)))[:, codes] * math.sqrt(icc)
    scatter = rng.standard_normal((draws, len(codes))) * math.sqrt(1 - icc)
    return np.abs(shift + scatter) <= NormalDist().inv_cdf((1 + level) / 2)


def bands(
    tables,
    classes: dict[str, np.ndarray],
    icc: float,
    held: set[str] | None = None,
    goal: tuple[float, float] = (0.75, 0.9),
    level: float = 0.8,
    draws: int = DRAWS,
    seed: int = SEED,
) -> dict:
    """What a range exactly right shows on these rows.

    `tables`: each row's publication table; `classes`: name → boolean mask of its rows (the
    set itself under "all rows"); `held`: the names held to the goal (default: all); `level`:
    the range's stated level. Returns
    per name the band (`low`, `high`) its share inside stays within, in every held name at
    once, `FAMILY` of the draws; `goal_as_written`: the share of draws in which every held
    name lands within `goal`.
    """
    inside = _draws(np.asarray(tables), icc, level, draws, seed)
    names = list(classes)
    held = set(names if held is None else held)
    masks = np.column_stack([np.asarray(classes[n], dtype=bool) for n in names])
    shares = (inside.astype(np.int32) @ masks.astype(np.int32)) / masks.sum(axis=0)
    kept = np.array([n in held for n in names])
    in_goal = (shares[:, kept] >= goal[0] - 1e-9) & (shares[:, kept] <= goal[1] + 1e-9)
    low, high = _family_bands(shares, kept)
    return {
        "icc": icc,
        "draws": draws,
        "family": FAMILY,
        "goal_as_written": round(float(in_goal.all(axis=1).mean()), 3),
        "per_class": {
            n: {"low": _outward(low[i], math.floor), "high": _outward(high[i], math.ceil)}
            for i, n in enumerate(names)
        },
    }


def _outward(share: float, direction) -> float:
    """A band's end to 3 decimals, rounded away from the band's inside (a share of 117/131
    stored as 0.894, not 0.893, so that rounding never narrows the band)."""
    return direction(float(share) * 1000 - (1e-9 if direction is math.ceil else -1e-9)) / 1000


def _family_bands(shares: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the narrowest equal-tailed quantile band such that `FAMILY` of the rows of
    `shares` lie inside the bands of every kept column at once."""
    best = None
    for tail in np.linspace(0.05, 0.0, 201):  # from each column's own 90 % band outwards
        low = np.quantile(shares, tail, axis=0, method="inverted_cdf")
        high = np.quantile(shares, 1 - tail, axis=0, method="inverted_cdf")
        within = ((shares >= low) & (shares <= high))[:, kept].all(axis=1).mean()
        best = (low, high)
        if within >= FAMILY:
            break
    return best
