"""Admin: export jobs (read-only) and the pages that write the EU annual workbook and the
e-waste report."""

import tempfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from registry import permissions as registry_policy
from registry.models import Site
from reporting import permissions as policy
from reporting.admin import retry_failed_jobs
from reporting.exports import eu_workbook, ewaste, jobs
from reporting.exports.models import ExportJob, ExportKind, SavedReport


class EuWorkbookForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2100)
    sites = forms.ModelMultipleChoiceField(
        Site.objects.all(), required=False, help_text="None selected: every site you may export."
    )
    variant = forms.ChoiceField(
        choices=[
            ("submit", "submit: everything"),
            ("publish", "publish: no confidential field"),
            ("de-rzreg", "de-rzreg: Germany's register (EnEfG Anlage 3)"),
        ]
    )
    output = forms.ChoiceField(choices=[("xlsx", "Workbook (.xlsx)"), ("zip", "CSV twins (.zip)")])
    allow_unvalidated = forms.BooleanField(
        required=False,
        help_text="Also export sites whose period is not validated; the README sheet says so.",
    )


class EwasteForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2100)
    sites = forms.ModelMultipleChoiceField(
        Site.objects.all(), required=False, help_text="None selected: every site you may export."
    )


def _initial(request) -> dict:
    """A link may fill in the form (the period page sends its year and site)."""
    initial = {"year": request.GET.get("year")} if request.GET.get("year") else {}
    if request.GET.getlist("sites"):
        initial["sites"] = request.GET.getlist("sites")
    return initial


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "progress", "requested_by", "created_at", "attempts")
    list_filter = ("kind", "state")
    actions = (retry_failed_jobs,)
    readonly_fields = [f.name for f in ExportJob._meta.fields]
    change_list_template = "admin/exports/exportjob/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if policy.sees_all_sites(request.user):
            return queryset
        return queryset.filter(requested_by=request.user)

    def has_view_permission(self, request, obj=None):
        allowed = super().has_view_permission(request, obj)
        return allowed and (obj is None or policy.can_see_export(request.user, obj))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_export_eu": policy.can_read(request.user)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        page = self.admin_site.admin_view
        return [
            path("eu-workbook/", page(self.eu_workbook_view), name="exports_eu_workbook"),
            path("ewaste/", page(self.ewaste_view), name="exports_ewaste"),
            *super().get_urls(),
        ]

    def ewaste_view(self, request):
        """Write the e-waste and circularity report for a year and send it."""
        if not policy.can_read(request.user):
            raise PermissionDenied
        form = EwasteForm(request.POST or None, initial=_initial(request))
        form.fields["sites"].queryset = policy.scope(Site.objects.all(), request.user, "pk")
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                params = jobs.authorise(
                    request.user, ExportKind.EWASTE, {"sites": [s.code for s in d["sites"]]}
                )
            except PermissionDenied as exc:
                messages.error(request, str(exc))
            else:
                handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response
                ewaste.write_workbook(params.get("sites") or None, d["year"], handle)
                handle.seek(0)
                name = f"ewaste-{d['year']}.xlsx"
                return FileResponse(handle, as_attachment=True, filename=name)
        context = {
            **self.admin_site.each_context(request),
            "title": "E-waste and circularity report",
            "form": form,
            "opts": self.model._meta,
            "jobs_url": reverse("admin:exports_exportjob_changelist"),
        }
        return TemplateResponse(request, "admin/exports/ewaste.html", context)

    def eu_workbook_view(self, request):
        """Write the EU annual workbook synchronously and send it."""
        if not policy.can_read(request.user):
            raise PermissionDenied
        form = EuWorkbookForm(request.POST or None, initial=_initial(request))
        form.fields["sites"].queryset = policy.scope(Site.objects.all(), request.user, "pk")
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            codes = [s.code for s in d["sites"]]
            try:
                params = jobs.authorise(request.user, ExportKind.EU_ANNUAL, {"sites": codes})
                data = eu_workbook.report_data(
                    d["year"],
                    params.get("sites") or None,
                    variant=d["variant"],
                    allow_unvalidated=d["allow_unvalidated"],
                )
                data = jobs.for_reader(data, request.user)
            except (
                PermissionDenied,
                eu_workbook.NotValidated,
                eu_workbook.MissingInputs,
            ) as exc:
                messages.error(request, str(exc))
            else:
                handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response
                if d["output"] == "zip":
                    eu_workbook.write_csv_zip(data, handle)
                else:
                    eu_workbook.write_xlsx(data, handle)
                handle.seek(0)
                prefix = "rzreg" if d["variant"] == eu_workbook.RZREG else "eu"
                name = f"{prefix}-{d['year']}-{d['variant']}.{d['output']}"
                return FileResponse(handle, as_attachment=True, filename=name)
        context = {
            **self.admin_site.each_context(request),
            "title": "EU annual workbook",
            "form": form,
            "opts": self.model._meta,
            "jobs_url": reverse("admin:exports_exportjob_changelist"),
        }
        return TemplateResponse(request, "admin/exports/eu_workbook.html", context)


