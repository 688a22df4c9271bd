"""How the period page names and rounds the stored indicators: as the EU workbook exports them."""

import contextlib
from decimal import Decimal, InvalidOperation

from hardware import grid_intensity
from reporting import indicators as ind

GRID_FILE = "the catalogue's grid-intensity table"


def shown_figure(value) -> str:
    """An Annex II figure as a page shows it: whole units from 100 up, else 2 decimals, else 3
    significant figures (the stored value stays exact; exports carry it unrounded)."""
    if value in (None, ""):
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    size = abs(number)
    if size >= 100:
        return f"{number:,.0f}".replace(",", "\u202f")
    if size >= 1 or size == 0:
        return f"{ind.round_reported(number, 2)}"
    return f"{float(number):.3g}"


# key in PeriodResult.indicators -> (human name, unit, decimals shown)
INDICATORS = {
    "PUE": ("Power usage effectiveness (PUE = EDC/EIT)", "", 2),
    # Germany only: the PUE of EnEfG §11(2) S. 3, never the EU one
    "PUE-11": ("EnEfG §11 PUE = (EDC − EUPGRADE)/EIT, waste-heat upgrading left out", "", 2),
    "WUE": ("Water usage effectiveness (WUE, per the period's field dictionary)", "m3/MWh", 2),
    "ERF": ("Energy reuse factor (ERF = EREUSE/EDC)", "", 2),
    "REF": ("Renewable energy factor (REF = ERES-TOT/EDC)", "", 2),
    "CUE": ("Carbon usage effectiveness (CUE)", "kgCO2e/kWh", 2),
    "CUE_CEF_KG_PER_KWH": ("Grid carbon emission factor used for CUE", "kgCO2e/kWh", 3),
    "ERE": ("Energy reuse effectiveness (ERE)", "", 2),
    # EnEfG Anlage 3 2(h), German sites: EN 50600-4-7
    "CER": ("Cooling efficiency ratio (CER = CER-HEAT/CER-COOL)", "", 2),
    "size_class": ("Size category (Annex IV)", "", None),
}


def indicator_rows(values: dict) -> list[tuple[str, str, str, str]]:
    """(name, shown value, unrounded value, unit) per indicator, known ones first, in order."""
    keys = [k for k in INDICATORS if k in values] + [k for k in values if k not in INDICATORS]
    rows = []
    for key in keys:
        name, unit, places = INDICATORS.get(key, (key, "", 2))
        raw = values[key]
        shown = "—" if raw in (None, "") else str(raw)
        if places is not None and raw not in (None, ""):
            with contextlib.suppress(InvalidOperation):
                shown = str(ind.round_reported(Decimal(str(raw)), places))
        rows.append((name, shown, "" if raw is None else str(raw), unit))
    return rows


def cue_factor_basis(values: dict, country: str) -> str:
    """Where the grid factor in CUE comes from. The computation reads the site country's figure
    from the catalogue (`hardware.grid_intensity`); no period enters its own factor."""
    stored = values.get("CUE_CEF_KG_PER_KWH")
    row = grid_intensity.for_country(country)
    current = None if row is None else row.kg_per_kwh
    if stored in (None, "") and current is None:
        return f"Grid factor for CUE: blank, {GRID_FILE} has no figure for {country}; CUE is blank."
    if stored in (None, "") or current is None or current != Decimal(str(stored)):
        shown = "none" if row is None else f"{current} kgCO2e/kWh ({row.year}, {row.citation})"
        used = "blank" if stored in (None, "") else f"{stored} kgCO2e/kWh"
        return (
            f"Grid factor for CUE: {used}, read for {country} from an earlier "
            f"{GRID_FILE}; the file now gives {shown}. Compute again to use it."
        )
    return (
        f"Grid factor for CUE: {country} {row.year} life-cycle grid intensity from {GRID_FILE} "
        f"({row.citation}); the catalogue's figure for the site's country, not entered per period."
    )
