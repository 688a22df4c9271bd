"""Export jobs: one requested export, run by a Celery worker, its file kept under MEDIA_ROOT."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, MaxValueValidator, MinValueValidator
from django.db import models


class ExportKind(models.TextChoices):
    EU_ANNUAL = "eu-annual", "EU annual workbook"
    EWASTE = "ewaste", "E-waste and circularity report"
    ASSETS = "assets", "Asset register"


class ExportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (retryable)"


class ExportJob(models.Model):
    """One export requested through the API or the admin.

    A worker claims a queued job (queued → running), beats `heartbeat_at` while it writes and ends
    it done or failed. A job whose heartbeat stops (the worker died) is failed by the reaper and
    can be retried; nothing stays "running" forever.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=12, choices=ExportKind.choices)
    params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        max_length=8, choices=ExportState.choices, default=ExportState.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    file = models.CharField(
        max_length=300, blank=True, help_text="Path of the result, relative to MEDIA_ROOT"
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the last attempt")
    task_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "export job"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="export_progress_max_100"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["queued", "running", "done", "failed"]),
                name="export_state_valid",
            ),
        ]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="export_state_beat")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.id} ({self.state})"

    @property
    def path(self):
        return settings.MEDIA_ROOT / self.file if self.file else None


class Schedule(models.TextChoices):
    NONE = "", "Not scheduled"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class SavedReport(models.Model):
    """An export query kept by name, run on demand or on a schedule and sent by e-mail. It runs
    with its owner's rights at the time it runs: a role taken away stops it."""

    name = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_reports"
    )
    kind = models.CharField(max_length=12, choices=ExportKind.choices)
    params = models.JSONField(default=dict, blank=True, help_text="As POST /api/exports/ takes.")
    schedule = models.CharField(max_length=8, choices=Schedule.choices, blank=True)
    weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices, null=True, blank=True, help_text="Weekly: the day it is sent."
    )
    day_of_month = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text="Monthly: the day it is sent (1–28, so every month has it).",
    )
    recipients = models.TextField(
        blank=True, help_text="E-mail addresses, one a line (or separated by commas)."
    )
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_sent_on = models.DateField(
        null=True, blank=True, help_text="The schedule's day it was last sent for."
    )
    last_job = models.ForeignKey(
        ExportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "saved report"
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_report_name_per_owner")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def addresses(self) -> list[str]:
        return [a.strip() for a in self.recipients.replace(",", "\n").splitlines() if a.strip()]

    def clean(self):
        errors = {}
        if self.schedule == Schedule.WEEKLY and self.weekday is None:
            errors["weekday"] = "A weekly report needs the day it is sent."
        if self.schedule == Schedule.MONTHLY and self.day_of_month is None:
            errors["day_of_month"] = "A monthly report needs the day of the month it is sent."
        if self.schedule and not self.addresses:
            errors["recipients"] = "A scheduled report needs at least one address to go to."
        validate = EmailValidator()
        for address in self.addresses:
            try:
                validate(address)
            except ValidationError:
                errors["recipients"] = f"“{address}” is not an e-mail address."
                break
        if len(self.addresses) > 50:
            errors["recipients"] = "At most 50 addresses."
        if errors:
            raise ValidationError(errors)
