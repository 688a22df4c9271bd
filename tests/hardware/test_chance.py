"""How far a range exactly right can miss the goal by chance (hardware.chance), and how the
calibration reports it. Pure: no database."""

import math

import numpy as np
import pandas as pd
import pytest

from hardware import calibration, chance, coverage


def _binomial_between(n: int, p: float, low: float, high: float) -> float:
    return sum(
        math.comb(n, k) * p**k * (1 - p) ** (n - k)
        for k in range(n + 1)
        if low - 1e-9 <= k / n <= high + 1e-9
    )


def test_the_share_between_tables_follows_the_method_of_moments():
    # Three tables of two rows, each row ±1 around its table's mean.
    values = [-1, 1, 9, 11, 19, 21]
    tables = ["a", "a", "b", "b", "c", "c"]
    # within: 6 / 3 = 2; between: 2 × (100 + 0 + 100) / 2 = 200; n0 = 2 → (200 − 2) / 2 = 99
    assert chance.between_table_share(values, tables) == pytest.approx(99 / 101, abs=1e-3)
    same_means = [-1, 1, -1, 1, -1, 1]
    assert chance.between_table_share(same_means, tables) == 0
    assert chance.between_table_share([1, 2, 3, 4], ["a", "a", "b", "b"]) is None  # 2 tables


def test_with_independent_rows_the_goal_is_met_as_often_as_the_binomial_says():
    n = 31  # the size of the smallest class held to the goal on the check
    band = chance.bands([f"t{i}" for i in range(n)], {"all rows": np.ones(n, bool)}, icc=0.0)
    expected = _binomial_between(n, 0.8, 0.75, 0.9)
    assert band["goal_as_written"] == pytest.approx(expected, abs=0.03)
    assert expected < 0.7  # the window is narrow for a class of this size, even without clustering


def test_rows_of_one_table_hold_or_miss_together_when_tables_explain_all_the_spread():
    tables = ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    band = chance.bands(tables, {"all rows": np.ones(15, bool)}, icc=0.999999)
    low, high = band["per_class"]["all rows"].values()
    for end in (low, high):  # whole tables only (the ends are stored to 3 decimals)
        assert end * 3 == pytest.approx(round(end * 3), abs=0.01)
    assert band["goal_as_written"] == pytest.approx(0, abs=0.01)  # 2/3 or 3/3, never 75–90 %


def test_clustering_widens_the_band_for_the_same_rows():
    tables = np.repeat([f"t{i}" for i in range(10)], 10)
    classes = {"all rows": np.ones(100, bool)}
    loose = chance.bands(tables, classes, icc=0.0)["per_class"]["all rows"]
    tight = chance.bands(tables, classes, icc=0.5)["per_class"]["all rows"]
    assert tight["low"] < loose["low"] and tight["high"] > loose["high"]


def test_a_right_range_stays_inside_every_band_at_once_nine_times_in_ten():
    tables = np.repeat([f"t{i}" for i in range(20)], [1, 2, 3, 4, 5] * 4)
    rng = np.random.default_rng(0)
    classes = {"all rows": np.ones(len(tables), bool), "half": rng.random(len(tables)) < 0.5}
    classes["rest"] = ~classes["half"]
    band = chance.bands(tables, classes, icc=0.3)
    # Fresh worlds, drawn with another seed, judged against the bands.
    inside = chance._draws(tables, 0.3, 0.8, 4000, seed=99)
    ok = np.ones(len(inside), bool)
    for name, mask in classes.items():
        share = inside[:, mask].mean(axis=1)
        b = band["per_class"][name]
        ok &= (share >= b["low"] - 1e-9) & (share <= b["high"] + 1e-9)
    assert 0.86 <= ok.mean() <= 0.95
    again = chance.bands(tables, classes, icc=0.3)
    assert again == band  # seeded: the same figures on every run


def test_the_calibration_states_a_band_for_every_held_class_and_names_those_beyond_it():
    fresh = calibration.calibrate(
        calibration.load_table(), calibration.load_validation(), calibration.load_range()
    )
    cov = fresh["coverage"]
    assert cov["between_tables"]["from"] == "the range tables"
    beyond = []
    for where in coverage.HELD:
        assert 0 <= cov[where]["chance_goal"]["goal_as_written"] <= 1
        for kind, groups in cov[where]["per_class"].items():
            for label, figures in groups.items():
                low, high = figures["chance"]
                assert 0 <= low <= high <= 1
                if figures["rows"] >= coverage.GOAL_MIN_ROWS and not (
                    low <= figures["coverage"] <= high
                ):
                    beyond.append(f"{coverage.SETS[where]}, {coverage.class_label(kind, label)}")
    assert [m.split(":")[0] for m in cov["beyond_chance"]] == beyond
    lines = "\n".join(calibration.coverage_lines(fresh))
    assert "**How much of that is chance.**" in lines
    assert f"{cov['check']['chance_goal']['goal_as_written']:.0%} of draws" in lines


def test_the_spread_between_tables_is_never_measured_on_the_rows_judged():
    table, published = calibration.load_table(), calibration.load_range()
    validation = calibration.load_validation()
    whole = calibration.calibrate(table, validation, published)["coverage"]["between_tables"]
    half = calibration.calibrate(table, validation.iloc[::2], published)["coverage"]
    assert half["between_tables"] == whole
    no_range = calibration.calibrate(table, validation, pd.DataFrame())["coverage"]
    assert no_range["between_tables"]["from"] == "leave one GPU out"
