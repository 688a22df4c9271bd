"""A file that PostgreSQL stops to break a deadlock with another writer (docs/operations.md)
stores nothing and says so at every door; a file that can be read again is sent again."""

import io

import psycopg
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import OperationalError

from reporting import ingest
from reporting.ingest import writing
from reporting.models import IngestJob, Reading, ReadingDay
from tests.reporting.conftest import make_meter, make_site

pytestmark = pytest.mark.django_db

BODY = "meter,timestamp,value\nCOL-UPS,2025-01-01T00:15:00Z,1.5\nCOL-UPS,2025-01-01T00:30:00Z,2.5\n"


@pytest.fixture
def meter():
    return make_meter(make_site("COL1"), "COL-UPS", "eit-ups-output")


@pytest.fixture
def deadlocks(monkeypatch):
    """The first `n[0]` writes of a file meet a deadlock (PostgreSQL's error, as Django raises
    it), inside the file's transaction after its readings went in; later ones go through."""
    left = [0]
    real = writing.apply

    def apply(*args, **kwargs):
        written = real(*args, **kwargs)
        if left[0]:
            left[0] -= 1
            try:
                raise psycopg.errors.DeadlockDetected("deadlock detected")
            except psycopg.errors.DeadlockDetected as cause:
                raise OperationalError("deadlock detected") from cause
        return written

    monkeypatch.setattr(writing, "apply", apply)
    return left


def _nothing_stored():
    return not Reading.objects.exists() and not ReadingDay.objects.exists()


def test_a_deadlock_stores_nothing_and_says_to_send_the_file_again(meter, deadlocks):
    deadlocks[0] = 1
    with pytest.raises(ingest.Collided, match="nothing of this file was stored; send it again"):
        ingest.ingest_csv(io.StringIO(BODY))
    assert _nothing_stored()


def test_other_database_errors_are_not_taken_for_a_deadlock(meter, monkeypatch):
    def apply(*args, **kwargs):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(writing, "apply", apply)
    with pytest.raises(OperationalError):
        ingest.ingest_csv(io.StringIO(BODY))


def test_a_queued_job_is_sent_again_after_a_deadlock(meter, deadlocks, settings):
    from reporting.tasks import queue_ingest

    settings.MEDIA_ROOT = str(settings.VAR_DIR / "test-media")
    deadlocks[0] = ingest.DEADLOCK_TRIES - 1
    job = IngestJob.objects.create(source="upload")
    job.file.save(f"{job.pk}.csv", ContentFile(BODY.encode()), save=True)
    queue_ingest(job)  # eager in tests
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    assert Reading.objects.filter(meter=meter).count() == 2  # once, not once per try


def test_a_queued_job_fails_with_the_reason_when_every_try_deadlocks(meter, deadlocks, settings):
    from reporting.tasks import queue_ingest

    settings.MEDIA_ROOT = str(settings.VAR_DIR / "test-media")
    deadlocks[0] = ingest.DEADLOCK_TRIES
    job = IngestJob.objects.create(source="upload")
    job.file.save(f"{job.pk}.csv", ContentFile(BODY.encode()), save=True)
    with pytest.raises(ingest.Collided):
        queue_ingest(job)
    job.refresh_from_db()
    assert job.status == "failed" and "send it again" in job.message
    assert _nothing_stored()


def test_the_command_sends_the_file_again_then_names_the_reason(meter, deadlocks, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(BODY)
    deadlocks[0] = ingest.DEADLOCK_TRIES
    with pytest.raises(CommandError, match="send it again"):
        call_command("ingest_readings", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert _nothing_stored()
    deadlocks[0] = 1
    call_command("ingest_readings", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert Reading.objects.filter(meter=meter).count() == 2


def test_the_api_answers_409_with_the_reason(meter, deadlocks, admin_client):
    deadlocks[0] = 1
    response = admin_client.post("/api/readings/", BODY.encode(), content_type="text/csv")
    assert response.status_code == 409, response.content
    assert "send it again" in response.json()["detail"]
    job = IngestJob.objects.get(pk=response.json()["job"])
    assert job.status == "failed" and "send it again" in job.message
    assert _nothing_stored()


def test_the_admin_upload_shows_the_reason(meter, deadlocks, admin_client):
    deadlocks[0] = 1
    response = admin_client.post(
        "/admin/reporting/measurementpoint/upload/",
        {"file": SimpleUploadedFile("r.csv", BODY.encode(), "text/csv")},
        follow=True,
    )
    assert response.status_code == 200
    assert b"send it again" in response.content
    assert IngestJob.objects.get().status == "failed"
    assert _nothing_stored()
