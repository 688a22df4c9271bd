"""Pure tests: the 2026 label classes (every printed boundary, both sides), the label contents
and the field dictionaries (the EnEfG rules are tested in test_enefg_statute.py)."""

from decimal import Decimal as D

import pytest

from reporting import indicators as ind
from reporting import label

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
    assert k.status.startswith("preview (draft act, class bounds unverified)")
    assert label.BOUND_SOURCES in k.notes  # the bounds name their sources


def test_a_2024_schema_period_gets_no_wue_class():
    k = _label(schema=ind.SCHEMA_2024, wue=D("0.05"))
    assert k.wue is None and k.wue_class is None and "WIN-FRE" in k.wue_basis


def test_svg_says_preview_and_escapes_text():
    svg = label.svg(_label(grid_functions="<script>x</script>"))
    assert "preview — the official label is issued by the European database" in svg
    assert "draft act, class bounds unverified" in svg
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
