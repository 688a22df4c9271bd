"""django-import-export resources for the admin's asset import/export (CSV, XLSX).

The columns are the ones `registry.importing` reads, so an export can be edited and imported back.
A new row is registered through `services.create_asset` (its `purchased` ledger row included);
an existing row may change descriptive fields only: where an asset is, what it is and what it
cost change through ledger events, never through a spreadsheet.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets

from hardware.models import HardwareModel
from registry import permissions, services
from registry.importing import ASSET_COLUMNS, INITIAL_STATES, purchase_moment
from registry.lifecycle import State
from registry.models import Asset, Site

LEDGER_FIELDS = (
    "hardware_model",
    "site",
    "room",
    "rack",
    "position_u",
    "purchase_date",
    "purchase_price",
    "currency",
    "supplier",
    "state",
)


class AssetResource(resources.ModelResource):
    hardware_model = fields.Field(
        attribute="hardware_model",
        column_name="hardware_model",
        widget=widgets.ForeignKeyWidget(HardwareModel, field="slug"),
    )
    site = fields.Field(
        attribute="site", column_name="site", widget=widgets.ForeignKeyWidget(Site, field="code")
    )
    state = fields.Field(attribute="state", column_name="state")

    class Meta:
        model = Asset
        fields = ASSET_COLUMNS  # one column list for the admin and the command
        export_order = fields
        import_id_fields = ("asset_tag",)
        use_transactions = True
        skip_unchanged = True
        report_skipped = False
        clean_model_instances = True

    def get_queryset(self):
        return super().get_queryset().select_related("hardware_model", "site")

    def import_instance(self, instance, row, **kwargs):
        before = {
            f: getattr(instance, f"{f}_id", getattr(instance, f, None)) for f in LEDGER_FIELDS
        }
        super().import_instance(instance, row, **kwargs)
        errors = {}
        if instance.pk is None:
            instance.state = instance.state or State.IN_STOCK
            if instance.state not in INITIAL_STATES:
                errors["state"] = [
                    f"'{instance.state}' is not a starting state (ordered, in-stock)"
                ]
            for name in ("purchase_date", "purchase_price", "currency", "supplier"):
                if getattr(instance, name) in (None, ""):
                    errors[name] = ["required for the 'purchased' event"]
        else:
            for name in LEDGER_FIELDS:
                after = getattr(instance, f"{name}_id", getattr(instance, name, None))
                if str(after or "") != str(before[name] or ""):
                    errors[name] = [
                        f"changes through a lifecycle event (e.g. 'moved'), not an import "
                        f"(stored: {before[name] or '—'})"
                    ]
        user = kwargs.get("user")
        if (
            user is not None
            and instance.site_id
            and not permissions.can_write_at(user, instance.site)
        ):
            errors["site"] = [f"you may not register or edit assets at '{instance.site.code}'"]
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        if not is_create:
            return super().save_instance(instance, is_create, row, **kwargs)
        # A new asset is registered by the service, with its `purchased` event.
        data = {
            name: getattr(instance, name)
            for name in (
                "asset_tag",
                "serial_number",
                "hardware_model",
                "site",
                "room",
                "rack",
                "position_u",
                "owner",
                "warranty_end",
                "planned_eol",
                "measured_mass_kg",
                "data_bearing",
            )
        }
        purchase_date: dt.date = instance.purchase_date
        asset = services.create_asset(
            occurred_at=purchase_moment(purchase_date, instance.site.time_zone),
            actor=kwargs.get("user"),
            to_state=instance.state,
            details={
                "supplier": instance.supplier,
                "price": str(instance.purchase_price),
                "currency": instance.currency,
                "purchase_date": purchase_date.isoformat(),
            },
            **data,
        )
        instance.pk = asset.pk
        instance.state = asset.state
        instance._state.adding = False
