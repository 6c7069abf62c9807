"""Whose a workflow is: the tenant an apply stores it for, and the one tenant a slug belongs to.

The tenant comes from the operator (``automate workflows apply --tenant``, else the settings' tenant),
not from the file: a file that names another tenant is refused (:class:`TenantMismatch`), unless the
operator trusts the files' ``tenant:`` (``--tenant-from-file``, ``AUTOMATE_WORKFLOW_TENANT_FROM_FILE``).

A slug is one tenant's: its workflow topic (``<prefix>.workflow.<slug>``) carries that automation's
requests and step tasks, so another tenant cannot create an automation of the same slug
(:class:`WorkflowSlugTaken`). Installations older than this rule may hold a slug in several tenants;
those automations keep working and can still be applied, no new one joins them.
"""

from __future__ import annotations

from typing import Any

import psycopg

from automate.db.workflows import WorkflowStore
from automate.errors import TenantMismatch, WorkflowSlugTaken
from automate.runtime.workflows.spec import WorkflowSpec

__all__ = ["check_slug", "slug_faults", "workflow_tenant"]


def workflow_tenant(spec: WorkflowSpec, operator: str, *, from_file: bool) -> str:
    """The tenant ``spec`` is applied for: ``operator``'s, or the file's own when ``from_file``.

    Raises:
        TenantMismatch: The file names another tenant than ``operator`` and ``from_file`` is off.
    """
    if spec.tenant is None or spec.tenant == operator:
        return operator
    if from_file:
        return spec.tenant
    raise TenantMismatch(
        f"workflow {spec.slug!r} names tenant {spec.tenant[:64]!r}, but it is applied for tenant "
        f"{operator!r} (--tenant; --tenant-from-file or AUTOMATE_WORKFLOW_TENANT_FROM_FILE=true trusts "
        "the file's tenant); nothing was applied")


def slug_faults(conn: psycopg.Connection[Any], slug: str, tenant: str) -> list[tuple[str, str]]:
    """The fault (path ``$.slug``) of a slug another tenant holds and ``tenant`` does not; else none."""
    holders = WorkflowStore(conn).slug_tenants(slug)
    if holders and tenant not in holders:
        return [("$.slug", f"the slug {slug!r} belongs to another tenant's automation (a workflow topic "
                           "is one tenant's); choose another slug")]
    return []


def check_slug(conn: psycopg.Connection[Any], slug: str, tenant: str) -> None:
    """Inside the apply's transaction: hold other applies of ``slug`` until it ends, then refuse the slug
    when another tenant holds it.

    Raises:
        WorkflowSlugTaken: Another tenant has an automation of ``slug`` and ``tenant`` has none.
    """
    WorkflowStore(conn).lock_slug(slug)
    faults = slug_faults(conn, slug, tenant)
    if faults:
        raise WorkflowSlugTaken(faults)
