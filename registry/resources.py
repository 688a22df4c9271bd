"""django-import-export resource for the admin's asset export (CSV, XLSX).

The columns are the ones `registry.importing` reads, so an exported file has the import's layout.
Imports do not come through here: the admin's Import page and `import_assets` both use
`registry.importing`, the one definition of the checks.
"""

from import_export import fields, resources, widgets

from circulus.spreadsheet import neutralise
from hardware.models import HardwareModel
from registry.importing import ASSET_COLUMNS
from registry.models import Asset, Site


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

    def export_field(self, field, instance, **kwargs):
        # The export jobs' rule: a text starting like a formula gets a leading quote, in CSV and
        # in XLSX alike (openpyxl would store "=…" as a formula).
        value = super().export_field(field, instance, **kwargs)
        return neutralise(value) if isinstance(value, str) else value

    def get_queryset(self):
        return super().get_queryset().select_related("hardware_model", "site")

    def import_data(self, *args, **kwargs):
        # A model resource would write assets without their ledger rows or any rule.
        raise NotImplementedError(
            "assets are imported by registry.importing (the admin's Import page, import_assets)"
        )
