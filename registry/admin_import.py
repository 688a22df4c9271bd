"""The asset list's Import page: the checks of `registry.importing`, the same as `import_assets`.

Upload → a dry run lists every error of every row (row as a spreadsheet numbers it, column, the
value found, the reason) or the rows it would register; **Confirm import** runs the importer for
real on the same file, all or nothing. The uploaded file waits between the two steps under
MEDIA_ROOT, named by a random token kept in the uploader's session, and is deleted after use.
"""

import contextlib
import secrets
import time
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from circulus import bounds
from registry import import_jobs
from registry.importing import ASSET_COLUMNS, import_assets, read_rows

SESSION_KEY = "registry_asset_import"
PREVIEW_ROWS = 50
PREVIEW_COLUMNS = ("asset_tag", "hardware_model", "site", "purchase_date", "state")
EXTENSIONS = (".csv", ".xlsx")


class ImportFileForm(forms.Form):
    import_file = forms.FileField(
        label="file", help_text="CSV or XLSX with a header row (row 1); columns as in the docs"
    )

    status = 200  # 413 once the file is refused for its size

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if not upload.name.lower().endswith(EXTENSIONS):
            raise forms.ValidationError("a .csv or .xlsx file, please")
        try:
            bounds.check_size(upload.size, settings.IMPORT_UPLOAD_MAX_BYTES, "the file")
        except bounds.TooLarge as exc:
            self.status = exc.status
            raise forms.ValidationError(exc.reason) from None
        return upload


def _pending_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def remove_stale_files(now: float | None = None) -> int:
    """Delete the waiting files older than `IMPORT_FILE_MAX_AGE_SECONDS` (left by a crash or an
    upload never confirmed), but not those a job still holds (queued, running, or failed and
    waiting for a retry: `import_jobs.remove_ended_files` decides when those go); their count."""
    cutoff = (now or time.time()) - settings.IMPORT_FILE_MAX_AGE_SECONDS
    removed = 0
    folder = _pending_dir()
    held = import_jobs.files_in_use()
    for stored in folder.iterdir() if folder.is_dir() else ():
        if f"{folder.name}/{stored.name}" in held:
            continue
        with contextlib.suppress(FileNotFoundError):  # a concurrent sweep took it
            if stored.is_file() and stored.stat().st_mtime < cutoff:
                stored.unlink()
                removed += 1
    return removed


def _preview_rows(file_path: Path) -> tuple[list[str], list[list[str]], bool]:
    """The first rows of the file, a few columns wide, so the preview fits the page."""
    header, rows = read_rows(file_path)
    index = {name: i for i, name in enumerate(header)}
    shown = [c for c in PREVIEW_COLUMNS if c in index]
    out = []
    for cells in rows:
        if len(out) == PREVIEW_ROWS:
            return shown, out, True
        cells = list(cells)
        out.append([str(cells[index[c]] or "") if index[c] < len(cells) else "" for c in shown])
    return shown, out, False


class AssetImportMixin:
    """Adds the import page to AssetAdmin; who may import is `has_import_permission`."""

    import_template = "admin/registry/asset/import.html"

    def get_urls(self):
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="registry_asset_import",
            )
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            try:  # before the body is parsed: an upload too large is never read
                bounds.check_form_upload(request.META, settings.IMPORT_UPLOAD_MAX_BYTES)
            except bounds.TooLarge as exc:
                form = ImportFileForm()
                form.status = exc.status
                return self._page(request, form, refusal=exc.reason)
        if request.method == "POST" and "_confirm" in request.POST:
            return self._confirm(request)
        report = preview = None
        form = ImportFileForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            if upload.size > settings.IMPORT_SYNC_MAX_BYTES:
                return self._queue(request, upload)
            token = secrets.token_urlsafe(16)
            folder = _pending_dir()
            folder.mkdir(parents=True, exist_ok=True)
            stored = folder / f"{token}{Path(upload.name).suffix.lower()}"
            pending = False
            try:
                with stored.open("wb") as handle:
                    for chunk in upload.chunks():
                        handle.write(chunk)
                report = import_assets(stored, actor=request.user, dry_run=True)
                if report.ok:
                    preview = _preview_rows(stored)
                    request.session[SESSION_KEY] = {"token": token, "name": upload.name}
                    pending = True
            finally:  # only a file waiting for its confirmation stays (the beat removes it late)
                if not pending:
                    stored.unlink(missing_ok=True)
        return self._page(request, form, report=report, preview=preview)

    def _queue(self, request, upload):
        """A large file: checked and written by a worker in one go (all rows or none), so no
        request runs past the web worker's timeout; its job page shows progress and errors."""
        try:
            job = import_jobs.queue(upload, user=request.user)
        except import_jobs.NotQueued as exc:
            form = ImportFileForm()
            form.status = 503
            return self._page(request, form, refusal=str(exc))
        messages.info(
            request,
            f"{job.source} is large: it is being checked and imported by a worker, all rows or "
            "none. This page shows its progress and outcome.",
        )
        return HttpResponseRedirect(reverse("admin:registry_assetimportjob_change", args=[job.pk]))

    def _page(self, request, form, *, report=None, preview=None, refusal=""):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import assets",
            "form": form,
            "report": report,
            "preview": preview,
            "token": request.session.get(SESSION_KEY, {}).get("token") if preview else None,
            "columns": ASSET_COLUMNS,
            "refusal": refusal,
        }
        status = form.status if form.status != 200 else (report.refused if report else 0)
        return TemplateResponse(request, self.import_template, context, status=status or 200)

    def _confirm(self, request):
        pending = request.session.pop(SESSION_KEY, None) or {}
        token = request.POST.get("token", "")
        matches = [p for p in _pending_dir().glob(f"{pending.get('token')}.*")] if pending else []
        if not pending or token != pending["token"] or len(matches) != 1:
            messages.error(request, "That import is no longer pending: upload the file again.")
            return HttpResponseRedirect(reverse("admin:registry_asset_import"))
        stored = matches[0]
        try:
            report = import_assets(stored, actor=request.user)
        finally:
            stored.unlink(missing_ok=True)
        if report.ok:
            # The admin capitalises a message's first letter: the file's name is not first.
            messages.success(request, f"File “{pending['name']}” — {report.summary()}")
            return HttpResponseRedirect(reverse("admin:registry_asset_changelist"))
        # Something changed since the preview (say, another import took a tag).
        return self._page(request, ImportFileForm(), report=report)
