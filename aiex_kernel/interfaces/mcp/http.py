"""The MCP server over streamable HTTP on a loopback address, guarded as the MCP spec asks.

- **A bearer token**: every request to ``/mcp`` carries ``Authorization: Bearer TOKEN``
  (compared in constant time), else 401. The token is ``AIEX_MCP_TOKEN`` or
  ``--token-file``'s content when given, else made fresh for each start.
- **DNS rebinding**: the SDK's transport security checks ``Host`` (only this address and
  port) and ``Origin`` (absent, or this server's own origin): a page on another site
  gets 403 even if it learned the token.
- **Loopback only**: the address must be 127.0.0.1, ::1 or localhost.

:class:`HttpServer` runs uvicorn in the foreground (``aiex serve mcp --http``) or on a
daemon thread of a kernel (``%aiex serve mcp``), on a socket bound before it starts,
so port 0 gives a free port that is known at once.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading

from ..commands.options import LOOPBACK

__all__ = ["LOOPBACK", "HttpServer", "check_host", "new_token"]

PATH = "/mcp"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check_host(host: str) -> str:
    from ...errors import UsageError

    if host not in LOOPBACK:
        raise UsageError(f"--host {host}: the MCP server listens only on a loopback address "
                         f"({', '.join(LOOPBACK)}); an agent on another machine can reach it through an SSH tunnel.")
    return host


class _RequireToken:
    """ASGI middleware: 401 for any HTTP request without ``Authorization: Bearer <token>``."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps({"error": "unauthorized",
                                   "message": "send the aiex MCP token: Authorization: Bearer TOKEN"}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="aiex"'),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _bind(host: str, port: int) -> socket.socket:
    from ...errors import ServeError

    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port, or "
                         "--port 0 for any free one.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """``mcp_server`` (an MCPServer) served at ``http://HOST:PORT/mcp`` with the token and Origin checks."""

    def __init__(self, mcp_server, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        import uvicorn
        from mcp.server.transport_security import TransportSecuritySettings

        self.host = check_host(host)
        self.token = token or new_token()
        self.socket = _bind(host, port)
        self.port = self.socket.getsockname()[1]
        names = ["127.0.0.1", "localhost", "[::1]"]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[f"{n}:{self.port}" for n in names],
            allowed_origins=[f"{scheme}://{n}:{self.port}" for n in names for scheme in ("http", "https")])
        app = mcp_server.streamable_http_app(streamable_http_path=PATH, transport_security=security, host=host)
        config = uvicorn.Config(_RequireToken(app, self.token), log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}{PATH}"

    def client_config(self) -> dict:
        """How an MCP client connects: the URL and the header (Claude Code: ``claude mcp add --transport http``)."""
        return {"type": "http", "url": self.url, "headers": {"Authorization": f"Bearer {self.token}"}}

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM: uvicorn shuts down gracefully, then re-raises the
        signal, which ends the serving here and nothing else."""
        try:
            self.server.run(sockets=[self.socket])
        except KeyboardInterrupt:
            pass
        finally:
            self.socket.close()

    def start(self) -> HttpServer:
        """Serve on a daemon thread (inside a kernel); returns once the server accepts connections."""
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="aiex-mcp-http", daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.025)
        if not self.server.started:
            from ...errors import ServeError

            raise ServeError(f"The MCP server on {self.url} did not start; see the kernel's log.")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
        self.socket.close()
