from django.db import migrations


class Migration(migrations.Migration):
    """The asset import job and the `inventoried` event kind were added side by side."""

    dependencies = [
        ("registry", "0010_asset_import_job"),
        ("registry", "0010_inventoried_event_kind"),
    ]

    operations = []
