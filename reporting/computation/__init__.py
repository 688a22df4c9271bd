"""Compute a reporting period from its meters: Annex II inputs, Annex III indicators, evidence.

The readings are aggregated in the database (one GROUP BY per register type, monthly buckets in
the site's time zone); Python only sees per-meter monthly totals. The formulas are those of the
pure module `reporting.indicators`.

Rules (docs/eu-reporting.md explains them for users):
- interval register: a reading is the consumption of the interval that *ends* at its timestamp;
  readings with start < timestamp <= end belong to the period, and to the month the interval
  starts in;
- cumulative register: consumption is the difference of consecutive readings in
  [start, end]; it belongs to the month of the earlier reading. A decrease is a counter reset
  or a meter replacement: the new reading is taken as the consumption since zero, and the reset
  is flagged (a warning on the period, listed under the meter's coverage);
- coverage per meter = present intervals / expected intervals; gaps are listed. When the
  operator sets `fill_gaps` on the period, interval meters are scaled month by month up to full
  coverage and the figures they feed become `estimated`.

The package, one question per module: `sql` (how we talk to PostgreSQL and SQLite), `figures`
(the meters' figures over a period) summed by `rollup` (the daily rollups, the default) or `raw`
(every reading, the reference), `period` (one period's content), `checks` (its findings) and
`storage` (results and Annex IV aggregates).
"""

from reporting.computation.figures import (
    MeterFigures,
    meter_figures,
    meter_figures_many,
    month_labels,
    period_bounds,
)
from reporting.computation.period import (
    ENGINE_VERSION,
    METERED,
    compute,
    compute_many,
    reported_fields,
)
from reporting.computation.storage import (
    PeriodFrozen,
    aggregate_year,
    compute_and_store,
    compute_and_store_many,
)

__all__ = [
    "ENGINE_VERSION",
    "METERED",
    "MeterFigures",
    "PeriodFrozen",
    "aggregate_year",
    "compute",
    "compute_and_store",
    "compute_and_store_many",
    "compute_many",
    "meter_figures",
    "meter_figures_many",
    "month_labels",
    "period_bounds",
    "reported_fields",
]
