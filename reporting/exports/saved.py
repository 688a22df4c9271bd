"""Saved reports: an export query kept by name, run now or on its schedule, its file e-mailed.

A scheduled run makes an ordinary export job, as its owner, through the same code the API's
`POST /api/exports/` uses, so the file sent is the file the API gives for the same query at
that moment; the job stays in the export list like any other.
"""

import datetime as dt
import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage
from django.utils import timezone

from reporting.exports import jobs
from reporting.exports.models import ExportJob, ExportState, SavedReport, Schedule

log = logging.getLogger(__name__)

# Attachments beyond this are not mailed (most mail servers refuse ~25 MB); the mail links it.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def due(report: SavedReport, today: dt.date) -> bool:
    if report.last_sent_on == today:
        return False
    if report.schedule == Schedule.WEEKLY:
        return report.weekday == today.weekday()
    if report.schedule == Schedule.MONTHLY:
        return report.day_of_month == today.day
    return False


def run(report: SavedReport) -> ExportJob:
    """A job for the report's query as its owner, queued like any other (raises
    PermissionDenied when the owner may no longer make it)."""
    return jobs.request_export(report.owner, report.kind, report.params)


def send_due(today: dt.date | None = None) -> dict[str, int]:
    """Run and send every report due today; each fails alone, with its reason kept on it."""
    today = today or timezone.localdate()
    counts = {"sent": 0, "failed": 0}
    reports = SavedReport.objects.exclude(schedule="").select_related("owner")
    for report in reports:
        if not due(report, today):
            continue
        try:
            _send(report, today)
        except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the others
            counts["failed"] += 1
            report.last_error = f"{timezone.now():%Y-%m-%d %H:%M}: not sent: {exc}"[:2000]
            report.save(update_fields=["last_error"])
            log.warning("saved report %s not sent: %s", report.pk, exc)
        else:
            counts["sent"] += 1
    return counts


def _send(report: SavedReport, today: dt.date) -> None:
    if not report.owner.is_active:
        raise PermissionDenied(f"its owner {report.owner} is deactivated")
    params = jobs.authorise(report.owner, report.kind, report.params)
    job = ExportJob.objects.create(kind=report.kind, params=params, requested_by=report.owner)
    report.last_job = job
    state = jobs.run(job.pk)  # in this worker, now: the file is what the query gives now
    job.refresh_from_db()
    if state != ExportState.DONE:
        raise RuntimeError(job.error or "the export did not finish")
    path = Path(settings.MEDIA_ROOT) / job.file
    message = EmailMessage(
        subject=f"Circulus: {report.name} ({timezone.localdate():%-d %B %Y})",
        body=_body(report, job, path),
        to=report.addresses,
    )
    if path.stat().st_size <= MAX_ATTACHMENT_BYTES:
        message.attach_file(str(path))
    message.send(fail_silently=False)
    report.last_sent_at, report.last_sent_on, report.last_error = timezone.now(), today, ""
    report.save(update_fields=["last_sent_at", "last_sent_on", "last_error", "last_job"])


def _body(report: SavedReport, job: ExportJob, path: Path) -> str:
    when = "every week" if report.schedule == Schedule.WEEKLY else "every month"
    lines = [
        f"{report.get_kind_display()} “{report.name}”, as {report.owner} saved it, made "
        f"{timezone.localtime(job.finished_at):%-d %B %Y at %H:%M %Z}.",
        "",
    ]
    if path.stat().st_size <= MAX_ATTACHMENT_BYTES:
        lines.append(f"The file is attached ({path.name}).")
    else:
        lines.append(
            f"The file ({path.stat().st_size / 1e6:.0f} MB) is too large to mail: download it from "
            f"the export list, job {job.pk}."
        )
    lines += ["", f"This report is sent {when}; its owner can change or stop that in Circulus."]
    return "\n".join(lines)
