"""http.request against a real HTTP server on loopback, and its SSRF guard.

No stack service is needed. Private targets are never contacted: the tests that name them record every
request a transport would send and assert there were none (the refusal happens before connecting).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from automate.config import Settings
from automate.errors import StepError
from automate.runtime.actions import ActionContext
from automate_connectors.builtin.http import (
    AllowList,
    HttpRequest,
    is_forbidden_address,
    parse_retry_after,
)

pytestmark = pytest.mark.integration

SECRET = "TOPSECRET-7f3a"  # in headers: never in errors, nor in any log
URL_SECRET = "URLSECRET-9c1d"  # in a path, query or user info: never in errors, nor in our logs
LOOPBACK = Settings(http_allowlist=("127.0.0.1/32",))
LOGGER = "automate.test.http"


# --- a real server --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, Any]] = []
        self.release = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
              headers: Mapping[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout, truncated read): nothing to do

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        request = {"method": self.command, "path": parts.path, "query": query, "body": body,
                   "headers": {name.lower(): value for name, value in self.headers.items()}}
        self.server.seen.append(request)
        path = parts.path
        if path == "/echo":
            self._send(200, json.dumps(request).encode(), "application/json", {"X-Trace": "abc"})
        elif path == "/text":
            self._send(200, b"hello")
        elif path == "/bad-json":
            self._send(200, b"not json {", "application/json")
        elif path == "/big":
            self._send(200, ("a" + "é" * 40_000).encode())
        elif path.startswith("/status/"):
            status = int(path.removeprefix("/status/").split("/")[0])
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self._send(status, b"{}", "application/json", headers)
        elif path == "/slow":
            self.server.release.wait(10)
            self._send(200, b"late")
        elif path == "/redirect":
            self._send(int(query.get("status", "302")), headers={"Location": query["to"]})
        elif path == "/loop":
            self._send(302, headers={"Location": "/loop"})
        else:
            self._send(404)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), name="test-http-server", daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


# --- helpers --------------------------------------------------------------------------------------------


def make_ctx(settings: Settings = LOOPBACK, *, attempt: int = 1) -> ActionContext:
    log = logging.LoggerAdapter(logging.getLogger(LOGGER), {"execution_id": "ex-9", "step_id": "call"})
    return ActionContext(execution_id="ex-9", step_id="call", attempt=attempt, idempotency_key="ex-9:call",
                         tenant="default", settings=settings, log=log)


def call(input: Mapping[str, Any], settings: Settings = LOOPBACK, *, action: HttpRequest | None = None,
         attempt: int = 1) -> dict[str, Any]:
    return asyncio.run((action or HttpRequest()).run(input, make_ctx(settings, attempt=attempt)))


def refused(input: Mapping[str, Any], settings: Settings = LOOPBACK, *,
            action: HttpRequest | None = None) -> StepError:
    with pytest.raises(StepError) as info:
        call(input, settings, action=action)
    return info.value


class Recorder:
    """A transport factory that records every request a client sends, then forwards it (or answers 200)."""

    def __init__(self, *, forward: bool = True) -> None:
        self.requests: list[httpx.Request] = []
        self.forward = forward

    def __call__(self) -> httpx.AsyncBaseTransport:
        return _RecordingTransport(self)


class _RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._inner = httpx.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._recorder.requests.append(request)
        if not self._recorder.forward:
            return httpx.Response(200, json={"reached": True})
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class FakeDNS:
    """A resolver answering from a table, counting lookups (no real DNS in these tests)."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


# --- success --------------------------------------------------------------------------------------------


