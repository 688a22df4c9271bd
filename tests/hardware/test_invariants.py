"""The catalogue's physics and plausibility rules, at every door: load, check command, model."""

import shutil
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from hardware.invariants import ClassFigure, class_problems, entry_problems
from hardware.materials import CLASSES_FILE, read_classes, unit_content
from hardware.models import HardwareModel, Manufacturer
from hardware.services import CATALOGUE_DIR, CatalogueError, check_catalogue, load_catalogue

pytestmark = pytest.mark.django_db

PSU_ROW_START = "generic-psu-server,Generic,"


@pytest.fixture(autouse=True)
def empty_catalogue(db):
    HardwareModel.objects.all().delete()
    Manufacturer.objects.all().delete()


@pytest.fixture
def catalogue_copy(tmp_path):
    target = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, target)
    return target


def _edit_row(path, slug, **cells):
    """Set cells of one models.csv row by column name."""
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    for row in rows[1:]:
        if row[0] == slug:
            for name, value in cells.items():
                row[header.index(name)] = value
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _refused(directory) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(directory)
    assert not HardwareModel.objects.exists()  # all or nothing
    return caught.value.problems


def test_the_old_psu_row_with_more_metal_than_unit_is_refused(catalogue_copy):
    # The row as it shipped: 1,495 g Cu + 747.5 g Al + 1,046.5 g steel in a 2.99 kg unit.
    _edit_row(
        catalogue_copy / "models.csv",
        "generic-psu-server",
        cu_g="1495",
        al_g="747.5",
        steel_g="1046.5",
    )
    problems = _refused(catalogue_copy)
    assert len(problems) == 1
    assert "generic-psu-server" in problems[0] and "mass_kg" in problems[0]
    assert "3289" in problems[0] and "2.99 kg" in problems[0]


def test_a_component_heavier_than_a_server_is_refused(catalogue_copy):
    _edit_row(catalogue_copy / "models.csv", "nvidia-t4", mass_kg="14")
    (problem,) = _refused(catalogue_copy)
    assert "nvidia-t4" in problem and "mass_kg" in problem and "outweighs" in problem


def test_a_minimum_above_the_central_figure_is_refused(catalogue_copy):
    _edit_row(catalogue_copy / "models.csv", "generic-rdimm-32gb", embodied_gwp_min_kgco2e="70")
    (problem,) = _refused(catalogue_copy)
    assert "generic-rdimm-32gb" in problem and "embodied_gwp_min_kgco2e" in problem


@pytest.mark.parametrize(
    ("column", "value"),
    [("tdp_w", "7000"), ("memory_bandwidth_gbps", "3"), ("memory_gb", "80000")],
)
def test_implausible_specs_are_refused(catalogue_copy, column, value):
    _edit_row(catalogue_copy / "models.csv", "nvidia-a100-sxm4-40gb", **{column: value})
    (problem,) = _refused(catalogue_copy)
    assert "nvidia-a100-sxm4-40gb" in problem and column in problem and "plausible" in problem


def test_class_compositions_over_one_kilogram_are_refused(catalogue_copy):
    path = catalogue_copy / CLASSES_FILE
    path.write_text(path.read_text().replace("psu,steel,350,450,550", "psu,steel,350,450,950"))
    assert not check_catalogue(catalogue_copy)[2]  # a wide max is allowed
    path.write_text(path.read_text().replace("psu,steel,350,450,950", "psu,steel,350,950,950"))
    problems = _refused(catalogue_copy)
    assert any("class psu" in p and "1300" in p for p in problems)


def test_check_catalogue_prints_the_same_report_and_writes_nothing(catalogue_copy, capsys):
    call_command("check_catalogue")
    assert "load_catalogue would accept it" in capsys.readouterr().out
    _edit_row(catalogue_copy / "models.csv", "nvidia-t4", tdp_w="70000")
    with pytest.raises(CommandError) as caught:
        call_command("check_catalogue", "--dir", str(catalogue_copy))
    problems = check_catalogue(catalogue_copy)[2]
    assert problems and all(p in str(caught.value) for p in problems)
    assert not HardwareModel.objects.exists()


def test_the_admin_and_api_path_refuse_the_same_physics():
    maker = Manufacturer.objects.create(name="Acme", slug="acme")
    model = HardwareModel(
        manufacturer=maker,
        name="PSU",
        slug="acme-psu",
        kind="psu",
        mass_kg=Decimal("1"),
        cu_g=Decimal("800"),
        steel_g=Decimal("400"),
    )
    with pytest.raises(ValidationError) as caught:
        model.full_clean()
    assert "mass_kg" in caught.value.message_dict


