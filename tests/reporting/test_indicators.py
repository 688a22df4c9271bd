"""Pure tests for reporting.indicators: test vectors T1-T19, missing data, validation, Annex IV.

No Django needed: run with ``pytest -p no:django tests/reporting/test_indicators.py``.
"""

import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting.indicators import (
    UNITS,
    Context,
    Instrument,
    Site,
    aggregate,
    annex_iv,
    cer,
    convert,
    cue,
    edc_weighted_average,
    ere,
    ereuse,
    erf,
    pue,
    pue_class_2026,
    ref,
    renewables,
    round_reported,
    size_class,
    validate,
    weighted_pdit,
    wue,
)

VECTORS = json.loads(Path(__file__).with_name("vectors.json").read_text())["vectors"]


def num(raw) -> Decimal:
    """A vector input: a plain string, or {"value", "unit"} converted to the canonical unit."""
    if isinstance(raw, dict):
        return convert(Decimal(raw["value"]), raw["unit"], UNITS[raw["unit"]][0])
    return Decimal(raw)


def at_precision_of(actual: Decimal, expected: str) -> Decimal:
    places = max(0, -Decimal(expected).as_tuple().exponent)
    return actual.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def assert_matches(actual, expected) -> None:
    if isinstance(expected, dict):  # the source wrote "value -> reported"
        assert at_precision_of(actual, expected["value"]) == Decimal(expected["value"])
        assert round_reported(actual) == Decimal(expected["reported"])
    elif isinstance(actual, Decimal):
        assert at_precision_of(actual, expected) == Decimal(expected)
    else:
        assert actual == expected


# --- one function per vector: compute what the vector names, from its inputs -------------------

COMPUTE = {}


def computes(vector_id):
    def register(fn):
        COMPUTE[vector_id] = fn
        return fn

    return register


@computes("T1")
@computes("T2")
def _pue_only(i):
    return {"PUE": pue(num(i["EDC"]), num(i["EIT"]))}


@computes("T3")
def _full_set(i):
    v = {k: num(x) for k, x in i.items()}
    eres_tot = renewables(
        [
            Instrument("go", v["ERES-GOO"]),
            Instrument("ppa", v["ERES-PPA"]),
            Instrument("onsite", v["ERES-OS"]),
        ]
    )["ERES-TOT"]
    return {
        "ERES-TOT": eres_tot,
        "PUE": pue(v["EDC"], v["EIT"]),
        "WUE": wue(v["WIN"], v["EIT"]),
        "ERF": erf(v["EREUSE"], v["EDC"]),
        "REF": ref(eres_tot, v["EDC"]),
    }


@computes("T4")
def _wue_mwh(i):
    return {"WUE": wue(num(i["WIN"]), num(i["EIT"]))}


@computes("T5")
def _erf(i):
    return {"ERF": erf(num(i["EREUSE"]), num(i["EDC"]))}


@computes("T6")
def _ref(i):
    return {"REF": ref(num(i["ERES-TOT"]), num(i["EDC"]))}


@computes("T7")
def _cer(i):
    return {"CER": cer(num(i["heat_removed_kwh"]), num(i["cooling_energy_kwh"]))}


@computes("T8")
def _ere(i):
    edc, eit, reuse = num(i["EDC"]), num(i["EIT"]), num(i["EREUSE"])
    return {
        "ERE": ere(edc, eit, reuse),
        "ERF": erf(reuse, edc),
        "PUE": pue(edc, eit),
        "(1-ERF)*PUE": (1 - erf(reuse, edc)) * pue(edc, eit),
    }


def _sites(i):
    return {
        name: Site(
            dc_type="enterprise",
            pdit_kw=None,
            edc_kwh=num(s["EDC"]),
            eit_kwh=num(s["EIT"]),
            win_m3=num(s["WIN"]) if "WIN" in s else None,
            ereuse_kwh=num(s["EREUSE"]) if "EREUSE" in s else None,
        )
        for name, s in i["sites"].items()
    }


