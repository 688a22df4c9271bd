"""Embodied carbon as a range with a source per value; published decode measurements loaded."""

import csv
import shutil
from decimal import Decimal

import pytest

from hardware.models import DecodeMeasurement, FigureSource, HardwareModel, Manufacturer, Source
from hardware.services import CATALOGUE_DIR, CatalogueError, load_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_catalogue(db):
    FigureSource.objects.all().delete()
    HardwareModel.objects.all().delete()
    Manufacturer.objects.all().delete()
    Source.objects.all().delete()


@pytest.fixture
def catalogue_copy(tmp_path):
    target = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, target)
    return target


def _figures(slug):
    model = HardwareModel.objects.get(slug=slug)
    sources = {
        fs.field: fs.source.citation
        for fs in model.figure_sources.select_related("source").filter(field__startswith="emb")
    }
    values = (
        model.embodied_gwp_min_kgco2e,
        model.embodied_gwp_kgco2e,
        model.embodied_gwp_max_kgco2e,
    )
    return values, sources


def test_three_estimates_give_lowest_median_and_highest_each_with_its_source():
    load_catalogue()
    # A100 SXM4 80 GB: BLOOM LCA 150, EcoLogits 273, Boavizta 567.7 (embodied_estimates.csv).
    values, sources = _figures("nvidia-a100-sxm4-80gb")
    assert values == (Decimal("150"), Decimal("273"), Decimal("567.7"))
    assert "BLOOM" in sources["embodied_gwp_min_kgco2e"]
    assert "EcoLogits" in sources["embodied_gwp_kgco2e"]
    assert "Boavizta" in sources["embodied_gwp_max_kgco2e"]


def test_two_estimates_take_the_lower_as_central():
    load_catalogue()
    # A100 PCIe 40 GB: ADEME/Hubblo 181 and Boavizta 321.6.
    values, sources = _figures("nvidia-a100-pcie-40gb")
    assert values == (Decimal("181"), Decimal("181"), Decimal("321.6"))
    assert sources["embodied_gwp_kgco2e"] == sources["embodied_gwp_min_kgco2e"]


def test_estimates_of_another_scope_stay_out_of_the_range():
    load_catalogue()
    # DGX A100: host-only figures (2,500 and 5,700 kg without GPUs) are out; the whole-server
    # 2,500 + 8 × 150 = 3,700 (same BLOOM source) and Boavizta's 10,400 are in.
    values, _ = _figures("nvidia-dgx-a100")
    assert values == (Decimal("3700"), Decimal("3700"), Decimal("10400"))
    # A100 SXM4 40 GB: 318 includes 1/8 of the host, so only Boavizta's 319.3 counts.
    values, _ = _figures("nvidia-a100-sxm4-40gb")
    assert values == (Decimal("319.3"),) * 3


def test_gpu_lifetime_is_boaviztas_gpu_default():
    load_catalogue()
    t4 = HardwareModel.objects.get(slug="nvidia-t4")
    assert t4.lifetime_years == 3
    note = t4.figure_sources.get(field="lifetime_years").source.citation
    assert "26,280 h = 3 years" in note
    boavizta = t4.figure_sources.get(field="embodied_gwp_kgco2e")
    assert "Boavizta" in boavizta.source.citation
    assert "end of life included" in boavizta.note


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("decode_measurements.csv", DecodeMeasurement.Role.FITTED),
        ("validation_measurements.csv", DecodeMeasurement.Role.VALIDATION),
        ("range_measurements.csv", DecodeMeasurement.Role.RANGE),
    ],
)
def test_published_measurements_are_loaded_with_their_sources_and_role(name, role):
    report = load_catalogue()
    with open(CATALOGUE_DIR / name, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    mine = DecodeMeasurement.objects.filter(role=role)
    assert mine.count() == len(rows)
    first = mine.select_related("source").get(key=rows[0]["id"])
    assert first.source.url == rows[0]["source_url"]
    assert first.hardware_model.slug == rows[0]["gpu"]
    by_role = {r: DecodeMeasurement.objects.filter(role=r).count() for r in DecodeMeasurement.Role}
    assert (
        f"(never fitted: {by_role['range']} size the range, "
        f"{by_role['validation']} an independent check)"
    ) in str(report)
    load_catalogue()  # again: replaced, not duplicated
    assert mine.count() == len(rows)


def test_a_bad_measurement_refuses_the_whole_load(catalogue_copy):
    path = catalogue_copy / "decode_measurements.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    rows[1]["tokens_per_s"] = "0"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(catalogue_copy)
    assert "decode_measurements.csv: row 3: field tokens_per_s: '0' must be a number above 0" in (
        err.value.problems
    )
    assert HardwareModel.objects.count() == 0 and DecodeMeasurement.objects.count() == 0


def test_a_bad_estimate_is_named(catalogue_copy):
    path = catalogue_copy / "embodied_estimates.csv"
    with path.open("a", encoding="utf-8") as fh:
        fh.write("nvidia-t4,-5,x,true,Somebody,https://example.org,estimated,\n")
        fh.write("nvidia-t99,5,x,true,Somebody,https://example.org,estimated,\n")
    with pytest.raises(CatalogueError) as err:
        load_catalogue(catalogue_copy)
    problems = " ".join(err.value.problems)
    assert "field value_kgco2e: '-5' must be > 0" in problems
    assert "field model: 'nvidia-t99' is not in models.csv" in problems
    assert HardwareModel.objects.count() == 0
