"""``aiex serve mcp``: the project's index (and, inside a kernel, the live session) as MCP tools."""

from __future__ import annotations

from ..commands.options import ROOT_ARGS
from ..commands.registry import REGISTRY, Result, arg

#: the server a kernel runs (``%aiex serve mcp``), one per process
_KERNEL_SERVER: dict = {}


def _token(args) -> str | None:
    import os

    from ...errors import UsageError

    from pathlib import Path

    if args.token_file:
        try:
            token, source = Path(args.token_file).expanduser().read_text(encoding="utf-8").strip(), "--token-file"
        except OSError as exc:
            raise UsageError(f"--token-file {args.token_file}: {exc.strerror or exc}.") from None
    else:
        token, source = os.environ.get("AIEX_MCP_TOKEN", "").strip(), "AIEX_MCP_TOKEN"
        if not token:
            return None  # a new one for this start
    if len(token) < 16:
        raise UsageError(f"{source}: the MCP token must be at least 16 characters (anyone on this machine could "
                         "guess a shorter one).")
    return token


def _described(server) -> dict:
    return {"url": server.url, "token": server.token, "client_config": server.client_config(),
            "claude": f"claude mcp add --transport http aiex {server.url} "
                      f"--header 'Authorization: Bearer {server.token}'"}


@REGISTRY.command(
    "serve", "mcp",
    help="serve the project's code (and, in a notebook, the live session) to agents over MCP",
    args=[arg("--http", action="store_true", surfaces=("cli",),
              help="streamable HTTP on a loopback port instead of stdio (in a notebook it is always HTTP)"),
          arg("--port", type=int, default=0, help="the HTTP port (default: any free port)"),
          arg("--host", default="127.0.0.1", help="the loopback address to listen on (default 127.0.0.1)"),
          arg("--token-file", metavar="FILE",
              help="read the HTTP bearer token from FILE (default: AIEX_MCP_TOKEN, else a new one per start)"),
          arg("--stop", action="store_true", surfaces=("notebook",), help="stop this kernel's MCP server"),
          *ROOT_ARGS],
)
def serve_mcp(args, ctx) -> Result:
    """Serve aiex's tools to any MCP client (Claude Code, jupyter-ai, marimo, ...): search_code (the fitted
    context for a question), get_definition, project_outline, session_history and list_sessions; inside a
    kernel also explain_object (names and dotted attributes of the live namespace, never evaluated).

    On the command line it speaks stdio (for a client that starts `aiex serve mcp` itself) or, with --http,
    streamable HTTP on 127.0.0.1 with a bearer token and an Origin check. In a notebook it serves HTTP on a
    thread of the kernel until --stop or the kernel ends."""
    from ...errors import UsageError
    from .http import check_host

    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535.")
    check_host(args.host)
    if ctx.notebook is not None:
        return _in_kernel(args, ctx)
    from ...runtime import file_watch
    from .tools import ToolRunner, build_server, serve_stdio

    file_watch.enable()  # a server answers for hours: its index updates ask the OS what changed
    runner = ToolRunner(ctx.service, root=args.root)
    if not args.http:
        ctx.note("serving MCP over stdio (an MCP client starts this command; Ctrl-D or closing stdin stops it)")
        serve_stdio(runner)
        return Result({"transport": "stdio"}, human="", silent=True)
    from .http import HttpServer

    server = HttpServer(build_server(runner), host=args.host, port=args.port, token=_token(args))
    info = _described(server)
    ctx.write(f"Serving aiex over MCP at {server.url} (Ctrl-C stops)\n"
              f"  token: {server.token}\n  Claude Code: {info['claude']}\n")
    server.serve_forever()
    return Result({"transport": "http", **info}, human="stopped", shown=True)


def _in_kernel(args, ctx) -> Result:
    from .http import HttpServer
    from .tools import ToolRunner, build_server

    running = _KERNEL_SERVER.get("server")
    if args.stop:
        if running is None:
            return Result({"stopped": False}, human="No MCP server is running in this kernel.")
        running.stop()
        _KERNEL_SERVER.clear()
        return Result({"stopped": True, "url": running.url}, human=f"Stopped the MCP server at {running.url}.")
    if running is not None:
        info = _described(running)
        return Result({"transport": "http", "already": True, **info},
                      human=f"The MCP server is already running at {running.url} (token {running.token}); "
                            f"`%aiex serve mcp --stop` stops it.")
    runner = ToolRunner(ctx.service, root=args.root, notebook=ctx.notebook)
    server = HttpServer(build_server(runner), host=args.host, port=args.port, token=_token(args)).start()
    _KERNEL_SERVER["server"] = server
    info = _described(server)
    text = (f"Serving this kernel's project and session over MCP at {server.url}\n"
            f"  token: {server.token}\n  Claude Code: {info['claude']}\n"
            f"  tools: search_code, get_definition, project_outline, explain_object, session_history, list_sessions\n"
            f"  `%aiex serve mcp --stop` stops it.")
    return Result({"transport": "http", **info}, human=text)
