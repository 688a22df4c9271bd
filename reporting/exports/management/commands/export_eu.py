"""`export_eu --year 2025 [--site CODE ...] [--variant publish|submit|de-rzreg]
[--allow-unvalidated] --out FILE.xlsx|FILE.zip`: the EU annual workbook (or its zipped CSV twins),
or Germany's RZReg data points, synchronously. Nothing is written when inputs are missing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.models import Site
from reporting.exports import eu_workbook


class Command(BaseCommand):
    help = "Write the EU annual workbook (docs/exports.md); .zip writes the CSV twins."

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--site", action="append", help="site code (repeatable)")
        parser.add_argument("--variant", choices=eu_workbook.VARIANTS, default="submit")
        parser.add_argument(
            "--allow-unvalidated",
            action="store_true",
            help="also export sites whose period is not validated (docs/exports.md, Validation)",
        )
        parser.add_argument("--out", required=True, help="FILE.xlsx or FILE.zip (CSV twins)")

    def handle(self, *args, year, site, variant, allow_unvalidated, out, **options):
        if not out.lower().endswith((".xlsx", ".zip")):
            raise CommandError("--out must end in .xlsx or .zip")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        unknown = set(site or ()) - set(
            Site.objects.filter(code__in=site or ()).values_list("code", flat=True)
        )
        if unknown:
            raise CommandError(f"unknown site(s): {', '.join(sorted(unknown))}")
        try:
            data = eu_workbook.report_data(
                year, site, variant=variant, allow_unvalidated=allow_unvalidated
            )
        except (eu_workbook.NotValidated, eu_workbook.MissingInputs) as exc:
            raise CommandError(str(exc)) from exc
        if out.lower().endswith(".zip"):
            eu_workbook.write_csv_zip(data, out)
        else:
            eu_workbook.write_xlsx(data, out)
        note = f" ({len(data['unvalidated'])} not validated)" if data["unvalidated"] else ""
        self.stdout.write(
            f"{'RZReg' if variant == eu_workbook.RZREG else 'EU'} {year} workbook, {variant} "
            f"variant, {len(data['sites'])} site(s){note}: {out}"
        )
