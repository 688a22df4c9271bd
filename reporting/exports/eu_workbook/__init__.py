"""The EU annual workbook (docs/exports.md): one workbook per reporting year, one row per data
centre, Annex I → II → III → IV order, plus omissions, measurement points, e-waste and a monthly
sheet with a native line chart. Also its CSV twins (zipped) and JSON.

Two layers: `report_data()` (`data`) is the only function that reads the reporting models;
everything else renders that plain dict (`annex_sheets`, `record_sheets`, `rzreg`, `render`), so
the sheets do not depend on how the models store things.

Variants: "submit" carries every value; "publish" (EED Art. 12(1) public disclosure) leaves out
every Annex II value an operator marked confidential and every indicator computed from one;
"de-rzreg" is Germany's register (EnEfG Anlage 3) for sites in DE, refused with the list of
missing inputs when any is missing (`rzreg`). Each period states its field dictionary (2024/1364,
or as amended by the 2026 rating act); headers and the README name it.
A site whose period is not validated is refused unless `allow_unvalidated` is given, and the
README sheet then says so for each such site.
"""

from reporting.exports.eu_workbook.data import report_data
from reporting.exports.eu_workbook.render import (
    SHEETS,
    as_json,
    sheets,
    write_csv_zip,
    write_xlsx,
)
from reporting.exports.eu_workbook.rzreg import (
    ANLAGE_3,
    ANLAGE_3_INPUT,
    DATA_POINTS,
    RZREG_SHEETS,
    missing_for_rzreg,
)
from reporting.exports.eu_workbook.terms import (
    RZREG,
    SCHEMA_VERSION,
    VARIANTS,
    MissingInputs,
    NotValidated,
)
from reporting.symbols import header

__all__ = [
    "ANLAGE_3",
    "ANLAGE_3_INPUT",
    "DATA_POINTS",
    "RZREG",
    "RZREG_SHEETS",
    "SCHEMA_VERSION",
    "SHEETS",
    "VARIANTS",
    "MissingInputs",
    "NotValidated",
    "as_json",
    "header",
    "missing_for_rzreg",
    "report_data",
    "sheets",
    "write_csv_zip",
    "write_xlsx",
]