@computes("T9")
@computes("T10")
def _annex_iv(i):
    sites = _sites(i)
    # The vectors check the formula on two sites; publication withholds them (tested below).
    overall = aggregate("all", list(sites.values()), min_sites=1).averages
    total = {
        attr: sum(getattr(s, attr) or 0 for s in sites.values())
        for attr in ("edc_kwh", "eit_kwh", "win_m3", "ereuse_kwh")
    }
    out = {
        "PUE_edc_weighted": overall["PUE"].value,
        "PUE_pooled": pue(total["edc_kwh"], total["eit_kwh"]),
        "WUE_edc_weighted": overall["WUE"].value,
        "WUE_pooled": wue(total["win_m3"], total["eit_kwh"]),
        "ERF_edc_weighted": overall["ERF"].value,
        "ERF_pooled": erf(total["ereuse_kwh"], total["edc_kwh"]),
    }
    for name, site in sites.items():
        out.update({f"{kpi}_{name}": value for kpi, value in site.kpis().items()})
    return out


@computes("T11")
def _pdit(i):
    start, segments = date(i["year"], 1, 1), []
    for seg in i["segments"]:
        end = start + timedelta(days=seg["days"] - 1)
        segments.append((start, end, num(seg["kw"])))
        start = end + timedelta(days=1)
    assert start == date(i["year"] + 1, 1, 1)  # the segments fill the year exactly
    pdit = weighted_pdit(segments)
    return {"PDIT": pdit, "size_class": size_class(pdit)}


@computes("T12")
def _unit_trap(i):
    win, eit = num(i["WIN"]), num(i["EIT"])
    return {"WUE_without_MWh_conversion": win / eit, "WUE": wue(win, eit)}


@computes("T13")
def _ppa(i):
    ppa = Instrument("ppa", num(i["ppa_delivered_kwh"]), gos_not_owned_kwh=num(i["gos_sold_kwh"]))
    return {"ERES-PPA": renewables([ppa])["ERES-PPA"]}


@computes("T14")
def _heat(i):
    return {"EREUSE": ereuse(num(i["boundary_heat_kwh"]), num(i["own_cooling_kwh"]))}


@computes("T15")
def _cue(i):
    return {"CUE": cue(num(i["PUE"]), num(i["CEF"]))}


@computes("T16")
@computes("T17")
def _rejected(i):
    findings = validate({k: _number_or_raw(v) for k, v in i.items()})
    return {"rejected": any(f.severity == "error" for f in findings)}


def _number_or_raw(text: str):
    try:
        return Decimal(text)
    except InvalidOperation:
        return text  # e.g. "1–2 GWh", as an importer would pass it on


@computes("T18")
def _labels(i):
    return {"label": [pue_class_2026(Decimal(p)) for p in i["PUE"]]}


@computes("T19")
def _utilisation(i):
    return {"utilisation": num(i["EDC"]) / (num(i["PDIT"]) * num(i["hours"]))}


def test_every_spec_vector_is_transcribed():
    assert [v["id"] for v in VECTORS] == [f"T{n}" for n in range(1, 20)]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_spec_vector(vector):
    actual = COMPUTE[vector["id"]](vector["inputs"])
    for key, expected in vector["expected"].items():
        assert_matches(actual[key], expected)


# --- missing inputs, zeros, units, rounding ----------------------------------------------------

D = Decimal


def test_missing_inputs_give_none_not_zero():
    assert pue(None, D(1)) is None and pue(D(1), None) is None
    assert wue(None, D(1000)) is None and wue(D(1), None) is None
    assert erf(None, D(1)) is None and ref(None, D(1)) is None
    assert ere(D(2), D(1), None) is None and cue(None, D("0.25")) is None
    assert ereuse(None) is None and size_class(None) is None
    assert weighted_pdit([]) is None and edc_weighted_average([(D(1), None)]) is None


def test_zero_denominator_is_undefined():
    assert pue(D(100), D(0)) is None
    assert wue(D(100), D(0)) is None
    assert erf(D(0), D(0)) is None and ref(D(5), D(0)) is None


