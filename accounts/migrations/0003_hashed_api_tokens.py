"""API tokens stored as hashes. Keys issued before (plain text in `authtoken_token`) keep working:
each is copied as its digest and prefix, without an expiry, and the plain-text table is dropped."""

import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

PLAIN = "authtoken_token"


def hash_plain_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if PLAIN not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {PLAIN}")  # noqa: S608
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=user_id,
            prefix=key[:8],
            digest=hashlib.sha256(key.encode()).hexdigest(),
            created=created,
        )
        for key, user_id, created in rows
    )
    schema_editor.execute(f"DROP TABLE {PLAIN}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_auditor_reads_token_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("prefix", models.CharField(db_index=True, max_length=8)),
                ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "expires",
                    models.DateTimeField(blank=True, help_text="blank: never expires", null=True),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "API token", "ordering": ("user__username", "-created")},
        ),
        migrations.AddField(
            model_name="tokenevent",
            name="token_prefix",
            field=models.CharField(
                blank=True, help_text="the first characters of the key", max_length=8
            ),
        ),
        migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop),
    ]
