import shutil
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hardware.models import (
    SOURCED_FIELDS,
    DecodeMeasurement,
    FigureSource,
    HardwareKind,
    HardwareModel,
    Manufacturer,
    Source,
)
from hardware.services import CATALOGUE_DIR, CatalogueError, load_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_catalogue(db):
    """These tests load the catalogue themselves, into an empty database."""
    FigureSource.objects.all().delete()
    HardwareModel.objects.all().delete()
    Manufacturer.objects.all().delete()
    Source.objects.all().delete()


# Datasheet figures the catalogue must keep: slug -> (GB, GB/s, W, compute capability).
REFERENCE_ACCELERATORS = {
    "nvidia-v100-sxm2-32gb": (32, 900, 300, "7.0"),
    "nvidia-v100-pcie-16gb": (16, 900, 250, "7.0"),
    "nvidia-t4": (16, 320, 70, "7.5"),
    "nvidia-a10": (24, 600, 150, "8.6"),
    "nvidia-a100-sxm4-40gb": (40, 1555, 400, "8.0"),
    "nvidia-a100-sxm4-80gb": (80, 2039, 400, "8.0"),
    "nvidia-a100-pcie-80gb": (80, 1935, 300, "8.0"),
    "nvidia-h100-sxm5-80gb": (80, 3350, 700, "9.0"),
    "nvidia-h100-pcie-80gb": (80, 2000, 350, "9.0"),
    "nvidia-l4": (24, 300, 72, "8.9"),
    "nvidia-rtx-3090": (24, 936, 350, "8.6"),
    "nvidia-rtx-4090": (24, 1008, 450, "8.9"),
    "amd-mi250": (128, 3277, 500, "gfx90a"),
}


@pytest.fixture
def catalogue_copy(tmp_path):
    target = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, target)
    return target


def _replace_in(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_reference_accelerators_match_the_reference_table():
    load_catalogue()
    for slug, (memory, bandwidth, tdp, cc) in REFERENCE_ACCELERATORS.items():
        model = HardwareModel.objects.get(slug=slug)
        assert model.kind == HardwareKind.ACCELERATOR
        assert (model.memory_gb, model.memory_bandwidth_gbps, model.tdp_w) == (
            Decimal(memory),
            Decimal(bandwidth),
            Decimal(tdp),
        ), slug
        assert model.compute_capability == cc


def test_catalogue_holds_servers_and_components_too():
    load_catalogue()
    kinds = set(HardwareModel.objects.values_list("kind", flat=True))
    assert {"server", "memory", "ssd", "hdd", "psu", "cpu", "accelerator"} <= kinds
    dgx = HardwareModel.objects.get(slug="nvidia-dgx-a100")
    assert dgx.mass_kg == Decimal("123") and dgx.weee_category == "4"


def test_every_figure_in_the_catalogue_carries_a_source():
    load_catalogue()
    sourced = set(FigureSource.objects.values_list("hardware_model__slug", "field"))
    missing = [
        (model.slug, name)
        for model in HardwareModel.objects.all()
        for name in SOURCED_FIELDS
        if getattr(model, name) not in (None, "") and (model.slug, name) not in sourced
    ]
    assert missing == []


def test_loading_twice_changes_nothing():
    load_catalogue()
    history = HardwareModel.history.count(), FigureSource.history.count()
    report = load_catalogue()
    assert (report.created, report.updated, report.sources_written) == (0, 0, 0)
    assert (HardwareModel.history.count(), FigureSource.history.count()) == history


def test_a_reload_leaves_the_published_measurements_it_already_holds(catalogue_copy):
    load_catalogue(catalogue_copy)
    before = dict(DecodeMeasurement.objects.values_list("id", "tokens_per_s"))
    histories = (
        HardwareModel.history.count(),
        FigureSource.history.count(),
        Source.objects.count(),
    )
    report = load_catalogue(catalogue_copy)
    assert dict(DecodeMeasurement.objects.values_list("id", "tokens_per_s")) == before
    assert report.measurements == len(before)
    assert (
        HardwareModel.history.count(),
        FigureSource.history.count(),
        Source.objects.count(),
    ) == histories
    # A corrected figure is updated in place; a row the file drops goes; nothing else moves.
    path = catalogue_copy / "decode_measurements.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    first = lines[1].split(",")
    first[header.index("tokens_per_s")] = "210.5"
    dropped = lines[2].split(",", 1)[0]
    path.write_text("".join([lines[0], ",".join(first), *lines[3:]]), encoding="utf-8")
    load_catalogue(catalogue_copy)
    fitted = DecodeMeasurement.objects.filter(role=DecodeMeasurement.Role.FITTED)
    corrected = fitted.get(key=first[0])
    assert corrected.tokens_per_s == Decimal("210.5") and corrected.id in before
    assert not fitted.filter(key=dropped).exists()
    after = dict(DecodeMeasurement.objects.values_list("id", "tokens_per_s"))
    assert {k: v for k, v in after.items() if k != corrected.id} == {
        k: v for k, v in before.items() if k in after and k != corrected.id
    }
    assert len(after) == len(before) - 1


def test_operator_edits_survive_a_reload(catalogue_copy):
    load_catalogue(catalogue_copy)
    t4 = HardwareModel.objects.get(slug="nvidia-t4")
    t4.mass_kg = Decimal("0.333")  # weighed on site
    t4.save()
    # The shipped catalogue changes both the edited figure and an untouched one.
    _replace_in(
        catalogue_copy / "models.csv",
        "T4 16 GB,accelerator,,PCIe,2018,0.301,,,70,",
        "T4 16 GB,accelerator,,PCIe,2018,0.305,,,75,",
    )
    report = load_catalogue(catalogue_copy)
    t4.refresh_from_db()
    assert t4.mass_kg == Decimal("0.333")
    assert t4.tdp_w == Decimal("75")
    assert "nvidia-t4.mass_kg" in report.kept_operator_edits
    assert report.updated == 1


def test_operator_sources_are_never_replaced():
    load_catalogue()
    figure = FigureSource.objects.get(hardware_model__slug="nvidia-l4", field="tdp_w")
    FigureSource.objects.filter(pk=figure.pk).update(from_catalogue=False, note="our own test")
    load_catalogue()
    figure.refresh_from_db()
    assert figure.note == "our own test"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (",0.301,,,70,", ",-0.301,,,70,", "models.csv: row 6: model nvidia-t4: field mass_kg"),
        (
            "T4 16 GB,accelerator,",
            "T4 16 GB,gizmo,",
            "models.csv: row 6: model nvidia-t4: field kind",
        ),
        (
            ",2018,0.301,",
            ",twenty,0.301,",
            "models.csv: row 6: model nvidia-t4: field release_year",
        ),
        (
            "HDD 3.5in,hdd,,3.5in,,0.6,,,,true,6,,,",
            "HDD 3.5in,hdd,,3.5in,,0.6,,,,true,6,,,12",
            "field memory_gb: Only accelerators carry this figure",
        ),
    ],
)
def test_malformed_models_file_names_row_and_field_and_writes_nothing(
    catalogue_copy, old, new, expected
):
    _replace_in(catalogue_copy / "models.csv", old, new)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(catalogue_copy)
    assert any(expected in problem for problem in err.value.problems), err.value.problems
    assert HardwareModel.objects.count() == 0


