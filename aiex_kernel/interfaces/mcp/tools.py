"""aiex as an MCP server: the project's index (and a live kernel) as tools for any agent.

Every tool is a registry command run through the same parser and handler as the CLI
and ``%aiex`` (``search_code`` is ``show context``, ``get_definition`` is ``show
definition``, ``project_outline`` is ``show outline``, ``explain_object`` is the
notebook's ``show object``, ``session_history`` is ``show session``), so a tool can
do nothing a command cannot, and its errors are the commands' one-line messages.
Every result goes through :func:`aiex_kernel.core.redact.redact` before it leaves.

``explain_object`` exists only when the server runs inside a kernel (``%aiex serve
mcp``): it looks up names and dotted attributes in the user's namespace without
evaluating anything. The transports are in :mod:`.http` (streamable HTTP, with a
token and an Origin check) and :func:`serve_stdio`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..commands import Context, get_registry, parse_command, subparser
from ..commands.registry import takes_value

__all__ = ["TOOL_NAMES", "ToolRunner", "build_server", "serve_stdio"]

#: the tools, in the order they are listed (explain_object only inside a kernel)
TOOL_NAMES = ("search_code", "get_definition", "project_outline", "explain_object", "session_history",
              "list_sessions")

INSTRUCTIONS = (
    "aiex indexes this project's code with tree-sitter. Use search_code with a question to get the most relevant "
    "code fitted into a token budget (full bodies, then signatures, then file outlines, with their paths and "
    "lines); get_definition for one function or class by name; project_outline for the map of files and their "
    "definitions. session_history shows what was asked of aiex before.")


def _missing_sdk() -> None:
    from ...errors import UsageError

    raise UsageError("The MCP server needs the `mcp` package: pip install 'aiex[mcp]'.")


class _ToolParser(argparse.ArgumentParser):
    def error(self, message: str):
        from ...errors import UsageError

        raise UsageError(message)


class ToolRunner:
    """Runs registry commands for the tools: on the notebook surface inside a kernel, else as the CLI does."""

    def __init__(self, service, *, root: str | None = None, notebook=None) -> None:
        self.service = service
        self.root = root
        self.notebook = notebook
        self.surface = "notebook" if notebook is not None else "cli"
        self._parser = get_registry().build_parser("aiex", _ToolParser, surface=self.surface)

    def run(self, words: list[str]):
        """(Result, notes) of the command ``words`` (``["show", "context", "--query", ...]``)."""
        from ...errors import UsageError

        if self.root is not None and takes_value(subparser(self._parser, words[:2]), "--root"):
            words = [*words, "--root", self.root]  # the commands about the project (not sessions, not objects)
        args = parse_command(self._parser, words, "aiex", UsageError)
        notes: list[str] = []
        ctx = Context(surface=self.surface, progress=False, prog="aiex", write=None, note=notes.append,
                      service=self.service, notebook=self.notebook)
        return args.command.handler(args, ctx), notes

    def text(self, words: list[str]) -> str:
        """The command's human text and notes, redacted."""
        result, notes = self.run(words)
        human = result.human if isinstance(result.human, str) else str(result.data)
        return redacted("\n".join([*(f"note: {n}" for n in notes), human]))

    def default_session(self) -> str | None:
        """The kernel's current session, else the most recently active one in the event log."""
        if self.notebook is not None:
            return self.service.current_session()
        return self.service.latest_session()


def redacted(text: str) -> str:
    """``text`` with every secret the redactor recognises replaced (the one redaction of every tool result)."""
    from ...core.redact import redact

    return redact(text).text


