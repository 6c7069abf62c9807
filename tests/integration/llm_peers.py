"""Local servers speaking the LLM providers' wire protocols, for automate_llm's tests through the real SDKs:
OpenAI's Chat Completions (JSON and SSE streams), Anthropic's Messages (JSON and SSE streams) and
Bedrock's Converse (JSON, and ``converse-stream`` in AWS's binary event-stream framing; moto 5.2.6 has
only InvokeModel).

Each answers by the model named in the request, so one server plays every case:

=================  ==========================================================================
model              answer
=================  ==========================================================================
(any other)        ``peer.answer`` (or ``peer.json_answer`` when the request asks for JSON)
``busy-once*``     429 with ``retry-after: 0`` the first time, then the answer (by model name: use one
                   name per case)
``busy-long``      429 with ``retry-after: 7`` every time
``no-usage``       the answer without its usage (openai: neither in the JSON nor in the stream)
``fails-midway``   openai streams: two pieces, then an error event
``down``           503 every time
``missing-model``  404 (model not found)
``tiny-context``   400, the context-length error
``bad-request``    400, another error
``slow``           the answer, after 2 seconds
=================  ==========================================================================

A wrong key is refused with 401 and a body that quotes the key, as OpenAI's does.
"""

from __future__ import annotations

import binascii
import json
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.integration.peers import HttpPeer, Recorded, http_peer

__all__ = ["LlmPeer", "anthropic_server", "bedrock_server", "event_stream_message", "openai_server",
           "stalling_bedrock_server"]

Answer = tuple[int, dict[str, str], bytes]
JSON = {"Content-Type": "application/json"}


@dataclass
class LlmPeer:
    """A running server: its base URL, what it was sent, and what it answers."""

    http: HttpPeer
    key: str
    answer: str = "The capital of France is Paris."
    json_answer: str = '{"city": "Paris", "country": "France"}'
    seen: Counter[str] = field(default_factory=Counter)

    @property
    def url(self) -> str:
        return self.http.url

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.http.requests if r.body.startswith(b"{")]


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == len(words) - 1 else w + " " for i, w in enumerate(words)]


def _failure(peer: LlmPeer, model: str, error: Any) -> Answer | None:
    """The scripted failure for ``model``, made by ``error(status, kind, message)``; None: answer."""
    peer.seen[model] += 1
    if model == "slow":
        time.sleep(2)
    if model.startswith("busy-once") and peer.seen[model] == 1:
        status, headers, body = error(429, "rate_limit_exceeded", "Rate limit reached, slow down")
        return status, {**headers, "retry-after": "0"}, body
    if model == "busy-long":
        status, headers, body = error(429, "rate_limit_exceeded", "Rate limit reached, slow down")
        return status, {**headers, "retry-after": "7"}, body
    if model == "down":
        return error(503, "server_error", "The server is overloaded")
    if model == "missing-model":
        return error(404, "model_not_found", f"The model `{model}` does not exist")
    if model == "tiny-context":
        return error(400, "context_length_exceeded",
                     "This model's maximum context length is 10 tokens. However, you requested 99 tokens.")
    if model == "bad-request":
        return error(400, "invalid_value", "Invalid value for 'temperature'")
    return None


# --- OpenAI Chat Completions -------------------------------------------------------------------------


def _openai_error(status: int, code: str, message: str) -> Answer:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return status, JSON, json.dumps({"error": {"message": message, "type": kind, "param": None,
                                               "code": code}}).encode()


