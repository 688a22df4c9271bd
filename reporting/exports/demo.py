"""Demo outputs: the EU annual workbook and the e-waste report, written to settings.OUT_DIR."""

from pathlib import Path

from django.conf import settings

from reporting.exports import eu_workbook, ewaste


def write_demo_exports(stdout, year: int) -> list[Path]:
    """Write `eu-<year>-submit.xlsx` and `ewaste-<year>.xlsx` to OUT_DIR; returns their paths.

    The demo's periods may still be drafts, so the EU workbook is written with
    allow_unvalidated: its 00_README sheet then names every site that is not validated."""
    out = Path(settings.OUT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    data = eu_workbook.report_data(year, variant="submit", allow_unvalidated=True)
    path = out / f"eu-{year}-submit.xlsx"
    eu_workbook.write_xlsx(data, str(path))
    written.append(path)
    note = ""
    if data["unvalidated"]:
        listed = ", ".join(u["site"] for u in data["unvalidated"])
        note = f" (not validated, exported with allow_unvalidated: {listed})"
    stdout.write(f"   EU annual workbook {year}, {len(data['sites'])} site(s){note}: {path}")
    path = out / f"ewaste-{year}.xlsx"
    report = ewaste.write_workbook(None, year, str(path))
    written.append(path)
    stdout.write(f"   e-waste report {year}, {len(report['sites'])} site(s): {path}")
    return written


def write_demo_rzreg(stdout, year: int) -> Path:
    """Write the German demo site's register data points, `rzreg-<year>-BER1.xlsx`, to OUT_DIR."""
    out = Path(settings.OUT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    data = eu_workbook.report_data(
        year, ["BER1"], variant=eu_workbook.RZREG, allow_unvalidated=True
    )
    path = out / f"rzreg-{year}-BER1.xlsx"
    eu_workbook.write_xlsx(data, str(path))
    stdout.write(f"   RZReg (EnEfG Anlage 3) data points {year}, BER1: {path}")
    return path
