"""Where a candidate runs: each site's PUE and grid intensity, with where each figure comes from.

PUE by dependency inversion: registry must not import reporting, so reporting registers a
provider of each site's latest computed PUE.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from hardware import grid_intensity
from hardware.grid_intensity import GridIntensity
from registry.models import Site
from registry.reuse.cache import versioned

if TYPE_CHECKING:
    from registry.reuse.query import ReuseQuery

# A typical PUE, close to the EU's first-round weighted average of 1.36 (docs/eu-reporting.md).
# Used only when no provider knows the site's PUE.
DEFAULT_PUE = Decimal("1.3")
DEFAULT_PUE_SOURCE = "default 1.3: no computed PUE for the site (EU first-round average 1.36)"

PueAnswer = "Decimal | float | tuple[Decimal | float, str] | None"
PueProvider = Callable[[Site], PueAnswer]
#: Functions returning a site's latest computed PUE, or None when they do not know it; a provider
#: may answer (PUE, where it comes from in user words). The first non-None answer wins. reporting
#: registers its provider from its AppConfig.ready().
PUE_PROVIDERS: list[PueProvider] = []
LATEST_PUE_SOURCE = "the site's latest computed PUE"


def _pue_answer(answer) -> tuple[float, str]:
    value, basis = answer if isinstance(answer, tuple) else (answer, LATEST_PUE_SOURCE)
    return float(value), basis


def register_pue_provider(fn: PueProvider) -> PueProvider:
    """Add a PUE provider (usable as a decorator); registering one function twice is a no-op."""
    if fn not in PUE_PROVIDERS:
        PUE_PROVIDERS.append(fn)
    return fn


def sites_pue(sites: list[Site]) -> dict[int, tuple[float, str]]:
    """`site_pue` for many sites: a provider with a `for_sites(sites) -> {site id: PUE}`
    attribute answers them all at once (one query, however many sites the answer spans)."""
    out: dict[int, tuple[float, str]] = {}
    pending = list(sites)
    for provider in PUE_PROVIDERS:
        if not pending:
            break
        many = getattr(provider, "for_sites", None)
        values = many(pending) if many else {s.id: provider(s) for s in pending}
        for site in pending:
            if values.get(site.id) is not None:
                out[site.id] = _pue_answer(values[site.id])
        pending = [s for s in pending if s.id not in out]
    for site in pending:
        out[site.id] = (float(DEFAULT_PUE), DEFAULT_PUE_SOURCE)
    return out


def site_pue(site: Site | None) -> tuple[float, str]:
    """(PUE, where it came from) for a site: the first provider that knows it, else the default."""
    if site is not None:
        for provider in PUE_PROVIDERS:
            answer = provider(site)
            if answer is not None:
                return _pue_answer(answer)
    return float(DEFAULT_PUE), DEFAULT_PUE_SOURCE


# --- grid intensity (the hardware catalogue's figures) ----------------------------------------


def grid_table() -> dict[str, GridIntensity]:
    return grid_intensity.table()


def grid_for(country: str) -> tuple[GridIntensity, str]:
    """The row for a country; unknown countries fall back to the EU-27 mean, and say so."""
    table = grid_table()
    if country in table:
        row = table[country]
        return row, f"{row.country} {row.year}: {row.source} {row.url}"
    row = table[grid_intensity.FALLBACK_COUNTRY]
    return row, (
        f"no figure shipped for {country or '?'}: EU-27 {row.year} generation-weighted mean "
        f"({row.source} {row.url})"
    )


# --- per site ---------------------------------------------------------------------------------


def _all_sites() -> list[Site]:
    return [
        Site(id=i, code=code, country=country)
        for i, code, country in Site.objects.order_by("code").values_list("id", "code", "country")
    ]


def site_context(query: ReuseQuery, site_ids) -> list[dict]:
    """PUE and grid intensity per site in the result (one query for the sites, a handful)."""
    if query.site is not None:
        sites = [query.site]
    else:
        # Every site, kept while the registry is unchanged, filtered here: cheaper than
        # binding hundreds of ids into a query on each request.
        wanted = {int(s) for s in site_ids}
        sites = [site for site in versioned(("sites",), _all_sites) if site.id in wanted]
    known = {} if query.pue is not None else sites_pue(sites)
    out = []
    for site in sites:  # per distinct site, never per candidate
        if query.pue is not None:
            pue, pue_source = float(query.pue), "given by the caller"
        else:
            pue, pue_source = known[site.id]
        grid, grid_source = grid_for(query.country or site.country)
        out.append(
            {
                "id": site.id,
                "code": site.code,
                "pue": pue,
                "pue_source": pue_source,
                "grid": grid,
                "grid_source": grid_source,
            }
        )
    return out
