"""The operators' admin: assets with their ledger, a record-event page, bulk actions, import/export.

Every change of an asset's life goes through `registry.services`; the admin parses input, calls
the service and shows its refusals against the fields they name.
"""

import datetime as dt
import re
import zoneinfo
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError, transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from import_export.admin import ExportMixin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper

from circulus.admin import ReadOnlyAdminMixin
from circulus.races import LOST_RACE_MESSAGE, lost_race
from registry import audits, expiry, import_jobs, labels, permissions, services, webhooks
from registry.admin_import import AssetImportMixin
from registry.forms import (
    INSTALLABLE_INTO,
    AssetCreateForm,
    ChooseKindForm,
    EventDetailsForm,
    InstallPartsForm,
    LabelSheetForm,
    RemovePartsForm,
    add_lifecycle_errors,
    possible_parents,
)
from registry.lifecycle import HOLDS_PARTS, EventKind, State, allowed_kinds
from registry.models import (
    Asset,
    AssetImportJob,
    ExpiryNotice,
    LifecycleEvent,
    Site,
    WebhookDelivery,
    WebhookSubscription,
)
from registry.resources import AssetResource
from registry.words import describe, plain_words

STATE_COLOURS = {
    State.ORDERED: "#6c757d",
    State.IN_STOCK: "#0d6efd",
    State.IN_SERVICE: "#198754",
    State.IN_REPAIR: "#fd7e14",
    State.AWAITING_DISPOSITION: "#d63384",
    State.RESERVED: "#6f42c1",
    State.AT_REFURBISHER: "#20c997",
    State.SOLD: "#495057",
    State.DONATED: "#495057",
    State.RETURNED: "#495057",
    State.AT_RECYCLER: "#8d6e00",
    State.RECYCLED: "#343a40",
    State.LOST: "#dc3545",
}


def state_badge(state: str):
    if not state:
        return "—"
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px;'
        'white-space:nowrap;font-size:11px">{}</span>',
        STATE_COLOURS.get(state, "#6c757d"),
        State(state).label,
    )


def installed_parts(asset) -> list[dict]:
    """The units installed in `asset`, each with the slot its installation named."""
    parts = list(asset.components.select_related("hardware_model").order_by("asset_tag"))
    slots = {}
    for asset_id, details in (
        LifecycleEvent.objects.filter(asset__in=parts, kind=EventKind.COMPONENT_INSTALLED)
        .order_by("asset_id", "occurred_at", "id")
        .values_list("asset_id", "details")
    ):
        slots[asset_id] = details.get("slot", "")  # the latest installation wins
    return [{"asset": p, "state": state_badge(p.state), "slot": slots.get(p.pk, "")} for p in parts]


_LEDGER_REASON = re.compile(r"^ledger event (\d+): ([a-z-]+)(?: \((.*) → (.*)\))?(.*)$")


def history_reason(reason: str) -> str:
    """ "ledger event 80: component-removed (in-stock → in-stock)" → "Ledger event 80: component
    removed (state stays in stock)"."""
    match = _LEDGER_REASON.match(reason)
    if not match:
        return plain_words(reason).capitalize() if reason else "—"
    number, kind, before, after, rest = match.groups()
    kind_label = EventKind(kind).label if kind in EventKind.values else kind
    text = f"Ledger event {number}: {kind_label.lower()}"
    if after:
        after_label = State(after).label.lower() if after in State.values else after
        before_label = State(before).label.lower() if before in State.values else ""
        text += (
            f" (stays {after_label})"
            if before == after
            else f" ({before_label or 'new'} → {after_label})"
        )
    return text + plain_words(rest)