def _openai(peer: LlmPeer, request: Recorded) -> Answer:
    auth = request.headers.get("authorization", "")
    if auth != f"Bearer {peer.key}":
        given = auth.removeprefix("Bearer ")
        return _openai_error(401, "invalid_api_key", f"Incorrect API key provided: {given}. You can find "
                                                     f"your API key at https://platform.openai.com.")
    if request.path != "/v1/chat/completions":
        return _openai_error(404, "unknown_url", f"Unknown request URL: POST {request.path}")
    body = json.loads(request.body)
    model = body["model"]
    failed = _failure(peer, model, _openai_error)
    if failed is not None:
        return failed
    text = peer.json_answer if body.get("response_format", {}).get("type") == "json_schema" else peer.answer
    prompt = sum(len(m["content"].split()) + 4 for m in body["messages"])
    usage = {"prompt_tokens": prompt, "completion_tokens": len(text.split()),
             "total_tokens": prompt + len(text.split())}
    if not body.get("stream"):
        completion = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "finish_reason": "stop", "logprobs": None}]}
        if model != "no-usage":
            completion["usage"] = usage
        return 200, JSON, json.dumps(completion).encode()
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}]
    events += [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
               for w in _words(text)]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if model == "fails-midway":  # two pieces, then an error event in place of the rest
        events = [*events[:3], {"error": {"message": "The server had an error", "type": "server_error"}}]
    elif body.get("stream_options", {}).get("include_usage") and model != "no-usage":
        events.append({**base, "choices": [], "usage": usage})
    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return 200, {"Content-Type": "text/event-stream"}, sse.encode()


@contextmanager
def openai_server(key: str = "sk-test-openai-key-1234567890") -> Iterator[LlmPeer]:
    """An OpenAI-compatible server; its base URL for the SDK is ``peer.url + "/v1"``."""
    peer: LlmPeer

    with http_peer(lambda request: _openai(peer, request)) as http:
        peer = LlmPeer(http, key)
        yield peer


# --- Anthropic Messages ------------------------------------------------------------------------------


def _anthropic_error(status: int, code: str, message: str) -> Answer:
    kind = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error",
            400: "invalid_request_error"}.get(status, "overloaded_error" if status == 529 else "api_error")
    if code == "context_length_exceeded":
        message = "prompt is too long: 99 tokens > 10 maximum"
    return status, JSON, json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def _anthropic(peer: LlmPeer, request: Recorded) -> Answer:
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
    given = request.headers.get("x-api-key") or bearer
    if given != peer.key:  # older SDKs send x-api-key, this one Authorization: Bearer
        return _anthropic_error(401, "", f"invalid x-api-key {given}")
    body = json.loads(request.body)
    model = body["model"]
    failed = _failure(peer, model, _anthropic_error)
    if failed is not None:
        return failed
    tool = body.get("tool_choice", {}).get("name")
    text = peer.json_answer if tool else peer.answer
    block: dict[str, Any] = ({"type": "tool_use", "id": "toolu_1", "name": tool, "input": json.loads(text)}
                             if tool else {"type": "text", "text": text})
    usage = {"input_tokens": sum(len(m["content"].split()) for m in body["messages"]) + 3,
             "output_tokens": len(text.split())}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [block],
               "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None, "usage": usage}
    if not body.get("stream"):
        return 200, JSON, json.dumps(message).encode()
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    empty = {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {}} if tool else {"type": "text",
                                                                                         "text": ""}
    kind, field_name = ("input_json_delta", "partial_json") if tool else ("text_delta", "text")
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start},
                                    {"type": "content_block_start", "index": 0, "content_block": empty}]
    events += [{"type": "content_block_delta", "index": 0, "delta": {"type": kind, field_name: w}}
               for w in _words(text)]
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]}},
               {"type": "message_stop"}]
    return 200, {"Content-Type": "text/event-stream"}, _sse(events)


@contextmanager
def anthropic_server(key: str = "sk-ant-test-key-0987654321") -> Iterator[LlmPeer]:
    """A server speaking Anthropic's Messages API at ``peer.url`` (``/v1/messages``)."""
    peer: LlmPeer

    with http_peer(lambda request: _anthropic(peer, request)) as http:
        peer = LlmPeer(http, key)
        yield peer


# --- Bedrock Converse ---------------------------------------------------------------------------------

_BEDROCK_CODES = {429: "ThrottlingException", 503: "ServiceUnavailableException",
                  404: "ResourceNotFoundException", 400: "ValidationException", 403: "AccessDeniedException"}


