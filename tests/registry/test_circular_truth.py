"""Circular figures say what they are: unknown masses counted apart, expected vs reported
metals, ledger events in the asset history. Plus a property: totals are the sum of their parts."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware.materials import read_classes, read_yields, unit_content
from hardware.services import CATALOGUE_DIR
from registry import selectors
from registry.selectors import ROUTES, Period
from tests import factories as f
from tests.factories import SANITISE, record

pytestmark = pytest.mark.django_db
YEAR = Period.year(2024)
RECYCLE = {"recycler": "R", "certification": "r2v3", "consignment_ref": "C"}


@pytest.fixture
def par(db):
    return f.site("PAR1")


def _massless_model(kind="ssd"):
    """A model whose mass nobody knows (every catalogue model now has one)."""
    from hardware.models import HardwareModel

    slug = f"acme-{kind}-no-mass"
    found = HardwareModel.objects.filter(slug=slug).first()
    return found or f.hardware_model(
        slug, kind=kind, memory_gb=None, mass_kg=None, holds_data=kind == "ssd"
    )


def _donated_ssd(tag, par, day=10, model=None):
    drive = f.asset(tag, at_site=par, model=model or _massless_model())
    record(drive, "commissioned", 1, workload="storage")
    record(drive, "decommissioned", 2, reason="eol")
    record(drive, "sanitised", 3, **SANITISE)
    record(drive, "donated", day, counterparty="School")
    return drive


def _recycled_gpu(tag, par, mass="1.5", **details):
    gpu = f.asset(tag, at_site=par)
    record(gpu, "commissioned", 1, workload="training")
    record(gpu, "decommissioned", 20, reason="eol")
    record(gpu, "sent-to-recycler", 21, **RECYCLE)
    record(
        gpu,
        "recycled",
        30,
        certificate_ref=f"CERT-{tag}",
        weee_category="6",
        weighed_mass_kg=mass,
        **details,
    )
    return gpu


def test_a_donated_unit_of_unknown_mass_is_not_zero_tonnes_and_not_in_ede(par):
    _donated_ssd("SSD-1", par)
    fig = selectors.circular_figures(["PAR1"], YEAR)
    cell = fig["routes"]["resold-or-donated"]["6"]
    assert cell == {"units": 1, "unknown_mass_units": 1, "mass_kg": None, "mass_t": None}
    # Nothing of known mass was disposed: no EDE (it was 1.0 from 0 kg / 0 kg before).
    assert fig["ede"]["value"] is None
    assert fig["ede"]["unknown_mass_units"] == 1 and fig["ede"]["disposed_units"] == 1
    assert fig["totals"]["unknown_mass_share"] == Decimal("1.0000")
    _recycled_gpu("GPU-1", par)
    fig = selectors.circular_figures(["PAR1"], YEAR)
    # EDE over known masses: the certified 1.5 kg only; the SSD is counted apart.
    assert fig["ede"]["value"] == Decimal("1.0000")
    assert fig["ede"]["disposed_mass_kg"] == Decimal("1.500")
    assert (fig["ede"]["unknown_mass_units"], fig["ede"]["disposed_units"]) == (1, 2)
    assert fig["ede"]["unknown_mass_share"] == Decimal("0.5000")
    assert "known mass only" in fig["ede"]["definition"]


def test_the_ewaste_workbook_leaves_blank_a_weight_no_unit_of_its_row_has(par):
    from reporting.exports import ewaste

    _donated_ssd("SSD-1", par)
    table = ewaste.route_table(ewaste.report_data(["PAR1"], 2024))
    col = {c.header: i for i, c in enumerate(table.columns)}
    rows = {r[col["WEEE cat"]]: r for r in table.rows}
    weight = "Gross weight of units of known mass (all routes) [t]"
    # As the API's totals say (mass_kg null): one unit, of unknown mass, weighs "unknown".
    assert rows["6"][col["Units of unknown mass (all routes)"]] == 1
    assert rows["6"][col[weight]] is None
    assert rows["4"][col[weight]] == 0  # no unit at all: a real zero


def test_a_donated_catalogue_drive_counts_with_its_estimated_mass_not_as_unknown(par):
    model = f.hardware_model_by_slug("generic-ssd-960gb")
    assert model.mass_kg is not None  # class-typical, estimated, with a range
    _donated_ssd("SSD-2", par, model=model)
    _donated_ssd("SSD-3", par)  # a drive of a model with no mass stays unknown
    fig = selectors.circular_figures(["PAR1"], YEAR)
    cell = fig["routes"]["resold-or-donated"]["6"]
    assert (cell["units"], cell["unknown_mass_units"]) == (2, 1)
    assert cell["mass_kg"] == model.mass_kg
    ede = fig["ede"]
    assert ede["disposed_mass_kg"] == model.mass_kg and ede["unknown_mass_units"] == 1
    assert ede["value"] == (ede["responsible_mass_kg"] / ede["disposed_mass_kg"]).quantize(
        Decimal("0.0001")
    )


def test_metals_show_expected_recoverable_beside_reported_and_the_gap(par):
    _recycled_gpu("GPU-1", par, mass="1.5", recovered_g={"au": "0.01", "cu": "300"})
    metals = selectors.circular_figures(["PAR1"], YEAR)["recovered_metals_g"]
    classes, _ = read_classes(CATALOGUE_DIR / "material_classes.csv")
    au_per_kg = classes[("gpu-board", "au")].figure.g_per_kg
    au = metals["au"]
    assert au["basis"] == "estimated" and au["units"] == 1 and au["units_unknown"] == 0
    assert au["content_g"] == (au_per_kg * Decimal("1.5")).quantize(Decimal("0.0001"))
    expected = au_per_kg * Decimal("1.5") * Decimal(au["yield"])
    assert au["expected_recoverable_g"] == expected.quantize(Decimal("0.0001"))
    assert au["reported_g"] == Decimal("0.0100")
    assert au["gap_g"] == (Decimal("0.01") - expected).quantize(Decimal("0.0001"))
    yields = read_yields(CATALOGUE_DIR / "recovery_yields.csv")[0]
    for material in ("co", "plastics"):  # sourced yields: no longer content only
        entry, rate = metals[material], yields[("shredded", material)]
        assert entry["yield"] == str(rate.central)
        assert (entry["yield_min"], entry["yield_max"]) == (
            str(rate.min_yield),
            str(rate.max_yield),
        )
        assert entry["expected_recoverable_g"] == (entry["content_g"] * rate.central).quantize(
            Decimal("0.0001")
        )
        low, high = entry["expected_recoverable_min_g"], entry["expected_recoverable_max_g"]
        assert low <= entry["expected_recoverable_g"] <= high
        assert rate.citation in entry["yield_basis"]
    assert metals["ag"]["reported_g"] is None and metals["ag"]["gap_g"] is None  # not reported


def test_a_recycled_unit_of_no_known_composition_has_unknown_content_not_zero(par):
    thing = f.hardware_model("acme-thing", kind="other", memory_gb=None, mass_kg=None)
    drive = f.asset("X-9", at_site=par, model=thing)
    record(drive, "decommissioned", 2, reason="eol")
    record(drive, "sent-to-recycler", 4, **RECYCLE)
    record(drive, "recycled", 5, certificate_ref="C9", weee_category="6", weighed_mass_kg="2")
    metals = selectors.circular_figures(["PAR1"], YEAR)["recovered_metals_g"]
    assert metals["au"]["units_unknown"] == 1 and metals["au"]["content_g"] is None


def test_ledger_events_appear_in_the_asset_history_with_kind_actor_and_states(
    api, par, operator_user, auditor_user, client
):
    par.operators.add(operator_user)
    gpu = f.asset("GPU-7", at_site=par)
    from registry import services
    from tests.factories import at

    services.record_event(
        gpu,
        "commissioned",
        occurred_at=at(1),
        actor=operator_user,
        details={"workload": "training"},
    )
    api.force_authenticate(auditor_user)
    history = api.get(f"/api/assets/{gpu.pk}/history/").json()
    ledger = [h for h in history if h["type"] == "ledger"]
    commissioned = next(h for h in ledger if h["kind"] == "commissioned")
    assert commissioned["user"] == operator_user.username
    assert commissioned["changes"] == [
        {"field": "state", "before": "in-stock", "after": "in-service"}
    ]
    changed = [h for h in history if h["type"] == "changed"]
    assert changed and all(h["reason"] and h["reason"].startswith("ledger event") for h in changed)
    assert (
        next(h for h in changed if "commissioned" in h["reason"])["user"] == operator_user.username
    )
    client.force_login(f.user("boss", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/registry/asset/{gpu.pk}/history/").content.decode()
    assert "commissioned (in stock → in service)" in page  # the reason in words
    assert "Ledger event" in page and "Registered" in page


# --- property: any report total is the sum of its parts, unknowns counted apart -----------------

units = st.lists(
    st.tuples(
        st.sampled_from(["donated", "sold", "recycled", "lost"]),
        st.one_of(st.none(), st.decimals(min_value="0.1", max_value="50", places=1)),
    ),
    min_size=1,
    max_size=6,
)


def test_a_parent_marked_data_bearing_by_a_component_names_the_event_and_actor(par, operator_user):
    """The cascade (a data-bearing drive installed marks its server) is a change caused by a
    ledger event: the server's history says which, and who recorded it."""
    from registry import services
    from tests.factories import at

    par.operators.add(operator_user)
    chassis = f.hardware_model("acme-chassis", kind="chassis", memory_gb=None, holds_data=False)
    server = f.asset("SRV-1", at_site=par, model=chassis)
    assert not server.data_bearing
    drive = f.asset("SSD-1", at_site=par, model=f.hardware_model_by_slug("generic-ssd-960gb"))
    event = services.record_event(
        drive,
        "component-installed",
        occurred_at=at(1),
        actor=operator_user,
        details={"parent": "SRV-1"},
    )
    server.refresh_from_db()
    assert server.data_bearing
    marked = next(
        h
        for h in selectors.change_history(server)
        if any(c["field"] == "data_bearing" for c in h["changes"])
    )
    assert marked["reason"] and f"ledger event {event.pk}" in marked["reason"], marked
    assert marked["user"] == operator_user.username


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(units=units)
def test_totals_equal_the_sum_of_their_parts_with_unknowns_apart(par, units):
    from registry.models import Asset

    # Each example adds to the same database: the figures must hold for the whole ledger.
    tag_base = Asset.objects.count()
    known_model = f.hardware_model_by_slug("nvidia-t4")
    massless_model = _massless_model("memory")
    for i, (route, mass) in enumerate(units):
        tag = f"P-{tag_base + i}"
        unit = f.asset(
            tag,
            at_site=par,
            model=known_model if mass is not None else massless_model,
            measured_mass_kg=mass,
        )
        record(unit, "decommissioned", 2, reason="eol")
        if route == "recycled":
            record(unit, "sent-to-recycler", 3, **RECYCLE)
            record(
                unit,
                "recycled",
                4,
                certificate_ref=tag,
                weee_category="6",
                weighed_mass_kg=str(mass or 1),  # required: a consignment is weighed
            )
        elif route == "sold":
            record(unit, "sold", 4, counterparty="B", price="1", currency="EUR")
        elif route == "donated":
            record(unit, "donated", 4, counterparty="B")
        else:
            record(unit, "lost", 4, circumstances="gone")
    fig = selectors.circular_figures(["PAR1"], YEAR)
    cells = [c for r in ROUTES for c in fig["routes"][r].values()]
    totals = fig["totals"]
    assert totals["units"] == sum(c["units"] for c in cells)
    assert totals["unknown_mass_units"] == sum(c["unknown_mass_units"] for c in cells)
    known = [c["mass_kg"] for c in cells if c["mass_kg"] is not None]
    assert totals["mass_kg"] == (sum(known, Decimal(0)) if known else None)
    assert all(
        (c["mass_kg"] is None) == (c["unknown_mass_units"] == c["units"]) for c in cells
    )  # a part is blank only when every unit in it is of unknown mass
    ede = fig["ede"]
    assert ede["disposed_units"] == totals["units"]  # every route here is a disposal
    assert ede["unknown_mass_units"] == totals["unknown_mass_units"]
    if ede["value"] is not None:
        assert ede["disposed_mass_kg"] == totals["mass_kg"]
    for metal in fig["recovered_metals_g"].values():
        assert metal["units"] == sum(c["units"] for c in fig["routes"]["recycled"].values())
        assert 0 <= metal["units_unknown"] <= metal["units"]
    # The e-waste report's rows (one per WEEE category) add up to the same totals.
    from reporting.exports import ewaste

    table = ewaste.route_table(ewaste.report_data(["PAR1"], 2024))
    col = {c.header: i for i, c in enumerate(table.columns)}
    rows = [r for r in table.rows if r[col["Site"]] == "PAR1"]
    assert sum(r[col["Units (all routes)"]] for r in rows) == totals["units"]
    assert (
        sum(r[col["Units of unknown mass (all routes)"]] for r in rows)
        == totals["unknown_mass_units"]
    )
    weights = [r[col["Gross weight of units of known mass (all routes) [t]"]] for r in rows]
    known_t = sum((w for w in weights if w is not None), Decimal(0))
    assert known_t == sum((c["mass_t"] for c in cells if c["mass_t"] is not None), Decimal(0))


