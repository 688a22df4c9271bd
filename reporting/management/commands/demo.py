"""`make demo`: the main job end to end on whatever database is configured (SQLite by default)."""

import csv

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db.models import Count

from accounts import tokens
from accounts.audit import acting
from circulus.celery import ping
from hardware.models import HardwareKind, HardwareModel
from registry.demo import ensure_demo_sites, load_demo_fleet
from registry.models import Site
from reporting.demo import DEMO_STEPS, load_demo_site, run_demo_kpis
from reporting.demo_de import load_demo_site_de, run_demo_kpis_de
from reporting.exports.demo import write_demo_exports, write_demo_rzreg

DEMO_USERS = (
    # username, group, operated site, what the role may do (printed by `make demo`)
    ("admin", None, None, "everything"),
    ("operator", "operator", "PAR1",
     "writes PAR1's assets, meters, readings, periods and exports; sees nothing of FRA1's "
     "reporting and reads FRA1's assets only"),
    ("procurement", "procurement", None,
     "admin: reuse candidates and reservations; reads assets and the catalogue; no reporting"),
    ("auditor", "auditor", None,
     "reads everything (assets, ledger, history, reporting, exports, token audit); writes "
     "nothing"),
    ("editor", "catalogue-editor", None, "writes the hardware catalogue; reads the registry"),
)  # fmt: skip
DEMO_PASSWORD = "circulus-demo"  # noqa: S105 - embedded demo only, refused when DEBUG is off


class Command(BaseCommand):
    help = "Run the Circulus demo: migrate, load the catalogue and demo data, run the main job."

    def handle(self, *args, **options):
        out = self.stdout
        db = settings.DATABASES["default"]
        out.write(self.style.MIGRATE_HEADING(f"1. Database: {db['ENGINE']} {db['NAME']}"))
        call_command("migrate", interactive=False, verbosity=0)
        out.write("   migrated")

        out.write(self.style.MIGRATE_HEADING("2. Hardware catalogue"))
        call_command("load_catalogue", stdout=out)
        by_kind = dict(
            HardwareModel.objects.values_list("kind").annotate(n=Count("id")).order_by("kind")
        )
        out.write("   " + ", ".join(f"{HardwareKind(k).label}: {n}" for k, n in by_kind.items()))

        out.write(self.style.MIGRATE_HEADING("3. Demo users and what each may do"))
        ensure_demo_sites()
        self._users()

        out.write(self.style.MIGRATE_HEADING("4. Registry: a fleet through its circular life"))
        load_demo_fleet(out)

        out.write(self.style.MIGRATE_HEADING("5. EU reporting: a year of 15-minute meter readings"))
        load_demo_site(out)
        run_demo_kpis(out)
        out.write("   Germany: BER1 under the 2026 field dictionary, with EnEfG checks")
        load_demo_site_de(out)
        run_demo_kpis_de(out)

        out.write(self.style.MIGRATE_HEADING("6. Exports: the EU workbook and the e-waste report"))
        exports = write_demo_exports(out, 2025)
        exports.append(write_demo_rzreg(out, 2025))

        out.write(self.style.MIGRATE_HEADING("7. Reuse: which GPUs we own can serve Llama 3 8B?"))
        out.write(
            "   .venv/bin/circulus reuse_candidates --model llama-3-8b --precision int8 "
            "--context 8192 --concurrency 4 --site PAR1"
        )
        call_command(
            "reuse_candidates",
            model="llama-3-8b",
            precision="int8",
            context=8192,
            concurrency=4,
            site="PAR1",
            limit=10,
            stdout=out,
        )

        step = 8
        for heading, load in DEMO_STEPS:
            out.write(self.style.MIGRATE_HEADING(f"{step}. {heading}"))
            load(out)
            step += 1

        out.write(self.style.MIGRATE_HEADING(f"{step}. Celery task path"))
        mode = "eager (in-process)" if settings.CELERY_TASK_ALWAYS_EAGER else "worker"
        result = ping.delay("demo").get(timeout=30)
        out.write(f"   circulus.ping via .delay() [{mode}] -> {result['payload']}")

        out.write(self.style.MIGRATE_HEADING(f"{step + 1}. Outputs"))
        settings.OUT_DIR.mkdir(parents=True, exist_ok=True)
        path = settings.OUT_DIR / "accelerators.csv"
        self._accelerators(path)
        out.write(f"   accelerator catalogue with sources: {path}")
        for written in exports:
            out.write(f"   {written}")
        out.write(
            self.style.SUCCESS(
                "Demo complete. Next: `make serve`, then open http://localhost:8000/ "
                "(links to the admin, the API docs and the docs for your role)."
            )
        )

    def _users(self):
        if not settings.DEBUG:
            self.stdout.write("   DEBUG is off: no demo users with known passwords are created")
            return
        User = get_user_model()
        for username, group, site_code, can in DEMO_USERS:
            # Every demo role signs in to the admin; what it sees there is its role's business.
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": group is None}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_staff = True
            user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))
            if site_code:
                operated = Site.objects.get(code=site_code)
                operated.operators.add(user)
            self.stdout.write(f"   {username:12} password {DEMO_PASSWORD}  {self._token(user)}")
            self.stdout.write(f"   {'':12} {can}")

    def _token(self, user) -> str:
        """A new demo user's API token, printed once; an earlier run's token keeps working and,
        stored only as a hash, cannot be printed again."""
        earlier = user.api_tokens.order_by("-created").first()
        if earlier is not None and not earlier.has_expired():
            return (
                f"API token {earlier.prefix}… (issued earlier; "
                f"`circulus create_api_token {user.username} --rotate` replaces it)"
            )
        with acting(via="make demo"):
            _token, key = tokens.issue(user)
        return f"API token {key}"

    def _accelerators(self, path):
        rows = (
            HardwareModel.objects.filter(kind=HardwareKind.ACCELERATOR)
            .select_related("manufacturer")
            .prefetch_related("figure_sources__source")
            .order_by("release_year", "name")
        )
        fields = ("memory_gb", "memory_bandwidth_gbps", "tdp_w", "embodied_gwp_kgco2e")
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["model", "year", *fields, "sources"])
            for model in rows:
                cited = {
                    fs.source.citation for fs in model.figure_sources.all() if fs.field in fields
                }
                writer.writerow(
                    [
                        str(model),
                        model.release_year,
                        *(getattr(model, f) for f in fields),
                        " | ".join(sorted(cited)),
                    ]
                )
