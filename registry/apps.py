from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Asset registry"

    def ready(self):
        from hardware import calibration
        from registry import admin_reuse  # noqa: F401  (reuse-candidates admin page)
        from registry.measurements import as_calibration_rows

        # The catalogue's calibration command fits a site's recorded runs on request; hardware
        # cannot import the registry, so the registry hands it their reader.
        if as_calibration_rows not in calibration.SITE_MEASUREMENT_READERS:
            calibration.SITE_MEASUREMENT_READERS.append(as_calibration_rows)
