"""Facts about live objects and errors: for `explain` (live, imported, or named in a kernel) and `fix`."""

from __future__ import annotations

import builtins
import inspect
import re
import reprlib
import traceback
import types

from ..core.prompts import ObjectFacts

__all__ = ["bounded_repr", "error_text", "named_object", "object_facts"]

MAX_SOURCE_CHARS = 6000
MAX_DOC_CHARS = 1500


def bounded_repr(value, limit: int = 400) -> str:
    """A short repr that never runs away (containers cut, long strings elided)."""
    r = reprlib.Repr()
    r.maxstring = r.maxother = limit
    r.maxlist = r.maxtuple = r.maxset = r.maxdict = r.maxarray = 12
    r.maxlevel = 3
    try:
        text = r.repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break explain
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"


def object_facts(expression: str, value) -> ObjectFacts:
    """Type, signature, docstring, source (when it has some) and a bounded repr of ``value``."""
    target = value if (inspect.isroutine(value) or inspect.isclass(value) or inspect.ismodule(value)) else type(value)
    try:
        signature = str(inspect.signature(value)) if callable(value) else None
    except (TypeError, ValueError):
        signature = None
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        source = None
    doc = inspect.getdoc(value)
    extra = {}
    for attr in () if target is value else ("shape", "dtype", "dtypes"):
        try:
            found = getattr(value, attr, None)
        except Exception:  # noqa: BLE001 - properties may raise
            found = None
        if found is not None and not callable(found):
            extra[attr] = bounded_repr(found, 200)
    try:
        if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
            extra["len"] = str(len(value))
    except Exception:  # noqa: BLE001
        pass
    kind = type(value)
    return ObjectFacts(
        expression=expression,
        type_name=f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__,
        value_repr=bounded_repr(value),
        signature=signature,
        doc=_cut(doc, MAX_DOC_CHARS),
        source=_cut(source, MAX_SOURCE_CHARS),
        extra=extra or None,
    )


def error_text(exc: BaseException, limit: int = 4000) -> str:
    """The exception's traceback as plain text (no colours), without IPython's own frames, the end kept
    when long. A syntax error is just its message and caret."""
    if isinstance(exc, SyntaxError):
        text = "".join(traceback.format_exception_only(type(exc), exc))
        return text if len(text) <= limit else "…\n" + text[-limit:]
    tb = exc.__traceback__
    while tb is not None and "IPython" in tb.tb_frame.f_code.co_filename.replace("\\", "/").split("/"):
        tb = tb.tb_next  # the frames that run the cell are IPython's, not the user's
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return text if len(text) <= limit else "…\n" + text[-limit:]


def imported_facts(dotted: str) -> ObjectFacts:
    """``aiex explain --import pkg.mod.name``: import the module and describe the live object."""
    import importlib

    from ..errors import UsageError

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception as exc:  # noqa: BLE001 - importing runs the module's code
            raise UsageError(f"Importing {'.'.join(parts[:cut])} failed: {type(exc).__name__}: {exc}") from None
        try:
            for attr in parts[cut:]:
                value = getattr(value, attr)
        except AttributeError:
            raise UsageError(f"{'.'.join(parts[:cut])} has no {'.'.join(parts[cut:])}.") from None
        return object_facts(dotted, value)
    raise UsageError(f"No importable module in {dotted!r}; give a dotted name like json.dumps, or drop --import "
                     "to look the name up in the project's index.")


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def named_object(namespace: dict, name: str):
    """The object ``name`` (a variable or a dotted attribute path: ``df``, ``model.fit``) names in
    ``namespace`` or the builtins, found without running any code: no evaluation, no properties or
    ``__getattr__`` (``inspect.getattr_static``). Raises UsageError for anything else."""
    from ..errors import UsageError

    name = name.strip()
    if not _DOTTED.fullmatch(name):
        raise UsageError(f"{name!r} is not a name: give a variable or a dotted attribute path like df.columns "
                         "(expressions are never evaluated).")
    first, *rest = name.split(".")
    if first in namespace:
        value = namespace[first]
    elif hasattr(builtins, first):
        value = getattr(builtins, first)
    else:
        raise UsageError(f"No variable named {first!r} in the session.")
    for i, attr in enumerate(rest):
        owner = value
        try:
            value = inspect.getattr_static(owner, attr)
        except AttributeError:
            raise UsageError(f"{'.'.join([first, *rest[:i]])} has no attribute {attr!r} "
                             "(dynamic attributes are not looked up: that would run code).") from None
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif inspect.isfunction(value) and not isinstance(owner, type) and not inspect.ismodule(owner):
            try:
                own = object.__getattribute__(owner, "__dict__")
            except AttributeError:
                own = {}
            if attr not in own:
                value = types.MethodType(value, owner)  # a method of the instance, bound (binding runs nothing)
    return value