class AssetHistoryWords(HistoricalRecordContextHelper):
    """A change in an asset's history as words: "removed from NU-SRV-01", labels not codes,
    blank as "—"."""

    def context_for_delta_changes(self, delta):
        rows = super().context_for_delta_changes(delta)
        for row, change in zip(rows, delta.changes, strict=True):
            if change.field == "parent":
                row["sentence"] = _parent_sentence(change.old, change.new)
        return rows

    def prepare_delta_change_value(self, change, value):
        field = self.model._meta.get_field(change.field)
        if isinstance(value, DeletedObject) and value.pk is None or value in (None, ""):
            return "—"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if field.choices:
            return dict(field.flatchoices).get(value, value)
        return super().prepare_delta_change_value(change, value)


def _parent_sentence(old, new) -> str:
    def tag(value):
        if value is None or isinstance(value, DeletedObject) and value.pk is None:
            return None
        return str(value) if not isinstance(value, DeletedObject) else f"asset #{value.pk}"

    before, after = tag(old), tag(new)
    if before and after:
        return f"moved from {before} into {after}"
    if after:
        return f"installed in {after}"
    return f"removed from {before}"


# --- sites ---------------------------------------------------------------------------------------


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "country", "time_zone", "sanitisation_policy")
    list_filter = ("country", "sanitisation_policy")
    search_fields = ("code", "name")
    filter_horizontal = ("operators",)

    def revert_disabled(self, request, obj=None):
        return True


# --- ledger --------------------------------------------------------------------------------------


class _ReadOnlyLedger(ReadOnlyAdminMixin):
    """The ledger is append-only: nobody adds, changes or deletes rows here, not even a
    superuser. New rows come from the record-event page (services.record_event)."""

    @admin.display(description="before")
    def before(self, event):
        return state_badge(event.state_before)

    @admin.display(description="after")
    def after(self, event):
        return state_badge(event.state_after)

    @admin.display(description="details")
    def event_details(self, event):
        return _details(event)


def _details(event):
    return describe(event.kind, event.details) or "—"


