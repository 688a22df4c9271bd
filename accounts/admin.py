from django.contrib import admin

from accounts.models import TokenEvent


@admin.register(TokenEvent)
class TokenEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail of API tokens (superusers and auditors)."""

    list_display = ("at", "action", "for_username", "actor_name", "via")
    list_filter = ("action",)
    search_fields = ("for_username", "actor_name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
