"""Hostile and careless asset-import files, through the admin's Import page and the commands:
each is refused before any work, with one line naming the file's problem and the limit, and
leaves no file behind under MEDIA_ROOT/imports."""

import io
import time
import zipfile

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from registry.models import Asset
from tests import factories

IMPORT = reverse("admin:registry_asset_import")
HEADER = (
    "asset_tag,serial_number,hardware_model,site,purchase_date,purchase_price,currency,"
    "supplier,state\n"
)
ROW = "IMP-1,S1,acme-gpu-24,PAR1,2024-03-01,10.00,EUR,Acmé,in-stock\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.XLSX_MAX_UNPACKED_BYTES = 4 * 1024 * 1024  # the bomb below need not fill memory
    return settings.MEDIA_ROOT


@pytest.fixture
def operator(operator_user, db):
    factories.hardware_model("acme-gpu-24")
    factories.site("PAR1").operators.add(operator_user)
    return operator_user


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _zip_bomb(unpacked_mb: int) -> bytes:
    """A valid workbook with one extra part of zeros that compresses a thousandfold."""
    out = io.BytesIO(_xlsx([HEADER.strip().split(",")]))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/padding.bin", bytes(unpacked_mb * 1024 * 1024))
    return out.getvalue()


REFUSED = {
    "latin-1.csv": ((HEADER + ROW).encode("latin-1"), "0xE9 is not UTF-8"),
    "nul.csv": ((HEADER + ROW.replace("Acmé", "Ac\x00me")).encode(), "NUL"),
    "not-a-zip.xlsx": (b"asset_tag,site\nIMP-1,PAR1\n", "not an XLSX workbook"),
    "wide.csv": (b"," * 1_000_000 + b"\n1\n", "1,000,001 columns; at most 200"),
    "bomb.xlsx": (_zip_bomb(8), "MB, beyond the 4 MB limit"),
    "utf-16-no-mark.csv": ((HEADER + ROW).encode("utf-16-le"), "NUL"),
}


