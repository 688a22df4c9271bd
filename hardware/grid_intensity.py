"""Grid carbon intensity by country: the one reader of `catalogue/grid_intensity.csv`.

Each row states its figure in gCO2e/kWh with its year, source and address (Ember Yearly
Electricity Data 2023, CC BY 4.0, life-cycle intensity; EU27 is the EU's generation-weighted
mean). The figure is kept in Decimal from the file on: 380.9 g/kWh is 0.3809 kg/kWh exactly,
where float division leaves 0.38089999999999996, which the CUE's grid factor would then store and
show. A caller doing float math converts at its own edge.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

PATH = Path(__file__).resolve().parent / "catalogue" / "grid_intensity.csv"
SHOWN_PATH = "hardware/catalogue/grid_intensity.csv"  # as pages and docs name the file
FALLBACK_COUNTRY = "EU27"  # the EU-27 mean, for a caller that falls back to it and says so


@dataclass(frozen=True)
class GridIntensity:
    """One country's row: kgCO2e per kWh of electricity, and where the figure comes from."""

    country: str
    kg_per_kwh: Decimal
    year: int
    source: str
    url: str
    tag: str

    @property
    def citation(self) -> str:
        return f"{self.source}, {self.url}"


@lru_cache(maxsize=4)
def table(path: Path = PATH) -> dict[str, GridIntensity]:
    """Every row of the file, by country code (ISO 3166-1 alpha-2, or EU27)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {
            row["country"]: GridIntensity(
                country=row["country"],
                kg_per_kwh=(Decimal(row["g_co2e_per_kwh"]) / 1000).normalize(),
                year=int(row["year"]),
                source=row["source"],
                url=row["url"],
                tag=row["tag"],
            )
            for row in csv.DictReader(fh)
        }


def for_country(country: str) -> GridIntensity | None:
    """The country's row; None when the file has none (no fallback: the caller decides)."""
    return table().get(country)


def kg_per_kwh(country: str) -> Decimal | None:
    """The country's figure in kgCO2e/kWh; None (unknown, never 0) without a row."""
    row = for_country(country)
    return None if row is None else row.kg_per_kwh
