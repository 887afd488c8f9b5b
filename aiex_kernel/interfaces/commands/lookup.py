"""``show definition``, ``show outline`` and ``show object``: looking things up without asking a model.

They print what the index (or, for ``show object``, the live session) knows, so a
person or an agent (the MCP tools ``get_definition``, ``project_outline`` and
``explain_object`` are these commands) gets the code itself in milliseconds.
"""

from __future__ import annotations

from .context import open_project
from .options import FILE_ARGS, ROOT_ARGS
from .registry import REGISTRY, Result, arg

_NO_BUILD = arg("--no-build", dest="build", action="store_false", default=True,
                help="use the index as it is (default: update it first)")


def _view(sandbox, settings, build: bool):
    """The project's index, brought up to date unless --no-build (a directory that is not a project is not
    indexed unasked, as for `show context`)."""
    from ...runtime.index import project_view, refuse_unmarked_first_build

    refuse_unmarked_first_build(sandbox.root, settings, build)
    return project_view(sandbox, settings, build=build)


def _facts_data(facts) -> dict:
    from dataclasses import asdict

    return {k: v for k, v in asdict(facts).items() if v is not None}


@REGISTRY.command(
    "show", "definition",
    help="the source of a function, class or method of the project, found in the index",
    args=[arg("name", metavar="NAME|PATH[:LINE]", help="a (dotted) name, a file, or FILE:LINE"),
          _NO_BUILD, *ROOT_ARGS, *FILE_ARGS],
)
def show_definition(args, ctx) -> Result:
    """Print where NAME is defined, its signature and its source: a name (`fit`, `Packer.add`), a file
    relative to the project root, or FILE:LINE (the innermost definition holding that line). When several
    definitions share the name, the least nested comes first and the others are listed."""
    from ...core.prompts import facts_text
    from ...runtime.index.lookup import find_definition

    _, settings, sandbox = open_project(args)
    facts = find_definition(_view(sandbox, settings, args.build), sandbox, args.name.strip())
    return Result(_facts_data(facts), human=facts_text(facts))


@REGISTRY.command(
    "show", "outline",
    help="every indexed file with its classes and functions and their lines",
    args=[arg("--path", metavar="P", help="only files under P (default: the whole project)"),
          arg("--max-lines", type=int, default=400, metavar="N", help="stop after about N lines (default 400)"),
          _NO_BUILD, *ROOT_ARGS, *FILE_ARGS],
)
def show_outline(args, ctx) -> Result:
    """The project's map: each file under --path, in path order, with its definitions (signatures,
    nested under their classes) and their first lines. Long listings stop at a file boundary and
    say how many files are left."""
    from pathlib import Path

    from ...errors import UsageError
    from ...runtime.index.outline import project_outline

    if args.max_lines < 1:
        raise UsageError("--max-lines must be at least 1.")
    _, settings, sandbox = open_project(args)  # --path checked there, and the root found from it
    prefix = ""
    if args.path:
        try:
            prefix = Path(args.path).expanduser().resolve().relative_to(sandbox.root.resolve()).as_posix()
        except ValueError:
            raise UsageError(f"--path {args.path} is outside the project at {sandbox.root}.") from None
    view = _view(sandbox, settings, args.build)  # after the checks: a bad --path indexes nothing
    outline = project_outline(view, "" if prefix == "." else prefix, max_lines=args.max_lines)
    return Result(outline.to_dict(), records=outline.files, human=outline.text())


@REGISTRY.command(
    "show", "object", surfaces=("notebook",),
    help="what the session knows about a variable or attribute (type, signature, docstring, source)",
    args=[arg("name", metavar="NAME", help="a variable or dotted attribute path: df, model.fit")],
)
def show_object(args, ctx) -> Result:
    """Describe a live object without asking a model: its type, signature, docstring, source and a
    shortened repr. Only names and dotted attributes are looked up; nothing is evaluated."""
    from ...core.prompts import facts_text
    from ..introspect import named_object, object_facts

    value = named_object(ctx.notebook.shell.user_ns, args.name)
    facts = object_facts(args.name.strip(), value)
    return Result(_facts_data(facts), human=facts_text(facts))