def _imports(media) -> list:
    folder = media / "imports"
    return list(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("name", REFUSED)
def test_the_admin_refuses_a_hostile_file_with_a_400_naming_its_problem(
    client, operator, media, name
):
    body, reason = REFUSED[name]
    client.force_login(operator)
    started = time.monotonic()
    response = client.post(IMPORT, {"import_file": SimpleUploadedFile(name, body)})
    assert time.monotonic() - started < 10
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Asset.objects.exists()
    assert _imports(media) == []


@pytest.mark.parametrize("name", REFUSED)
def test_import_assets_refuses_a_hostile_file_in_one_line(tmp_path, operator, name):
    body, reason = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(CommandError, match=reason.replace("(", r"\(")) as refused:
        call_command("import_assets", str(path))
    assert "\n" not in str(refused.value)
    assert not Asset.objects.exists()


@pytest.mark.parametrize("command", ["import_sites", "import_meters", "ingest_readings"])
@pytest.mark.parametrize("name", ["nul.csv", "not-a-zip.xlsx", "bomb.xlsx"])
def test_every_file_command_refuses_a_hostile_file_in_one_line(tmp_path, db, command, name):
    body, _ = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(CommandError):
        call_command(command, str(path))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-8"])
def test_utf16_and_utf8_with_or_without_mark_are_read(client, operator, media, encoding):
    client.force_login(operator)
    upload = SimpleUploadedFile("assets.csv", (HEADER + ROW).encode(encoding))
    preview = client.post(IMPORT, {"import_file": upload})
    assert preview.status_code == 200 and preview.context["report"].ok
    client.post(IMPORT, {"_confirm": "1", "token": preview.context["token"]})
    assert Asset.objects.get().supplier == "Acmé"
    assert _imports(media) == []


def test_an_upload_beyond_the_size_limit_is_a_413_naming_the_limit(
    client, operator, media, settings
):
    settings.IMPORT_UPLOAD_MAX_BYTES = 1024
    client.force_login(operator)
    body = (HEADER + ROW * 20).encode()
    response = client.post(IMPORT, {"import_file": SimpleUploadedFile("assets.csv", body)})
    assert response.status_code == 413
    assert "larger than the 1,024 bytes limit" in response.content.decode()
    assert _imports(media) == []


def test_a_workbook_beyond_the_cell_limit_is_refused(client, operator, media, settings):
    settings.IMPORT_MAX_CELLS = 50
    client.force_login(operator)
    rows = [HEADER.strip().split(",")] + [ROW.strip().split(",")] * 10
    upload = SimpleUploadedFile("assets.xlsx", _xlsx(rows))
    response = client.post(IMPORT, {"import_file": upload})
    assert response.status_code == 400 and "more than 50 cells" in response.content.decode()
    assert _imports(media) == []


def test_a_purchase_date_before_the_floor_is_refused(client, operator):
    client.force_login(operator)
    row = ROW.replace("2024-03-01", "1989-12-31")
    upload = SimpleUploadedFile("a.csv", (HEADER + row).encode())
    response = client.post(IMPORT, {"import_file": upload})
    (error,) = response.context["report"].errors
    assert error.column == "purchase_date" and "before 1990-01-01" in error.message


def test_a_very_long_file_name_is_handled(client, operator, media):
    client.force_login(operator)
    name = "x" * 240 + ".csv"
    upload = SimpleUploadedFile(name, (HEADER + ROW).encode())
    preview = client.post(IMPORT, {"import_file": upload})
    assert preview.status_code == 200 and preview.context["report"].ok
    client.post(IMPORT, {"_confirm": "1", "token": preview.context["token"]})
    assert Asset.objects.count() == 1 and _imports(media) == []


def test_the_beat_removes_files_a_crash_left_and_keeps_fresh_ones(db, media, settings):
    import os

    from registry.tasks import remove_stale_import_files

    folder = media / "imports"
    folder.mkdir(parents=True)
    left, fresh = folder / "left.csv", folder / "fresh.csv"
    left.write_text("x")
    fresh.write_text("x")
    old = time.time() - settings.IMPORT_FILE_MAX_AGE_SECONDS - 60
    os.utime(left, (old, old))
    assert remove_stale_import_files() == {"removed": 1, "finished_jobs": 0, "given_up_jobs": 0}
    assert _imports(media) == [fresh]
    assert "registry.remove_stale_import_files" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


def test_a_large_file_is_imported_by_a_worker_with_its_progress_shown(
    client, operator, media, settings
):
    from registry.models import AssetImportJob

    settings.IMPORT_SYNC_MAX_BYTES = 200
    client.force_login(operator)
    rows = "".join(ROW.replace("IMP-1,S1", f"IMP-{i},S{i}") for i in range(5))
    upload = SimpleUploadedFile("big.csv", (HEADER + rows).encode())
    response = client.post(IMPORT, {"import_file": upload})
    job = AssetImportJob.objects.get()
    assert response.status_code == 302 and str(job.pk) in response["Location"]
    # Eager in tests: the worker has run it already.
    assert (job.status, job.rows_checked, job.created) == ("succeeded", 5, 5)
    assert Asset.objects.count() == 5 and _imports(media) == []
    page = client.get(response["Location"]).content.decode()
    assert "imported" in page and "5 rows read without error: 5 were created." in page


def test_a_large_file_with_errors_is_rejected_whole_by_the_worker(
    client, operator, media, settings
):
    from registry.models import AssetImportJob

    settings.IMPORT_SYNC_MAX_BYTES = 200
    client.force_login(operator)
    rows = ROW * 3  # the same tag three times
    response = client.post(
        IMPORT, {"import_file": SimpleUploadedFile("big.csv", (HEADER + rows).encode())}
    )
    job = AssetImportJob.objects.get()
    assert job.status == "rejected" and {e["row"] for e in job.errors} == {3, 4}
    assert not Asset.objects.exists() and _imports(media) == []
    page = client.get(response["Location"]).content.decode()
    assert "also on row 2" in page


def test_the_import_tells_its_progress(tmp_path, operator, monkeypatch):
    from registry import importing

    monkeypatch.setattr(importing, "PROGRESS_ROWS", 2)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "".join(ROW.replace("IMP-1,S1", f"I-{i},S{i}") for i in range(5)))
    told = []
    assert importing.import_assets(path, dry_run=True, progress=told.append).ok
    assert told == [2, 4]


def test_a_body_declared_beyond_the_limit_is_refused_unread(client, operator, media, settings):
    settings.IMPORT_UPLOAD_MAX_BYTES = 1024
    client.force_login(operator)
    body = (HEADER + ROW * 2000).encode()  # beyond the limit and the form's slack
    response = client.post(IMPORT, {"import_file": SimpleUploadedFile("assets.csv", body)})
    assert response.status_code == 413
    assert "larger than the 1,024 bytes limit" in response.content.decode()
    assert _imports(media) == []


def test_a_large_import_that_cannot_be_queued_is_a_503_and_a_failed_job(
    client, operator, media, settings, monkeypatch
):
    from registry.models import AssetImportJob
    from registry.tasks import import_assets_job

    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    settings.IMPORT_SYNC_MAX_BYTES = 100
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(import_assets_job, "apply_async", unreachable)
    client.force_login(operator)
    upload = SimpleUploadedFile("big.csv", (HEADER + ROW * 3).encode())
    response = client.post(IMPORT, {"import_file": upload})
    assert response.status_code == 503 and "No worker could be reached" in response.content.decode()
    job = AssetImportJob.objects.get()
    assert job.status == "failed" and "Retry the job once the queue is back" in job.message
    # Nothing written; the file is kept for the retry (tests/registry/test_import_jobs.py).
    assert not Asset.objects.exists() and len(_imports(media)) == 1


@pytest.mark.parametrize("name", ["latin-1.csv", "nul.csv", "utf-16-no-mark.csv"])
def test_import_reuse_measurements_refuses_a_file_it_cannot_read_in_one_line(
    tmp_path, operator, name
):
    body, reason = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(CommandError, match=reason) as refused:
        call_command("import_reuse_measurements", str(path), "--user", operator.username)
    assert "\n" not in str(refused.value)