def test_the_admin_and_api_path_refuse_a_mass_range_out_of_order():
    maker = Manufacturer.objects.create(name="Acme", slug="acme")
    model = HardwareModel(
        manufacturer=maker,
        name="DIMM",
        slug="acme-dimm",
        kind="memory",
        mass_kg=Decimal("0.025"),
        mass_min_kg=Decimal("0.03"),
        mass_max_kg=Decimal("0.04"),
    )
    with pytest.raises(ValidationError) as caught:
        model.full_clean()
    assert "mass_min_kg" in caught.value.message_dict
    model.mass_min_kg = Decimal("0.015")
    model.full_clean()  # in order: accepted


def test_pure_rules_accept_equal_bounds_and_blank_figures():
    assert (
        entry_problems("x", {"kind": "psu", "mass_kg": Decimal("1"), "cu_g": Decimal(1000)}) == []
    )
    assert entry_problems("x", {"kind": "psu"}) == []
    assert class_problems([ClassFigure("psu", "cu", Decimal(1), Decimal(1), Decimal(1))]) == []


def test_every_shipped_class_fits_in_a_kilogram_and_every_kind_has_one():
    rows, problems = read_classes(CATALOGUE_DIR / CLASSES_FILE)
    assert problems == []
    classes = {k[0] for k in rows}
    assert classes >= {"server", "gpu-board", "dimm", "ssd", "hdd", "psu", "switch", "chassis"}


def test_content_is_declared_where_the_model_says_so_else_estimated_from_mass():
    content = unit_content("psu", Decimal("2.99"), {"cu": None})
    cu = content["cu"]
    rows, _ = read_classes(CATALOGUE_DIR / CLASSES_FILE)
    per_kg = rows[("psu", "cu")].figure
    assert cu.basis == "estimated"
    assert cu.g == per_kg.g_per_kg * Decimal("2.99")
    assert cu.min_g <= cu.g <= cu.max_g
    assert sum(c.g for c in content.values()) <= Decimal("2990")  # fits in the unit
    declared = unit_content("hdd", Decimal("0.6"), {"nd": Decimal("4.35")})
    assert declared["nd"].basis == "declared" and declared["nd"].g == Decimal("4.35")
    assert declared["al"].basis == "estimated"
    unknown = unit_content("ssd", None, {})
    assert all(v is None for v in unknown.values())  # no mass: unknown, never 0 g


def test_shipped_catalogue_loads_and_psu_has_no_impossible_metals():
    load_catalogue()
    psu = HardwareModel.objects.get(slug="generic-psu-server")
    declared = [getattr(psu, f"{m}_g") for m in ("cu", "al", "steel")]
    assert sum(d or 0 for d in declared) <= psu.mass_kg * 1000


def test_upgrading_from_the_old_psu_row_blanks_its_metals_and_their_source(catalogue_copy):
    from hardware.models import FigureSource

    models_csv, sources_csv = catalogue_copy / "models.csv", catalogue_copy / "sources.csv"
    _edit_row(models_csv, "generic-psu-server", mass_kg="3.5", cu_g="1495", al_g="747.5")
    with sources_csv.open("a", encoding="utf-8") as handle:
        handle.write("generic-psu-server,cu_g al_g,estimated,low,Old table,\n")
    load_catalogue(catalogue_copy)  # 2,242.5 g in 3.5 kg: accepted then
    psu = HardwareModel.objects.get(slug="generic-psu-server")
    assert FigureSource.objects.filter(hardware_model=psu, field="cu_g").exists()
    report = load_catalogue()  # the shipped catalogue: the PSU's metals are left to its class
    psu.refresh_from_db()
    assert (psu.cu_g, psu.al_g, psu.mass_kg) == (None, None, Decimal("2.99"))
    assert not FigureSource.objects.filter(hardware_model=psu, field__in=["cu_g", "al_g"]).exists()
    assert report.sources_removed == 2
    assert load_catalogue().sources_removed == 0