def test_genuine_zero_reuse_and_renewables_give_zero():
    assert erf(D(0), D(1000)) == 0
    assert ref(D(0), D(1000)) == 0
    assert renewables([]) == {k: 0 for k in ("ERES-GOO", "ERES-PPA", "ERES-OS", "ERES-TOT")}


def test_unit_conversions():
    assert convert(D(1500), "Wh", "kWh") == D("1.5")
    assert convert(D(2), "MWh", "kWh") == D(2000)
    assert round_reported(convert(D(1), "GJ", "kWh")) == D("277.78")
    assert convert(D(3600), "GJ", "kWh") == D(1_000_000)
    assert convert(D(250), "L", "m3") == D("0.25")
    with pytest.raises(ValueError):
        convert(D(1), "L", "kWh")


def test_reported_values_round_half_up_to_two_places():
    assert round_reported(D("1.005")) == D("1.01")  # half-even would give 1.00
    assert round_reported(D("0.125")) == D("0.13")
    assert round_reported(D("1.52439"), places=4) == D("1.5244")
    assert round_reported(None) is None


# --- derived inputs ----------------------------------------------------------------------------


def test_weighted_pdit_divides_by_days_covered_in_partial_year():
    segments = [(date(2024, 7, 1), date(2024, 7, 10), D(600))]
    assert weighted_pdit(segments) == D(600)


def test_overlapping_pdit_segments_are_refused():
    with pytest.raises(ValueError):
        weighted_pdit(
            [
                (date(2024, 1, 1), date(2024, 6, 30), D(1)),
                (date(2024, 6, 30), date(2024, 12, 31), D(2)),
            ]
        )


def test_go_not_retired_by_this_dc_does_not_count():
    got = renewables(
        [
            Instrument("go", D(100)),
            Instrument("go", D(50), retired_by_this_dc=False),
            Instrument("onsite", D(30), gos_not_owned_kwh=D(10)),
        ]
    )
    assert got == {"ERES-GOO": 100, "ERES-PPA": 0, "ERES-OS": 20, "ERES-TOT": 120}


def test_heat_used_for_own_cooling_above_meter_is_refused():
    with pytest.raises(ValueError):
        ereuse(D(100), D(101))


@pytest.mark.parametrize(
    ("pdit_kw", "code"),
    [
        ("99.9", None),
        ("100", "VS"),
        ("499.99", "VS"),
        ("500", "S"),
        ("1000", "M"),
        ("2000", "L"),
        ("9999.9", "L"),
        ("10000", "VL"),
    ],
)
def test_size_class_boundaries_are_half_open(pdit_kw, code):
    assert size_class(D(pdit_kw)) == code


# --- Annex IV ----------------------------------------------------------------------------------


def _site(dc_type="colocation", pdit="800", edc="1500000", eit="1000000", win="1000"):
    return Site(dc_type, D(pdit), D(edc), D(eit), None if win is None else D(win))


def test_annex_iv_suppresses_averages_below_three_sites():
    table = annex_iv([_site(), _site(), _site("enterprise", pdit="1500")])
    colocation = table["type:colocation"].averages["PUE"]
    assert colocation.suppressed and colocation.value is None and colocation.n_sites == 2
    assert "at least 3" in colocation.reason
    assert table["size:M"].averages["PUE"].suppressed
    assert not table["all"].averages["PUE"].suppressed  # three sites in all: published


@pytest.mark.parametrize("n", [1, 2])
def test_annex_iv_withholds_every_group_of_fewer_than_three_the_all_group_included(n):
    table = annex_iv([_site() for _ in range(n)])
    for group, agg in table.items():
        assert agg.n_sites == n, group  # the count is always published
        assert agg.totals_suppressed and agg.total_edc_kwh is None, group
        assert agg.total_pdit_kw is None and agg.total_win_m3 is None, group
        assert all(a.value is None for a in agg.averages.values()), group
        # PUE and WUE were reported by these sites: withheld, not merely absent.
        assert agg.averages["PUE"].suppressed and agg.averages["WUE"].suppressed, group


