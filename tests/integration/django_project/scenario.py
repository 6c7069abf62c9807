"""Runs inside the Django project: places one order that rolls back and one that commits."""

import contextlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from shop.models import Order  # noqa: E402
from shop.services import place_order  # noqa: E402

with connection.schema_editor() as editor:
    editor.create_model(Order)

with contextlib.suppress(RuntimeError):
    place_order("ORD-ROLLED-BACK", 10.0, fail_after_emit=True)
committed = place_order("ORD-COMMITTED", 150.0)
orders = sorted(Order.objects.values_list("number", flat=True))
print(json.dumps({"committed_event": committed, "orders": orders}))
