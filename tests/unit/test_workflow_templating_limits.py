"""Step input templates under their limits: every way to grow memory or time stops with a typed
TemplateLimitError (template.limit) quickly; renders run off the event loop; ordinary templates are
unaffected."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from automate.config import Settings
from automate.errors import ErrorCodes, TemplateError, TemplateLimitError
from automate.runtime.templating import TemplateEngine, TemplateLimits, check, render, render_async

BIG = "x" * 100_000


@pytest.fixture
def scope() -> dict[str, Any]:
    payload = {"rows": list(range(2000)), "big": BIG, "n": 5, "tab": "\t" * 1000, "deep": _nested(150)}
    return {"event": {"id": "e", "payload": payload},
            "steps": {}, "execution": {"id": "x"}}


def _nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def limit_of(template: Any, scope: dict[str, Any], limits: TemplateLimits | None = None) -> str:
    started = time.monotonic()
    with pytest.raises(TemplateLimitError) as caught:
        render({"v": template}, scope, limits=limits or TemplateLimits())
    assert time.monotonic() - started < 10
    error = caught.value
    assert error.code == ErrorCodes.TEMPLATE_LIMIT
    assert isinstance(error, TemplateError) and not error.retryable
    assert str(error).startswith("template at $.v")
    return error.limit


STRING = [
    "{{ 'a'.ljust(4000000000) }}", "{{ 'a'.rjust(4000000000) }}", "{{ 'a'.center(4000000000) }}",
    "{{ 'a'.zfill(4000000000) }}", "{{ event.payload.tab.expandtabs(4000000) }}",
    "{{ '{:>4000000000}'.format(1) }}", "{{ '{0:>999999}{0:>999999}'.format(1) }}",
    "{{ '{:.4000000f}'.format(1.5) }}", "{{ '{v:>{w}}'.format_map({'v': 1, 'w': 4000000000}) }}",
    "{{ '{0!r}'.format([event.payload.big] * 1000) }}",
    "{{ '{0}'.format([event.payload.big] * 1000) }}",
    "{{ event.payload.big | replace('x', 'yyyyyyyyyyyy') }}",
    "{{ event.payload.big.replace('', 'abcdefghijk') }}",
    "{{ ','.join([event.payload.big] * 100) }}", "{{ ([event.payload.big] * 100) | join(',') }}",
    "{{ event.payload.rows | map('string') | join(event.payload.big) }}",
    "{{ ([event.payload.big] * 1000) | tojson }}",
    "x{{ [event.payload.big] * 1000 }}", "{{ ([event.payload.big] * 1000) ~ '' }}",
    "{{ ([event.payload.big] * 1000) | string }}", "{{ ([event.payload.big] * 1000) | upper }}",
    "{{ ([event.payload.big] * 1000) | urlencode }}", "{{ ([event.payload.big] * 1000) | wordcount }}",
    "{{ 'a' * 100000000 }}", "{{ [0] * 100000000 }}", "{{ event.payload.big * 11 }}",
    " ~ ".join(["{{ event.payload.big"] + ["event.payload.big"] * 10) + " }}",
    " + ".join(["{{ event.payload.big"] + ["event.payload.big"] * 10) + " }}",
    "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s }}{% endmacro %}{{ d('ab', 64) }}",
    "{% macro m() %}{% for i in event.payload.rows %}{{ event.payload.big }}{% endfor %}{% endmacro %}"
    "{{ m() | length }}",
    "{% filter upper %}{% for i in event.payload.rows %}{{ event.payload.big }}{% endfor %}{% endfilter %}",
    "{{ ([[event.payload.big] * 100] * 100) | sum(start=[]) | join }}",
    "{{ ([[1] * 10000] * 1000) | sum(start=[]) | length }}",
]


@pytest.mark.parametrize("template", STRING)
def test_strings_and_lists_past_max_string(template: str, scope: dict[str, Any]) -> None:
    assert limit_of(template, scope, TemplateLimits(max_string=1_000_000, max_output=10**8)) == "string"


@pytest.mark.parametrize("template", [
    "{{ ((2**1024)**1024)**1024 }}", "{{ 2 ** 100000 }}", "{{ 10 ** 999 * 10 ** 999 }}",
    "{% macro sq(x, n) %}{{ sq(x * x, n - 1) if n else x }}{% endmacro %}{{ sq(3, 30) }}",
    "{{ ('9' * 2000) | int }}",
])
def test_numbers_past_max_int_digits(template: str, scope: dict[str, Any]) -> None:
    assert limit_of(template, scope) == "number"


@pytest.mark.parametrize("template", [
    "{% for a in event.payload.rows %}{% for b in event.payload.rows %}{% endfor %}{% endfor %}",
    "{% for a in event.payload.rows %}{% for b in event.payload.rows %}{{ b }}{% endfor %}{% endfor %}",
    "{% for a in event.payload.rows recursive %}{% if loop.depth < 3 %}{{ loop(event.payload.rows) }}"
    "{% endif %}{% endfor %}",
    "{{ [1] | batch(4000000000, 'x') }}", "{{ [1] | slice(4000000000, 'x') }}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
])
def test_work_past_max_work(template: str, scope: dict[str, Any]) -> None:
    # A generous clock: the work limit, not the time limit, is what these reach first.
    assert limit_of(template, scope, TemplateLimits(timeout=60, max_work=200_000)) == "work"


@pytest.mark.parametrize("template", [
    "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "{% for a in event.payload.rows recursive %}{{ loop([a]) }}{% endfor %}",
    "{{ event.payload.deep }}", "x{{ event.payload.deep }}", "{{ event.payload.deep | tojson }}",
])
def test_nesting_past_max_depth(template: str, scope: dict[str, Any]) -> None:
    assert limit_of(template, scope) == "depth"


def test_a_render_stops_itself_at_its_time_limit(scope: dict[str, Any]) -> None:
    template = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    started = time.monotonic()
    assert limit_of(template, scope, TemplateLimits(timeout=0.3, max_work=10**9)) == "time"
    assert time.monotonic() - started < 3


def test_the_whole_input_is_bounded_by_max_output(scope: dict[str, Any]) -> None:
    value = {f"k{i}": "{{ event.payload.big }}" for i in range(20)}
    with pytest.raises(TemplateLimitError) as caught:
        render(value, scope, limits=TemplateLimits(max_output=1_000_000))
    assert caught.value.limit == "output"
    assert limit_of("{{ [event.payload.big] * 1000 }}", scope) == "output"  # a value, measured as JSON
    texts = {f"k{i}": "<{{ event.payload.big }}>" for i in range(20)}
    with pytest.raises(TemplateLimitError, match="rendered input is larger"):
        render(texts, scope, limits=TemplateLimits(max_output=1_000_000))
    assert len(render(value, scope, limits=TemplateLimits(max_output=3_000_000))) == 20


@pytest.mark.parametrize("template", ["{{ 'a'.encode() }}", "{{ 'a'.translate({}) }}",
                                      "{{ (1).to_bytes(4000000000, 'big') }}", "{{ {}.fromkeys([1]) }}",
                                      "{{ 'a'.maketrans('a', 'b') }}"])
def test_methods_off_the_list_are_refused(template: str, scope: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="unsafe"):
        render(template, scope)


@pytest.mark.parametrize("name", ["indent", "wordwrap", "center", "format", "pprint", "xmlattr"])
def test_growing_filters_are_not_available(name: str) -> None:
    (fault,) = check({"v": "{{ 'x' | " + name + "(1000000000) }}"})
    assert f"No filter named '{name}'" in fault[1]


def test_tojson_indent_is_bounded(scope: dict[str, Any]) -> None:
    assert limit_of("{{ event.payload | tojson(indent=100000) }}", scope) == "string"
    assert render("{{ {'a': [1]} | tojson(indent=2) }}", scope) == '{\n  "a": [\n    1\n  ]\n}'


def test_a_template_nested_too_deeply_is_a_fault_not_a_crash() -> None:
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    (fault,) = check({"v": source})
    assert fault == ("$.v", "template syntax error: the template nests too deeply (line 1)")


def test_ordinary_templates_within_the_limits(scope: dict[str, Any]) -> None:
    value = {
        "text": "{% for r in event.payload.rows %}{{ r }},{% endfor %}",
        "joined": "{{ event.payload.rows | join('-') }}",
        "padded": "{{ '%s' | length }}{{ 'ab'.center(10, '*') }}{{ '{:>6}'.format(42) }}",
        "power": "{{ 2 ** 1000 }}",
        "macro": "{% macro fact(n) %}{{ n * fact(n - 1) | int if n > 1 else 1 }}{% endmacro %}{{ fact(20) }}",
        "replace": "{{ 'a-b-c' | replace('-', '+') }} {{ 'a-b'.replace('-', '') }}",
        "json": "{{ event.payload.rows[:3] | tojson }}",
    }
    out = render(value, scope)
    assert out["text"].startswith("0,1,2,") and out["text"].endswith("1999,")
    assert out["joined"].endswith("-1999")
    assert out["padded"] == "2****ab****    42"
    assert out["power"] == 2**1000
    assert out["macro"] == "2432902008176640000"
    assert out["replace"] == "a+b+c ab"
    assert out["json"] == "[0, 1, 2]"


def test_limits_come_from_the_settings() -> None:
    settings = Settings(template_timeout_s=0.5, template_max_string=10, template_max_output=20,
                        template_max_work=30, template_max_depth=4, template_max_int_digits=5)
    assert TemplateLimits.from_settings(settings) == TemplateLimits(
        timeout=0.5, max_string=10, max_output=20, max_work=30, max_depth=4, max_int_digits=5)


def test_render_async_keeps_the_event_loop_running(scope: dict[str, Any]) -> None:
    slow = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"

    async def main() -> tuple[int, str]:
        beats = 0

        async def heartbeat() -> None:
            nonlocal beats
            while True:
                await asyncio.sleep(0.02)
                beats += 1

        ticker = asyncio.ensure_future(heartbeat())
        try:
            await TemplateEngine().render_async({"v": slow}, scope,
                                                limits=TemplateLimits(timeout=1.0, max_work=10**9))
        except TemplateLimitError as exc:
            limit = exc.limit
        finally:
            ticker.cancel()
        return beats, limit

    beats, limit = asyncio.run(main())
    assert limit == "time"
    assert beats >= 10  # the loop ran while the template rendered on its thread


def test_render_async_renders_in_place_unless_a_template_can_loop(scope: dict[str, Any]) -> None:
    """A thread's round trip costs more than a template that only reads the scope, compares and formats;
    those render on the loop's own thread, and a template with a for loop still goes to a render thread."""
    engine = TemplateEngine()
    plain = {"a": "{{ event.id }}",
             "b": ["x {{ 'even' if 2 % 2 == 0 else 'odd' }}", "{{ event.id | upper }}"]}
    assert asyncio.run(engine.render_async(plain, scope)) == {"a": "e", "b": ["x even", "E"]}
    assert engine._pool is None  # no render thread was ever started
    looping = {"a": "{{ event.id }}", "b": "{% for c in 'ab' %}{{ c }}{% endfor %}"}
    assert asyncio.run(engine.render_async(looping, scope)) == {"a": "e", "b": "ab"}
    assert engine._pool is not None