def test_get_returns_status_lowercased_headers_and_parsed_json(server: _Server) -> None:
    output = call({"url": f"{server.base}/echo", "params": {"q": "kafka", "n": 2},
                   "headers": {"Accept": "application/json"}})
    assert output["status"] == 200 and output["text"] is None
    assert output["headers"]["content-type"] == "application/json" and output["headers"]["x-trace"] == "abc"
    assert all(name == name.lower() for name in output["headers"])
    echoed = output["json"]
    assert (echoed["method"], echoed["path"], echoed["query"]) == ("GET", "/echo", {"q": "kafka", "n": "2"})
    assert echoed["headers"]["accept"] == "application/json"
    assert echoed["headers"]["host"] == server.base.removeprefix("http://")
    assert "idempotency-key" not in echoed["headers"]
    json.dumps(output)  # the output is a JSON document


def test_post_sends_json_or_a_string_body(server: _Server) -> None:
    sent = call({"method": "post", "url": f"{server.base}/echo", "json": {"order": 42, "items": ["a"]}})
    assert sent["json"]["method"] == "POST"
    assert json.loads(sent["json"]["body"]) == {"order": 42, "items": ["a"]}
    assert sent["json"]["headers"]["content-type"] == "application/json"

    raw = call({"method": "PUT", "url": f"{server.base}/echo", "body": "plain words",
                "headers": {"Content-Type": "text/plain"}})
    assert (raw["json"]["method"], raw["json"]["body"]) == ("PUT", "plain words")
    assert raw["json"]["headers"]["content-type"] == "text/plain"


def test_text_bodies_and_json_that_is_not(server: _Server) -> None:
    assert call({"url": f"{server.base}/text"}) | {"headers": None} == {
        "status": 200, "headers": None, "json": None, "text": "hello"}
    broken = call({"url": f"{server.base}/bad-json"})
    assert (broken["json"], broken["text"]) == (None, "not json {")


def test_text_is_truncated_to_64_kib_without_splitting_a_character(server: _Server) -> None:
    text = call({"url": f"{server.base}/big"})["text"]
    assert text == "a" + "é" * 32_767  # 65,535 bytes: the half 'é' at the cut is dropped, not mangled
    assert len(text.encode()) <= 64 * 1024


def test_expect_lists_the_statuses_that_count_as_success(server: _Server) -> None:
    assert call({"url": f"{server.base}/status/404", "expect": [200, 404]})["status"] == 404
    assert refused({"url": f"{server.base}/status/200", "expect": [201]}).code == "http.200"


# --- failures -------------------------------------------------------------------------------------------


def test_429_is_retryable_with_retry_after_seconds(server: _Server) -> None:
    error = refused({"url": f"{server.base}/status/429?retry_after=7"})
    assert (error.code, error.retryable, error.retry_after) == ("http.429", True, 7.0)


def test_retry_after_as_an_http_date(server: _Server) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    error = refused({"url": f"{server.base}/status/429", "params": {"retry_after": when}})
    assert error.code == "http.429" and error.retry_after is not None
    assert 25 <= error.retry_after <= 31


def test_5xx_is_retryable_and_4xx_permanent(server: _Server) -> None:
    unavailable = refused({"url": f"{server.base}/status/503"})
    assert (unavailable.code, unavailable.retryable, unavailable.retry_after) == ("http.503", True, None)
    missing = refused({"url": f"{server.base}/status/404"})
    assert (missing.code, missing.retryable) == ("http.404", False)


def test_timeout_is_retryable_and_bounded(server: _Server) -> None:
    start = time.monotonic()
    error = refused({"url": f"{server.base}/slow", "timeout": 0.3})
    assert (error.code, error.retryable) == ("http.timeout", True)
    assert time.monotonic() - start < 3


def test_default_timeout_comes_from_settings(server: _Server) -> None:
    settings = Settings(http_allowlist=("127.0.0.1/32",), http_timeout_s=0.3)
    start = time.monotonic()
    assert refused({"url": f"{server.base}/slow"}, settings).code == "http.timeout"
    assert time.monotonic() - start < 3


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = refused({"url": f"http://127.0.0.1:{port}/"})
    assert (error.code, error.retryable) == ("http.connect", True)


