"""Which blind-index key made a blocked number's index (its number is never kept)."""

from typing import Any

from django.db import migrations, models


def name_the_current_key(apps: Any, schema_editor: Any) -> None:
    from lifeline.core import crypto

    rules = apps.get_model("phone", "BlockRule").objects.exclude(number_index="")
    if not rules.exists():
        return
    try:
        key_id = crypto.blind_index_key_id()
    except crypto.KeyConfigurationError:
        return  # no keys here: rotate_blind_index --finish will count them as under an old key
    rules.update(index_key=key_id)


class Migration(migrations.Migration):
    dependencies = [
        ("phone", "0002_callback_requests"),
    ]

    operations = [
        migrations.AddField(
            model_name="blockrule",
            name="index_key",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(name_the_current_key, migrations.RunPython.noop),
    ]
