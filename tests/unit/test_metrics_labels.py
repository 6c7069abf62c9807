"""Label values a tenant or a record names stay bounded (a worker's series, and Prometheus's memory)."""

from __future__ import annotations

from automate.metrics import OTHER, BoundedValues, ErrorCodeLabel


def test_the_first_values_are_kept_cut_short_and_the_rest_become_other() -> None:
    names = BoundedValues(limit=2, max_length=8)
    assert names("orders") == "orders"
    assert names("x" * 100) == "x" * 8
    assert names("billing") == OTHER  # a third distinct value
    assert names("orders") == "orders" and names("x" * 50) == "x" * 8  # the kept ones stay


def test_the_projects_codes_and_http_statuses_pass_and_chosen_codes_share_a_budget() -> None:
    codes = ErrorCodeLabel(limit=1)
    assert codes("http.timeout") == "http.timeout" and codes("http.503") == "http.503"
    assert codes("internal") == "internal"
    assert codes("order.rejected") == "order.rejected"  # a code a workflow chose: the budget's first
    assert codes("order.other") == OTHER
    assert codes("http.9999") == OTHER