def test_unresolvable_host_is_a_retryable_connect_error() -> None:
    error = refused({"url": "http://no-such-host.test/"}, action=HttpRequest(resolver=FakeDNS({})))
    assert (error.code, error.retryable) == ("http.connect", True)


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd", "not a url", "http:///path",
                                 "", 42, "javascript:alert(1)"])
def test_invalid_urls_are_permanent(url: object) -> None:
    recorder = Recorder(forward=False)
    error = refused({"url": url}, action=HttpRequest(transport_factory=recorder))
    assert (error.code, error.retryable) == ("http.invalid_url", False)
    assert recorder.requests == []


@pytest.mark.parametrize("input", [
    {"method": "TRACE"}, {"json": {"a": 1}, "body": "x"}, {"body": {"a": 1}}, {"timeout": 0},
    {"expect": []}, {"expect": [99]}, {"headers": ["a"]}, {"headers": {"bad name": "x"}},
    {"follow_redirects": "no"}, {"json": {"x": float("nan")}},
])
def test_malformed_input_is_permanent(input: dict[str, Any]) -> None:
    recorder = Recorder(forward=False)
    error = refused({"url": "http://127.0.0.1:9/"} | input, action=HttpRequest(transport_factory=recorder))
    assert (error.code, error.retryable) == ("http.invalid_input", False)
    assert recorder.requests == []


# --- the SSRF guard -------------------------------------------------------------------------------------


def test_loopback_is_refused_without_the_allow_list(server: _Server) -> None:
    error = refused({"url": f"{server.base}/echo"}, Settings())
    assert (error.code, error.retryable) == ("http.forbidden_target", False)
    assert server.seen == []


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/", "http://0.0.0.0/",
    "http://192.168.1.1/", "http://[::ffff:10.0.0.1]/", "http://[fe80::1]/", "https://100.64.0.1/",
    "http://224.0.0.1/", "http://127.0.0.2/",
])
def test_private_targets_are_refused_before_any_connection(url: str) -> None:
    recorder = Recorder(forward=False)
    error = refused({"url": url}, LOOPBACK, action=HttpRequest(transport_factory=recorder))
    assert (error.code, error.retryable) == ("http.forbidden_target", False)
    assert recorder.requests == []


@pytest.mark.parametrize("url", ["http://localhost/", "http://2130706433/", "http://127.1:8080/",
                                 "http://[::ffff:127.0.0.1]/"])
def test_loopback_in_any_spelling_is_refused(url: str) -> None:
    recorder = Recorder(forward=False)
    error = refused({"url": url}, Settings(), action=HttpRequest(transport_factory=recorder))
    assert (error.code, error.retryable) == ("http.forbidden_target", False)
    assert recorder.requests == []


def test_a_name_resolving_to_any_private_address_is_refused() -> None:
    dns = FakeDNS({"internal.example": ["10.1.2.3"], "mixed.example": ["93.184.216.34", "10.0.0.5"]})
    recorder = Recorder(forward=False)
    action = HttpRequest(resolver=dns, transport_factory=recorder)
    for host in ("internal.example", "mixed.example"):
        error = refused({"url": f"https://{host}/x"}, Settings(), action=action)
        assert error.code == "http.forbidden_target"
    assert dns.lookups == ["internal.example", "mixed.example"] and recorder.requests == []


def test_an_allow_listed_host_name_is_reached_at_its_vetted_address(server: _Server) -> None:
    port = server.server_address[1]
    dns = FakeDNS({"api.internal": ["127.0.0.1"]})
    recorder = Recorder()
    output = call({"url": f"http://api.internal:{port}/echo"}, Settings(http_allowlist=("api.internal",)),
                  action=HttpRequest(resolver=dns, transport_factory=recorder))
    assert output["json"]["headers"]["host"] == f"api.internal:{port}"  # the name travels in Host
    assert [str(r.url) for r in recorder.requests] == [f"http://127.0.0.1:{port}/echo"]  # the IP is dialled
    assert dns.lookups == ["api.internal"]  # resolved once: no second answer can rebind the target


