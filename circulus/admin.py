"""Admin pieces every app shares."""


class ReadOnlyAdminMixin:
    """An admin that shows rows and never adds, changes or deletes them: trails, logs and
    records that only the product's own writers make."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