def test_annex_iv_publishes_averages_from_three_sites():
    table = annex_iv([_site(), _site(edc="3000000"), _site(eit="1500000")])
    avg = table["type:colocation"].averages["PUE"]
    assert not avg.suppressed and avg.n_sites == 3 and avg.value is not None
    assert table["size:S"].n_sites == 3 and table["all"].total_pdit_kw == 2400


def test_annex_iv_suppresses_a_kpi_reported_by_fewer_than_three_sites():
    table = annex_iv([_site(), _site(), _site(win=None)])
    averages = table["type:colocation"].averages
    assert not averages["PUE"].suppressed
    assert averages["WUE"].suppressed and averages["WUE"].n_sites == 2


def test_annex_iv_never_totals_a_figure_some_data_centre_did_not_report():
    # Three sites, one without WIN: the WIN total would be two sites' (what WUE withholds) and
    # would count the third as 0 m3. Blank, like WUE; the totals all report stay.
    table = annex_iv([_site(), _site(), _site(win=None)])
    for agg in table.values():
        assert agg.total_win_m3 is None, agg.group
    assert table["all"].total_edc_kwh == 4_500_000 and table["all"].total_pdit_kw == 2400
    table = annex_iv([_site(), _site(), _site(), _site(win=None)])
    assert table["all"].total_win_m3 is None  # 3 of 4: still not the group's total


# --- validation: one test per rule --------------------------------------------------------------

CLEAN = {
    "PDIT": D(1200),
    "SDC": D(5000),
    "SCR": D(3000),
    "EDC": D(10_000_000),
    "EDC-BG": D(20_000),
    "EIT": D(8_000_000),
    "WIN": D(12_000),
    "WIN-POT": D(3_000),
    "EREUSE": D(1_500_000),
    "TWH": D(35),
    "TIN": D(24),
    "CDD": D(120),
    "ERES-TOT": D(6_000_000),
    "ERES-GOO": D(2_000_000),
    "ERES-PPA": D(3_000_000),
    "ERES-OS": D(1_000_000),
    "CSERV": D(50_000),
    "CSTOR": D(12),
}
CLEAN_CONTEXT = Context(pdit_basis="installed", wue_category=2)


def findings(context=CLEAN_CONTEXT, **overrides):
    values = {**CLEAN, **{k.replace("_", "-"): v for k, v in overrides.items()}}
    return {(f.rule_id, f.severity) for f in validate(values, context)}


def test_clean_record_has_no_findings():
    assert validate(CLEAN, CLEAN_CONTEXT) == []


def test_missing_values_are_not_findings():
    assert validate({k: None for k in CLEAN}, Context()) == []


def test_eit_above_edc_is_a_hard_error():
    assert ("eit-above-edc", "error") in findings(EIT=D(10_000_001))


def test_edc_bg_above_edc_is_a_hard_error():
    assert ("edc-bg-above-edc", "error") in findings(EDC_BG=D(10_000_001))


def test_scr_above_sdc_is_a_hard_error():
    assert ("scr-above-sdc", "error") in findings(SCR=D(5001))


def test_eres_tot_not_sum_of_goo_ppa_os_is_a_hard_error():
    assert ("eres-tot-not-sum", "error") in findings(ERES_TOT=D(6_000_002))
    assert findings(ERES_TOT=D(6_000_001)) == set()  # ±1 kWh tolerance


@pytest.mark.parametrize("value", ["1-2 GWh", 1.5, (1, 2), D("NaN")])
def test_value_that_is_not_a_single_number_is_a_hard_error(value):
    assert ("not-a-single-number", "error") in findings(EDC=value)


def test_pdit_without_basis_is_a_hard_error():
    assert ("pdit-basis-missing", "error") in findings(Context(wue_category=2))


def test_win_without_wue_category_is_a_hard_error():
    assert ("wue-category-missing", "error") in findings(Context(pdit_basis="rated"))


