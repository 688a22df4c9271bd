from django.contrib import admin

from accounts.models import ApiToken, TokenEvent
from circulus.admin import ReadOnlyAdminMixin


@admin.register(TokenEvent)
class TokenEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the audit trail of API tokens (superusers and auditors)."""

    list_display = ("at", "action", "for_username", "actor_name", "via")
    list_filter = ("action",)
    search_fields = ("for_username", "actor_name")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens told apart by prefix; the key itself is stored only as a hash and is shown once,
    by `create_api_token`, never here. Deleting a token revokes it."""

    list_display = ("prefix_shown", "user", "created", "expires")
    list_filter = ("expires",)
    search_fields = ("user__username", "prefix")
    fields = ("prefix_shown", "user", "created", "expires")
    readonly_fields = ("prefix_shown", "user", "created")
    list_select_related = ("user",)

    @admin.display(description="token", ordering="prefix")
    def prefix_shown(self, obj):
        return f"{obj.prefix}…"

    def has_add_permission(self, request):
        # A key can be shown only when it is issued: `circulus create_api_token USER`.
        return False
