"""Admin for connectors: sources (credentials write-only), meter feeds, the model mapping, and
pulls with their dry-run diff and the confirmation that applies it."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from circulus.admin import ReadOnlyAdminMixin
from connectors import inventory, pulls
from connectors import permissions as policy
from connectors.clients import snmp
from connectors.models import MeterFeed, ModelMapping, Pull, Source, SourceKind
from hardware.models import HardwareKind

CREDENTIAL_FIELDS = (
    "username",
    "password",
    "community",
    "token",
    "privacy_password",
    "snmp_auth_protocol",
    "snmp_privacy_protocol",
    "snmp_context",
)


def _secret(help_text: str, label: str | None = None) -> forms.CharField:
    """An input that is written and never rendered back (its value stays off the page)."""
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=help_text,
    )


class SourceForm(forms.ModelForm):
    """Credentials are written, never read back: the inputs always start empty; leaving them
    empty keeps what is stored, `clear_credentials` removes it."""

    username = _secret("Redfish user, or the SNMP v3 user (a user makes an SNMP source use v3)")
    password = _secret(
        "Redfish password, or the SNMP v3 authentication pass phrase (8 characters or more)"
    )
    community = _secret("SNMP v2c community (used when no SNMP v3 user is given)")
    token = _secret("Prometheus bearer token")
    privacy_password = _secret(
        "encrypts the SNMP v3 exchange (8 characters or more); blank: authentication without "
        "encryption",
        label="SNMP v3 privacy pass phrase",
    )
    snmp_auth_protocol = forms.ChoiceField(
        label="SNMP v3 authentication",
        required=False,
        choices=[("", "SHA (the default)"), *((p, p) for p in snmp.AUTH_PROTOCOLS)],
    )
    snmp_privacy_protocol = forms.ChoiceField(
        label="SNMP v3 privacy",
        required=False,
        choices=[("", "AES-128 (the default)"), *((p, p) for p in snmp.PRIVACY_PROTOCOLS)],
    )
    snmp_context = forms.CharField(
        label="SNMP v3 context",
        required=False,
        help_text="the context name, where the agent asks for one (most PDUs: blank)",
    )
    clear_credentials = forms.BooleanField(required=False)

    class Meta:
        model = Source
        fields = [
            "name",
            "kind",
            "endpoint",
            "site",
            "reads_inventory",
            "interval_minutes",
            "timeout_s",
            "verify_tls",
            "enabled",
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == SourceKind.SNMP and cleaned.get("username"):
            given = snmp.Credentials.from_stored(cleaned)
            for field, reason in given.problems().items():
                self.add_error(field, reason)
        return cleaned

    def save(self, commit=True):
        source = super().save(commit=False)
        given = {k: self.cleaned_data.get(k) for k in CREDENTIAL_FIELDS}
        if self.cleaned_data.get("clear_credentials"):
            source.set_credentials({})
        elif any(given.values()):
            source.set_credentials(given)
        if commit:
            source.save()
        return source


class MeterFeedInline(admin.TabularInline):
    model = MeterFeed
    extra = 0
    fields = ("meter", "sensor", "sensor_unit")
    autocomplete_fields = ()


class ReadByRegistryReaders:
    """Read by whoever reads the registry; the one pulling action only for those who may pull
    at some site (connectors/permissions.py)."""

    pulling_action = ""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not policy.may_pull_somewhere(request.user):
            actions.pop(self.pulling_action, None)
        return actions

    def has_module_permission(self, request):
        return policy.can_read(request.user)

    def has_view_permission(self, request, obj=None):
        return policy.can_read(request.user)


@admin.register(Source)
class SourceAdmin(ReadByRegistryReaders, admin.ModelAdmin):
    form = SourceForm
    list_display = ("name", "kind", "site", "endpoint", "enabled", "credentials", "last_pull")
    list_filter = ("kind", "site", "enabled")
    search_fields = ("name", "endpoint")
    inlines = [MeterFeedInline]
    readonly_fields = ("credentials",)
    actions = ["pull_now"]
    fieldsets = (
        (None, {"fields": ("name", "kind", "endpoint", "site", "enabled")}),
        (
            "Schedule",
            {"fields": ("reads_inventory", "interval_minutes", "timeout_s", "verify_tls")},
        ),
        (
            "Credentials (write-only: never shown again once saved)",
            {
                "fields": ("credentials", *CREDENTIAL_FIELDS, "clear_credentials"),
                "description": "A secret is never sent back to this page: after an error, "
                "type the credentials again. Left empty on a later save, what is stored stays.",
            },
        ),
    )

    @admin.display(description="credentials")
    def credentials(self, obj):
        return "set" if obj and obj.has_credentials else "not set"

    @admin.display(description="last pull")
    def last_pull(self, obj):
        pull = obj.pulls.order_by("-created_at").first()
        return f"{pull.get_state_display()} {pull.created_at:%Y-%m-%d %H:%M}" if pull else "never"

    @admin.action(description="Pull the selected sources now")
    def pull_now(self, request, queryset):
        for source in queryset.select_related("site"):
            if not policy.can_pull(request.user, source.site):
                self.message_user(
                    request, f"{source}: you do not operate {source.site.code}", messages.ERROR
                )
                continue
            try:
                pulls.start(source, request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                continue
            self.message_user(request, f"{source}: pull queued")

    pulling_action = "pull_now"

    def has_add_permission(self, request):
        return policy.can_manage_sources(request.user)

    def has_change_permission(self, request, obj=None):
        return policy.can_manage_sources(request.user)

    def has_delete_permission(self, request, obj=None):
        return policy.can_manage_sources(request.user)


@admin.register(ModelMapping)
class ModelMappingAdmin(admin.ModelAdmin):
    list_display = ("part_kind", "reported_part_number", "reported_model", "hardware_model")
    list_filter = ("part_kind",)
    search_fields = ("reported_part_number", "reported_model", "hardware_model__name")
    raw_id_fields = ("hardware_model",)

    def has_module_permission(self, request):
        return policy.can_read(request.user)

    def has_view_permission(self, request, obj=None):
        return policy.can_read(request.user)

    def has_add_permission(self, request):
        return policy.can_map_models(request.user)

    def has_change_permission(self, request, obj=None):
        return policy.can_map_models(request.user)

    def has_delete_permission(self, request, obj=None):
        return policy.can_map_models(request.user)


KIND_LABELS = dict(HardwareKind.choices)


@admin.register(Pull)
class PullAdmin(ReadOnlyAdminMixin, ReadByRegistryReaders, admin.ModelAdmin):
    list_display = ("source", "state", "created_at", "attempts", "outcome_or_error", "applied_at")
    list_filter = ("state", "source__kind", "source__site")
    fields = (
        "source",
        "state",
        "progress",
        "attempts",
        "created_at",
        "finished_at",
        "retry_at",
        "outcome",
        "error",
        "dry_run",
        "applied_at",
        "applied_by",
        "log",
    )
    readonly_fields = fields
    actions = ["apply_dry_run"]

    @admin.display(description="outcome")
    def outcome_or_error(self, obj):
        return obj.outcome or obj.error

    @admin.display(description="inventory dry run")
    def dry_run(self, obj):
        diff = obj.diff or {}
        if not diff.get("units"):
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    KIND_LABELS.get(u["kind"], u["kind"]),
                    u["serial"] or "—",
                    u["model"] or "—",
                    u["part_number"] or "—",
                    u["hardware_model"] or "—",
                    u["asset"] or "—",
                    inventory.ACTION_LABELS[u["action"]],
                )
                for u in diff["units"]
            ),
        )
        missing = format_html_join(
            "",
            "<li>{} (serial {}) in {}: not reported (left as it is)</li>",
            ((m["asset"], m["serial"], m["parent"]) for m in diff.get("missing", [])),
        )
        return format_html(
            "<p>{}</p><table><thead><tr><th>Unit</th><th>Serial</th><th>Reported model</th>"
            "<th>Part number</th><th>Catalogue model</th><th>Asset</th><th>Applying does</th>"
            "</tr></thead><tbody>{}</tbody></table><ul>{}</ul>",
            inventory.summary(diff),
            rows,
            missing,
        )

    @admin.action(description="Apply the selected inventory dry run (ledger events)")
    def apply_dry_run(self, request, queryset):
        for pull in queryset.select_related("source__site"):
            try:
                result = inventory.apply(pull, request.user)
            except ValidationError as exc:
                self.message_user(request, f"{pull}: {' '.join(exc.messages)}", messages.ERROR)
                continue
            self.message_user(request, f"{pull}: {result['events']} ledger event(s) recorded")

    pulling_action = "apply_dry_run"
