from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Asset registry"

    def ready(self):
        from django.db.models.signals import post_save

        from hardware import calibration
        from registry import admin_audit, admin_reuse  # noqa: F401  (audits, reuse candidates)
        from registry.measurements import as_calibration_rows
        from registry.models import LifecycleEvent

        # The catalogue's calibration command fits a site's recorded runs on request; hardware
        # cannot import the registry, so the registry hands it their reader.
        if as_calibration_rows not in calibration.SITE_MEASUREMENT_READERS:
            calibration.SITE_MEASUREMENT_READERS.append(as_calibration_rows)
        post_save.connect(_queue_webhooks, sender=LifecycleEvent, dispatch_uid="registry-webhooks")


def _queue_webhooks(sender, instance, created, raw=False, **kwargs):
    """Every ledger row written one at a time (every door but the bulk import, which queues its
    own) gets its webhook deliveries in the same transaction."""
    if created and not raw:
        from registry import webhooks

        webhooks.queue([instance])