def test_the_api_gives_every_model_its_material_content_with_basis(api, procurement_user):
    load_catalogue()
    api.force_authenticate(procurement_user)
    rows = {
        r["slug"]: r
        for r in api.get(
            "/api/hardware-models/", {"page_size": 100, "kind": ["psu", "hdd", "ssd"]}
        ).json()["results"]
    }
    rows_by_class, _ = read_classes(CATALOGUE_DIR / CLASSES_FILE)
    cu = rows["generic-psu-server"]["material_content"]["cu"]
    assert cu["basis"] == "estimated"
    expected = rows_by_class[("psu", "cu")].figure.g_per_kg * Decimal("2.99")
    assert Decimal(cu["g"]) == expected.quantize(Decimal("0.0001"))
    assert Decimal(cu["min_g"]) <= Decimal(cu["g"]) <= Decimal(cu["max_g"])
    nd = rows["generic-hdd-3-5in"]["material_content"]["nd"]
    assert Decimal(nd["g"]) == Decimal("4.35") and nd["source"] == "catalogue entry"
    assert nd["basis"] == "estimated"  # its figure source says the HDD's Nd is an estimate
    # An estimated mass carries its range into the content, and its source into `sources`.
    ssd = rows["generic-ssd-960gb"]
    au, mass = ssd["material_content"]["au"], {s["field"]: s for s in ssd["sources"]}
    assert mass["mass_kg"]["basis"] == "estimated" and mass["mass_kg"]["citation"]
    assert mass["mass_min_kg"]["citation"] == mass["mass_kg"]["citation"]
    figure = rows_by_class[("ssd", "au")].figure
    low, high = Decimal(ssd["mass_min_kg"]), Decimal(ssd["mass_max_kg"])
    assert Decimal(au["min_g"]) == (figure.min_g_per_kg * low).quantize(Decimal("0.0001"))
    assert Decimal(au["max_g"]) == (figure.max_g_per_kg * high).quantize(Decimal("0.0001"))
    assert Decimal(au["g"]) == (figure.g_per_kg * Decimal(ssd["mass_kg"])).quantize(
        Decimal("0.0001")
    )
    assert au["basis"] == "estimated" and ssd["mass_kg"] in au["source"]


def test_every_catalogue_model_has_a_mass_with_its_basis_and_source():
    from hardware.models import FigureSource

    load_catalogue()
    sources = {
        (fs.hardware_model.slug, fs.field): fs
        for fs in FigureSource.objects.select_related("hardware_model", "source")
    }
    for model in HardwareModel.objects.all():
        assert model.mass_kg is not None, model.slug
        source = sources[(model.slug, "mass_kg")]
        assert source.basis in ("declared", "measured", "estimated") and source.source.citation
        for name in ("mass_min_kg", "mass_max_kg"):
            if getattr(model, name) is not None:
                assert sources[(model.slug, name)].source == source.source
        low = model.mass_min_kg if model.mass_min_kg is not None else model.mass_kg
        high = model.mass_max_kg if model.mass_max_kg is not None else model.mass_kg
        assert low <= model.mass_kg <= high
        if model.mass_min_kg is not None and model.mass_min_kg != model.mass_max_kg:
            assert source.basis in ("estimated", "measured"), model.slug  # a range is no datasheet


@pytest.mark.parametrize(
    ("cells", "field", "rule"),
    [
        ({"mass_min_kg": "0.2"}, "mass_min_kg", "above the central"),
        ({"mass_max_kg": "0.01"}, "mass_max_kg", "above the maximum"),
        ({"mass_kg": "", "mass_min_kg": "", "mass_max_kg": "0.1"}, "mass_kg", "central mass"),
        ({"mass_max_kg": "50"}, "mass_kg", "outweighs the server"),
    ],
)
def test_a_mass_range_out_of_order_or_heavier_than_a_server_is_refused(
    catalogue_copy, cells, field, rule
):
    _edit_row(catalogue_copy / "models.csv", "generic-ssd-960gb", **cells)
    problems = _refused(catalogue_copy)
    assert any(
        "generic-ssd-960gb" in p and f"field {field}" in p and rule in p for p in problems
    ), problems


def test_declared_materials_must_fit_in_the_lightest_mass_of_the_range(catalogue_copy):
    # 60 g of copper fits in the central 73 g drive but not in its 50 g lightest estimate.
    _edit_row(catalogue_copy / "models.csv", "generic-ssd-960gb", cu_g="60")
    problems = _refused(catalogue_copy)
    assert any("generic-ssd-960gb" in p and "field mass_kg" in p for p in problems), problems


def test_shipped_yields_are_sourced_ranges_within_zero_and_one():
    from hardware.materials import MATERIALS, YIELDS_FILE, read_yields

    yields, problems = read_yields(CATALOGUE_DIR / YIELDS_FILE)
    assert not problems
    for material in MATERIALS:  # every material has a yield now, cobalt and plastics included
        rate = yields[("shredded", material)]
        assert 0 <= rate.min_yield <= rate.central <= rate.max_yield <= 1
        assert rate.citation and rate.confidence


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("shredded,co,0.40,0.50,0.95", "shredded,co,0.40,0.50,1.5", "yield"),
        ("shredded,co,0.40,0.50,0.95", "shredded,co,0.60,0.50,0.95", "yield"),
        ("shredded,co,0.40,0.50,0.95", "shredded,cobalt,0.40,0.50,0.95", "material"),
        ("shredded,co,0.40,0.50,0.95", "melted,co,0.40,0.50,0.95", "route"),
    ],
)
def test_a_bad_yield_row_is_refused_with_row_and_field_and_nothing_written(
    catalogue_copy, old, new, field
):
    path = catalogue_copy / "recovery_yields.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    problems = _refused(catalogue_copy)
    assert any(
        p.startswith("recovery_yields.csv: row ") and f"field {field}" in p for p in problems
    ), problems
    assert check_catalogue(catalogue_copy)[2] == problems  # the check command says the same


