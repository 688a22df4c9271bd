from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Asset registry"

    def ready(self):
        from registry import admin_reuse  # noqa: F401  (reuse-candidates admin page)
