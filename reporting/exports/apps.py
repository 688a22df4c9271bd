from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "reporting.exports"
    label = "exports"
    verbose_name = "Exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # "Export selected" on the registry's asset list. Registry cannot import reporting,
        # so the exports app adds its actions to the registered asset admin.
        from django.contrib import admin

        from registry.models import Asset
        from reporting.exports.admin import export_selected_csv, export_selected_xlsx

        asset_admin = admin.site._registry.get(Asset)
        if asset_admin is not None:
            names = [a if isinstance(a, str) else a.__name__ for a in asset_admin.actions or ()]
            for action in (export_selected_xlsx, export_selected_csv):
                if action.__name__ not in names:
                    asset_admin.actions = [*(asset_admin.actions or ()), action]
