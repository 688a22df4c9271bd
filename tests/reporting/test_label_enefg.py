"""Pure tests: the 2026 label classes (every printed boundary, both sides), the label contents,
the field dictionaries, and EnEfG §11/§13 duties one day before and on their start dates.

"""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from reporting import enefg, label
from reporting import indicators as ind

# The act's tables as printed in the secondary sources on it:
# (lower class, inclusive upper bound, next class).
PUE_BOUNDARIES = [
    ("A", "1.15", "B"),
    ("B", "1.25", "C"),
    ("C", "1.35", "D"),
    ("D", "1.5", "E/F"),
    ("E/F", "1.9", "G"),
]
WUE_BOUNDARIES = [
    ("A", "0.1", "B"),
    ("B", "0.2", "C"),
    ("C", "0.4", "D"),
    ("D", "0.6", "E/F"),
    ("E/F", "1.0", "G"),
]
STEP = D("0.01")  # the act prints its bounds to two decimals


@pytest.mark.parametrize(("below", "bound", "above"), PUE_BOUNDARIES)
def test_pue_label_boundary_both_sides(below, bound, above):
    assert ind.label_class(D(bound), ind.PUE_LABEL) == below
    assert ind.label_class(D(bound) + STEP, ind.PUE_LABEL) == above
    assert ind.label_class(D(bound) - STEP, ind.PUE_LABEL) in (below, _previous(below))


@pytest.mark.parametrize(("below", "bound", "above"), WUE_BOUNDARIES)
def test_wue_label_boundary_both_sides(below, bound, above):
    assert ind.wue_class_2026(D(bound)) == below
    assert ind.wue_class_2026(D(bound) + STEP) == above


def _previous(code):
    order = ["A", "B", "C", "D", "E/F", "G"]
    return order[max(0, order.index(code) - 1)]


def test_lowest_values_are_a_and_missing_is_no_class():
    assert ind.label_class(D("1.0"), ind.PUE_LABEL) == "A"
    assert ind.wue_class_2026(D(0)) == "A"
    assert ind.wue_class_2026(None) is None


def test_the_unpublished_e_f_band_has_no_single_class():
    assert ind.pue_class_2026(D("1.7")) is None  # kept: no guess between E and F
    assert ind.label_class(D("1.7"), ind.PUE_LABEL) == "E/F"


def _label(**overrides):
    args = dict(
        year=2026,
        schema=ind.SCHEMA_2026,
        pue=D("1.154"),
        wue=D("0.35"),
        nuts3="DE300",
        pdit_kw=D(1500),
        grid_functions="",
        cbtg_kw=None,
        heat_reuse_readiness="",
        ereuse_kwh=D(0),
        cdd=D(40),
        operation_start_year=2018,
    )
    return label.build(**{**args, **overrides})


def test_label_classes_are_taken_on_the_values_rounded_to_two_decimals():
    assert _label(pue=D("1.154")).pue_class == "A"  # reported 1.15
    assert _label(pue=D("1.155")).pue_class == "B"  # reported 1.16


def test_label_contents():
    k = _label(grid_functions="FFR", heat_reuse_readiness="", ereuse_kwh=D(5))
    assert (k.pue, k.pue_class, k.wue, k.wue_class) == (D("1.15"), "A", D("0.35"), "C")
    assert k.region_nuts3 == "DE300" and k.size_category == "M"
    assert k.grid_flexibility.startswith("yes: FFR")
    assert k.heat_reuse_readiness == "reusing (EREUSE > 0)"
    assert k.status == label.PREVIEW
    assert k.valid == "issued by 15 Aug 2027, valid to 15 Aug 2028"
    assert "no official label for 2025" in _label(year=2025).valid
    assert any("implied" in n for n in k.notes)  # WUE class C is inferred, and says so


def test_a_2024_schema_period_gets_no_wue_class():
    k = _label(schema=ind.SCHEMA_2024, wue=D("0.05"))
    assert k.wue is None and k.wue_class is None and "WIN-FRE" in k.wue_basis


