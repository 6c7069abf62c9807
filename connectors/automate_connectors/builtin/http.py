"""``http.request``: one HTTP call with httpx, guarded against server-side request forgery.

Input (already rendered)::

    method       GET (default) | HEAD | POST | PUT | PATCH | DELETE | OPTIONS
    url          http:// or https:// only
    headers      {name: value}; values may hold secrets and never appear in errors or logs
    params       query parameters merged into the URL
    json | body  a JSON document (sent as application/json) or a string (UTF-8); not both
    timeout      seconds for the whole call, redirects included (default ``settings.http_timeout_s``)
    expect       status codes that count as success (default: any 2xx)
    idempotency  true: send ``Idempotency-Key: <ctx.idempotency_key>``, the same on every attempt of the
                 step, so a server that dedupes applies a retried POST once
    follow_redirects  default true

Output: ``{"status": int, "headers": {lowercased name: value}, "json": parsed body or null,
"text": body text when it is not JSON (first 64 KiB) or null}``.

Errors (StepError ``code``): ``http.429`` and ``http.5xx`` retryable with ``retry_after`` from the
Retry-After header (seconds or HTTP-date); any other unexpected status ``http.<status>`` permanent;
``http.timeout`` and ``http.connect`` (DNS, refused, reset) retryable; ``http.invalid_url``,
``http.invalid_input``, ``http.forbidden_target``, ``http.too_many_redirects`` and
``http.response_too_large`` permanent. Messages name the method and ``scheme://host:port`` only: paths
and queries may hold tokens (webhook URLs), headers may hold credentials.

SSRF guard: before connecting, the host is resolved and every address must be public (not private,
loopback, link-local, multicast, reserved, unspecified, nor an IPv6 form embedding such an IPv4), unless
the host name or the address is in ``settings.http_allowlist`` (host names, matched exactly, or CIDRs).
The connection then goes to the vetted address itself: the URL's host is replaced by the IP while the
``Host`` header and, for https, the TLS SNI name and certificate check keep the original name. No second
DNS lookup happens, so a rebinding DNS server cannot swap the target after the check. Redirects are
followed by hand (at most 5), each hop vetted the same way on a fresh connection; a hop to another origin
keeps only harmless headers (no credentials), and one that would carry the body there (307, 308) is not
followed (``http.forbidden_target``). Proxies from the environment are ignored: a proxy would
resolve the name again.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import json
import logging
import math
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from automate.config import Settings
from automate.errors import ErrorCodes, StepError, http_status_code
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.context import ActionContext, step_log

__all__ = ["AllowList", "HttpConnector", "HttpRequest", "Resolver", "is_forbidden_address",
           "parse_retry_after", "resolve_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses``: how the guard resolves names (tests inject their own)."""
TransportFactory = Callable[[], httpx.AsyncBaseTransport]

TEXT_LIMIT = 64 * 1024
JSON_LIMIT = 8 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_DEFAULT_EXPECT = frozenset(range(200, 300))
# Headers a redirect to another origin keeps; everything else may be a credential for the first origin.
_CROSS_ORIGIN_SAFE = frozenset({"accept", "accept-encoding", "accept-language", "content-type", "user-agent",
                                "idempotency-key"})
# Set by this action (Host, the body's framing); a caller's value would contradict ours.
_DROPPED = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _fail(code: str, message: str, *, retryable: bool = False, retry_after: float | None = None) -> StepError:
    return StepError(message, code=code, retryable=retryable, retry_after=retry_after)


