"""Signatures shown without their bodies, made short: a candidate listed costs fewer tokens, so more fit."""

from __future__ import annotations

import ast
import textwrap
from functools import lru_cache

__all__ = ["DEFAULT_CHARS", "python_head"]

#: a parameter's default shown in a compact signature up to this many characters (a longer one is "…")
DEFAULT_CHARS = 12
#: the decorators a short head keeps (by the end of their last name): they change what the definition is
#: (an attribute, a ``with`` block, a test fixture); the others (``classmethod``, ``wraps``, ``lru_cache``, an
#: app's ``route``...) cost tokens in every listed line and say little about where a bug is
_SAYS_WHAT_IT_IS = ("property", "contextmanager", "fixture")


@lru_cache(maxsize=8192)  # the same candidates come up query after query in a long-lived process
def python_head(signature: str) -> str | None:
    """A Python function's head without its annotations, a method's ``self`` or ``cls`` and long defaults
    (``def send(request, stream=False, **kwargs)``), only the decorators that say what it is (by name); None
    when it does not parse on its own (or is not a function)."""
    code = textwrap.dedent(signature).rstrip()
    first, _, rest = code.partition("\n")
    if rest and not first[:1].isspace():  # a method's decorator cut at its first byte: the lines after it
        code = f"{first}\n{textwrap.dedent(rest)}"  # keep the indent of the class body
    if not code.endswith(":"):
        return None
    try:
        node = ast.parse(code + "\n    pass").body[0]
    except (SyntaxError, ValueError, IndexError, RecursionError):
        return None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    a = node.args

    def shown(arg, default=None) -> str:
        if default is None:
            return arg.arg
        text = ast.unparse(default)
        return f"{arg.arg}={text if len(text) <= DEFAULT_CHARS else '…'}"

    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = [shown(p, d) for p, d in zip(positional, defaults)]
    if a.posonlyargs:
        params.insert(len(a.posonlyargs), "/")
    if params and params[0] in ("self", "cls"):  # the instance or class a method gets: it says nothing
        params = params[2:] if params[1:2] == ["/"] else params[1:]
    if a.vararg:
        params.append(f"*{a.vararg.arg}")
    elif a.kwonlyargs:
        params.append("*")
    params += [shown(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append(f"**{a.kwarg.arg}")
    decorators = [ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
    kept = ["@" + d for d in decorators if d.rsplit(".", 1)[-1].endswith(_SAYS_WHAT_IT_IS)]
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return " ".join([*kept, f"{prefix} {node.name}({', '.join(params)}):"])
