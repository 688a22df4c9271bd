"""Admin for EU reporting: profiles, meters (with uploads), periods with results and a chart."""

import codecs
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from circulus import bounds, jobs
from circulus.admin import ReadOnlyAdminMixin
from registry.models import Site
from reporting import indicators as ind
from reporting import ingest, selectors
from reporting import label as label_2026
from reporting import permissions as policy
from reporting.charts import monthly_svg
from reporting.models import (
    EnefgExemption,
    FieldValue,
    IngestJob,
    JobStatus,
    ManagementSystem,
    MeasurementPoint,
    MeterSetting,
    PeriodStatus,
    PowerDemandSegment,
    Reading,
    ReadingRevision,
    RenewableInstrument,
    ReportingPeriod,
    SiteProfile,
    TaskRun,
)
from reporting.permissions import may_retry_job
from reporting.presentation import cue_factor_basis, indicator_rows, shown_figure
from reporting.services import transition
from reporting.symbols import NAMES as ANNEX_II_NAMES  # the regulation's names
from reporting.tasks import queue_compute


def _site_of(obj, site_path: str):
    for part in site_path.split("__"):
        obj = getattr(obj, part, None)
    return obj


class SiteScopedAdmin:
    """reporting/permissions.py in the admin: lists and forms show only the sites the user may
    read; writing (and the site a row may be moved to) only the sites the user operates. Model
    permissions still decide which pages a role sees at all."""

    site_path = "site"

    def get_queryset(self, request):
        return policy.scope(super().get_queryset(request), request.user, self.site_path)

    def _readable(self, request, obj) -> bool:
        if not policy.can_read(request.user):
            return False
        ids = policy.readable_site_ids(request.user)
        return obj is None or ids is None or _site_of(obj, self.site_path).pk in ids

    def _writable(self, request, obj) -> bool:
        if obj is None:
            return policy.may_write_somewhere(request.user)
        return policy.can_write_at(request.user, _site_of(obj, self.site_path))

    def has_module_permission(self, request):
        return super().has_module_permission(request) and policy.can_read(request.user)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._readable(request, obj)

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and self._writable(request, None)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._writable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._writable(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site":
            ids = policy.writable_site_ids(request.user)
            if ids is not None:
                kwargs["queryset"] = Site.objects.filter(pk__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # The form's site choices already exclude other sites; this holds for any other path.
        if not policy.can_write_at(request.user, _site_of(obj, self.site_path)):
            raise PermissionDenied("you do not operate this site")
        super().save_model(request, obj, form, change)

    def revert_disabled(self, request, obj=None):
        return True  # a revert would bypass the form's site choices and the period's status

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(SiteProfile)
class SiteProfileAdmin(SiteScopedAdmin, SimpleHistoryAdmin):
    list_display = ("site", "dc_type", "structure_type", "lau_code", "nuts3_code")
    list_filter = ("dc_type", "structure_type")
    search_fields = ("site__code", "site__name", "operator_name")
    fieldsets = (
        (None, {"fields": ("site",)}),
        ("Annex I 1(b) owner and operator", {"fields": (
            "owner_name", "owner_contact", "operator_name", "operator_contact")}),
        ("Annex I 1(c)-(e)", {"fields": (
            "lau_code", "nuts3_code", "dc_type", "structure_type", "also_cohosting",
            "also_colocation", "operation_start_year", "operation_start_month", "postcode")}),
        ("Annex I 2 redundancy", {"fields": (
            "red_el_hv", "red_el_lv", "red_el_rack", "red_cool_room", "red_cool_rack")}),
        ("Germany, EnEfG", {"fields": ("public_owner",)}),
    )  # fmt: skip


@admin.register(ManagementSystem)
class ManagementSystemAdmin(SiteScopedAdmin, SimpleHistoryAdmin):
    """EnEfG §12: a site's energy or environmental management system, dated."""

    list_display = ("site", "kind", "state", "since", "valid_until", "document")
    list_filter = ("kind", "state", "site")
    search_fields = ("site__code", "document", "body")
    fields = ("site", "kind", "state", "since", "valid_until", "document", "body", "note")


class UploadForm(forms.Form):
    file = forms.FileField()
    replace = forms.BooleanField(
        required=False, help_text="Overwrite conflicting readings (old values kept as revisions)"
    )
    status = 200  # 413 once the file is refused for its size

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            bounds.check_size(upload.size, settings.READINGS_UPLOAD_MAX_BYTES, "the file")
        except bounds.TooLarge as exc:
            self.status = exc.status
            raise forms.ValidationError(exc.reason) from None
        return upload


class MeterSettingInline(admin.TabularInline):
    """Settings changes from a date on: the way to change a meter that has readings."""

    model = MeterSetting
    extra = 0
    fields = ("valid_from", "unit", "multiplier", "reason")

    def has_change_permission(self, request, obj=None):
        return False  # an interval is history too: add a later one

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MeasurementPoint)
class MeasurementPointAdmin(SiteScopedAdmin, SimpleHistoryAdmin):
    inlines = (MeterSettingInline,)
    list_display = ("code", "site", "quantity", "unit", "register", "multiplier", "valid_from")
    list_filter = ("quantity", "register", "unit", "site")
    search_fields = ("code", "device_id", "location")
    list_select_related = ("site",)
    readonly_fields = ("readings_link",)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("upload/", view(self.upload_readings), name="reporting_upload_readings"),
            path("import/", view(self.import_meters), name="reporting_import_meters"),
            path(
                "<path:object_id>/readings/",
                view(self.readings_view),
                name="reporting_measurementpoint_readings",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Readings")
    def readings_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:reporting_measurementpoint_readings", args=[obj.pk])
        return format_html('<a href="{}">Browse the readings of {}</a>', url, obj.code)

    def readings_view(self, request, object_id):
        """One meter's readings, read-only, in time order, a page at a time, optionally within
        local dates of the meter's site (the readings have no admin of their own: their key is
        (meter, timestamp))."""
        meter = self.get_object(request, object_id)
        # As the change page: permission first, then a meter outside the user's sites is "not
        # found" (redirected home), never shown.
        may_read = request.user.has_perm("reporting.view_reading")
        if not (may_read and self.has_view_permission(request, meter)):
            raise PermissionDenied
        if meter is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form = ReadingRangeForm(request.GET or None)
        page, local = None, ZoneInfo(meter.site.time_zone)
        if form.is_bound and not form.is_valid():
            readings = Reading.objects.none()
        else:
            start, end = form.range(local) if form.is_bound else (None, None)
            readings = selectors.meter_readings(meter, start, end)
        paginator = Paginator(readings, READINGS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Readings of {meter.code}",
            "meter": meter,
            "form": form,
            "page": page,
            # Formatted here: the template would turn them back into the active time zone.
            "rows": [
                (ts.astimezone(local).strftime("%Y-%m-%d %H:%M:%S %z"), value)
                for ts, value in page.object_list
            ],
            "query": query.urlencode(),
            "time_zone": meter.site.time_zone,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/reporting/measurementpoint/readings.html", context)

    def _allowed(self, request):
        return policy.writable_site_ids(request.user)

    def changelist_view(self, request, extra_context=None):
        # Upload and import are offered only to those who may write somewhere.
        extra_context = {**(extra_context or {}), "may_upload": self._writable(request, None)}
        return super().changelist_view(request, extra_context)

    def upload_readings(self, request):
        if not self._writable(request, None):
            raise PermissionDenied
        if request.method == "POST":
            try:  # before the body is parsed: an upload too large is never read
                bounds.check_form_upload(request.META, settings.READINGS_UPLOAD_MAX_BYTES)
            except bounds.TooLarge as exc:
                messages.error(request, exc.reason)
                form = UploadForm()
                form.status = exc.status
                return self._upload_page(request, form, None, "Upload readings (readings.csv)")
        form = UploadForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            submission = ingest.submit_readings(
                upload,
                user=request.user,
                source=upload.name,
                replace=form.cleaned_data["replace"],
                size=upload.size,
            )
            if submission.queued:
                job = submission.job
                messages.info(request, f"Queued as ingest job {job.pk}; see Ingest jobs.")
            elif submission.collided:  # nothing stored: upload it again
                messages.error(request, str(submission.collided))
            else:
                result = submission.report
                report = {
                    "summary": result.summary(),
                    "errors": result.errors.shown,
                    "conflicts": result.conflicts.shown,
                }
                if not result.accepted:
                    form.status = 400
        return self._upload_page(request, form, report, "Upload readings (readings.csv)")

    def import_meters(self, request):
        if not self._writable(request, None):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            lines = codecs.iterdecode(form.cleaned_data["file"], "utf-8-sig")
            result = ingest.import_meters(lines, allowed_site_ids=self._allowed(request))
            report = {"summary": result.summary(), "errors": result.errors.shown}
        return self._upload_page(request, form, report, "Import meters (meters.csv)")

    def _upload_page(self, request, form, report, title):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "report": report,
            "opts": self.model._meta,
            "help": "CSV with a header line; timestamps ISO 8601 with a UTC offset. "
            "A file with any bad line is rejected whole.",
        }
        return TemplateResponse(
            request, "admin/reporting/upload.html", context, status=getattr(form, "status", 200)
        )


READINGS_PER_PAGE = 100


class ReadingRangeForm(forms.Form):
    """The readings page's filter: local dates of the meter's site, both ends included."""

    start = forms.DateField(required=False, label="From (local date)", help_text="YYYY-MM-DD")
    end = forms.DateField(required=False, label="To (local date)", help_text="YYYY-MM-DD")

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("'From' is after 'To'.")
        return data

    def range(self, zone) -> tuple[datetime | None, datetime | None]:
        start, end = self.cleaned_data.get("start"), self.cleaned_data.get("end")
        lower = datetime.combine(start, time(), zone) if start else None
        upper = datetime.combine(end + timedelta(days=1), time(), zone) if end else None
        return lower, upper


class PeriodPartInline(admin.TabularInline):
    """Rows of a period: written only while the parent period may be changed."""

    def _parent_writable(self, request, obj) -> bool:
        if obj is None:
            return policy.may_write_somewhere(request.user)
        return obj.status == PeriodStatus.DRAFT and policy.can_write_at(request.user, obj.site)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._parent_writable(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._parent_writable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._parent_writable(request, obj)


class FieldValueInline(PeriodPartInline):
    model = FieldValue
    extra = 0
    fields = (
        "symbol",
        "value",
        "quality",
        "measured_by",
        "omission_reason",
        "note",
        "confidential",
    )


class SegmentInline(PeriodPartInline):
    model = PowerDemandSegment
    extra = 0


class InstrumentInline(PeriodPartInline):
    model = RenewableInstrument
    extra = 0


class ExemptionInline(PeriodPartInline):
    """EnEfG §11(3), §12(4) and (6): the ground, its dates and the proof."""

    model = EnefgExemption
    extra = 0
    fields = ("ground", "valid_from", "valid_until", "document", "note")


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _table(headers, rows):
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in r)),) for r in rows)
    )
    return format_html("<table><tr>{}</tr>{}</table>", head, body)