def test_unit_content_scales_with_mass_and_stays_in_range():
    a = unit_content("server", Decimal("10"), {})
    b = unit_content("server", Decimal("20"), {})
    for material, content in a.items():
        assert b[material].g == 2 * content.g
        assert content.min_g <= content.g <= content.max_g


def test_a_measured_mass_of_zero_is_refused_at_every_door(par, api, operator_user, tmp_path):
    """0 kg is no unit's mass: it would override the catalogue's and count as 0 t. Unknown is
    blank (the catalogue refuses a mass below 1 g for the same reason)."""
    from django.core.exceptions import ValidationError

    from registry.importing import import_assets

    ssd = f.asset("SSD-1", at_site=par, model=f.hardware_model_by_slug("generic-ssd-960gb"))
    ssd.measured_mass_kg = Decimal("0")
    with pytest.raises(ValidationError) as caught:  # the admin's change form and the API
        ssd.full_clean()
    assert "measured_mass_kg" in caught.value.message_dict
    par.operators.add(operator_user)
    api.force_authenticate(operator_user)
    response = api.patch(f"/api/assets/{ssd.pk}/", {"measured_mass_kg": "0"}, format="json")
    assert response.status_code == 400 and "measured_mass_kg" in response.json()
    path = tmp_path / "assets.csv"
    path.write_text(
        "asset_tag,serial_number,hardware_model,site,purchase_date,purchase_price,currency,"
        "supplier,measured_mass_kg\n"
        "SSD-2,SN-2,generic-ssd-960gb,PAR1,2024-03-01,100,EUR,Acme,0\n"
    )
    report = import_assets(path, actor=operator_user)
    assert not report.ok and any("measured_mass_kg" in str(e) for e in report.errors)
    ssd.refresh_from_db()
    assert ssd.measured_mass_kg is None


def test_a_unit_recycled_on_its_own_weighs_more_than_zero(par):
    from registry.services import LifecycleError

    with pytest.raises(LifecycleError) as caught:
        _recycled_gpu("GPU-1", par, mass="0")
    assert "weighed_mass_kg" in caught.value.message_dict