def test_partial_year_without_period_dates_is_a_hard_error():
    ctx = Context(pdit_basis="installed", wue_category=1, partial_year=True)
    assert ("partial-year-dates-missing", "error") in findings(ctx)
    dated = replace(ctx, period_start=date(2024, 3, 1), period_end=date(2024, 12, 31))
    assert findings(dated) == set()


@pytest.mark.parametrize("edc", [D(8_399_999), D(24_000_001)])
def test_pue_outside_1_05_to_3_is_a_warning(edc):
    assert ("pue-out-of-range", "warning") in findings(EDC=edc)


def test_eres_tot_above_edc_is_a_warning():
    assert ("ref-above-one", "warning") in findings(
        ERES_TOT=D(11_000_000), ERES_GOO=D(11_000_000), ERES_PPA=D(0), ERES_OS=D(0)
    )


def test_ereuse_above_edc_is_a_warning():
    assert ("ereuse-above-edc", "warning") in findings(EREUSE=D(10_000_001))


def test_win_pot_above_win_is_a_warning():
    assert ("win-pot-above-win", "warning") in findings(WIN_POT=D(12_001))


@pytest.mark.parametrize("twh", [D("14.9"), D("70.1")])
def test_twh_outside_15_to_70_is_a_warning(twh):
    assert ("twh-out-of-range", "warning") in findings(TWH=twh)


@pytest.mark.parametrize("tin", [D("14.9"), D("35.1")])
def test_tin_setpoint_outside_15_to_35_is_a_warning(tin):
    assert ("tin-out-of-range", "warning") in findings(TIN=tin)


def test_cdd_above_1500_is_a_warning():
    assert ("cdd-above-1500", "warning") in findings(CDD=D(1501))


def test_pdit_below_500_is_a_warning():
    assert ("pdit-below-threshold", "warning") in findings(PDIT=D("499.9"))


def test_ict_capacity_coverage_below_100_without_note_is_a_warning():
    ctx = Context(pdit_basis="installed", wue_category=2, cstor_coverage_pct=D(80))
    assert ("coverage-below-100", "warning") in findings(ctx)
    noted = replace(ctx, notes={"CSTOR": "tenants in hall B did not answer"})
    assert findings(noted) == set()


def test_year_on_year_change_above_30pct_without_note_is_a_warning():
    ctx = Context(pdit_basis="installed", wue_category=2, previous={"EDC": D(7_000_000)})
    assert ("yoy-change-above-30pct", "warning") in findings(ctx)
    assert findings(replace(ctx, notes={"EDC": "new hall opened in March"})) == set()
    assert findings(replace(ctx, previous={"EDC": D(8_000_000)})) == set()


# --- properties --------------------------------------------------------------------------------

energy = st.decimals(min_value=D("0.01"), max_value=D("1e10"), places=2)
kpi = st.decimals(min_value=D(0), max_value=D(10), places=4)
share = st.decimals(min_value=D(0), max_value=D(1), places=4)


@given(eit=energy, extra=st.decimals(min_value=D(0), max_value=D("1e10"), places=2))
def test_pue_is_at_least_one_whenever_eit_is_within_edc(eit, extra):
    assert pue(eit + extra, eit) >= 1


@given(st.lists(st.tuples(energy, kpi), min_size=1, max_size=20))
def test_edc_weighted_average_lies_between_min_and_max(pairs):
    values = [v for _, v in pairs]
    assert min(values) <= edc_weighted_average(pairs) <= max(values)


@given(st.lists(st.tuples(energy, share), min_size=1))
def test_edc_weighted_erf_equals_pooled_ratio(rows):
    sites = [Site("enterprise", None, edc, ereuse_kwh=edc * share) for edc, share in rows]
    weighted = aggregate("all", sites, min_sites=1).averages["ERF"].value
    pooled = erf(sum(s.ereuse_kwh for s in sites), sum(s.edc_kwh for s in sites))
    assert abs(weighted - pooled) < D("1e-20")


@given(st.dictionaries(st.sampled_from(sorted(CLEAN)), st.none() | energy | st.text(max_size=5)))
def test_validate_never_raises_on_arbitrary_input(values):
    for f in validate(values):
        assert f.severity in ("error", "warning")