def _origin(url: httpx.URL) -> str:
    """``scheme://host[:port]``: what errors and logs may say about a URL (no user info, path or query)."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}"


def _default_port(url: httpx.URL) -> int:
    return url.port if url.port is not None else (443 if url.scheme == "https" else 80)


def _endpoint(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, _default_port(url)


def _timeout(method: str, url: httpx.URL, seconds: float) -> StepError:
    return _fail(ErrorCodes.HTTP_TIMEOUT, f"{method} {_origin(url)} timed out after {seconds:g}s",
                 retryable=True)


def _keep(headers: httpx.Headers, keep: Callable[[str], bool]) -> httpx.Headers:
    return httpx.Headers([(name, value) for name, value in headers.multi_items() if keep(name.lower())])


# --- the SSRF guard -------------------------------------------------------------------------------------


def is_forbidden_address(address: IPAddress) -> bool:
    """Whether ``address`` is not a public unicast address (refused unless allow-listed)."""
    if isinstance(address, ipaddress.IPv6Address):
        teredo = address.teredo
        embedded = (address.ipv4_mapped, address.sixtofour, teredo[1] if teredo else None)
        if any(inner is not None and is_forbidden_address(inner) for inner in embedded):
            return True
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class AllowList:
    """``settings.http_allowlist`` parsed: exact host names and networks."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(_normal_host(entry.strip()))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        if _normal_host(host) in self.hosts:
            return True
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(candidate in network for candidate in candidates for network in self.networks)


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, through the event loop's (threaded) getaddrinfo; an address
    literal is itself (no thread, no lookup)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --- input ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Call:
    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes | None
    timeout: float
    expect: frozenset[int]
    follow_redirects: bool


def _parse_url(value: object, *, what: str = "'url'") -> httpx.URL:
    if not isinstance(value, str) or not value:
        raise _fail(ErrorCodes.HTTP_INVALID_URL, f"http.request: {what} must be a non-empty string")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise _fail(ErrorCodes.HTTP_INVALID_URL, f"http.request: {what} is not a valid URL") from None
    return _check_url(url, what=what)


def _check_url(url: httpx.URL, *, what: str) -> httpx.URL:
    if url.scheme not in ("http", "https"):
        raise _fail(ErrorCodes.HTTP_INVALID_URL,
                    f"http.request: {what} must use http or https, not {url.scheme[:20]!r}")
    if not url.host:
        raise _fail(ErrorCodes.HTTP_INVALID_URL, f"http.request: {what} has no host")
    return url


def _invalid(message: str) -> StepError:
    return _fail(ErrorCodes.HTTP_INVALID_INPUT, f"http.request: {message}")


def _parse_headers(value: object) -> httpx.Headers:
    if value is None:
        return httpx.Headers()
    if not isinstance(value, Mapping):
        raise _invalid("'headers' must be an object of name to value")
    headers = httpx.Headers()
    for name, raw in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise _invalid("a header name is not a valid HTTP token")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise _invalid(f"header {name!r} must be a string or a number")
        text = str(raw)
        if not _VALUE.fullmatch(text):  # the value itself is never echoed: it may be a secret
            raise _invalid(f"header {name!r} holds characters outside printable ASCII")
        if name.lower() not in _DROPPED:
            headers[name] = text
    return headers


def _parse_input(input: Mapping[str, Any], ctx: ActionContext) -> _Call:
    method = input.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise _invalid(f"'method' must be one of {', '.join(sorted(_METHODS))}")
    url = _parse_url(input.get("url"))
    params = input.get("params")
    if params is not None:
        if not isinstance(params, Mapping):
            raise _invalid("'params' must be an object")
        try:
            url = url.copy_merge_params(dict(params))
        except (TypeError, ValueError):
            raise _invalid("'params' values must be strings, numbers, booleans or lists of them") from None

    headers = _parse_headers(input.get("headers"))
    if input.get("idempotency", False) is True:
        headers["Idempotency-Key"] = ctx.idempotency_key

    body, document = input.get("body"), input.get("json")
    if body is not None and document is not None:
        raise _invalid("give 'json' or 'body', not both")
    content: bytes | None = None
    if document is not None:
        try:
            content = json.dumps(document, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            raise _invalid("'json' is not a JSON document") from None
        headers.setdefault("Content-Type", "application/json")
    elif body is not None:
        if not isinstance(body, str):
            raise _invalid("'body' must be a string (use 'json' for a document)")
        content = body.encode()

    timeout = input.get("timeout", ctx.settings.http_timeout_s)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            math.isfinite(timeout) and timeout > 0):
        raise _invalid("'timeout' must be a positive number of seconds")

    raw_expect = input.get("expect")
    if raw_expect is None:
        expect = _DEFAULT_EXPECT
    elif isinstance(raw_expect, list) and raw_expect and all(
            type(code) is int and 100 <= code <= 599 for code in raw_expect):
        expect = frozenset(raw_expect)
    else:
        raise _invalid("'expect' must be a non-empty list of HTTP status codes")

    follow = input.get("follow_redirects", True)
    if not isinstance(follow, bool):
        raise _invalid("'follow_redirects' must be a boolean")
    return _Call(method=method.upper(), url=url, headers=headers, content=content, timeout=float(timeout),
                 expect=expect, follow_redirects=follow)


