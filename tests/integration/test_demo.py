"""`automate demo` end to end: its own database and topics, the relay as publisher, every worker a process
(the relay, processors, runtime workers, retry worker), and the summary checked against what the events
call for, worked out here from the workflows' rules written out by hand, and against the database; the
connector workflow's e-mails and S3 objects counted by the local peers the demo starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import psycopg
import pytest

from automate.config import Settings
from automate.demo import generate_events

pytestmark = pytest.mark.integration

EVENTS = 200


def _expected() -> dict[str, Counter[str]]:
    """Per workflow, SUCCESS and FAILED executions and retried attempts for the demo's 200 events."""
    events = generate_events(EVENTS, seed=7)
    big = [e.payload for e in events if e.type == "order.created" and e.payload["amount"] >= 100]
    xts = [p for p in big if p["currency"] == "XTS"]
    payments = [e.payload for e in events if e.type == "payment.received" and e.payload["order_id"]
                and (e.payload["amount"] is None or e.payload["amount"] > 1000)]
    users = [e for e in events if e.type == "user.signed_up"]
    fulfilled = [p for p in big if p["amount"] >= 1000]
    assert xts and payments and users and fulfilled  # every path of the scenario is taken
    return {
        # charge: one retry each; legacy_erp (XTS only): one retry, then the dead-letter topic
        "demo-big-orders": Counter(SUCCESS=len(big) - len(xts), FAILED=len(xts), retries=len(big) + len(xts)),
        "demo-payments": Counter(SUCCESS=len(payments), retries=len(payments)),  # ledger: one retry each
        "demo-welcome": Counter(SUCCESS=len(users)),
        "demo-fulfilment": Counter(SUCCESS=len(fulfilled)),  # an S3 object and an e-mail each
    }


def _row(stdout: str, first_cell: str) -> list[str]:
    """The cells of the summary table row whose first cell is ``first_cell``."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in the summary:\n{stdout}")


@pytest.mark.timeout(300)
def test_demo_runs_the_scenario_and_reports_what_the_rules_call_for(db_settings: Settings) -> None:
    s = db_settings
    env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TOPIC_PREFIX": s.topic_prefix,
           "AUTOMATE_PUBLISHER": "relay", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "automate.cli", "demo", "--events", str(EVENTS)],
                            capture_output=True, text=True, env=env, timeout=280)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    out = result.stdout
    expected = _expected()

    assert _row(out, "total")[1] == str(EVENTS)
    for slug, want in expected.items():
        # workflow | expected | succeeded | failed | not finished | retries | as expected
        assert _row(out, slug)[1:] == [str(want["SUCCESS"] + want["FAILED"]), str(want["SUCCESS"]),
                                       str(want["FAILED"]), "0", str(want["retries"]), "yes"]
    retried = expected["demo-big-orders"]["retries"] + expected["demo-payments"]["retries"]
    assert _row(out, s.topic("retry.1s"))[1] == str(retried)  # every retry went through the 1 s tier
    assert _row(out, s.topic("dlq"))[1] == str(expected["demo-big-orders"]["FAILED"])
    assert f"dead letters: {expected['demo-big-orders']['FAILED']} x " \
           "demo-big-orders/legacy_erp: erp.unknown_currency" in out
    for label in ("emit -> first step start", "emit -> execution end"):  # p50, p95, p99, max
        assert all(re.fullmatch(r"[\d,]+ ms", cell) for cell in _row(out, label)[1:5]), out
    sent = expected["demo-fulfilment"]["SUCCESS"]
    assert _row(out, "SMTP server: e-mails (STARTTLS, login)")[1:] == [str(sent), str(sent)]
    assert _row(out, "S3 (moto): objects in demo-invoices")[1:] == [str(sent), str(sent)]
    assert "demo passed" in out

    with psycopg.connect(s.dsn) as conn:
        rows = conn.execute(
            "SELECT a.slug, e.status, count(*) FROM execution e JOIN automation a ON a.id = e.automation_id "
            "WHERE e.tenant = 'demo' AND e.context->>'user_id' IS DISTINCT FROM 'warm-up' "
            "GROUP BY 1, 2").fetchall()
        retries: dict[str, int] = dict(conn.execute(
            "SELECT a.slug, count(*) FROM step_run s JOIN execution e ON e.id = s.execution_id "
            "JOIN automation a ON a.id = e.automation_id WHERE s.attempt > 1 GROUP BY 1").fetchall())
        unfinished = conn.execute("SELECT count(*) FROM execution WHERE status IN ('PENDING', 'RUNNING')"
                                  ).fetchone()
    got: dict[str, Counter[str]] = {}
    for slug, status, n in rows:
        got.setdefault(slug, Counter())[status] = n
    assert unfinished == (0,)
    for slug, want in expected.items():
        assert got[slug] == Counter({k: v for k, v in want.items() if k != "retries" and v}), slug
        assert retries.get(slug, 0) == want["retries"], slug
