"""The demo's summary: its numbers, read once everything has finished, and the tables it prints."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from rich.table import Table

from automate.bench import percentiles
from automate.config import Settings
from automate.demo.tracker import Emitted, Tracker
from automate.demo.view import TERMINAL, make_console, ms
from automate.errors import RecordError
from automate.records import Records
from automate.topics import RETRY_TIERS, dlq_topic, retry_topic
from automate.transport import read_between

__all__ = ["collect", "summarize"]


def collect(settings: Settings, records: Records, tracker: Tracker, emitted: list[Emitted],
            before: dict[tuple[str, int], int], after: dict[tuple[str, int], int]) -> dict[str, Any]:
    """The run's numbers, read once everything has finished (``before`` and ``after``: the retry tiers'
    and the dead-letter topic's watermarks around the run)."""
    tracker.refresh()  # the retried attempts of the last executions to end
    emitted_at = {event_id: stamp for event_id, _type, _index, stamp in emitted}
    first_step: list[float] = []
    end: list[float] = []
    statuses: dict[str, Counter[str]] = {slug: Counter() for slug in tracker.expectations.slugs}
    wrong: list[str] = []
    last_end = 0.0
    retried = tracker.step_retries_of()
    retries_wrong = 0
    for ident, status, event_id, first, finished in tracker.timings():
        slug, expected = tracker.expected[ident]
        statuses[slug][status or "MISSING"] += 1
        if status != expected.status:
            wrong.append(f"{slug} {ident}: {status or 'not created'}, expected {expected.status}")
        if retried.get(ident, 0) != expected.retries:
            retries_wrong += 1
        stamp = emitted_at.get(event_id) if event_id is not None else None
        if stamp is None:
            continue
        if first is not None:
            first_step.append((float(first) - stamp) * 1000)
        if finished is not None:
            end.append((float(finished) - stamp) * 1000)
            last_end = max(last_end, float(finished))
    ours = set(tracker.expected)
    tiers: Counter[str] = Counter()
    tiers_all: Counter[str] = Counter()
    letters: Counter[str] = Counter()
    for (topic, _partition), high in after.items():
        tiers_all[topic] += high - before.get((topic, _partition), 0)
    for msg in read_between(settings, before, after):
        try:
            _name, record = records.decode(msg.value() or b"")
        except RecordError:
            continue
        if str(record.get("execution_id")) not in ours:
            continue
        topic = str(msg.topic())
        if topic == dlq_topic(settings):
            letters[f"{record.get('workflow_slug')}/{record.get('step_id')}: {record.get('error_code')}"] += 1
        else:
            tiers[topic] += 1
    stamps = [stamp for *_rest, stamp in emitted]
    by_step = tracker.retries_by_step()
    emit_seconds = max(stamps) - min(stamps) if len(stamps) > 1 else 0.0
    finished_count = sum(c[s] for c in statuses.values() for s in TERMINAL)
    return {
        "events": Counter(event_type for _id, event_type, _index, _stamp in emitted),
        "statuses": statuses,
        "wrong": wrong,
        "retries_wrong": retries_wrong,
        "retries_by_step": by_step,
        "retries": sum(n for _slug, _step, n in by_step),
        "tiers": tiers,
        "tiers_all": tiers_all,
        "letters": letters,
        "dead_letters": sum(letters.values()),
        "unexpected": tracker.unexpected(),
        "emit_seconds": emit_seconds,
        "finished": finished_count,
        "run_seconds": (last_end - min(stamps)) if last_end and stamps else math.nan,
        "latency_first_step": percentiles(first_step, 6),
        "latency_end": percentiles(end, 6),
    }