def test_https_is_pinned_to_the_vetted_address_with_the_name_as_sni() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    def factory() -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(answer)

    action = HttpRequest(resolver=FakeDNS({"api.example.com": ["93.184.216.34"]}), transport_factory=factory)
    output = call({"url": "https://api.example.com/v1/things?id=3"}, Settings(), action=action)
    assert output["json"] == {"ok": True}
    [request] = seen
    assert str(request.url) == "https://93.184.216.34/v1/things?id=3"
    assert request.headers["host"] == "api.example.com"
    assert request.extensions["sni_hostname"] == "api.example.com"  # certificate checked against the name


def test_redirect_to_the_metadata_service_is_refused(server: _Server) -> None:
    recorder = Recorder()
    target = "http://169.254.169.254/latest/meta-data/iam/"
    error = refused({"url": f"{server.base}/redirect", "params": {"to": target}},
                    action=HttpRequest(transport_factory=recorder))
    assert (error.code, error.retryable) == ("http.forbidden_target", False)
    assert [r.url.host for r in recorder.requests] == ["127.0.0.1"]  # only the first hop was sent
    assert [r["path"] for r in server.seen] == ["/redirect"]


def test_redirects_are_followed_and_each_hop_vetted(server: _Server) -> None:
    output = call({"url": f"{server.base}/redirect", "params": {"to": "/echo?hop=2"},
                   "headers": {"Authorization": "Bearer same-origin"}})
    assert output["status"] == 200 and output["json"]["query"] == {"hop": "2"}
    assert output["json"]["headers"]["authorization"] == "Bearer same-origin"  # same origin keeps credentials