@pytest.mark.parametrize("source", [
    "{% for c in 'ab' %}{{ c }}{% endfor %}",
    "{{ ('ab' * 450000) | list | sort | length }}",  # no loop, but seconds of work from a short text
    "{{ event.payload.rows | sort | first }}",
    "{{ event.id.upper() }}",
    "{{ [event.id] | join }}",
    "{{ 2 ** 10 }}",
])
def test_templates_that_can_work_in_proportion_to_data_render_on_a_thread(source: str,
                                                                            scope: dict[str, Any]) -> None:
    engine = TemplateEngine()
    with contextlib.suppress(TemplateLimitError):  # the sort runs past its time: on the thread, not here
        asyncio.run(engine.render_async({"v": source}, scope, limits=TemplateLimits(timeout=0.5)))
    assert engine._pool is not None


def test_render_async_with_settings_and_without_templates(scope: dict[str, Any]) -> None:
    settings = Settings(template_max_string=10)
    with pytest.raises(TemplateLimitError):
        asyncio.run(render_async({"v": "{{ 'a' * 11 }}"}, scope, settings=settings))
    assert asyncio.run(render_async({"v": "{{ 'a' * 10 }}"}, scope, settings=settings)) == {"v": "a" * 10}
    plain = {"v": "no template", "n": [1, 2]}
    assert asyncio.run(render_async(plain, scope)) == plain


def test_a_render_waiting_for_a_thread_is_not_timed_while_it_waits(scope: dict[str, Any]) -> None:
    slow = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    limits = TemplateLimits(timeout=1.0, max_work=10**9)

    async def main() -> list[Any]:
        engine = TemplateEngine()  # four render threads: twelve runaway renders keep them busy for 3 s
        runaway = [engine.render_async({"v": slow}, scope, limits=limits) for _ in range(12)]
        legit = engine.render_async({"v": "{{ event.id }}"}, scope, limits=limits)
        return await asyncio.gather(*runaway, legit, return_exceptions=True)

    *runaway, legit = asyncio.run(main())
    assert all(isinstance(r, TemplateLimitError) and r.limit == "time" for r in runaway), runaway
    assert legit == {"v": "e"}