def _history_text(data: dict, limit: int) -> str:
    turns = data["turns"][-limit:] if limit else data["turns"]
    lines = [f"Session {data['name']}: {len(data['turns'])} turns"
             + (f", the last {len(turns)} shown" if len(turns) < len(data["turns"]) else "")]
    for t in turns:
        lines += ["", f"## turn {t['turn']} · {t['command']} · {t['model']} · {t['status']}", f"Q: {t['prompt']}",
                  f"A: {t['answer'] or '-'}"]
        if t["sources"]:
            lines.append("sources: " + ", ".join(str(s.get('path', s)) if isinstance(s, dict) else str(s)
                                                 for s in t["sources"]))
    if data.get("pinned"):
        lines += ["", "pinned files: " + ", ".join(data["pinned"])]
    return "\n".join(lines)


def build_server(runner: ToolRunner):
    """The ``MCPServer`` with aiex's tools, each a registry command through ``runner``."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
        from mcp_types import ToolAnnotations
    except ImportError:
        _missing_sdk()

    from ..._version import __version__
    from ...errors import AiexError

    server = MCPServer("aiex", title="aiex: code context", version=__version__, instructions=INSTRUCTIONS,
                       log_level="WARNING")
    read_only = ToolAnnotations(readOnlyHint=True, openWorldHint=False)

    def call(words: list[str], render=None) -> str:
        """The command's text (or ``render(result.data)``), redacted; its error as the tool's error."""
        try:
            if render is None:
                return runner.text(words)
            result, _ = runner.run(words)
            return redacted(render(result.data))
        except AiexError as exc:
            raise ToolError(redacted(str(exc))) from None

    def search_code(question: str, budget: int = 2048) -> str:
        """The project's code most relevant to `question`, fitted into `budget` tokens: the best matches in full,
        then signatures (bodies elided), then file outlines, grouped by file with paths and line numbers. The
        index is brought up to date first (incremental)."""
        return call(["show", "context", "--query", question, "--budget", str(budget)])

    def get_definition(symbol: str) -> str:
        """The source of one definition: a name (`fit`), a dotted name (`Packer.add`), a file path relative to
        the project root, or PATH:LINE (the innermost definition holding that line); with where it is and
        its signature."""
        return call(["show", "definition", symbol])

    def project_outline(path: str = "", max_lines: int = 400) -> str:
        """The map of the project: every indexed file under `path` (relative to the project root; empty: all)
        with its classes and functions, their signatures and first lines."""
        words = ["show", "outline", "--max-lines", str(max_lines)]
        if path.strip() and path.strip() not in (".", "./"):
            from ...config import find_project_root

            root = str(find_project_root(root=runner.root))  # the path is relative to the project root
            words += ["--path", os.path.join(root, path.strip())]
        return call(words)

    def explain_object(name: str) -> str:
        """What the running kernel holds under `name`: a variable or a dotted attribute path (`df`,
        `model.fit`); its type, signature, docstring, source and a shortened repr. Names only: nothing is
        evaluated."""
        return call(["show", "object", name])

    def session_history(session: str = "", limit: int = 20) -> str:
        """The turns of an aiex session (prompts, answers, models, sources), oldest first: the named one, else
        the kernel's current session or the most recently active. `limit`: the last N turns (0: all)."""
        if limit < 0:
            raise ToolError("limit must be 0 or more.")
        name = session.strip() or runner.default_session()
        if not name:
            return "No aiex sessions yet."
        return call(["show", "session", name], render=lambda data: _history_text(data, limit))

    def list_sessions(query: str = "") -> str:
        """The aiex sessions, most recently active first; `query` keeps those whose prompts or answers hold it."""
        return call(["list", "sessions", *(["--query", query] if query.strip() else [])])

    tools: dict[str, Any] = {"search_code": search_code, "get_definition": get_definition,
                             "project_outline": project_outline, "explain_object": explain_object,
                             "session_history": session_history, "list_sessions": list_sessions}
    for name in TOOL_NAMES:
        if name == "explain_object" and runner.notebook is None:
            continue
        server.add_tool(tools[name], name=name, annotations=read_only, structured_output=False)
    return server


def serve_stdio(runner: ToolRunner) -> None:
    """Serve the tools over stdin/stdout until the client closes them (the SDK keeps stray prints off stdout)."""
    build_server(runner).run("stdio")