class LifecycleEventInline(_ReadOnlyLedger, admin.TabularInline):
    model = LifecycleEvent
    fk_name = "asset"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ("occurred_at", "kind", "before", "after", "event_details", "actor", "recorded_at")
    readonly_fields = fields
    ordering = ("occurred_at", "id")
    verbose_name_plural = "ledger"

    def get_queryset(self, request):
        # The asset too: each row's label names it by tag.
        return super().get_queryset(request).select_related("actor", "asset")


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(_ReadOnlyLedger, admin.ModelAdmin):
    list_display = ("occurred_at", "asset", "kind", "before", "after", "site", "actor")
    list_filter = ("kind", "site", "state_after", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("asset__asset_tag", "asset__serial_number")
    date_hierarchy = "occurred_at"
    list_select_related = ("asset", "site", "actor")
    readonly_fields = (
        "asset",
        "kind",
        "occurred_at",
        "recorded_at",
        "actor",
        "state_before",
        "state_after",
        "event_details",
        "corrects",
        "caused_by",
        "site",
        "sanitisation_method",
    )
    fields = readonly_fields
    actions = None


# --- assets --------------------------------------------------------------------------------------


class ExpiringFilter(admin.SimpleListFilter):
    title = "warranty, support or end of life"
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [(str(days), f"Within {days} days") for days in (30, 60, 90, 365)]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return expiry.expiring(queryset, int(self.value()), timezone.localdate())
        return queryset


class EolBeforeFilter(admin.SimpleListFilter):
    title = "planned end of life"
    parameter_name = "eol"

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Overdue"),
            ("90d", "Within 90 days"),
            ("1y", "Within 1 year"),
            ("later", "Later"),
            ("none", "Not set"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        value = self.value()
        if value == "overdue":
            return queryset.filter(planned_eol__lt=today)
        if value == "90d":
            return queryset.filter(planned_eol__gte=today, planned_eol__lt=today + dt.timedelta(90))
        if value == "1y":
            return queryset.filter(
                planned_eol__gte=today, planned_eol__lt=today + dt.timedelta(365)
            )
        if value == "later":
            return queryset.filter(planned_eol__gte=today + dt.timedelta(365))
        if value == "none":
            return queryset.filter(planned_eol__isnull=True)
        return queryset


class BulkEventForm(forms.Form):
    occurred_at = forms.SplitDateTimeField(
        widget=admin.widgets.AdminSplitDateTime,
        initial=lambda: timezone.localtime().replace(microsecond=0),
        label="happened at",
    )


class DecommissionForm(BulkEventForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class MoveForm(BulkEventForm):
    site = forms.ModelChoiceField(Site.objects.all(), to_field_name="code", required=False)
    room = forms.CharField(max_length=50, required=False)
    rack = forms.CharField(max_length=50, required=False)
    note = forms.CharField(max_length=500, required=False)

    def clean(self):
        data = super().clean()
        if not any(data.get(k) for k in ("site", "room", "rack")):
            raise forms.ValidationError("Name a new site, room or rack.")
        return data


class ReserveForm(BulkEventForm):
    reserved_by = forms.CharField(max_length=200)
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    request_ref = forms.CharField(max_length=100, required=False, label="request reference")


READONLY_ON_CHANGE = (
    "last_seen",  # by closing an audit
    # Set by ledger events (purchased, moved, component-…), never edited in place; the tag too,
    # since the ledger names parents by tag.
    "asset_tag",
    "hardware_model",
    "site",
    "room",
    "rack",
    "position_u",
    "parent",
    "purchase_date",
    "purchase_price",
    "currency",
    "supplier",
    "state_badge",
    "workload",
)


@admin.register(Asset)
class AssetAdmin(AssetImportMixin, ExportMixin, SimpleHistoryAdmin):
    resource_classes = [AssetResource]  # export only; imports go through registry.importing
    export_formats = [base_formats.CSV, base_formats.XLSX]
    change_form_template = "admin/registry/asset/change_form.html"
    change_list_template = "admin/registry/asset/change_list.html"
    # The state right after the tag, so it stays in view on a 1,366 px screen.
    list_display = (
        "asset_tag",
        "state_badge",
        "hardware_model",
        "site_code",
        "workload",
        "planned_eol",
        "location",
        "kind",
        "serial_number",
    )
    list_display_links = ("asset_tag",)
    list_filter = (
        "site",
        "state",
        "hardware_model__kind",
        ("hardware_model", admin.RelatedOnlyFieldListFilter),
        EolBeforeFilter,
        ExpiringFilter,
        "workload",
    )
    search_fields = ("asset_tag", "serial_number")
    list_select_related = ("hardware_model", "site")
    date_hierarchy = "planned_eol"
    list_per_page = 100
    inlines = [LifecycleEventInline]
    actions = ["decommission", "move", "reserve_for_reuse", "print_labels"]
    fieldsets = (
        (None, {"fields": ("asset_tag", "serial_number", "hardware_model", "state_badge")}),
        (
            "Where",
            {"fields": ("site", "room", "rack", "position_u", "parent", "workload", "last_seen")},
        ),
        ("Purchase", {"fields": ("supplier", "purchase_date", "purchase_price", "currency")}),
        (
            "Life",
            {
                "fields": (
                    "owner",
                    "warranty_end",
                    "support_end",
                    "planned_eol",
                    "measured_mass_kg",
                    "data_bearing",
                    "notes",
                )
            },
        ),
    )
    add_fieldsets = (
        (
            None,
            {"fields": ("asset_tag", "serial_number", "hardware_model", "site", "room", "rack")},
        ),
        ("", {"fields": ("position_u", "owner", "warranty_end", "support_end", "planned_eol")}),
        (
            "Purchase (recorded as the asset's first ledger event)",
            {
                "fields": (
                    "supplier",
                    "price",
                    "currency",
                    "purchase_date",
                    "order_ref",
                    "initial_state",
                    "occurred_at",
                )
            },
        ),
        ("Other", {"fields": ("measured_mass_kg", "data_bearing", "notes")}),
    )

    # --- list columns

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return state_badge(obj.state)

    @admin.display(description="site", ordering="site__code")
    def site_code(self, obj):
        return obj.site.code

    @admin.display(description="kind", ordering="hardware_model__kind")
    def kind(self, obj):
        return obj.hardware_model.get_kind_display()

    @admin.display(description="last seen")
    def last_seen(self, obj):
        seen = audits.last_seen(obj)
        if seen is None:
            return "not seen in an audit yet"
        sentence = seen.sentence(zoneinfo.ZoneInfo(obj.site.time_zone))
        if seen.audit is None:
            return sentence
        link = reverse("admin:registry_audit_change", args=[seen.audit])
        head, _, _ = sentence.rpartition(" (audit")
        return format_html('{} (<a href="{}">audit {}</a>)', head, link, seen.audit)

    @admin.display(description="location")
    def location(self, obj):
        parts = [obj.room, obj.rack, f"U{obj.position_u}" if obj.position_u is not None else ""]
        return " / ".join(p for p in parts if p) or "—"

    # --- permissions: operators write at their sites only, auditors read

    def has_add_permission(self, request):
        return super().has_add_permission(request) and permissions.may_record_somewhere(
            request.user
        )

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return permissions.may_record_somewhere(request.user)
        return permissions.can_write_at(request.user, obj.site)

    def has_delete_permission(self, request, obj=None):
        return False  # an asset with a ledger is never deleted: record `lost` or a correction

    def has_record_permission(self, request):
        return permissions.may_record_somewhere(request.user)

    def has_reserve_permission(self, request):
        return permissions.may_reserve_somewhere(request.user)

    def get_export_formats(self):
        return self.export_formats

    def has_import_permission(self, request):
        return self.has_add_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def revert_disabled(self, request, obj=None):
        return True  # a revert would rewrite state and location behind the ledger's back

    object_history_list_template = "admin/registry/asset/object_history_list.html"

    def get_historical_record_context_helper(self, request, historical_record):
        return AssetHistoryWords(self.model, historical_record)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs)
        for record in historical_records:
            record.reason_text = history_reason(record.history_change_reason or "")

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    # --- forms

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = AssetCreateForm
            kwargs["fields"] = None
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.actor = request.user
        return form

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Once a unit has held data it stays marked: the flag can be set here, never cleared.
        return READONLY_ON_CHANGE + (("data_bearing",) if obj.data_bearing else ())

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site" and not request.user.is_superuser:
            kwargs["queryset"] = Site.objects.filter(operators=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("hardware_model", "site")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # A new asset is registered by the service, with its `purchased` ledger row.
        asset = services.create_asset(**form.service_arguments())
        obj.__dict__.update(asset.__dict__)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    # --- record event

    def get_urls(self):
        extra = [
            path(
                "<path:object_id>/record-event/",
                self.admin_site.admin_view(self.record_event_view),
                name="registry_asset_record_event",
            ),
            path(
                "<path:object_id>/install-parts/",
                self.admin_site.admin_view(self.install_parts_view),
                name="registry_asset_install_parts",
            ),
            path(
                "<path:object_id>/remove-parts/",
                self.admin_site.admin_view(self.remove_parts_view),
                name="registry_asset_remove_parts",
            ),
            path(
                "<path:object_id>/label/",
                self.admin_site.admin_view(self.label_view),
                name="registry_asset_label",
            ),
        ]
        return extra + super().get_urls()

    def recordable_kinds(self, request, asset) -> list[str]:
        return [
            k
            for k in allowed_kinds(asset.state)
            if permissions.can_record(request.user, k, asset.site) and self._makes_sense(asset, k)
        ]

    @staticmethod
    def _makes_sense(asset, kind) -> bool:
        """Installing is offered to a loose unit with somewhere to go; removing to one inside."""
        if kind == EventKind.COMPONENT_INSTALLED:
            return asset.parent_id is None and possible_parents(asset).exists()
        if kind == EventKind.COMPONENT_REMOVED:
            return asset.parent_id is not None
        return True

    def may_install_parts(self, request, asset) -> bool:
        return (
            asset.state in INSTALLABLE_INTO
            and permissions.can_record(request.user, EventKind.COMPONENT_INSTALLED, asset.site)
            and (asset.hardware_model.kind in HOLDS_PARTS or asset.components.exists())
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        asset = self.get_object(request, object_id)
        if asset is not None:
            extra_context["can_record_event"] = bool(self.recordable_kinds(request, asset))
            extra_context["parts"] = installed_parts(asset)
            extra_context["holds_parts"] = asset.hardware_model.kind in HOLDS_PARTS
            extra_context["can_install"] = self.may_install_parts(request, asset)
        return super().change_view(request, object_id, form_url, extra_context)

    def _parts_context(self, request, asset, form, title):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": asset,
            "asset": asset,
            "state": state_badge(asset.state),
            "parts": installed_parts(asset),
            "title": title,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request, asset),
        }

    def install_parts_view(self, request, object_id):
        asset = get_object_or_404(
            Asset.objects.select_related("site", "hardware_model"), pk=object_id
        )
        if not self.may_install_parts(request, asset):
            raise PermissionDenied
        form = InstallPartsForm(
            request.POST if request.method == "POST" else None, parent=asset, user=request.user
        )
        if request.method == "POST" and form.is_valid():
            events = form.install()
            if events is not None:
                messages.success(request, f"Installed {len(events)} part(s) in {asset}.")
                return HttpResponseRedirect(
                    reverse("admin:registry_asset_change", args=[asset.pk]) + "#parts"
                )
        context = self._parts_context(request, asset, form, f"Install parts in {asset}")
        return TemplateResponse(request, "admin/registry/asset/install_parts.html", context)

    def remove_parts_view(self, request, object_id):
        asset = get_object_or_404(
            Asset.objects.select_related("site", "hardware_model"), pk=object_id
        )
        if not permissions.can_record(request.user, EventKind.COMPONENT_REMOVED, asset.site):
            raise PermissionDenied
        if request.method == "POST":
            form = RemovePartsForm(request.POST, parent=asset, user=request.user)
            if form.is_valid() and form.remove() is not None:
                n = len(form.cleaned_data["parts"])
                messages.success(request, f"Removed {n} part(s) from {asset}.")
                return HttpResponseRedirect(
                    reverse("admin:registry_asset_change", args=[asset.pk]) + "#parts"
                )
        else:
            chosen = asset.components.filter(asset_tag__in=request.GET.getlist("tag"))
            form = RemovePartsForm(initial={"parts": list(chosen)}, parent=asset, user=request.user)
        context = self._parts_context(request, asset, form, f"Remove parts from {asset}")
        return TemplateResponse(request, "admin/registry/asset/remove_parts.html", context)

    # "Save and add another" starts the next unit of the same delivery: same model, place,
    # supplier and purchase; the tag and serial number are the unit's own.
    KEPT_FOR_NEXT = ("hardware_model", "site", "room", "rack", "owner", "warranty_end",
                     "planned_eol", "supplier", "price", "currency", "purchase_date",
                     "order_ref", "initial_state")  # fmt: skip

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        if "_addanother" in request.POST and not request.POST.get("_popup"):
            kept = {
                name: request.POST[name]
                for name in self.KEPT_FOR_NEXT
                if request.POST.get(name) not in (None, "")
            }
            if "purchase_date" in kept and obj.purchase_date:
                kept["purchase_date"] = obj.purchase_date.isoformat()
            return HttpResponseRedirect(f"{request.path}?{urlencode(kept)}")
        return response

    def record_event_view(self, request, object_id):
        asset = get_object_or_404(
            Asset.objects.select_related("site", "hardware_model"), pk=object_id
        )
        kinds = self.recordable_kinds(request, asset)
        if not kinds:
            raise PermissionDenied
        kind = request.POST.get("kind") or request.GET.get("kind")
        chooser = details = None
        if kind not in kinds:
            if kind:
                messages.error(request, f"{asset} cannot take {plain_words(repr(str(kind)))} now.")
            chooser = ChooseKindForm(kinds=kinds)
        elif request.method == "POST" and "_record" in request.POST:
            details = EventDetailsForm(request.POST, kind=kind, asset=asset)
            if details.is_valid():
                try:
                    services.record_event(
                        asset, kind, actor=request.user, **details.service_arguments()
                    )
                except services.LifecycleError as exc:
                    add_lifecycle_errors(details, exc)
                except OperationalError as exc:
                    if not lost_race(exc):
                        raise
                    details.add_error(None, LOST_RACE_MESSAGE.capitalize() + ".")
                else:
                    messages.success(request, f"Recorded '{EventKind(kind).label}' for {asset}.")
                    return HttpResponseRedirect(
                        reverse("admin:registry_asset_change", args=[asset.pk])
                    )
        else:
            details = EventDetailsForm(kind=kind, asset=asset)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": asset,
            "asset": asset,
            "state": state_badge(asset.state),
            "title": f"Record event: {asset}",
            "chooser": chooser,
            "form": details,
            "kind": kind,
            "kind_label": EventKind(kind).label if details else "",
            "media": self.media + (details.media if details else forms.Media()),
            "has_view_permission": self.has_view_permission(request, asset),
        }
        return TemplateResponse(request, "admin/registry/asset/record_event.html", context)

    # --- labels

    def label_view(self, request, object_id):
        """One label on a label-sized page, for a label printer."""
        asset = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_or_change_permission(request, asset):
            raise PermissionDenied
        form = LabelSheetForm(request.GET or None)
        layout = form.cleaned_data["layout"] if form.is_valid() else labels.DEFAULT_LAYOUT
        (text,) = labels.labels_for(Asset.objects.filter(pk=asset.pk), request)
        return labels.pdf_response(labels.single_pdf(text, layout), f"label-{asset.pk}.pdf")

    @admin.action(description="Print labels for selected assets…")
    def print_labels(self, request, queryset):
        count = queryset.count()
        if count > labels.MAX_LABELS:
            messages.error(
                request,
                f"{count} assets are selected; labels are printed for at most "
                f"{labels.MAX_LABELS} at a time. Narrow the list with its filters.",
            )
            return None
        form = LabelSheetForm(request.POST if "_apply" in request.POST else None)
        if form.is_valid():
            pdf = labels.sheet_pdf(
                labels.labels_for(queryset.order_by("asset_tag"), request),
                form.cleaned_data["layout"],
                skip=form.cleaned_data["skip"],
            )
            return labels.pdf_response(pdf, "asset-labels.pdf")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Print asset labels",
            "form": form,
            "count": count,
            "selected": list(queryset.values_list("pk", flat=True)),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/registry/asset/print_labels.html", context)

    # --- bulk actions

    def _bulk(self, request, queryset, *, kind, form_class, title, details_of):
        if "_apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                self._apply_bulk(request, queryset, kind, form, details_of)
                return None
        else:
            form = form_class()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "queryset": queryset.select_related("site"),
            "action": request.POST.get("action"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/registry/asset/bulk_event.html", context)

    def _apply_bulk(self, request, queryset, kind, form, details_of):
        done, refused = 0, 0
        details = details_of(form.cleaned_data)
        for asset in queryset.select_related("site"):
            if not permissions.can_record(request.user, kind, asset.site):
                refused += 1
                messages.warning(request, f"{asset}: you may not record events at {asset.site}.")
                continue
            try:
                services.record_event(
                    asset,
                    kind,
                    occurred_at=form.cleaned_data["occurred_at"],
                    actor=request.user,
                    details=dict(details),
                )
            except services.LifecycleError as exc:
                refused += 1
                reasons = " ".join(plain_words(m) for ms in exc.message_dict.values() for m in ms)
                messages.warning(request, f"{asset}: refused. {reasons}")
            except OperationalError as exc:
                if not lost_race(exc):
                    raise
                refused += 1
                messages.warning(request, f"{asset}: refused. {LOST_RACE_MESSAGE.capitalize()}.")
            else:
                done += 1
        label = EventKind(kind).label.lower()
        if done:
            messages.success(request, f"{label}: recorded for {done} asset(s).")
        if refused:
            messages.error(request, f"{label}: refused for {refused} asset(s); see above.")

    @admin.action(description="Decommission selected assets…", permissions=["record"])
    def decommission(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            kind=EventKind.DECOMMISSIONED,
            form_class=DecommissionForm,
            title="Decommission assets",
            details_of=lambda d: {"reason": d["reason"]},
        )

    @admin.action(description="Move selected assets…", permissions=["record"])
    def move(self, request, queryset):
        def details_of(d):
            out = {"site": d["site"].code if d.get("site") else ""}
            out.update({k: d[k] for k in ("room", "rack", "note") if d.get(k)})
            return {k: v for k, v in out.items() if v}

        return self._bulk(
            request,
            queryset,
            kind=EventKind.MOVED,
            form_class=MoveForm,
            title="Move assets",
            details_of=details_of,
        )

    @admin.action(description="Reserve selected assets for reuse…", permissions=["reserve"])
    def reserve_for_reuse(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            kind=EventKind.RESERVED_FOR_REUSE,
            form_class=ReserveForm,
            title="Reserve assets for reuse",
            details_of=lambda d: {
                k: d[k] for k in ("reserved_by", "purpose", "request_ref") if d.get(k)
            },
        )

    def changelist_view(self, request, extra_context=None):
        # An exact asset tag or serial number the user may see opens that unit directly.
        term = request.GET.get("q", "").strip()
        if term and " " not in term and not request.GET.get("_popup"):
            match = list(
                self.get_queryset(request)
                .filter(Q(asset_tag=term) | Q(serial_number=term))
                .values_list("pk", flat=True)[:2]
            )
            if len(match) == 1:
                return HttpResponseRedirect(reverse("admin:registry_asset_change", args=match))
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # Exact tag/serial first (an index hit), falling back to contains.
        if search_term and " " not in search_term.strip():
            exact = queryset.filter(
                Q(asset_tag=search_term.strip()) | Q(serial_number=search_term.strip())
            )
            if exact.exists():
                return exact, False
        return super().get_search_results(request, queryset, search_term)


@admin.register(ExpiryNotice)
class ExpiryNoticeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What the daily digests told, and to whom: read-only, written by the digest task."""

    list_display = ("asset", "kind", "due", "threshold_days", "recipient", "sent_at")
    list_filter = ("kind", "threshold_days", ("asset__site", admin.RelatedOnlyFieldListFilter))
    search_fields = ("asset__asset_tag",)
    list_select_related = ("asset", "recipient")
    date_hierarchy = "due"

    def has_view_permission(self, request, obj=None):
        return permissions.can_read_in_admin(request.user)

    def has_module_permission(self, request):
        return permissions.can_read_in_admin(request.user)


@admin.register(AssetImportJob)
class AssetImportJobAdmin(admin.ModelAdmin):
    """Large asset imports run by a worker: progress, then the outcome and every error. Each
    user sees their own jobs; superusers see all. Read-only: the worker writes them; a failed
    job whose file is still stored can be retried."""

    list_display = (
        "created_at", "source", "status", "attempts", "rows_checked", "created", "requested_by"
    )  # fmt: skip
    list_filter = ("status",)
    fields = (
        "source",
        "status",
        "rows_checked",
        "created",
        "message",
        "error_table",
        "requested_by",
        "attempts",
        "worker",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    )
    readonly_fields = fields
    actions = ("retry_failed_imports",)

    @admin.action(description="Retry the selected failed imports", permissions=["import"])
    def retry_failed_imports(self, request, queryset):
        """Each failed job is queued again from its stored file (the queryset holds only the
        user's own jobs, or every job for a superuser); each other one says why not."""
        from circulus.api import QueueUnavailable  # not at import time: DRF reads the settings

        retried = 0
        for job in queryset:
            name = job.source or "The import"
            try:
                import_jobs.retry(job)
            except ValidationError as exc:
                messages.warning(request, f"{name} was not retried. {' '.join(exc.messages)}")
            except QueueUnavailable:
                messages.error(
                    request,
                    f"{name} was not retried because the task queue cannot be reached. It stays "
                    "failed with its file kept: retry it once the queue is back.",
                )
            else:
                retried += 1
        if retried:
            messages.success(
                request,
                f"{retried} import(s) queued again. Each job's page shows its progress and "
                "outcome.",
            )

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("requested_by")
        return queryset if request.user.is_superuser else queryset.filter(requested_by=request.user)

    @admin.display(description="errors (row 1 is the header)")
    def error_table(self, job):
        if not job.errors:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (e["row"] or "file", e["column"] or "—", e["value"] or "(blank)", e["message"])
                for e in job.errors
            ),
        )
        return format_html(
            "<table><tr><th>row</th><th>column</th><th>value</th><th>reason</th></tr>{}</table>",
            rows,
        )

    def has_view_permission(self, request, obj=None):
        # Those who may import assets (the import page's own rule) follow their jobs here.
        user = request.user
        return user.is_active and user.is_staff and user.has_perm("registry.add_asset")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_import_permission(self, request):
        # A retry imports again, as its requester: offered to those who may import.
        return self.has_view_permission(request)


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 70}),
        label="Address",
        help_text="Receives a signed POST per matching ledger event.",
    )
    kinds = forms.MultipleChoiceField(
        choices=EventKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Event kinds",
        help_text="None ticked: every kind.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ("name", "url", "active", "kinds", "sites", "from_state", "to_state")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Superusers only (no role is given these permissions): an address receives ledger data."""

    form = WebhookSubscriptionForm
    list_display = ("name", "url", "active", "which_events", "created_at")
    list_filter = ("active",)
    filter_horizontal = ("sites",)
    actions = ["rotate_secret"]

    @admin.display(description="events")
    def which_events(self, obj):
        kinds = ", ".join(EventKind(k).label.lower() for k in obj.kinds) or "every kind"
        change = ""
        if obj.from_state or obj.to_state:
            before = State(obj.from_state).label if obj.from_state else "any state"
            after = State(obj.to_state).label if obj.to_state else "any state"
            change = f"; from {before.lower()} to {after.lower()}"
        return kinds + change

    def save_model(self, request, obj, form, change):
        if not change:
            obj.secret = webhooks.new_secret()
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            _show_secret_once(request, obj)

    @admin.action(description="Give the selected subscriptions a new signing secret…")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            subscription.secret = webhooks.new_secret()
            subscription.save(update_fields=["secret"])
            _show_secret_once(request, subscription)


def _show_secret_once(request, subscription) -> None:
    messages.warning(
        request,
        format_html(
            "The signing secret of “{}” is <code>{}</code>. Copy it to the receiver now: it is "
            "not shown again (a new one can be made with the “new signing secret” action).",
            subscription.name,
            subscription.secret,
        ),
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The delivery log: what was sent where, how often, and what the receiver answered."""

    list_display = (
        "created_at",
        "subscription",
        "asset",
        "event_kind",
        "outcome",
        "attempts",
        "last_status",
        "last_error",
        "delivered_at",
    )
    list_filter = ("outcome", "subscription")
    search_fields = ("asset__asset_tag", "=id")
    list_select_related = ("subscription", "asset", "event")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["send_again"]

    @admin.display(description="event")
    def event_kind(self, obj):
        return EventKind(obj.event.kind).label

    @admin.action(description="Send the selected deliveries again now", permissions=["view"])
    def send_again(self, request, queryset):
        count = webhooks.retry(queryset)
        transaction.on_commit(webhooks.send_soon)
        messages.success(
            request, f"{count} deliver{'y' if count == 1 else 'ies'} will be sent again."
        )