def test_a_redirect_to_another_origin_drops_credentials(server: _Server) -> None:
    port = server.server_address[1]
    dns = FakeDNS({"first.internal": ["127.0.0.1"], "other.internal": ["127.0.0.1"]})
    settings = Settings(http_allowlist=("first.internal", "other.internal"))
    output = call({"url": f"http://first.internal:{port}/redirect",
                   "params": {"to": f"http://other.internal:{port}/echo"},
                   "headers": {"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET, "Accept": "text/x"}},
                  settings, action=HttpRequest(resolver=dns))
    headers = output["json"]["headers"]
    assert headers["host"] == f"other.internal:{port}" and headers["accept"] == "text/x"
    assert "authorization" not in headers and "x-api-key" not in headers
    assert dns.lookups == ["first.internal", "other.internal"]
    carried = refused({"method": "POST", "url": f"http://first.internal:{port}/redirect",
                       "params": {"to": f"http://other.internal:{port}/echo", "status": "307"},
                       "json": {"token": SECRET}}, settings, action=HttpRequest(resolver=dns))
    assert carried.code == "http.forbidden_target" and "other.internal" in carried.message
    assert [r["path"] for r in server.seen][-1] == "/redirect"  # the body never went to the other origin


def test_see_other_after_post_becomes_a_get_without_body(server: _Server) -> None:
    output = call({"method": "POST", "url": f"{server.base}/redirect", "json": {"a": 1},
                   "params": {"to": "/echo", "status": "303"}})
    assert (output["json"]["method"], output["json"]["body"]) == ("GET", "")


def test_redirect_loops_stop_after_five_hops(server: _Server) -> None:
    error = refused({"url": f"{server.base}/loop"})
    assert (error.code, error.retryable) == ("http.too_many_redirects", False)
    assert len(server.seen) == 6


def test_redirects_are_returned_when_not_followed(server: _Server) -> None:
    output = call({"url": f"{server.base}/redirect", "params": {"to": "/echo"}, "follow_redirects": False,
                   "expect": [302]})
    assert (output["status"], output["headers"]["location"]) == (302, "/echo")
    assert len(server.seen) == 1


def test_redirect_to_a_non_http_scheme_is_refused(server: _Server) -> None:
    error = refused({"url": f"{server.base}/redirect", "params": {"to": "file:///etc/passwd"}})
    assert error.code == "http.invalid_url"


# --- idempotency and secrets ----------------------------------------------------------------------------


def test_idempotency_key_is_sent_when_asked_and_stable_across_attempts(server: _Server) -> None:
    keys = [call({"method": "POST", "url": f"{server.base}/echo", "idempotency": True}, attempt=attempt)
            ["json"]["headers"].get("idempotency-key") for attempt in (1, 2)]
    assert keys == ["ex-9:call", "ex-9:call"]
    plain = call({"method": "POST", "url": f"{server.base}/echo"})
    assert "idempotency-key" not in plain["json"]["headers"]


def test_secrets_never_reach_errors_or_logs(server: _Server, caplog: pytest.LogCaptureFixture) -> None:
    headers = {"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET}
    query = {"token": URL_SECRET}
    with caplog.at_level(logging.DEBUG):
        errors = [
            refused({"url": f"{server.base}/status/404/{URL_SECRET}", "headers": headers, "params": query}),
            refused({"url": f"{server.base}/status/503", "headers": headers, "params": query}),
            refused({"url": f"{server.base}/slow", "headers": headers, "params": query, "timeout": 0.2}),
            refused({"url": f"{server.base}/echo", "headers": headers, "params": query}, Settings()),
            refused({"url": f"http://user:{URL_SECRET}@10.0.0.1/", "headers": headers}),
            refused({"url": f"{server.base}/echo", "headers": {"X-Api-Key": f"{SECRET}\r\nInjected: 1"}}),
        ]
    assert [e.code for e in errors] == ["http.404", "http.503", "http.timeout", "http.forbidden_target",
                                        "http.forbidden_target", "http.invalid_input"]
    for error in errors:
        for secret in (SECRET, URL_SECRET):
            assert secret not in str(error) and secret not in repr(error.args)
    assert SECRET not in caplog.text  # httpx and httpcore included
    ours = [r for r in caplog.records if r.name == LOGGER]
    assert all(URL_SECRET not in r.getMessage() and URL_SECRET not in repr(r.__dict__) for r in ours)
    assert ours and all(r.__dict__["action"] == "http.request" for r in ours)
    assert {r.__dict__["status"] for r in ours} == {404, 503}
    assert all(r.__dict__["execution_id"] == "ex-9" for r in ours)


# --- the pure parts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "forbidden"), [
    ("93.184.216.34", False), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
    ("127.0.0.1", True), ("10.0.0.1", True), ("172.16.5.4", True), ("192.168.0.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.251", True),
    ("255.255.255.255", True), ("240.0.0.1", True), ("::1", True), ("::", True), ("fe80::1", True),
    ("fc00::1", True), ("ff02::1", True), ("::ffff:127.0.0.1", True), ("::ffff:169.254.169.254", True),
    ("2002:7f00:1::1", True), ("2002:a00:1::", True),
])
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(ip_address(address)) is forbidden


def test_allow_list_matches_host_names_and_networks() -> None:
    allow = AllowList.parse(["127.0.0.1/32", "10.20.0.0/16", "API.Internal.", "fd00::/8"])
    assert allow.allows("anything", ip_address("127.0.0.1"))
    assert allow.allows("anything", ip_address("::ffff:127.0.0.1"))
    assert allow.allows("anything", ip_address("10.20.3.4"))
    assert allow.allows("anything", ip_address("fd12::1"))
    assert allow.allows("api.internal", ip_address("10.99.0.1"))
    assert not allow.allows("anything", ip_address("10.21.0.1"))
    assert not allow.allows("other.internal", ip_address("127.0.0.2"))


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0  # in the past: now
    assert parse_retry_after("-5", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
