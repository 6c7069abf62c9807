"""Local protocol peers for the connectors' and secrets' tests: a Vault KV v2 HTTP API and plain HTTP
servers that record what they were sent (and, from automate.demo.peers, SMTP and AWS). Each speaks the
real wire protocol to the real client library under test."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from automate.demo.peers import SmtpPeer, free_port, moto_server, smtp_server

__all__ = ["HttpPeer", "Recorded", "SmtpPeer", "free_port", "http_peer", "moto_server", "smtp_server",
           "vault_server"]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Recorded], tuple[int, dict[str, str], bytes]]


@dataclass
class HttpPeer:
    url: str
    requests: list[Recorded] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # (5 by default: a burst of calls at once was refused at connect)


@contextmanager
def http_peer(respond: Responder) -> Iterator[HttpPeer]:
    """An HTTP server on loopback answering each request with ``respond`` and recording it."""
    peer = HttpPeer("")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                self.rfile.read(length) if length else b"")
            peer.requests.append(recorded)
            status, headers, body = respond(recorded)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def vault_server(token: str, secrets: dict[str, dict[str, str]], mount: str = "secret") -> Iterator[HttpPeer]:
    """Vault's KV version 2 read API (``GET /v1/<mount>/data/<path>``, ``X-Vault-Token``), answered as
    Vault answers."""

    def respond(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        prefix = f"/v1/{mount}/data/"
        if request.headers.get("x-vault-token") != token:
            return 403, {"Content-Type": "application/json"}, b'{"errors":["permission denied"]}'
        path = request.path.removeprefix(prefix)
        if not request.path.startswith(prefix) or path not in secrets:
            return 404, {"Content-Type": "application/json"}, b'{"errors":[]}'
        body = {"request_id": "r", "data": {"data": secrets[path], "metadata": {"version": 1}}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    with http_peer(respond) as peer:
        yield peer