def summarize(report: dict[str, Any], tracker: Tracker, settings: Settings) -> list[str]:
    """Print the summary tables (stdout); returns what differs from the expectation."""
    out = make_console(stderr=False)
    problems: list[str] = []
    slugs = tracker.expectations.slugs
    expected_outcomes: dict[str, Counter[str]] = {slug: Counter() for slug in slugs}
    expected_retries: Counter[str] = Counter()
    expected_letters = 0
    for slug, outcome in tracker.expected.values():
        expected_outcomes[slug][outcome.status] += 1
        expected_retries[slug] += outcome.retries
        expected_letters += outcome.dead_letters

    events = Table("event type", "emitted", title="Events", title_justify="left")
    triggered: Counter[str] = Counter()
    for event_type, n in sorted(report["events"].items()):
        events.add_row(event_type, str(n))
        triggered[event_type] = n
    events.add_row("[bold]total[/]", f"[bold]{sum(report['events'].values())}[/]")
    out.print(events)

    executions = Table("workflow", "expected", "succeeded", "failed", "not finished", "retries",
                       "as expected", title="Executions", title_justify="left")
    retried: Counter[str] = Counter()
    for slug, _step, n in report["retries_by_step"]:
        retried[slug] += n
    for slug in slugs:
        got = report["statuses"][slug]
        want = expected_outcomes[slug]
        unfinished = sum(n for s, n in got.items() if s not in ("SUCCESS", "FAILED"))
        ok = (got["SUCCESS"] == want["SUCCESS"] and got["FAILED"] == want["FAILED"] and unfinished == 0
              and retried[slug] == expected_retries[slug])
        verdict = "[green]yes[/]" if ok else (
            f"[red]no[/]: expected {want['SUCCESS']} succeeded, {want['FAILED']} failed, "
            f"{expected_retries[slug]} retries")
        executions.add_row(slug, str(sum(want.values())), str(got["SUCCESS"]), str(got["FAILED"]),
                           str(unfinished), str(retried[slug]), verdict)
        if not ok:
            problems.append(f"{slug}: {got['SUCCESS']} succeeded, {got['FAILED']} failed, "
                            f"{unfinished} not finished, {retried[slug]} retries; expected "
                            f"{want['SUCCESS']}, {want['FAILED']}, 0, {expected_retries[slug]}")
    total = {s: sum(report["statuses"][slug][s] for slug in slugs) for s in ("SUCCESS", "FAILED")}
    executions.add_row("[bold]total[/]", f"[bold]{len(tracker.expected)}[/]", f"[bold]{total['SUCCESS']}[/]",
                       f"[bold]{total['FAILED']}[/]",
                       f"[bold]{len(tracker.expected) - total['SUCCESS'] - total['FAILED']}[/]",
                       f"[bold]{sum(retried.values())}[/]", "")
    out.print(executions)
    if report["wrong"]:
        problems.append(f"{len(report['wrong'])} execution(s) ended otherwise than expected, e.g. "
                        f"{report['wrong'][0]}")
    if report["retries_wrong"]:
        problems.append(f"{report['retries_wrong']} execution(s) retried another number of times "
                        "than expected")
    if report["unexpected"]:
        problems.append(f"{report['unexpected']} execution(s) that no rule called for")

    retries = Table("retried step", "attempts after the first", title="Retries", title_justify="left")
    for slug, step, n in report["retries_by_step"]:
        retries.add_row(f"{slug}/{step}", str(n))
    if not report["retries_by_step"]:
        retries.add_row("-", "0")
    out.print(retries)
    tiers = Table("topic", "records of this run", "records added (all producers)",
                  title="Retry tiers and DLQ", title_justify="left")
    for tier in RETRY_TIERS:
        topic = retry_topic(settings, tier)
        tiers.add_row(topic, str(report["tiers"][topic]), str(report["tiers_all"][topic]))
    dlq = dlq_topic(settings)
    tiers.add_row(dlq, str(report["dead_letters"]), str(report["tiers_all"][dlq]))
    out.print(tiers)
    for what, n in sorted(report["letters"].items()):
        out.print(f"  dead letters: {n} x {what}")
    if report["dead_letters"] != expected_letters:
        problems.append(f"{report['dead_letters']} dead letter(s) of this run in {dlq}, "
                        f"expected {expected_letters}")
    through_tiers = sum(report["tiers"].values())
    if through_tiers != report["retries"]:
        problems.append(f"{through_tiers} retry record(s) of this run on the retry tiers for "
                        f"{report['retries']} retried attempts")

    speed = Table("throughput", "value", title="Throughput", title_justify="left")
    emitted = sum(report["events"].values())
    speed.add_row("events emitted per second",
                  f"{emitted / report['emit_seconds']:,.1f}" if report["emit_seconds"] > 0 else "-")
    run_seconds = report["run_seconds"]
    known = not math.isnan(run_seconds) and run_seconds > 0
    speed.add_row("executions finished per second",
                  f"{report['finished'] / run_seconds:,.1f}" if known else "-")
    speed.add_row("first emit to last execution end", f"{run_seconds:,.1f} s" if known else "-")
    out.print(speed)
    latency = Table("latency", "p50", "p95", "p99", "max", title="Latency", title_justify="left")
    for label, key in (("emit -> first step start", "latency_first_step"),
                       ("emit -> execution end", "latency_end")):
        p = report[key]
        latency.add_row(label, *(ms(p[q]) for q in ("p50", "p95", "p99", "max")))
    out.print(latency)
    return problems
