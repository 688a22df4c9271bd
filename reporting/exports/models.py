"""Export jobs: one requested export, run by a Celery worker, its file kept under MEDIA_ROOT."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
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