def test_svg_says_preview_and_escapes_text():
    svg = label.svg(_label(grid_functions="<script>x</script>"))
    assert "preview — the official label is issued by the European database" in svg
    assert "<script>" not in svg and svg.startswith("<svg")


def test_field_dictionaries():
    eu24, eu26 = ind.field_dictionary(ind.SCHEMA_2024), ind.field_dictionary(ind.SCHEMA_2026)
    assert "WIN-FRE" not in eu24 and {"WIN-FRE", "WIN-POT", "WIN"} <= set(eu26)
    assert not set(ind.TRAFFIC) & set(eu26) and set(ind.TRAFFIC) <= set(eu24)
    assert ind.wue_water_symbol(ind.SCHEMA_2026) == "WIN-FRE"
    assert ind.wue_water_symbol(ind.SCHEMA_2024) == "WIN"
    with pytest.raises(ValueError):
        ind.field_dictionary("2023/1")


def test_freshwater_above_total_water_is_warned():
    found = ind.validate({"WIN": D(10), "WIN-FRE": D(11)}, ind.Context(wue_category=2))
    assert [f.rule_id for f in found] == ["win-fre-above-win"]
    assert ind.validate({"WIN": D(10), "WIN-FRE": D(10)}, ind.Context(wue_category=2)) == []


# --- EnEfG ---------------------------------------------------------------------------------

OLD = date(2019, 3, 1)  # operating before 1 July 2026


def _check(on, start=OLD, pue=None, erf=None, share=None, kw=None):
    return enefg.check(
        on=on, operation_start=start, pue=pue, erf=erf, renewable_share=share, non_redundant_kw=kw
    )


def _rule(findings, rule):
    return [f for f in findings if f.rule_id == rule]


def _day_before(day):
    return day - timedelta(days=1)


@pytest.mark.parametrize(
    ("starts", "bound", "previous"),
    [(date(2027, 7, 1), D("1.5"), None), (date(2030, 7, 1), D("1.3"), D("1.5"))],
)
def test_existing_dc_pue_duty_one_day_before_and_on_its_start(starts, bound, previous):
    value = bound + D("0.05")  # meets the earlier duty (if any), misses this one
    before = _rule(_check(_day_before(starts), pue=value), "enefg-pue")
    on = _rule(_check(starts, pue=value), "enefg-pue")
    if previous is None:
        assert before == []
    else:
        assert [f.severity for f in before] == ["info"]
    assert [(f.severity, f.applies_from, f.legal_ref) for f in on] == [
        ("warning", starts, "EnEfG §11 (PUE)")
    ]
    upcoming = _rule(_check(_day_before(starts), pue=value), "enefg-pue-upcoming")
    assert upcoming[0].applies_from == starts


def test_a_pue_on_the_bound_meets_it():
    assert _rule(_check(date(2027, 7, 1), pue=D("1.5")), "enefg-pue")[0].severity == "info"


def test_new_dc_is_one_starting_on_1_july_2026():
    assert enefg.pue_duties(date(2026, 6, 30)) == list(enefg.EXISTING_PUE)
    assert enefg.pue_duties(date(2026, 7, 1)) == [(date(2028, 7, 1), D("1.2"))]
    assert enefg.erf_duty(date(2026, 6, 30)) is None


def test_new_dc_pue_duty_two_years_after_start():
    start = date(2026, 9, 1)
    due = date(2028, 9, 1)
    assert _rule(_check(_day_before(due), start=start, pue=D("1.25")), "enefg-pue") == []
    on = _rule(_check(due, start=start, pue=D("1.25")), "enefg-pue")
    assert [(f.severity, f.applies_from) for f in on] == [("warning", due)]