def test_malformed_sources_file_is_refused_and_leaves_stored_data_alone(catalogue_copy):
    load_catalogue()
    before = HardwareModel.objects.get(slug="nvidia-t4").tdp_w
    _replace_in(catalogue_copy / "models.csv", ",0.301,,,70,", ",0.301,,,99,")
    with (catalogue_copy / "sources.csv").open("a") as handle:
        handle.write("nvidia-t4,warp_factor,declared,confirmed,Somebody,,\n")
    with pytest.raises(CatalogueError) as err:
        load_catalogue(catalogue_copy)
    assert any("sources.csv: row" in p and "field fields" in p for p in err.value.problems)
    assert HardwareModel.objects.get(slug="nvidia-t4").tdp_w == before


def test_command_reports_problems_without_writing(catalogue_copy):
    _replace_in(catalogue_copy / "models.csv", ",0.301,,,70,", ",heavy,,,70,")
    with pytest.raises(
        CommandError, match=r"(?s)nothing was written.*row 6: model nvidia-t4: field mass_kg"
    ):
        call_command("load_catalogue", "--dir", str(catalogue_copy), stdout=StringIO())
    assert HardwareModel.objects.count() == 0


def test_missing_column_is_named(catalogue_copy):
    path = catalogue_copy / "sources.csv"
    path.write_text(path.read_text().replace("confidence,", "", 1))
    with pytest.raises(CatalogueError, match="row 1: header lacks column"):
        load_catalogue(catalogue_copy)


def test_roles_exist_from_a_data_migration(roles):
    assert {"operator", "procurement", "auditor"} <= roles


def test_a_website_typed_without_a_scheme_is_read_as_https(rf, staff_user):
    from django.contrib import admin

    from hardware.models import Manufacturer

    request = rf.get("/")
    request.user = staff_user
    form_class = admin.site._registry[Manufacturer].get_form(request)
    field = form_class.base_fields["website"]
    assert field.clean("example.org/servers") == "https://example.org/servers"