def test_the_psu_class_fits_in_one_kilogram_and_names_its_sources():
    rows, problems = read_classes(CATALOGUE_DIR / CLASSES_FILE)
    assert not problems
    psu = [r for (name, _m), r in rows.items() if name == "psu"]
    assert len(psu) == 10
    assert sum(r.figure.g_per_kg for r in psu) <= 1000
    assert sum(r.figure.min_g_per_kg for r in psu) <= 1000
    assert all(r.citation for r in psu)


def _editor_api():
    from rest_framework.test import APIClient

    from tests import factories

    api = APIClient()
    api.force_authenticate(factories.user("editor", group="catalogue-editor"))
    return api


def test_an_api_edit_cannot_make_a_component_outweigh_the_lightest_server():
    load_catalogue()
    api = _editor_api()
    t4 = HardwareModel.objects.get(slug="nvidia-t4")
    response = api.patch(f"/api/hardware-models/{t4.pk}/", {"mass_kg": "14"}, format="json")
    assert response.status_code == 400, response.content
    assert "outweighs" in response.json()["mass_kg"][0]
    # Nor the other way round: the lightest server made lighter than a component.
    r340 = HardwareModel.objects.get(slug="dell-poweredge-r340")
    response = api.patch(f"/api/hardware-models/{r340.pk}/", {"mass_kg": "0.2"}, format="json")
    assert response.status_code == 400, response.content
    assert "outweighs" in response.json()["mass_kg"][0]
    t4.refresh_from_db()
    r340.refresh_from_db()
    assert (t4.mass_kg, r340.mass_kg) == (Decimal("0.301"), Decimal("13.2"))
    # A plausible edit still goes through.
    response = api.patch(f"/api/hardware-models/{t4.pk}/", {"mass_kg": "0.32"}, format="json")
    assert response.status_code == 200, response.content


def test_the_admin_change_form_refuses_a_component_heavier_than_a_server(client):
    from django.forms.models import model_to_dict

    from tests import factories

    load_catalogue()
    client.force_login(factories.user("root", is_staff=True, is_superuser=True))
    t4 = HardwareModel.objects.get(slug="nvidia-t4")
    data = {k: ("" if v is None else v) for k, v in model_to_dict(t4).items()}
    data |= {
        "mass_kg": "14",
        "specs": "{}",
        "figure_sources-TOTAL_FORMS": "0",
        "figure_sources-INITIAL_FORMS": "0",
    }
    data = {k: v for k, v in data.items() if v is not False}
    page = client.post(f"/admin/hardware/hardwaremodel/{t4.pk}/change/", data)
    assert page.status_code == 200 and b"outweighs" in page.content
    t4.refresh_from_db()
    assert t4.mass_kg == Decimal("0.301")


def test_a_load_refuses_a_component_heavier_than_a_server_added_by_an_operator():
    # An operator's own 0.2 kg "server" (no component in the catalogue yet to compare with).
    maker = Manufacturer.objects.create(name="Acme", slug="acme")
    HardwareModel.objects.create(
        manufacturer=maker, name="Tiny", slug="acme-tiny", kind="server", mass_kg=Decimal("0.2")
    )
    with pytest.raises(CatalogueError) as caught:
        load_catalogue()
    assert any("acme-tiny" in p and "outweighs" in p for p in caught.value.problems)
    assert HardwareModel.objects.count() == 1  # nothing written


def test_a_load_names_the_model_whose_file_figures_break_a_rule_with_an_operator_edit(
    catalogue_copy,
):
    load_catalogue()
    # The operator weighed their PSU at 0.5 kg; the next catalogue declares 900 g of copper.
    HardwareModel.objects.filter(slug="generic-psu-server").update(mass_kg=Decimal("0.5"))
    _edit_row(catalogue_copy / "models.csv", "generic-psu-server", cu_g="900")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(catalogue_copy)
    assert any("generic-psu-server" in p and "mass_kg" in p for p in caught.value.problems)
    assert HardwareModel.objects.get(slug="generic-psu-server").cu_g is None  # nothing written
