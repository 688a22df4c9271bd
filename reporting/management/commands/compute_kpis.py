"""`manage.py compute_kpis --year 2025 [--site CODE]`: the same task path as the API and beat."""

from django.core.management.base import BaseCommand, CommandError

from registry.models import Site
from reporting.models import PeriodResult, TaskRun
from reporting.presentation import INDICATORS
from reporting.tasks import queue_year

# Printed names where the stored key is not the indicator's symbol.
SHORT_NAMES = {"CUE_CEF_KG_PER_KWH": "grid factor for CUE", "size_class": "size class"}


class Command(BaseCommand):
    help = "Compute the EU indicators of a year (all reporting sites, or one) and Annex IV."

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--site", help="site code; default: every site with a profile")
        parser.add_argument("--wait", type=int, default=600, help="seconds to wait for a worker")

    def handle(self, *args, year, site, wait, **options):
        if site and not Site.objects.filter(code=site).exists():
            raise CommandError(f"unknown site {site!r}")
        run = queue_year(year, site)
        run = _wait(run, wait)
        self.stdout.write(f"task {run.pk}: {run.status}")
        results = PeriodResult.objects.filter(period__year=year).select_related("period__site")
        if site:
            results = results.filter(period__site__code=site)
        for result in results:
            shown = ", ".join(
                _shown(key, value) for key, value in result.indicators.items() if value is not None
            )
            self.stdout.write(
                f"{result.period}: {shown or 'no indicator'}; "
                f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
            )


def _shown(key: str, value) -> str:
    """`PUE 1.3208950835`, `WUE 0.3502647210 m3/MWh`: the stored value with its unit."""
    unit = INDICATORS.get(key, ("", "", None))[1]
    return f"{SHORT_NAMES.get(key, key)} {value}" + (f" {unit}" if unit else "")


def _wait(run: TaskRun, seconds: int) -> TaskRun:
    import time

    deadline = time.monotonic() + seconds
    while True:
        run.refresh_from_db()
        if run.finished_at or time.monotonic() > deadline:
            return run
        time.sleep(0.5)