@admin.register(ReportingPeriod)
class ReportingPeriodAdmin(SiteScopedAdmin, SimpleHistoryAdmin):
    list_display = ("__str__", "status", "start_date", "end_date", "partial_year", "pue")
    list_filter = ("status", "year", "site")
    list_select_related = ("site", "result")
    inlines = (FieldValueInline, SegmentInline, InstrumentInline, ExemptionInline)
    actions = ("compute", "validate", "submit", "reopen")

    class Media:
        css = {"all": ("reporting/period.css",)}

    readonly_fields = (
        "status", "indicators", "monthly_chart", "inputs", "findings", "coverage", "computed",
        "label_preview", "management_systems", "field_dictionary",
    )  # fmt: skip
    # The answer first (indicators, findings, Compute and Export: the template's summary), then
    # what stands behind it, then the long forms.
    fieldsets = (
        (None, {"fields": ("site", "year", "partial_year", "start_date", "end_date", "status")}),
        ("Behind the figures", {"fields": (
            "computed", "label_preview", "monthly_chart", "management_systems", "inputs",
            "coverage")}),
        ("Entered information", {"fields": (
            "field_dictionary", "heat_reuse_readiness", "pdit_basis", "wue_category",
            "eit_method_note",
            "grid_functions", "refrigerants",
            "cdd_source", "cserv_scr_coverage_pct", "cstor_scr_coverage_pct", "fill_gaps",
            "notes")}),
    )  # fmt: skip
    change_form_template = "admin/reporting/reportingperiod/change_form.html"

    def _result(self, obj):
        return getattr(obj, "result", None) if obj and obj.pk else None

    @admin.display(description="PUE")
    def pue(self, obj):
        result = self._result(obj)
        value = result.indicators.get("PUE") if result else None
        return f"{float(value):.2f}" if value else "—"

    @admin.display(description="computed")
    def computed(self, obj):
        result = self._result(obj)
        if not result:
            return "not computed yet: press Compute"
        return f"{result.computed_at:%Y-%m-%d %H:%M} UTC by {result.code_version}"

    @admin.display(description="indicators")
    def indicators(self, obj):
        result = self._result(obj)
        if not result:
            return "—"
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td class="num" title="unrounded: {}">{}</td><td>{}</td>'
            "</tr>",
            (
                (name, raw or "blank", shown, unit)
                for name, shown, raw, unit in indicator_rows(result.indicators)
            ),
        )
        return format_html(
            '<table class="indicators"><tr><th>indicator</th><th>value</th><th>unit</th></tr>'
            '{}</table><p class="help">Rounded as in the EU workbook (2 decimals, half up); '
            'hover a value for the unrounded figure.</p><p class="help">{}</p>',
            rows,
            cue_factor_basis(result.indicators, obj.site.country),
        )

    @admin.display(description="2026 label (preview)")
    def label_preview(self, obj):
        result = self._result(obj)
        if not result:
            return "—"
        values = {s: _decimal(i.get("value")) for s, i in result.inputs.items()}
        indicators = {k: _decimal(result.indicators.get(k)) for k in ("PUE", "WUE")}
        profile = getattr(obj.site, "reporting_profile", None)
        preview = label_2026.for_period(obj, profile, values, indicators)
        # The SVG is built from numbers and escaped text only.
        svg = mark_safe(label_2026.svg(preview))  # noqa: S308
        return render_to_string(
            "admin/reporting/reportingperiod/label_2026.html", {"svg": svg, "label": preview}
        )

    @admin.display(description="monthly PUE, WUE and energy")
    def monthly_chart(self, obj):
        result = self._result(obj)
        # The SVG is built from numbers and escaped labels only.
        return mark_safe(monthly_svg(result.monthly)) if result else "—"  # noqa: S308

    @admin.display(description="Annex II inputs")
    def inputs(self, obj):
        result = self._result(obj)
        if not result:
            return "—"
        rows = [
            (
                format_html("<b>{}</b> {}", symbol, ANNEX_II_NAMES.get(symbol, "")),
                shown_figure(i["value"]),
                i["unit"],
                i["quality"],
                i.get("source") or "",
                i.get("coverage_pct") or "",
                "yes" if i.get("confidential") else "",
                i.get("omission_reason") or i.get("note") or "",
            )
            for symbol, i in result.inputs.items()
        ]
        headers = ("field", "value", "unit", "basis", "source", "coverage %", "confid.", "note")
        return _table(headers, rows)

    @admin.display(description="errors, warnings and compliance checks")
    def findings(self, obj):
        result = self._result(obj)
        if not result or not result.findings:
            return "none"
        rows = [
            (
                f["severity"],
                f["rule_id"],
                f["message"],
                f.get("legal_ref") or "",
                f.get("applies_from") or "",
            )
            for f in result.findings
        ]
        return _table(("severity", "rule", "message", "legal reference", "applies from"), rows)

    @admin.display(description="field dictionary")
    def field_dictionary(self, obj):
        if not obj or not obj.year:
            return "chosen by the year when the period is saved"
        schema, why = ind.governing_dictionary(obj.year)
        return format_html('<strong>{}</strong><p class="help">{}</p>', schema, why)

    @admin.display(description="EnEfG §12 management system")
    def management_systems(self, obj):
        if not obj or not obj.pk or obj.site.country != "DE":
            return "—"
        state, systems = selectors.management_state(obj.site, obj.end_date)
        rows = [
            (
                s.get_kind_display(),
                s.get_state_display(),
                s.since,
                s.valid_until or "open-ended",
                s.document,
                s.body,
            )
            for s in systems
        ]
        table = _table(("system", "state", "since", "until", "document", "by"), rows)
        return format_html(
            "<p>State on {}: <strong>{}</strong> (management systems are entered per site).</p>{}",
            obj.end_date,
            state,
            table if rows else "",
        )

    @admin.display(description="meter coverage")
    def coverage(self, obj):
        result = self._result(obj)
        if not result:
            return "—"
        rows = [
            (
                code,
                c["present"],
                c["expected"],
                c["pct"],
                "; ".join(
                    f"{g['from']}→{g['to']} ({g['missing_intervals']})"
                    for g in c["gaps"]
                    if "from" in g
                )[:300],
                len(c["resets"]),
            )
            for code, c in result.coverage.items()
        ]
        return _table(("meter", "present", "expected", "%", "gaps", "resets"), rows)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != PeriodStatus.DRAFT:
            return False  # validated and submitted periods are frozen; reopen first
        return super().has_change_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not policy.may_write_somewhere(request.user):
            for name in ("compute", "validate", "submit", "reopen"):
                actions.pop(name, None)
        return actions

    @admin.action(description="Compute (queue the task)")
    def compute(self, request, queryset):
        queued = []
        for period in queryset:
            if not policy.can_write_at(request.user, period.site):
                messages.error(request, f"{period}: you do not operate this site")
                continue
            queued.append((period, queue_compute(period, request.user)))
        if len(queued) == 1:
            period, run = queued[0]
            return HttpResponseRedirect(self._progress_url(period, run))
        for period, run in queued:
            messages.info(
                request,
                format_html(
                    '{}: computing — <a href="{}">follow its progress</a>',
                    period,
                    self._progress_url(period, run),
                ),
            )
        return None

    def _progress_url(self, period, run):
        return reverse("admin:reporting_period_compute", args=[period.pk, run.pk])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        period = self.get_object(request, object_id)
        if period is not None:
            extra_context = {**(extra_context or {}), **self._summary(request, period)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _summary(self, request, period) -> dict:
        """What the page leads with: the indicators, the findings by severity, and the two
        things to do next (compute, export)."""
        result = self._result(period)
        findings = list(result.findings) if result else []
        by_severity = {}
        for finding in findings:
            by_severity.setdefault(finding["severity"], []).append(finding)
        export = reverse("admin:exports_eu_workbook")
        return {
            "summary_indicators": self.indicators(period) if result else None,
            "summary_computed": self.computed(period),
            "summary_findings": [
                (severity, by_severity[severity])
                for severity in ("error", "warning", "info")
                if severity in by_severity
            ]
            + [(s, f) for s, f in by_severity.items() if s not in ("error", "warning", "info")],
            "may_compute": policy.can_write_at(request.user, period.site),
            "compute_url": reverse("admin:reporting_period_compute_now", args=[period.pk]),
            "export_url": f"{export}?year={period.year}&sites={period.site_id}",
        }

    def compute_now(self, request, period_id):
        """The Compute button on the period page: queue the computation, follow its progress."""
        period = get_object_or_404(ReportingPeriod.objects.select_related("site"), pk=period_id)
        if request.method != "POST" or not policy.can_write_at(request.user, period.site):
            raise PermissionDenied
        return HttpResponseRedirect(self._progress_url(period, queue_compute(period, request.user)))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:period_id>/compute/",
                view(self.compute_now),
                name="reporting_period_compute_now",
            ),
            path(
                "<int:period_id>/compute/<uuid:task_id>/",
                view(self.compute_progress),
                name="reporting_period_compute",
            ),
            *super().get_urls(),
        ]

    def compute_progress(self, request, period_id, task_id):
        """Progress of a queued computation, then its result (the page polls the task API)."""
        period = get_object_or_404(ReportingPeriod.objects.select_related("site"), pk=period_id)
        run = get_object_or_404(TaskRun, pk=task_id, period=period)
        if not self.has_view_permission(request, period) or not (
            request.user.is_superuser or run.requested_by_id == request.user.pk
        ):
            raise PermissionDenied
        finished = run.status not in (JobStatus.PENDING, JobStatus.RUNNING)
        result = self._result(period) if run.status == JobStatus.SUCCEEDED else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Computing {period}",
            "period": period,
            "run": run,
            "finished": finished,
            "status_label": JobStatus(run.status).label,
            "status_url": reverse("task", args=[run.pk]),
            "indicators": self.indicators(period) if result else None,
            "chart": self.monthly_chart(period) if result else None,
            "findings": len(result.findings) if result else None,
        }
        return TemplateResponse(
            request, "admin/reporting/reportingperiod/compute_progress.html", context
        )

    def _move(self, request, queryset, to):
        for period in queryset:
            if not policy.can_write_at(request.user, period.site):
                messages.error(request, f"{period}: you do not operate this site")
                continue
            try:
                transition(period, to, actor=request.user)
                messages.success(request, f"{period}: {to}")
            except ValidationError as exc:
                messages.error(request, f"{period}: {'; '.join(exc.messages)}")

    @admin.action(description="Validate (blocked by hard errors)")
    def validate(self, request, queryset):
        self._move(request, queryset, PeriodStatus.VALIDATED)

    @admin.action(description="Mark submitted")
    def submit(self, request, queryset):
        self._move(request, queryset, PeriodStatus.SUBMITTED)

    @admin.action(description="Reopen as draft")
    def reopen(self, request, queryset):
        self._move(request, queryset, PeriodStatus.DRAFT)


