"""Pure tests of the EnEfG rules, each case read from the act as promulgated (BGBl. 2023 I Nr. 309);
the paragraph is cited in every test. Boundaries: exactly 300 kW, 1 MW, PUE 1.5, ERF 10 %, and
a start on 30 June against 1 July 2026."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from reporting import enefg

OLD = date(2019, 3, 1)  # operating before 1 July 2026
IN_SCOPE = D(800)


def _check(on, *, start=OLD, pue=None, pue11=None, erf=None, share=None, kw=IN_SCOPE, **extra):
    return enefg.check(
        on=on,
        operation_start=start,
        pue=pue,
        pue_without_upgrade=pue11,
        erf=erf,
        renewable_share=share,
        non_redundant_kw=kw,
        **extra,
    )


def _rule(findings, rule):
    return [f for f in findings if f.rule_id == rule]


def _day_before(day):
    return day - timedelta(days=1)


# --- §3 Nr. 24: scope --------------------------------------------------------------------------


def test_exactly_300_kw_is_a_data_centre_and_just_below_is_not():
    """§3 Nr. 24 a), b): "mit einer nicht redundanten elektrischen Nennanschlussleistung ab 300
    Kilowatt"."""
    at = _check(date(2028, 12, 31), kw=D(300), pue=D("1.6"), share=D(0))
    assert [f.severity for f in _rule(at, "enefg-scope")] == ["info"]
    assert _rule(at, "enefg-pue") and _rule(at, "enefg-renewable-share")
    below = _check(date(2028, 12, 31), kw=D("299.99"), pue=D("1.6"), share=D(0))
    assert [(f.rule_id, f.severity) for f in below] == [("enefg-scope", "info")]
    assert "below 300 kW" in below[0].message and "§3 Nr. 24" in below[0].message


def test_a_200_kw_site_gets_no_pue_or_renewable_warning():
    """§3 Nr. 24: a 200 kW site is no "Rechenzentrum", so §11 does not bind it."""
    found = _check(date(2027, 12, 31), kw=D(200), pue=D(3), share=D(0))
    assert not [f for f in found if f.severity == "warning"]
    assert len(found) == 1


def test_unknown_load_says_so_and_checks_nothing_else():
    """§3 Nr. 24: without the non-redundant load the act's scope cannot be decided."""
    found = _check(date(2027, 12, 31), kw=None, pue=D(3))
    assert [(f.rule_id, f.severity) for f in found] == [("enefg-scope", "warning")]
    assert "unknown" in found[0].message


# --- §11(1), (2): PUE --------------------------------------------------------------------------


def test_start_on_30_june_2026_is_existing_and_on_1_july_is_new():
    """§11(1) "vor dem 1. Juli 2026 ... aufgenommen"; §11(2) "ab dem 1. Juli 2026"."""
    assert enefg.pue_duties(date(2026, 6, 30)) == list(enefg.EXISTING_PUE)
    assert enefg.erf_duty(date(2026, 6, 30)) is None
    assert enefg.pue_duties(date(2026, 7, 1)) == [(date(2028, 7, 1), D("1.2"))]
    assert enefg.erf_duty(date(2026, 7, 1)) == (date(2028, 7, 1), D("0.10"))


@pytest.mark.parametrize(
    ("starts", "bound", "previous"),
    [(date(2027, 7, 1), D("1.5"), None), (date(2030, 7, 1), D("1.3"), D("1.5"))],
)
def test_existing_dc_pue_duty_one_day_before_and_on_its_start(starts, bound, previous):
    """§11(1) Nr. 1 and 2: ≤ 1.5 from 1 July 2027, ≤ 1.3 from 1 July 2030."""
    value = bound + D("0.05")  # meets the earlier duty (if any), misses this one
    before = _rule(_check(_day_before(starts), pue=value), "enefg-pue")
    assert [f.severity for f in before] == ([] if previous is None else ["info"])
    on = _rule(_check(starts, pue=value), "enefg-pue")
    assert [(f.severity, f.applies_from, f.legal_ref) for f in on] == [
        ("warning", starts, "EnEfG §11(1) (PUE)")
    ]
    assert _rule(_check(_day_before(starts), pue=value), "enefg-pue-upcoming")[0].applies_from == (
        starts
    )


def test_a_pue_of_exactly_1_5_meets_the_duty():
    """§11(1) Nr. 1: "kleiner oder gleich 1,5"."""
    assert _rule(_check(date(2027, 12, 31), pue=D("1.5")), "enefg-pue")[0].severity == "info"
    assert _rule(_check(date(2027, 12, 31), pue=D("1.5001")), "enefg-pue")[0].severity == (
        "warning"
    )