@admin.action(description="Export selected assets (XLSX)")
def export_selected_xlsx(modeladmin, request, queryset):
    from reporting.exports.assets import export_assets_response
    from reporting.exports.jobs import exportable_assets

    return export_assets_response(
        exportable_assets(request.user, queryset), fmt="xlsx", filename="assets-selected"
    )


@admin.action(description="Export selected assets (CSV)")
def export_selected_csv(modeladmin, request, queryset):
    from reporting.exports.assets import export_assets_response
    from reporting.exports.jobs import exportable_assets

    return export_assets_response(
        exportable_assets(request.user, queryset), fmt="csv", filename="assets-selected"
    )


class SavedReportForm(forms.ModelForm):
    params = forms.JSONField(
        label="Parameters",
        required=False,
        initial=dict,
        help_text='The export\'s parameters, e.g. {"site": "PAR1", "format": "csv"} for an '
        'asset register, {"year": 2025, "sites": ["PAR1"]} for an e-waste report.',
    )

    class Meta:
        model = SavedReport
        fields = (
            "name", "kind", "params", "schedule", "weekday", "day_of_month", "recipients"
        )  # fmt: skip

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind:
            from rest_framework.exceptions import ValidationError as ApiValidationError

            from reporting.exports.api import validate_params

            try:
                data["params"] = validate_params(kind, data.get("params") or {})
                jobs.authorise(self.user, kind, data["params"])
            except ApiValidationError as exc:
                raise forms.ValidationError(_sentences(exc.detail)) from exc
            except PermissionDenied as exc:
                raise forms.ValidationError(str(exc)) from exc
        return data


def _sentences(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {' '.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in
                detail.items()]  # fmt: skip
    return [str(d) for d in detail]


@admin.register(SavedReport)
class SavedReportAdmin(admin.ModelAdmin):
    """Each user's saved reports (superusers see everyone's); created with its owner's rights."""

    form = SavedReportForm
    list_display = ("name", "kind", "schedule", "owner", "last_sent_at", "last_error")
    list_filter = ("kind", "schedule")
    readonly_fields = ("owner", "last_sent_at", "last_job", "last_error")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class WithUser(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, user=request.user, **kw)

        return WithUser

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("owner")
        return qs if request.user.is_superuser else qs.filter(owner=request.user)

    def _may(self, request) -> bool:
        user = request.user
        exporting = {registry_policy.OPERATOR, registry_policy.PROCUREMENT, registry_policy.AUDITOR}
        return user.is_active and (
            user.is_superuser or bool(registry_policy.roles(user) & exporting)
        )

    def has_module_permission(self, request):
        return self._may(request)

    def has_view_permission(self, request, obj=None):
        return self._may(request)

    def has_add_permission(self, request):
        return self._may(request)

    def has_change_permission(self, request, obj=None):
        return self._may(request)

    def has_delete_permission(self, request, obj=None):
        return self._may(request)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)
