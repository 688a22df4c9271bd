"""Pull a connector source now, show its outcome (and an inventory dry run), and optionally
apply that dry run for a named operator."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from circulus.commands import active_user
from connectors import inventory, pulls
from connectors import permissions as policy
from connectors.models import Pull, Source


class Command(BaseCommand):
    help = (
        "Pull a connector source now, in this process (its energy feeds and, for a Redfish "
        "source that reads inventory, a dry-run diff); with --apply, apply that dry run as "
        "ledger events."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="the source's name")
        parser.add_argument("--user", required=True, help="who pulls (site scope applies)")
        parser.add_argument(
            "--apply", action="store_true", help="apply the inventory dry run it produces"
        )

    def handle(self, *args, **opts):
        user = active_user(opts["user"])
        source = Source.objects.select_related("site").filter(name=opts["source"]).first()
        if source is None:
            raise CommandError(f"No source named '{opts['source']}'.")
        if not policy.can_pull(user, source.site):
            raise CommandError(f"{user} does not operate {source.site.code}.")
        try:
            with transaction.atomic():
                pull = pulls.start(source, user, enqueue=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        pulls.run(pull.pk)  # here and now: a command waits for its answer
        pull = Pull.objects.get(pk=pull.pk)
        if pull.state == "failed":
            raise CommandError(f"Pull {pull.pk} failed: {pull.error}")
        self.stdout.write(pull.outcome)
        for unit in pull.diff.get("units", []):
            if unit["action"] != "unchanged":
                label = inventory.ACTION_LABELS[unit["action"]]
                self.stdout.write(
                    f"  {unit['kind']} {unit['serial'] or '(no serial)'} "
                    f"{unit['model'] or ''}: {label}"
                )
        for missing in pull.diff.get("missing", []):
            self.stdout.write(f"  {missing['asset']} in {missing['parent']}: not reported")
        if opts["apply"] and pull.diff:
            try:
                result = inventory.apply(pull, user)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
            self.stdout.write(self.style.SUCCESS(f"{result['events']} ledger event(s) recorded."))
