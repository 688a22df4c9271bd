"""`export_ewaste --year 2025 [--site CODE ...] --out FILE.xlsx`: the e-waste report."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.models import Site
from reporting.exports import ewaste


class Command(BaseCommand):
    help = "Write the e-waste and circularity report (per site, by WEEE category) to XLSX."

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--site", action="append", help="site code (repeatable)")
        parser.add_argument("--out", required=True, help="FILE.xlsx")

    def handle(self, *args, year, site, out, **options):
        unknown = set(site or ()) - set(
            Site.objects.filter(code__in=site or ()).values_list("code", flat=True)
        )
        if unknown:
            raise CommandError(f"unknown site(s): {', '.join(sorted(unknown))}")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        data = ewaste.write_workbook(site, year, out)
        self.stdout.write(f"e-waste report {year} for {len(data['sites'])} site(s): {out}")
