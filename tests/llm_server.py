"""A loopback HTTP server that speaks LLM providers' wire protocols, for tests.

Standard library only. It answers, on 127.0.0.1 and a free port:

* OpenAI (and OpenAI-compatible servers such as LM Studio):
  ``POST /v1/chat/completions`` (JSON, or SSE with ``"stream": true``),
  ``POST /v1/embeddings``, ``GET /v1/models``.
* Anthropic: ``POST /v1/messages`` (JSON, or its SSE event sequence),
  ``GET /v1/models`` when the request carries an ``anthropic-version`` header.
* Ollama: ``POST /api/chat`` (NDJSON stream by default, one JSON object with
  ``"stream": false``), ``POST /api/embed``, ``POST /api/embeddings``,
  ``GET /api/tags``, ``GET /api/version``, ``POST /api/show`` (``model_info`` with
  the ``context_length`` of :attr:`LLMServer.context_length`).
* LM Studio's own REST API: ``GET /api/v0/models`` and ``GET /api/v0/models/ID``
  (``max_context_length``).

Every request is recorded in :attr:`LLMServer.requests`; replies, latency and
failures are scriptable::

    with LLMServer() as server:
        server.reply_text = "hello"
        server.fail_next(status=429, retry_after=1)
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test")

Tokens are counted as whitespace-separated words. A ``max_tokens`` (OpenAI,
Anthropic) or ``options.num_predict`` (Ollama) smaller than the reply's word
count cuts the reply after that many words and reports "length"/"max_tokens".
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_REPLY = "Here you go:\n```python\nprint('hello')\n```\n"
DEFAULT_JSON: dict[str, Any] = {"answer": 42}
DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-0", "llama3.2:3b", "nomic-embed-text")
EMBED_DIM = 16
CHUNK_CHARS = 4  # characters per streamed delta

_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_denied",
                       404: "invalid_request_error", 429: "rate_limit_exceeded"}
_ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                          500: "api_error", 529: "overloaded_error"}


@dataclass
class Failure:
    """One scripted failure, consumed by the next request (see :meth:`LLMServer.fail_next`)."""

    status: int | None = None
    retry_after: float | None = None
    slow: float | None = None
    malformed: bool = False
    message: str | None = None


def count_tokens(text: str) -> int:
    return len(text.split())


def truncate_words(text: str, limit: int | None) -> tuple[str, bool]:
    """The text up to the end of its ``limit``-th word, and whether it was cut."""
    if limit is None:
        return text, False
    words = list(re.finditer(r"\S+", text))
    if len(words) <= limit:
        return text, False
    return (text[: words[limit - 1].end()] if limit > 0 else ""), True


def embed(text: str, dim: int = EMBED_DIM) -> list[float]:
    """A deterministic unit vector derived from the text."""
    digest = b""
    counter = 0
    while len(digest) < dim:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    raw = [b / 127.5 - 1.0 for b in digest[:dim]]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    return [x / norm for x in raw]


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_content_text(p.get("text", "") if isinstance(p, dict) else p) for p in content)
    return ""


def _prompt_tokens(body: dict) -> int:
    total = count_tokens(_content_text(body.get("system", "")))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            total += count_tokens(_content_text(message.get("content", "")))
    return max(total, 1)


def _chunks(text: str) -> list[str]:
    return [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


class LLMServer:
    """A threaded loopback server; use as a context manager or call :meth:`start`/:meth:`close`.

    Attributes (all settable between requests):
        url: ``http://127.0.0.1:PORT`` (no trailing slash, no ``/v1``).
        requests: one dict per request received, failed ones included:
            ``{"method", "path", "query", "headers" (lower-cased names), "body" (parsed JSON or None),
            "raw" (bytes), "time"}``.
        reply_text: the assistant's answer for every chat protocol.
        reply_json: answered (serialized) instead of reply_text when an OpenAI request asks for
            ``response_format`` json_object/json_schema, or an Ollama request gives ``format``.
        latency: seconds to wait before answering each request.
        models: model ids listed by the models/tags endpoints.
        queued_replies: answers used, one per chat request and in order, before ``reply_text`` /
            ``reply_json`` (see :meth:`queue_replies`).
        max_in_flight: the most requests the server was handling at the same time.
        chunk_delay: seconds between streamed chunks (default 0), to watch a stream arrive.
        context_length: the context window /api/show and /api/v0/models report (default 4096).
    """

    def __init__(self, reply_text: str = DEFAULT_REPLY, reply_json: Any = None, latency: float = 0.0,
                 models: tuple[str, ...] | list[str] = DEFAULT_MODELS):
        self.reply_text = reply_text
        self.reply_json = dict(DEFAULT_JSON) if reply_json is None else reply_json
        self.latency = latency
        self.models = list(models)
        self.requests: list[dict[str, Any]] = []
        self.queued_replies: deque[str] = deque()
        self.in_flight = 0
        self.max_in_flight = 0
        self.chunk_delay = 0.0
        self.context_length = 4096
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "LLMServer":
        server = self

        class Handler(_Handler):
            llm = server

        self._closing.clear()
        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="llm-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes up handlers sleeping on latency / slow
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "LLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scripting -----------------------------------------------------------------------------

    def fail_next(self, status: int | None = None, *, retry_after: float | None = None, times: int = 1,
                  slow: float | None = None, malformed: bool = False, message: str | None = None,
                  keep_pending: bool = False) -> None:
        """Fail each of the next ``times`` requests; replaces failures still pending from an earlier call
        unless ``keep_pending=True`` (then this one queues after them, e.g. a 429 then a 500).

        ``status``: answer with that HTTP status in the provider's error shape (429 carries a
        ``retry-after`` header, ``retry_after`` or 1 s). ``slow``: sleep that many seconds before
        answering (normally, unless ``status``/``malformed`` are given too), to trigger client
        timeouts. ``malformed``: a 200 whose JSON body is cut short, or a stream with a broken
        event/line. With none of these given, a 500.
        """
        if status is None and slow is None and not malformed:
            status = 500
        with self._lock:
            if not keep_pending:
                self._failures.clear()
            for _ in range(times):
                self._failures.append(Failure(status, retry_after, slow, malformed, message))

    def queue_replies(self, *texts: str) -> None:
        """Answer the next chat requests with ``texts``, one each, then ``reply_text`` again."""
        with self._lock:
            self.queued_replies.extend(texts)

    def _reply(self, default: str) -> str:
        with self._lock:
            return self.queued_replies.popleft() if self.queued_replies else default

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def reset(self) -> None:
        """Forget recorded requests and pending failures."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self.queued_replies.clear()
            self.max_in_flight = 0

    @property
    def pending_failures(self) -> int:
        return len(self._failures)

    @property
    def last(self) -> dict[str, Any]:
        """The most recent request."""
        return self.requests[-1]

    def _record(self, entry: dict[str, Any]) -> Failure | None:
        with self._lock:
            self.requests.append(entry)
            return self._failures.popleft() if self._failures else None

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops bursts of connections (SYN retried after 1 s)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # clients hanging up are normal
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    llm: LLMServer
    dialect = "openai"  # whose error shape to answer with: "openai", "anthropic" or "ollama"
    malformed = False
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait for a delayed ACK
    server_version = "llm-test-server/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # -- plumbing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        self.llm._enter()
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client gave up (timeout): nothing to answer
        finally:
            self.llm._leave()

    def _dispatch(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path, _, query = self.path.partition("?")
        failure = self.llm._record({
            "method": self.command, "path": path, "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body, "raw": raw, "time": time.time(),
        })
        self.dialect = self._dialect(path)
        self.llm._sleep(self.llm.latency)
        if failure is not None and failure.slow:
            self.llm._sleep(failure.slow)
        if failure is not None and failure.status:
            return self._error(failure.status, failure.message, failure.retry_after)
        self.malformed = bool(failure and failure.malformed)
        if raw and body is None:
            return self._error(400, "request body is not valid JSON")
        body = body if isinstance(body, dict) else {}

        route = (self.command, path)
        if route == ("POST", "/v1/chat/completions"):
            return self._openai_chat(body)
        if route == ("POST", "/v1/embeddings"):
            return self._openai_embeddings(body)
        if route == ("GET", "/v1/models"):
            return self._anthropic_models() if self.dialect == "anthropic" else self._openai_models()
        if route == ("POST", "/v1/messages"):
            return self._anthropic_messages(body)
        if route == ("POST", "/api/chat"):
            return self._ollama_chat(body)
        if route in (("POST", "/api/embed"), ("POST", "/api/embeddings")):
            return self._ollama_embed(body, legacy=path.endswith("embeddings"))
        if route == ("GET", "/api/tags"):
            return self._ollama_tags()
        if route == ("GET", "/api/version"):
            return self._json({"version": "0.6.0"})
        if route == ("POST", "/api/show"):
            return self._ollama_show(body)
        if self.command == "GET" and (path == "/api/v0/models" or path.startswith("/api/v0/models/")):
            return self._lmstudio_models(path.removeprefix("/api/v0/models").strip("/"))
        return self._error(404, f"no route for {self.command} {path}")

    def _dialect(self, path: str) -> str:
        if path.startswith("/api/"):
            return "ollama"
        if path.startswith("/v1/messages") or "anthropic-version" in self.headers:
            return "anthropic"
        return "openai"

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        if self.malformed:
            data = data[: max(1, len(data) // 2)]  # cut short: not JSON any more
        self._send(status, data, "application/json", headers)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True  # no content-length: the body ends when the connection closes

    def _write(self, text: str) -> None:
        self.wfile.write(text.encode())
        self.wfile.flush()
        self.llm._sleep(self.llm.chunk_delay)

    def _error(self, status: int, message: str | None = None, retry_after: float | None = None) -> None:
        message = message or f"simulated error {status}"
        headers: dict[str, str] = {}
        if status == 429:
            headers["retry-after"] = _num(1 if retry_after is None else retry_after)
        elif retry_after is not None:
            headers["retry-after"] = _num(retry_after)
        if self.dialect == "anthropic":
            payload: Any = {"type": "error",
                            "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message}}
            headers["request-id"] = "req_" + uuid.uuid4().hex[:24]
        elif self.dialect == "ollama":
            payload = {"error": message}
        else:
            kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
            code = {429: "rate_limit_exceeded", 401: "invalid_api_key", 404: "not_found"}.get(status)
            payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
            headers["x-request-id"] = "req_" + uuid.uuid4().hex[:24]
        self.malformed = False
        self._json(payload, status, headers)

    # -- OpenAI --------------------------------------------------------------------------------

    def _openai_chat(self, body: dict) -> None:
        model = body.get("model") or "gpt-4o"
        fmt = body.get("response_format") or {}
        text = self.llm._reply(json.dumps(self.llm.reply_json) if fmt.get("type") in ("json_object", "json_schema")
                               else self.llm.reply_text)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        text, cut = truncate_words(text, limit)
        finish = "length" if cut else "stop"
        prompt, completion = _prompt_tokens(body), count_tokens(text)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        base = {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_test"}
        if not body.get("stream"):
            return self._json({**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None, "finish_reason": finish}]})

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish_reason: str | None = None) -> str:
            payload = {**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
            if include_usage:
                payload["usage"] = None
            return f"data: {json.dumps(payload)}\n\n"

        self._start_stream("text/event-stream; charset=utf-8")
        self._write(chunk({"role": "assistant", "content": "", "refusal": None}))
        for i, piece in enumerate(_chunks(text)):
            if self.malformed and i == 1:
                self._write('data: {"id": "broken", "choices": [\n\n')
                return
            self._write(chunk({"content": piece}))
        self._write(chunk({}, finish))
        if include_usage:
            self._write(f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n")
        self._write("data: [DONE]\n\n")

    def _openai_embeddings(self, body: dict) -> None:
        inputs = body.get("input", "")
        inputs = [inputs] if isinstance(inputs, (str, int)) or (inputs and isinstance(inputs[0], int)) else inputs
        dim = int(body.get("dimensions") or EMBED_DIM)
        data = []
        for i, item in enumerate(inputs):
            vector = embed(str(item), dim)
            if body.get("encoding_format") == "base64":  # the openai SDK asks for base64 by default
                value: Any = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            else:
                value = vector
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(count_tokens(str(x)) for x in inputs)
        self._json({"object": "list", "data": data, "model": body.get("model") or "text-embedding-3-small",
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _openai_models(self) -> None:
        created = int(time.time())
        self._json({"object": "list", "data": [
            {"id": m, "object": "model", "created": created, "owned_by": "test"} for m in self.llm.models]})

    # -- Anthropic -----------------------------------------------------------------------------

    def _anthropic_messages(self, body: dict) -> None:
        model = body.get("model") or "claude-sonnet-4-0"
        if "max_tokens" not in body:
            return self._error(400, "max_tokens: Field required")
        text, cut = truncate_words(self.llm._reply(self.llm.reply_text), body.get("max_tokens"))
        stop = "max_tokens" if cut else "end_turn"
        prompt, completion = _prompt_tokens(body), count_tokens(text)
        msg_id = "msg_" + uuid.uuid4().hex[:24]
        usage = {"input_tokens": prompt, "output_tokens": completion, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        if not body.get("stream"):
            return self._json({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                               "content": [{"type": "text", "text": text}], "stop_reason": stop,
                               "stop_sequence": None, "usage": usage})

        def event(name: str, payload: dict) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n"

        self._start_stream("text/event-stream; charset=utf-8")
        self._write(event("message_start", {"message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}}))
        self._write(event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        self._write(event("ping", {}))
        for i, piece in enumerate(_chunks(text)):
            if self.malformed and i == 1:
                self._write('event: content_block_delta\ndata: {"type": "content_block_delta", "index"\n\n')
                return
            self._write(event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}))
        self._write(event("content_block_stop", {"index": 0}))
        self._write(event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                            "usage": {"output_tokens": completion}}))
        self._write(event("message_stop", {}))

    def _anthropic_models(self) -> None:
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.llm.models]
        self._json({"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None})

    # -- Ollama --------------------------------------------------------------------------------

    def _ollama_chat(self, body: dict) -> None:
        model = body.get("model")
        if not model:
            return self._error(400, "model is required")
        options = body.get("options") or {}
        text, cut = truncate_words(
            self.llm._reply(json.dumps(self.llm.reply_json) if body.get("format") else self.llm.reply_text),
            options.get("num_predict"))
        prompt, completion = _prompt_tokens(body), count_tokens(text)

        def now() -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"

        final = {"model": model, "created_at": now(), "message": {"role": "assistant", "content": ""},
                 "done_reason": "length" if cut else "stop", "done": True, "total_duration": 1_000_000,
                 "load_duration": 100_000, "prompt_eval_count": prompt, "prompt_eval_duration": 200_000,
                 "eval_count": completion, "eval_duration": 700_000}
        if body.get("stream") is False:
            return self._json({**final, "message": {"role": "assistant", "content": text}})
        self._start_stream("application/x-ndjson")
        for i, piece in enumerate(_chunks(text)):
            if self.malformed and i == 1:
                self._write('{"model": "broken", "message": {\n')
                return
            self._write(json.dumps({"model": model, "created_at": now(),
                                    "message": {"role": "assistant", "content": piece}, "done": False}) + "\n")
        self._write(json.dumps({**final, "created_at": now()}) + "\n")

    def _ollama_embed(self, body: dict, legacy: bool) -> None:
        model = body.get("model")
        if not model:
            return self._error(400, "model is required")
        if legacy:  # /api/embeddings: {"prompt": str} -> {"embedding": [...]}
            return self._json({"embedding": embed(str(body.get("prompt", "")))})
        inputs = body.get("input", "")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        self._json({"model": model, "embeddings": [embed(str(x)) for x in inputs], "total_duration": 1_000_000,
                    "load_duration": 100_000, "prompt_eval_count": sum(count_tokens(str(x)) for x in inputs)})

    def _ollama_show(self, body: dict) -> None:
        model = body.get("model") or body.get("name")
        if model not in self.llm.models and model + ":latest" not in self.llm.models:
            return self._error(404, f"model '{model}' not found")
        self._json({"modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
                    "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B"},
                    "model_info": {"general.architecture": "llama",
                                   "llama.context_length": self.llm.context_length},
                    "capabilities": ["completion"]})

    def _lmstudio_models(self, wanted: str) -> None:
        rows = [{"id": m, "object": "model", "type": "llm", "state": "loaded",
                 "max_context_length": self.llm.context_length} for m in self.llm.models]
        if not wanted:
            return self._json({"object": "list", "data": rows})
        row = next((r for r in rows if r["id"] == wanted), None)
        if row is None:
            return self._error(404, f"model '{wanted}' not found")
        self._json(row)

    def _ollama_tags(self) -> None:
        self._json({"models": [{
            "name": m if ":" in m else m + ":latest", "model": m if ":" in m else m + ":latest",
            "modified_at": "2025-01-01T00:00:00.000000Z", "size": 2_019_393_189,
            "digest": hashlib.sha256(m.encode()).hexdigest(),
            "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                        "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}} for m in self.llm.models]})


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def closed_url() -> str:
    """An http address on 127.0.0.1 where nothing listens (for "server not running" cases)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
