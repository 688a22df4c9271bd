"""The grid intensity catalogue: one reader, Decimal figures, each row with its source."""

import csv
from decimal import Decimal

from hardware import grid_intensity

# Ember Yearly Electricity Data 2023, life-cycle intensity, as published (gCO2e/kWh).
EMBER_2023_G = {"FR": "56.0", "DE": "380.9", "IE": "290.8", "NL": "267.6", "SE": "40.7",
                "PL": "661.9", "EU27": "243.8"}  # fmt: skip


def test_the_catalogue_gives_ember_2023_in_kg_per_kwh():
    table = grid_intensity.table()
    assert {c: row.kg_per_kwh * 1000 for c, row in table.items()} == {
        c: Decimal(g) for c, g in EMBER_2023_G.items()
    }
    assert {row.year for row in table.values()} == {2023}


def test_grid_intensity_in_kg_is_the_published_gram_figure_exactly():
    """380.9 g/kWh is 0.3809 kg/kWh, not 0.38089999999999996: the figure is stored and shown as
    the CUE's grid factor, so float division must not leave its residue in it."""
    with open(grid_intensity.PATH, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            expected = Decimal(row["g_co2e_per_kwh"]) / 1000
            assert grid_intensity.kg_per_kwh(row["country"]) == expected, row["country"]
    assert str(grid_intensity.kg_per_kwh("DE")) == "0.3809"


def test_each_row_cites_its_source():
    for row in grid_intensity.table().values():
        assert "Ember" in row.source and row.url.startswith("https://")
        assert row.citation == f"{row.source}, {row.url}"


def test_a_country_without_a_row_is_unknown_not_zero():
    assert grid_intensity.for_country("XX") is None
    assert grid_intensity.kg_per_kwh("XX") is None