def test_the_year_a_duty_starts_in_states_the_calendar_year_rule():
    """§11(1) Nr. 1 starts on 1 July 2027 "im Jahresdurchschnitt"; §13(1) reports calendar years:
    the 2027 period is checked on its average and the finding says so."""
    found = _rule(_check(date(2027, 12, 31), first=date(2027, 1, 1), pue=D("1.4")), "enefg-pue")
    assert "starts on 01 Jul 2027, inside this period" in found[0].message
    later = _rule(_check(date(2028, 12, 31), first=date(2028, 1, 1), pue=D("1.4")), "enefg-pue")
    assert "inside this period" not in later[0].message


def test_new_dc_pue_duty_two_years_after_start_on_the_section_11_2_pue():
    """§11(2) S. 1 Nr. 1 (≤ 1.2), S. 2 (within two years), S. 3 (waste-heat upgrading left out)."""
    start, due = date(2026, 9, 1), date(2028, 9, 1)
    assert _rule(_check(_day_before(due), start=start, pue11=D("1.25")), "enefg-pue") == []
    # The EU PUE (1.25) misses 1.2; the §11 PUE without the heat pumps (1.18) meets it.
    on = _rule(_check(due, start=start, pue=D("1.25"), pue11=D("1.18")), "enefg-pue")
    assert [(f.severity, f.applies_from) for f in on] == [("info", due)]
    assert enefg.PUE_11 in on[0].message and "EnEfG §11(2)" in on[0].legal_ref


def test_an_existing_dc_is_checked_on_the_eu_pue():
    """§11(2) S. 3 excludes the upgrading electricity for "Satz 1 Nummer 1" (new data centres)
    only: §11(1) has no such exclusion."""
    found = _rule(_check(date(2028, 12, 31), pue=D("1.55"), pue11=D("1.45")), "enefg-pue")
    assert found[0].severity == "warning" and enefg.PUE_EU in found[0].message


def test_the_section_11_pue_leaves_out_upgrading_and_is_unknown_without_it():
    """§11(2) S. 3: "bleibt der Stromeinsatz von Anlagen, die ausschließlich der Aufwertung der
    Abwärme des Rechenzentrums dienen, unberücksichtigt"."""
    assert enefg.pue_11(D(1300), D(1000), D(100)) == D("1.2")
    assert enefg.pue_11(D(1300), D(1000), D(0)) == D("1.3")
    assert enefg.pue_11(D(1300), D(1000), None) is None
    assert enefg.pue_11(D(1300), D(0), D(0)) is None


# --- §11(2) S. 1 Nr. 2 and (3): ERF --------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier_start", "minimum", "previous"),
    [
        (date(2026, 7, 1), D("0.10"), None),
        (date(2027, 7, 1), D("0.15"), D("0.10")),
        (date(2028, 7, 1), D("0.20"), D("0.15")),
    ],
)
def test_erf_minimum_by_operation_start_one_day_before_and_on(tier_start, minimum, previous):
    """§11(2) S. 1 Nr. 2: 10 %, 15 % "ab dem 1. Juli 2027", 20 % "ab dem 1. Juli 2028"."""
    day_before = enefg.erf_duty(_day_before(tier_start))
    assert (day_before[1] if day_before else None) == previous
    assert enefg.erf_duty(tier_start) == (date(tier_start.year + 2, 7, 1), minimum)


def test_an_erf_of_exactly_10_percent_meets_the_duty():
    """§11(2) S. 1 Nr. 2: "von mindestens 10 Prozent"."""
    start = date(2026, 7, 1)
    on = date(2028, 12, 31)
    assert _rule(_check(on, start=start, erf=D("0.1")), "enefg-erf")[0].severity == "info"
    assert _rule(_check(on, start=start, erf=D("0.0999")), "enefg-erf")[0].severity == "warning"


def test_an_existing_dc_has_no_erf_duty():
    """§11(2) binds data centres starting from 1 July 2026 only."""
    assert _rule(_check(date(2031, 1, 1), erf=D(0)), "enefg-erf") == []


@pytest.mark.parametrize("ground", ["11-3-1", "11-3-2", "11-3-3"])
def test_an_erf_exemption_in_effect_replaces_the_warning_by_its_ground(ground):
    """§11(3) S. 1 Nr. 1-3: "nicht anzuwenden, wenn der Betreiber ... nachweist"."""
    start, on = date(2026, 7, 1), date(2028, 12, 31)
    exemption = enefg.Exemption(ground, date(2028, 1, 1), None, "Vereinbarung Stadtwerke 2028-04")
    found = _check(on, start=start, erf=D("0.02"), exemptions=[exemption])
    assert _rule(found, "enefg-erf") == []
    exempt = _rule(found, "enefg-erf-exempt")
    assert [f.severity for f in exempt] == ["info"]
    assert enefg.GROUNDS[ground][0] in exempt[0].message
    assert "Vereinbarung Stadtwerke 2028-04" in exempt[0].message