class ReadOnlyAdmin(ReadOnlyAdminMixin, SiteScopedAdmin, admin.ModelAdmin):
    """Rows the product writes; people read them at their own sites."""


@admin.action(description="Retry the selected failed jobs")
def retry_failed_jobs(modeladmin, request, queryset):
    """The same retry as the API's, for every job kind: failed jobs only, by their requester
    or a superuser."""
    retried, refused = 0, []
    for job in queryset:
        if not may_retry_job(request.user, job):
            refused.append(f"{job.pk}: only the requester or a superuser retries it")
            continue
        try:
            jobs.retry(job)
        except ValidationError as exc:
            refused.append(f"{job.pk}: {'; '.join(exc.messages)}")
        else:
            retried += 1
    if retried:
        messages.success(request, f"{retried} job(s) queued again.")
    for reason in refused:
        messages.warning(request, reason)


class RequesterScopedAdmin(ReadOnlyAdmin):
    """A job may touch several sites: it belongs to whoever started it (auditors see all)."""

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if policy.sees_all_sites(request.user):
            return queryset
        return queryset.filter(requested_by=request.user)

    def _readable(self, request, obj) -> bool:
        if not policy.can_read(request.user):
            return False
        return (
            obj is None
            or policy.sees_all_sites(request.user)
            or (obj.requested_by_id == request.user.pk)
        )

    def get_actions(self, request):
        # Only those who can start these jobs have failed ones of their own to retry.
        actions = super().get_actions(request)
        if not policy.may_write_somewhere(request.user):
            actions.pop("retry_failed_jobs", None)
        return actions


@admin.register(IngestJob)
class IngestJobAdmin(RequesterScopedAdmin):
    list_display = (
        "created_at", "source", "status", "attempts", "rows", "inserted", "unchanged", "message"
    )  # fmt: skip
    list_filter = ("status",)
    actions = (retry_failed_jobs,)


@admin.register(TaskRun)
class TaskRunAdmin(RequesterScopedAdmin):
    list_display = ("created_at", "name", "period", "year", "status", "attempts", "error")
    list_filter = ("status", "name")
    list_select_related = ("period__site",)
    actions = (retry_failed_jobs,)


@admin.register(ReadingRevision)
class ReadingRevisionAdmin(ReadOnlyAdmin):
    site_path = "meter__site"
    list_display = ("meter", "timestamp", "old_value", "new_value", "replaced_at", "replaced_by")
    list_select_related = ("meter", "replaced_by")
