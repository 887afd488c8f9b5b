"""``aiex help`` and ``aiex version``."""

from __future__ import annotations

from .registry import REGISTRY, Result, arg


@REGISTRY.command("help", help="show help for aiex or for one command",
                  args=[arg("words", nargs="*", metavar="VERB [NOUN]", help="the command to explain")])
def help_(args, ctx) -> Result:
    """Show the help of aiex, of a verb or of a command: `aiex help analyze code`."""
    from .registry import get_registry, subparser

    parser = get_registry().build_parser(ctx.prog)
    text = subparser(parser, args.words).format_help()
    return Result({"command": " ".join(args.words), "help": text}, human=text.rstrip())


@REGISTRY.command("version", help="versions of aiex, Python, Dask and the tree-sitter grammars")
def version(args, ctx) -> Result:
    """Versions of aiex, Python, Dask, tree-sitter and every grammar aiex uses."""
    import platform
    from importlib.metadata import version as dist_version

    from ..._version import __version__
    from ...core.languages import grammar_versions

    data = {
        "aiex": __version__,
        "python": platform.python_version(),
        "dask": dist_version("dask"),
        "distributed": dist_version("distributed"),
        "tree_sitter": dist_version("tree-sitter"),
        "grammars": grammar_versions(),
    }
    lines = [f"aiex {data['aiex']}", f"Python {data['python']}", f"Dask {data['dask']} (distributed {data['distributed']})",
             f"tree-sitter {data['tree_sitter']}", "grammars:"]
    lines += [f"  {lang:<11} {v or 'not installed'}" for lang, v in data["grammars"].items()]
    return Result(data, human="\n".join(lines))