def test_an_expired_exemption_lets_the_duty_be_checked():
    """§11(3): the exemption stands while its ground is proven; after it, §11(2) applies."""
    start, on = date(2026, 7, 1), date(2029, 12, 31)
    ended = enefg.Exemption("11-3-3", date(2028, 1, 1), date(2028, 12, 31), "Angebot 2027-11")
    found = _check(on, start=start, erf=D("0.02"), exemptions=[ended])
    assert _rule(found, "enefg-erf")[0].severity == "warning"
    assert _rule(found, "enefg-erf-exemption-expired")


# --- §11(5): renewable electricity ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "share", "before"),
    [(date(2024, 1, 1), D("0.4"), None), (date(2027, 1, 1), D("0.8"), "info")],
)
def test_renewable_share_one_day_before_and_on(starts, share, before):
    """§11(5) Nr. 1 and 2: 50 % from 1 January 2024, 100 % from 1 January 2027."""
    rule = "enefg-renewable-share"
    found_before = _rule(_check(_day_before(starts), share=share), rule)
    assert [f.severity for f in found_before] == ([before] if before else [])
    on = _rule(_check(starts, share=share), rule)
    assert [(f.severity, f.applies_from) for f in on] == [("warning", starts)]
    assert _rule(_check(starts, share=D(1)), rule)[0].severity == "info"


def test_the_renewable_share_is_on_electricity_and_unknown_when_an_input_is():
    """§11(5) "den Stromverbrauch"; Anlage 3 2(a): consumption incl. own generation, purchase and
    feed-in."""
    assert enefg.renewable_electricity_share(D(600), D(1000), D(200), D(0)) == D("0.5")
    assert enefg.renewable_electricity_share(D(600), D(1000), D(250), D(50)) == D("0.5")
    for missing in range(4):
        args = [D(600), D(1000), D(200), D(0)]
        args[missing] = None
        assert enefg.renewable_electricity_share(*args) is None
    found = _rule(_check(date(2025, 12, 31), share=None), "enefg-renewable-share")
    assert found[0].severity == "warning" and "unknown" in found[0].message
    assert enefg.RES_BASIS in found[0].message


# --- §12: energy and environmental management ---------------------------------------------------


def _ems(state, since, until=None, kind="iso-50001"):
    return enefg.ManagementSystem(kind, state, since, until, "Zertifikat 123")


def test_a_management_system_is_due_by_1_july_2025():
    """§12(1): "bis zum 1. Juli 2025 ein Energie- oder Umweltmanagementsystem einzurichten"."""
    before = _check(date(2024, 12, 31), systems=[])
    assert _rule(before, "enefg-ems-upcoming")
    none = _check(date(2025, 12, 31), systems=[])
    assert _rule(none, "enefg-ems")[0].severity == "warning"
    on_time = _check(date(2025, 12, 31), systems=[_ems("in-place", date(2025, 7, 1))])
    assert _rule(on_time, "enefg-ems")[0].severity == "info"
    late = _check(date(2025, 12, 31), systems=[_ems("in-place", date(2025, 7, 2))])
    assert _rule(late, "enefg-ems")[0].severity == "warning"
    assert "after the 01 Jul 2025 deadline" in _rule(late, "enefg-ems")[0].message


@pytest.mark.parametrize(
    ("kw", "public", "duty"),
    [
        (D(1000), False, True),  # "ab 1 Megawatt"
        (D("999.9"), False, False),
        (D(300), True, True),  # publicly owned "ab 300 Kilowatt"
        (D("999.9"), True, True),
    ],
)
def test_validation_from_2026_by_size_and_ownership(kw, public, duty):
    """§12(3): validated or certified from 1 January 2026 from 1 MW, or from 300 kW for data
    centres owned by or operated for public bodies."""
    in_place = [_ems("in-place", date(2025, 1, 1))]
    found = _rule(
        _check(date(2026, 12, 31), kw=kw, public_owner=public, systems=in_place), "enefg-validation"
    )
    assert [f.severity for f in found] == (["warning"] if duty else ["info"])
    certified = [_ems("certified", date(2025, 1, 1))]
    met = _rule(
        _check(date(2026, 12, 31), kw=kw, public_owner=public, systems=certified),
        "enefg-validation",
    )
    assert [f.severity for f in met] == ["info"]
    if duty:
        upcoming = _check(date(2025, 12, 31), kw=kw, public_owner=public, systems=in_place)
        assert _rule(upcoming, "enefg-validation-upcoming")


