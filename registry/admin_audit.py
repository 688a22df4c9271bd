"""Physical audits in the admin: the list, an audit's page (its four lists, the scan page, the
report), starting one, and closing or cancelling. The scan page is made for a phone on the floor:
a hardware scanner types the tag and Enter; the camera reads labels where the browser can.

The rules live in registry.audits; this module parses input and shows refusals in words.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from registry import audit_report, audits, permissions
from registry.models import Audit, AuditStatus, Site
from registry.words import plain_words

SECTIONS = (
    (audits.FOUND, "Found", "Expected here and seen."),
    (audits.MISPLACED, "Misplaced", "Seen here, recorded elsewhere (or out of custody)."),
    (audits.MISSING, "Missing", "Expected here, not seen yet."),
    (audits.UNKNOWN, "Unknown tags", "Not in the register."),
)


class AuditStartForm(forms.ModelForm):
    class Meta:
        model = Audit
        fields = ("site", "room", "rack", "note")


def refusals(problems: dict) -> list[str]:
    """{tag or field: [reasons]} as sentences a person reads."""
    return [
        f"{name}: {plain_words(reason)}"
        if name not in ("__all__", "status")
        else plain_words(reason)
        for name, reasons in problems.items()
        for reason in reasons
    ]


@admin.register(Audit)
class AuditAdmin(admin.ModelAdmin):
    """Audits are read by every registry role; started, scanned, closed and cancelled by the
    operators of the audit's site (and superusers). Never deleted: a mistaken one is cancelled."""

    form = AuditStartForm
    change_form_template = "admin/registry/audit/change_form.html"
    list_display = ("__str__", "status", "started_by", "started_at", "ended_at", "scan_link")
    list_filter = ("status", "site")
    list_select_related = ("site", "started_by")
    search_fields = ("room", "rack", "site__code")
    date_hierarchy = "started_at"
    actions = ["close_audits", "cancel_audits"]
    readonly_fields = (
        "site",
        "room",
        "rack",
        "status",
        "started_by",
        "started_at",
        "ended_by",
        "ended_at",
        "summary",
    )

    # --- permissions

    def has_module_permission(self, request):
        return permissions.can_read_in_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return permissions.can_read_in_admin(request.user)

    def has_add_permission(self, request):
        return permissions.may_record_somewhere(request.user)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return permissions.may_record_somewhere(request.user)
        return obj.status == AuditStatus.OPEN and permissions.can_write_at(request.user, obj.site)

    def has_delete_permission(self, request, obj=None):
        return False

    # --- pages

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("site", "room", "rack", "note")
        return (*self._shown(obj), "note")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if self.has_change_permission(request, obj):
            return self._shown(obj)
        return (*self._shown(obj), "note")

    def _shown(self, obj) -> tuple:
        # The reason a worker's close recorded nothing, while it matters (until a close).
        extra = ("close_failure",) if obj.close_failure else ()
        return (*self.readonly_fields, *extra)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site" and not request.user.is_superuser:
            kwargs["queryset"] = Site.objects.filter(operators=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        started = audits.start(
            site=obj.site, user=request.user, room=obj.room, rack=obj.rack, note=obj.note
        )
        obj.__dict__.update(started.__dict__)

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:registry_audit_scan", args=[obj.pk]))

    @admin.display(description="scan page")
    def scan_link(self, obj):
        url = reverse("admin:registry_audit_scan", args=[obj.pk])
        words = "Scan" if obj.status == AuditStatus.OPEN else "Lists"
        return format_html('<a href="{}">{}</a>', url, words)

    @admin.display(description="lists")
    def summary(self, obj):
        counts = audits.classify(obj).counts()
        return ", ".join(f"{label.lower()} {counts[name]}" for name, label, _ in SECTIONS)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/scan/",
                self.admin_site.admin_view(self.scan_view),
                name="registry_audit_scan",
            ),
            path(
                "<path:object_id>/report/",
                self.admin_site.admin_view(self.report_view),
                name="registry_audit_report",
            ),
        ] + super().get_urls()

    def report_view(self, request, object_id):
        audit = self._readable(request, object_id)
        response = HttpResponse(audit_report.workbook(audit), content_type=audit_report.MEDIA_TYPE)
        response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}.xlsx"'
        return response

    def _readable(self, request, object_id) -> Audit:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            Audit.objects.select_related("site", "started_by", "ended_by"), pk=object_id
        )

    def scan_view(self, request, object_id):
        """GET: the page. POST: a scan (or close, cancel); answered as JSON to the page's script,
        else by a redirect back to the page (a plain form post still works)."""
        audit = self._readable(request, object_id)
        may_write = self.has_change_permission(request, audit)
        by_script = request.headers.get("X-Requested-With") == "fetch"
        where = {
            "room": request.POST.get("room", request.GET.get("room", "")).strip() or audit.room,
            "rack": request.POST.get("rack", request.GET.get("rack", "")).strip() or audit.rack,
        }
        if request.method == "POST":
            if audit.status == AuditStatus.CLOSING and permissions.can_write_at(
                request.user, audit.site
            ):
                problems = [self._closing(audit)]
                if by_script:
                    return JsonResponse({"problems": problems}, status=409)
                return self._page(request, audit, where, may_write, problems=problems, status=409)
            if not may_write:
                raise PermissionDenied
            action = request.POST.get("action", "scan")
            try:
                if action == "close":
                    move = set(request.POST.getlist("move"))
                    try:
                        audit, queued = audits.request_close(audit, user=request.user, move=move)
                    except audits.NotQueued as exc:
                        audit.refresh_from_db()
                        return self._page(
                            request, audit, where, may_write, problems=[str(exc)], status=503
                        )
                    if queued:
                        messages.info(request, self._queued(audit))
                    else:
                        messages.success(
                            request, f"Audit {audit.pk} is closed: {self._told(audit)}"
                        )
                    return HttpResponseRedirect(
                        reverse("admin:registry_audit_change", args=[audit.pk])
                    )
                if action == "cancel":
                    audits.cancel(audit, user=request.user)
                    messages.info(request, f"Audit {audit.pk} is cancelled: nothing was recorded.")
                    return HttpResponseRedirect(
                        reverse("admin:registry_audit_change", args=[audit.pk])
                    )
                seen = audits.scan(audit, request.POST.get("tag", ""), user=request.user, **where)
            except audits.AuditError as exc:
                problems = refusals(exc.message_dict)
                if by_script:
                    return JsonResponse({"problems": problems}, status=400)
                return self._page(request, audit, where, may_write, problems=problems, status=409)
            sheet = audits.classify(audit, request.user)
            said = self._said(audit, sheet, seen)
            if by_script:
                return JsonResponse(
                    {
                        "message": said,
                        "counts": sheet.counts(),
                        "lists": self._lists(request, audit, sheet, may_write),
                    },
                    status=201,
                )
            messages.info(request, said)
            query = urlencode({k: v for k, v in where.items() if v and v != getattr(audit, k)})
            url = reverse("admin:registry_audit_scan", args=[audit.pk])
            return HttpResponseRedirect(f"{url}?{query}" if query else url)
        return self._page(request, audit, where, may_write)

    def _page(self, request, audit, where, may_write, *, problems=(), status=200):
        sheet = audits.classify(audit, request.user)
        context = {
            "audit": audit,
            "where": where,
            "may_write": may_write and audit.status == AuditStatus.OPEN,
            "counts": sheet.counts(),
            "lists": self._lists(request, audit, sheet, may_write),
            "problems": problems,
            "messages": messages.get_messages(request),
            "change_url": reverse("admin:registry_audit_change", args=[audit.pk]),
            "report_url": reverse("admin:registry_audit_report", args=[audit.pk]),
        }
        return TemplateResponse(request, "admin/registry/audit/scan.html", context, status=status)

    @staticmethod
    def _lists(request, audit, sheet, may_write) -> str:
        sections = [(name, label, hint, getattr(sheet, name)) for name, label, hint in SECTIONS]
        return render_to_string(
            "admin/registry/audit/lists.html",
            {
                "sections": sections,
                "may_write": may_write and audit.status == AuditStatus.OPEN,
            },
            request=request,
        )

    @staticmethod
    def _said(audit, sheet, seen) -> str:
        for line in sheet.lines():
            if (seen.asset_id and line.asset_id == seen.asset_id) or (
                not seen.asset_id and line.tag.casefold() == seen.tag.casefold()
            ):
                again = audit.scans.filter(asset_id=seen.asset_id) if seen.asset_id else None
                twice = again is not None and again.count() > 1
                text = f"{line.tag}: {audits.RESULTS[line.result].lower()}"
                if line.result == audits.MISPLACED:
                    text += f", recorded at {line.recorded}"
                return text + (" (seen again)" if twice else "")
        return seen.tag

    @staticmethod
    def _closing(audit) -> str:
        return (
            f"Audit {audit.pk} is being closed by a worker: no scan, close or cancel until it "
            "ends. Reload its page to see it closed, or open again with the reason."
        )

    @staticmethod
    def _queued(audit) -> str:
        if audit.status == AuditStatus.CLOSED:
            return f"Audit {audit.pk} is closed: {AuditAdmin._told(audit)}"
        if audit.status == AuditStatus.OPEN:
            return f"Audit {audit.pk} was not closed, nothing was recorded: {audit.close_failure}"
        seen = audits.units_seen(audit)
        return (
            f"Audit {audit.pk} saw {seen} units: a worker is recording them and closing it, "
            "every event or none. Until then it is closing: no scan, close or cancel. Reload "
            "this page to see it closed, or open again with the reason."
        )

    @staticmethod
    def _told(audit) -> str:
        audit.refresh_from_db()
        lines = audits.classify(audit).lines()
        seen = sum(1 for line in lines if line.recorded_events.endswith("seen"))
        moved = sum(1 for line in lines if line.recorded_events.startswith("moved"))
        return f"{seen} unit{'s' if seen != 1 else ''} recorded as seen, {moved} moved."

    # --- actions

    @admin.action(
        description="Close the selected audits (record what was seen)", permissions=["change"]
    )
    def close_audits(self, request, queryset):
        def close(audit):
            audit, queued = audits.request_close(audit, user=request.user)
            if queued:
                return messages.INFO, self._queued(audit)
            return messages.SUCCESS, f"Audit {audit.pk} is closed. {self._told(audit)}"

        self._each(request, queryset, "closed", close)

    @admin.action(description="Cancel the selected audits (record nothing)", permissions=["change"])
    def cancel_audits(self, request, queryset):
        self._each(
            request, queryset, "cancelled", lambda audit: audits.cancel(audit, user=request.user)
        )

    def _each(self, request, queryset, done: str, step) -> None:
        """`step` each audit, saying for each what happened: `step` may return its own (level,
        message); otherwise "Audit N is <done>"."""
        for audit in queryset.select_related("site"):
            try:
                said = step(audit)
            except PermissionDenied as exc:
                messages.error(request, f"Audit {audit.pk}: {exc}")
            except audits.NotQueued as exc:
                messages.error(request, f"Audit {audit.pk} was not {done}: {exc}")
            except audits.AuditError as exc:
                messages.error(
                    request,
                    f"Audit {audit.pk} was not {done}: " + "; ".join(refusals(exc.message_dict)),
                )
            else:
                if not isinstance(said, tuple):
                    said = messages.SUCCESS, f"Audit {audit.pk} is {done}."
                messages.add_message(request, *said)
