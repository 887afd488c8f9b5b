"""``aiex chat``: a conversation in the terminal, on a session (the same one a notebook or the panel uses)."""

from __future__ import annotations

import sys

from .commands import Result

__all__ = ["run_chat_loop"]

HELP = """\
Type a message; the answer streams below. Ctrl-C stops an answer, Ctrl-D (or /exit) ends the chat.
  /model MODEL      ask MODEL from now on (provider:model or an alias)
  /context on|off   send the project's code with each message, or not
  /budget N         tokens of project context
  /reset            forget the conversation so far (the session's history stays)
  /session          the session's name (continue it later with `aiex chat --session NAME`)
  /exit             end the chat"""


def _reader(interactive: bool):
    if interactive:
        from prompt_toolkit import PromptSession

        prompt = PromptSession()
        return lambda: prompt.prompt("you> ")
    return lambda: (sys.stdin.readline() or (_ for _ in ()).throw(EOFError())).rstrip("\n")


def run_chat_loop(service, args, write, note) -> Result:
    from ..core.requests import ContextOptions, TurnRequest
    from ..runtime.service import check_session_name
    from .render import sources_text
    from .turns import follow

    if args.session:
        session = check_session_name(args.session)
        if not service.exists(session):
            service.start_session(session)
    else:
        session = service.start_session().name
    interactive = sys.stdin is not None and sys.stdin.isatty()
    read = _reader(interactive)
    model, use_context, budget = args.model, args.use_context, args.context_budget
    note(f"chat on session {session}; /help for commands, Ctrl-D to end")
    turns = 0
    while True:
        try:
            line = read().strip()
        except EOFError:
            break
        except KeyboardInterrupt:
            break
        if not line:
            continue
        if line.startswith("/"):
            command, _, value = line[1:].partition(" ")
            value = value.strip()
            if command in ("exit", "quit"):
                break
            if command == "help":
                write(HELP + "\n")
            elif command == "reset":
                service.reset_memory(session)
                note("conversation memory cleared")
            elif command == "model" and value:
                model = value
                note(f"asking {model} from now on")
            elif command == "context" and value in ("on", "off"):
                use_context = value == "on"
                note(f"project context {value}")
            elif command == "budget" and value.isdigit():
                budget = int(value)
                note(f"context budget {budget:,} tokens")
            elif command == "session":
                write(f"{session}\n")
            else:
                note(f"unknown command {line!r}; /help lists them")
            continue
        request = TurnRequest(command="chat", prompt=line, model=model, session=session,
                              context=ContextOptions(path=args.context, enabled=use_context, budget=budget,
                                                     root=getattr(args, "root", None)),
                              max_tokens=args.max_tokens or 1024, temperature=args.temperature, format=args.format)
        try:
            outcome = follow(service.turn_sync(request), on_delta=write, on_note=note)
        except KeyboardInterrupt:
            write("\n")
            note("stopped; the partial answer is kept in the session")
            continue
        except Exception as exc:  # noqa: BLE001 - one bad turn does not end the conversation
            from ..errors import AiexError

            if not isinstance(exc, AiexError):
                raise
            note(f"error: {exc}")
            continue
        write("\n")
        if outcome.failed is not None:
            note(f"error: {outcome.failed.message}")
            continue
        turns += 1
        listed = sources_text(outcome.sources, limit=5)
        if listed:
            write(listed + "\n")
    return Result({"session": session, "turns": turns},
                  human=f"aiex: {turns} turns in session {session}; continue with `aiex chat --session {session}`")
