"""Business code as a Django user writes it: the order and its event in one atomic block."""

from django.db import transaction

from automate.events import emit_event
from shop.models import Order


def place_order(number: str, amount: float, *, fail_after_emit: bool = False) -> str:
    with transaction.atomic():
        Order.objects.create(number=number, amount=amount)
        event_id = emit_event(
            "order.created",
            {"order_id": number, "amount": amount, "customer_email": "john@example.com"},
        )
        if fail_after_emit:
            raise RuntimeError("payment declined")
    return event_id