# --- response -------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), None when absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


async def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the (decoded) body, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _decode(data: bytes, encoding: str, *, truncated: bool) -> str:
    # final=False drops a multi-byte character cut in half by the truncation instead of mangling it.
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=not truncated)


# --- the action -----------------------------------------------------------------------------------------


class HttpRequest:
    """``http.request`` (see the module docstring for input, output and errors).

    Args:
        resolver: How host names are resolved for the SSRF guard (default: getaddrinfo).
        transport_factory: A new httpx transport per hop (tests inject a recording or mock transport).
    """

    name: str = "http.request"
    idempotent: bool = False

    def __init__(self, *, resolver: Resolver | None = None,
                 transport_factory: TransportFactory | None = None) -> None:
        self._resolve = resolver or resolve_host
        self._transport_factory = transport_factory or _default_transport

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        call = _parse_input(input, ctx)
        try:
            async with asyncio.timeout(call.timeout):
                return await self._call(call, ctx)
        except TimeoutError:
            raise _timeout(call.method, call.url, call.timeout) from None

    async def _vet(self, url: httpx.URL, settings: Settings) -> IPAddress:
        """The address to connect to for ``url``, after checking every address the host resolves to."""
        host = url.host
        try:
            answers = await self._resolve(host, _default_port(url))
            addresses = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
        except (OSError, ValueError):
            raise _fail(ErrorCodes.HTTP_CONNECT, f"could not resolve {host!r}", retryable=True) from None
        if not addresses:
            raise _fail(ErrorCodes.HTTP_CONNECT, f"{host!r} resolves to no address", retryable=True)
        allow = AllowList.parse(settings.http_allowlist)
        for address in addresses:
            if is_forbidden_address(address) and not allow.allows(host, address):
                raise _fail(ErrorCodes.HTTP_FORBIDDEN_TARGET,
                            f"refused {_origin(url)}: it resolves to {address}, a private, loopback, "
                            "link-local or otherwise non-public address; add the host or a CIDR to "
                            "http_allowlist to allow it")
        return addresses[0]

    async def _call(self, call: _Call, ctx: ActionContext) -> dict[str, Any]:
        url, method, headers, content = call.url, call.method, call.headers, call.content
        for hop in range(MAX_REDIRECTS + 1):
            address = await self._vet(url, ctx.settings)
            pinned = url.copy_with(host=str(address))
            hop_headers = httpx.Headers(headers)
            hop_headers["Host"] = url.netloc.decode("ascii")
            extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
            async with httpx.AsyncClient(transport=self._transport_factory(), timeout=call.timeout,
                                         follow_redirects=False, trust_env=False) as client:
                try:
                    async with client.stream(method, pinned, headers=hop_headers, content=content,
                                             extensions=extensions) as response:
                        status = response.status_code
                        step_log(ctx, logging.INFO, "http request", action=self.name, method=method,
                                 host=url.host, status=status, hop=hop)
                        location = response.headers.get("location")
                        if not (call.follow_redirects and location is not None
                                and status in _REDIRECTS and status not in call.expect):
                            if status not in call.expect:
                                raise self._status_error(method, url, response)
                            return await self._output(method, url, response)
                except httpx.TimeoutException:
                    raise _timeout(method, url, call.timeout) from None
                except httpx.TransportError as exc:
                    raise _fail(ErrorCodes.HTTP_CONNECT, f"{method} {_origin(url)} failed: "
                                f"{type(exc).__name__}", retryable=True) from None
                except httpx.DecodingError:
                    raise _fail(ErrorCodes.HTTP_BAD_RESPONSE,
                                f"{method} {_origin(url)} sent a body that cannot be decoded") from None
            if hop == MAX_REDIRECTS:
                break
            assert location is not None
            try:
                target = _check_url(url.join(location), what="a redirect's Location")
            except (httpx.InvalidURL, ValueError, TypeError):
                raise _fail(ErrorCodes.HTTP_INVALID_URL,
                            "http.request: a redirect's Location is not a URL") from None
            if status == 303 or (status in (301, 302) and method == "POST"):  # as browsers and httpx do
                method = "GET" if method != "HEAD" else method
                content = None
                headers = _keep(headers, lambda name: name != "content-type")
            if _endpoint(target) != _endpoint(url):
                if content is not None:  # a 307/308 would carry the body (it may hold a secret) elsewhere
                    raise _fail(ErrorCodes.HTTP_FORBIDDEN_TARGET, f"{method} {_origin(url)} redirects its "
                                f"body to another origin ({_origin(target)}); not followed")
                headers = _keep(headers, lambda name: name in _CROSS_ORIGIN_SAFE)
            url = target
        raise _fail(ErrorCodes.HTTP_TOO_MANY_REDIRECTS,
                    f"{call.method} {_origin(call.url)}: more than {MAX_REDIRECTS} redirects")

    @staticmethod
    def _status_error(method: str, url: httpx.URL, response: httpx.Response) -> StepError:
        status = response.status_code
        retryable = status == 429 or status >= 500
        retry_after = parse_retry_after(response.headers.get("retry-after")) if retryable else None
        return _fail(http_status_code(status), f"{method} {_origin(url)} returned HTTP {status}",
                     retryable=retryable, retry_after=retry_after)

    @staticmethod
    async def _output(method: str, url: httpx.URL, response: httpx.Response) -> dict[str, Any]:
        headers = dict(response.headers.items())
        is_json = _is_json(headers.get("content-type", ""))
        body, truncated = await _read(response, JSON_LIMIT if is_json else TEXT_LIMIT)
        if is_json and truncated:
            raise _fail(ErrorCodes.HTTP_RESPONSE_TOO_LARGE,
                        f"{method} {_origin(url)} sent a JSON body over {JSON_LIMIT} bytes")
        if is_json and body:
            try:
                document = json.loads(body, parse_constant=_reject_constant)
            except ValueError:
                pass  # declared JSON but is not: hand it over as text
            else:
                return {"status": response.status_code, "headers": headers, "json": document, "text": None}
        cut = truncated or len(body) > TEXT_LIMIT
        text = _decode(body[:TEXT_LIMIT], response.encoding or "utf-8", truncated=cut)
        return {"status": response.status_code, "headers": headers, "json": None, "text": text}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The process's TLS context: loading the CA bundle (~20 ms) is the slow part of a client, and every
    call makes a client of its own (its connection pinned to a vetted address)."""
    return httpx.create_ssl_context()


def _default_transport() -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(verify=_ssl_context(), trust_env=False)


class HttpConnector(Connector):
    """``http``: the ``request`` action above (``http.request`` in a workflow). No connection needed;
    ``$secret:`` references in its url, headers, params and body (``Authorization: "Bearer
    $secret:TOKEN"``) are resolved for the call, when the url is written out up to its host."""

    key = "http"
    display_name = "HTTP"

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        # the request checks its own input (http.invalid_input); the schema marks where secrets may go
        credential = {"x-secret": True}
        return [ActionSpec(name="request", description="One HTTP call, guarded against SSRF.",
                           destination="url",
                           input_schema={"type": "object", "required": ["url"], "properties": {
                               field: credential for field in ("url", "headers", "params", "json", "body")}})]

    async def aexecute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        assert self.ctx is not None, "http.request runs for a step"
        return await HttpRequest().run(input_data, self.ctx)