@pytest.mark.parametrize(
    ("tier_start", "minimum", "previous"),
    [
        (date(2026, 7, 1), D("0.10"), None),
        (date(2027, 7, 1), D("0.15"), D("0.10")),
        (date(2028, 7, 1), D("0.20"), D("0.15")),
    ],
)
def test_erf_minimum_by_operation_start_one_day_before_and_on(tier_start, minimum, previous):
    day_before = enefg.erf_duty(_day_before(tier_start))
    assert (day_before[1] if day_before else None) == previous
    assert enefg.erf_duty(tier_start) == (date(tier_start.year + 2, 7, 1), minimum)


def test_erf_duty_applies_two_years_after_start():
    start = date(2027, 7, 1)
    due = date(2029, 7, 1)
    low = D("0.12")  # meets 10 %, misses the 15 % of a DC started from 1 July 2027
    assert _rule(_check(_day_before(due), start=start, erf=low), "enefg-erf") == []
    on = _rule(_check(due, start=start, erf=low), "enefg-erf")
    assert [(f.severity, f.legal_ref) for f in on] == [("warning", "EnEfG §11 (ERF)")]
    assert _rule(_check(due, start=start, erf=D("0.15")), "enefg-erf")[0].severity == "info"


def test_an_existing_dc_has_no_erf_duty():
    assert _rule(_check(date(2031, 1, 1), erf=D(0)), "enefg-erf") == []


@pytest.mark.parametrize(
    ("starts", "share", "before"),
    [(date(2024, 1, 1), D("0.4"), None), (date(2027, 1, 1), D("0.8"), "info")],
)
def test_renewable_share_one_day_before_and_on(starts, share, before):
    rule = "enefg-renewable-share"
    found_before = _rule(_check(_day_before(starts), share=share), rule)
    assert [f.severity for f in found_before] == ([before] if before else [])
    on = _rule(_check(starts, share=share), rule)
    assert [(f.severity, f.applies_from) for f in on] == [("warning", starts)]
    assert _rule(_check(starts, share=D(1)), rule)[0].severity == "info"


@pytest.mark.parametrize(
    ("kw", "due"), [(D(400), date(2025, 7, 1)), (D(600), date(2024, 8, 15)), (D(300), None)]
)
def test_register_duty_one_day_before_and_on_first_report(kw, due):
    due = due or date(2025, 7, 1)
    before = _check(_day_before(due), kw=kw)
    on = _check(due, kw=kw)
    assert _rule(before, "rzreg-registration-upcoming")[0].applies_from == due
    assert _rule(on, "rzreg-registration")[0].applies_from == due
    assert "≥ 300 kW" in _rule(on, "rzreg-registration")[0].message


def test_register_threshold_is_300_kw_not_the_eu_500():
    below = _rule(_check(date(2026, 1, 1), kw=D("299.9")), "rzreg-registration")
    assert "below 300 kW" in below[0].message
    unknown = _rule(_check(date(2026, 1, 1), kw=None), "rzreg-registration")
    assert unknown[0].severity == "warning"


def test_unknown_values_are_warned_not_passed():
    found = _rule(_check(date(2028, 1, 1), pue=None), "enefg-pue")
    assert found[0].severity == "warning" and "unknown" in found[0].message
    assert _check(date(2028, 1, 1), start=None)[0].rule_id == "enefg-operation-start-missing"


@pytest.mark.parametrize(
    ("kw", "size"),
    [
        ("499.999", "< 500 kW"),
        ("500", "< 1 MW"),
        ("999", "< 1 MW"),
        ("1000", "< 5 MW"),
        ("9999", "< 10 MW"),
        ("99999", "< 100 MW"),
        ("100000", "≥ 100 MW"),
    ],
)
def test_rzreg_size_classes(kw, size):
    assert enefg.size_class(D(kw)) == size


def test_total_electricity_counts_own_generation_and_subtracts_feed_in():
    assert enefg.total_electricity(D(1000), D(200), D(50)) == D(1150)
    assert enefg.total_electricity(D(1000), None, D(50)) is None
    # Feed-in not reported is unknown, as own generation is, not 0 kWh fed in.
    assert enefg.total_electricity(D(1000), D(200), None) is None
    assert enefg.total_electricity(D(1000), D(200), D(0)) == D(1200)
