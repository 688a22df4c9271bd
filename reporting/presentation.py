"""How the period page names and rounds the stored indicators: as the EU workbook exports them."""

import contextlib
from decimal import Decimal, InvalidOperation

from hardware import inference
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
    from the catalogue (`inference.load_grid_intensity`); no period enters its own factor."""
    stored = values.get("CUE_CEF_KG_PER_KWH")
    current = inference.load_grid_intensity().get(country)
    if stored in (None, "") and current is None:
        return f"Grid factor for CUE: blank, {GRID_FILE} has no figure for {country}; CUE is blank."
    cited = inference.grid_intensity_citation(country)
    if stored in (None, "") or current is None or Decimal(str(current)) != Decimal(str(stored)):
        shown = "none" if current is None else f"{current} kgCO2e/kWh ({', '.join(cited)})"
        used = "blank" if stored in (None, "") else f"{stored} kgCO2e/kWh"
        return (
            f"Grid factor for CUE: {used}, read for {country} from an earlier "
            f"{GRID_FILE}; the file now gives {shown}. Compute again to use it."
        )
    year, source = cited
    return (
        f"Grid factor for CUE: {country} {year} life-cycle grid intensity from {GRID_FILE} "
        f"({source}); the catalogue's figure for the site's country, not entered per period."
    )