def test_an_expired_certificate_does_not_count():
    """§12(3): the duty is to hold a validated or certified system, checked on the last day."""
    lapsed = [_ems("certified", date(2025, 1, 1), date(2026, 6, 30))]
    found = _rule(_check(date(2026, 12, 31), kw=D(1500), systems=lapsed), "enefg-validation")
    assert found[0].severity == "warning" and "it is none" in found[0].message


def test_ownership_unknown_between_300_kw_and_1_mw_says_so():
    """§12(3): the 300 kW threshold depends on public ownership."""
    found = _rule(
        _check(date(2026, 12, 31), kw=D(500), public_owner=None, systems=[]), "enefg-validation"
    )
    assert found[0].severity == "warning" and "ownership unknown" in found[0].message


def test_section_12_4_exempts_from_12_1_only_and_12_6_from_both():
    """§12(4) lifts "die Pflicht ... nach Absatz 1"; §12(6) lifts Absätze 1, 2, 3 and 5 for data
    centres planned to go out of operation before 1 July 2027."""
    on = date(2026, 12, 31)
    heat = enefg.Exemption("12-4", date(2025, 1, 1), None, "Wärmenetz-Nachweis 2025")
    found = _check(on, kw=D(1500), systems=[], exemptions=[heat])
    assert _rule(found, "enefg-ems-exempt") and not _rule(found, "enefg-ems")
    assert _rule(found, "enefg-validation")[0].severity == "warning"
    closing = enefg.Exemption("12-6", None, date(2027, 3, 31), "Stilllegungsplan 2026")
    found = _check(on, kw=D(1500), systems=[], exemptions=[closing])
    assert _rule(found, "enefg-ems-exempt") and _rule(found, "enefg-validation-exempt")
    assert not [f for f in found if f.rule_id in ("enefg-ems", "enefg-validation")]


def test_the_strongest_state_in_effect_is_the_site_state():
    """§12(1)/(3): in place, then validated (EMAS) or certified (ISO 50001)."""
    systems = [_ems("in-place", date(2024, 1, 1)), _ems("validated", date(2026, 3, 1), kind="emas")]
    assert enefg.ems_state(systems, date(2025, 12, 31)) == "in-place"
    assert enefg.ems_state(systems, date(2026, 12, 31)) == "validated"
    assert enefg.ems_state([], date(2026, 12, 31)) == "none"


# --- §13(1), §20(2): the register -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "due", "statute"),
    [
        (D(600), date(2024, 8, 15), "15 May 2024"),  # §20(2) Nr. 1, moved by the register
        (D(400), date(2025, 7, 1), None),  # §20(2) Nr. 2: the same date
        (D(300), date(2025, 7, 1), None),
    ],
)
def test_first_register_report_as_practised_with_the_statute_beside(kw, due, statute):
    """§20(2): first reports by 15 May 2024 (from 500 kW) and 1 July 2025 (200 to 500 kW); the
    register took them from 15 August 2024 and 1 July 2025."""
    before = _rule(_check(_day_before(due), kw=kw), "rzreg-registration-upcoming")
    on = _rule(_check(due, kw=kw), "rzreg-registration")
    assert before[0].applies_from == due and on[0].applies_from == due
    if statute:
        assert f"EnEfG §20(2) says {statute}" in on[0].message
    else:
        assert "the same date in EnEfG §20(2)" in on[0].message


def test_operation_start_unknown_is_warned():
    """§11(1)/(2) turn on the operation start."""
    found = _check(date(2028, 1, 1), start=None)
    assert _rule(found, "enefg-operation-start-missing")[0].severity == "warning"


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
    """Anlage 3 1(c): < 500 kW, < 1, < 5, < 10, < 50, < 100, >= 100 MW."""
    assert enefg.size_class(D(kw)) == size


def test_total_electricity_counts_own_generation_and_subtracts_feed_in():
    """Anlage 3 2(a): "Gesamtstromverbrauch inklusive Eigenerzeugung, Gesamtstrombezug und
    Stromrückspeisung"."""
    assert enefg.total_electricity(D(1000), D(200), D(50)) == D(1150)
    assert enefg.total_electricity(D(1000), None, D(50)) is None
    assert enefg.total_electricity(D(1000), D(200), None) is None
    assert enefg.total_electricity(D(1000), D(200), D(0)) == D(1200)
