from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Asset registry"

    def ready(self):
        from django.db.models.signals import post_save, pre_save

        from circulus import jobs
        from hardware import calibration
        from hardware.models import HardwareModel
        from registry import admin_audit, admin_reuse  # noqa: F401  (audits, reuse candidates)
        from registry.import_jobs import IMPORT
        from registry.measurements import as_calibration_rows
        from registry.models import LifecycleEvent

        # The catalogue's calibration command fits a site's recorded runs on request; hardware
        # cannot import the registry, so the registry hands it their reader.
        # Asset import jobs follow the common job lifecycle (claims, heartbeat, the reaper,
        # retries).
        jobs.register(IMPORT)
        if as_calibration_rows not in calibration.SITE_MEASUREMENT_READERS:
            calibration.SITE_MEASUREMENT_READERS.append(as_calibration_rows)
        post_save.connect(_queue_webhooks, sender=LifecycleEvent, dispatch_uid="registry-webhooks")
        pre_save.connect(_before_catalogue_edit, sender=HardwareModel, dispatch_uid="ratchet-pre")
        post_save.connect(_after_catalogue_edit, sender=HardwareModel, dispatch_uid="ratchet-post")


def _queue_webhooks(sender, instance, created, raw=False, **kwargs):
    """Every ledger row written one at a time (every door but the bulk import, which queues its
    own) gets its webhook deliveries in the same transaction."""
    if created and not raw:
        from registry import webhooks

        webhooks.queue([instance])


def _before_catalogue_edit(sender, instance, raw=False, **kwargs):
    """A model about to be switched to `holds_data`: the units the database will mark."""
    instance._units_to_mark = []
    if raw or instance.pk is None or not instance.holds_data:
        return
    from registry.models import Asset

    was = type(instance).objects.filter(pk=instance.pk).values_list("holds_data", flat=True)
    if was and not was[0]:
        instance._units_to_mark = list(
            Asset.objects.filter(hardware_model=instance, data_bearing=False).values_list(
                "pk", flat=True
            )
        )


def _after_catalogue_edit(sender, instance, raw=False, **kwargs):
    """The database marked them (a trigger, whoever writes); their history says why and who."""
    if getattr(instance, "_units_to_mark", None):
        from registry import services

        services.note_catalogue_ratchet(instance, instance._units_to_mark)
        instance._units_to_mark = []