def _bedrock_error(status: int, code: str, message: str) -> Answer:
    if code == "context_length_exceeded":
        message = "Input is too long for requested model."
    kind = _BEDROCK_CODES.get(status, "InternalServerException")
    return status, {**JSON, "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/"}, json.dumps(
        {"message": message}).encode()


def event_stream_message(event_type: str, payload: dict[str, Any]) -> bytes:
    """One message of AWS's event-stream framing: prelude (lengths and their CRC32), string headers,
    the JSON payload, the message's CRC32."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        raw = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message) & 0xFFFFFFFF)


def _bedrock(peer: LlmPeer, request: Recorded) -> Answer:
    if peer.key not in request.headers.get("authorization", ""):  # the SigV4 credential names the key id
        return 403, {**JSON, "x-amzn-ErrorType": "UnrecognizedClientException"}, json.dumps(
            {"message": "The security token included in the request is invalid."}).encode()
    parts = request.path.split("/")  # /model/<id>/converse[-stream]
    model, operation = unquote(parts[2]), parts[3]
    body = json.loads(request.body)
    failed = _failure(peer, model, _bedrock_error)
    if failed is not None:
        return failed
    tool = ((body.get("toolConfig") or {}).get("toolChoice") or {}).get("tool", {}).get("name")
    text = peer.json_answer if tool else peer.answer
    usage = {"inputTokens": sum(len(c["text"].split()) for m in body["messages"] for c in m["content"]),
             "outputTokens": len(text.split())}
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
    if operation == "converse":
        content = ({"toolUse": {"toolUseId": "t1", "name": tool, "input": json.loads(text)}} if tool
                   else {"text": text})
        return 200, JSON, json.dumps({"output": {"message": {"role": "assistant", "content": [content]}},
                                      "stopReason": "tool_use" if tool else "end_turn", "usage": usage,
                                      "metrics": {"latencyMs": 5}}).encode()
    frames = [event_stream_message("messageStart", {"role": "assistant"})]
    for word in _words(text):
        delta = {"toolUse": {"input": word}} if tool else {"text": word}
        frames.append(event_stream_message("contentBlockDelta", {"delta": delta, "contentBlockIndex": 0}))
    frames.append(event_stream_message("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(event_stream_message("messageStop", {"stopReason": "end_turn"}))
    frames.append(event_stream_message("metadata", {"usage": usage, "metrics": {"latencyMs": 5}}))
    return 200, {"Content-Type": "application/vnd.amazon.eventstream"}, b"".join(frames)


@contextmanager
def bedrock_server(key_id: str = "AKIALLMTESTKEY") -> Iterator[LlmPeer]:
    """A server speaking Bedrock Runtime's Converse API (``/model/<id>/converse`` and
    ``/converse-stream``); boto3 reaches it with ``endpoint_url=peer.url``. It accepts requests signed
    with the access key id ``key_id``."""
    peer: LlmPeer

    with http_peer(lambda request: _bedrock(peer, request)) as http:
        peer = LlmPeer(http, key_id)
        yield peer


@contextmanager
def stalling_bedrock_server() -> Iterator[str]:
    """A Bedrock ``converse-stream`` over a kept-alive HTTP/1.1 connection that sends its first piece and
    then stalls (the rest never comes while the test runs): what a client must close when its consumer
    leaves early. Yields the endpoint URL (any credentials are accepted)."""
    release = threading.Event()
    first = [event_stream_message("messageStart", {"role": "assistant"}),
             event_stream_message("contentBlockDelta", {"delta": {"text": "The "}, "contentBlockIndex": 0})]
    # empty deltas after it: botocore reads in 64 KiB chunks, so the piece is seen without the rest
    empty = event_stream_message("contentBlockDelta", {"delta": {"text": ""}, "contentBlockIndex": 0})
    first += [empty] * 800

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Content-Length", "10000000")
            self.end_headers()
            self.wfile.write(b"".join(first))
            self.wfile.flush()
            release.wait(30)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
