"""What only a notebook has: ``%aiex insert``, ``%aiex alias NAME TARGET``, ``%aiex dealias NAME``."""

from __future__ import annotations

from .registry import REGISTRY, Result, arg


@REGISTRY.command("insert", help="put the last answer's code into a new cell below", surfaces=("notebook",))
def insert(args, ctx) -> Result:
    """Put the code blocks of the last answer into a new cell below this one."""
    ctx.notebook.insert()
    return Result({"inserted": True}, human="")


@REGISTRY.command("alias", help="a short name for a model id, for this session", surfaces=("notebook",),
                  args=[arg("name", metavar="NAME"), arg("target", metavar="TARGET", help="provider:model")])
def alias(args, ctx) -> Result:
    """`%aiex alias fast ollama:llama3.2:3b`: `%%aiex fast` then asks that model (config.toml's [aliases]
    keeps aliases for good)."""
    from ...core.model_ids import BUILTIN_PROVIDERS
    from ...errors import UsageError

    name, target = args.name, args.target
    if not name.replace("-", "_").replace(".", "_").isidentifier():
        raise UsageError(f"Alias names are words like `fast` or `gpt-mini`, not {name!r}.")
    if name in BUILTIN_PROVIDERS:
        raise UsageError(f"{name!r} is a provider; an alias of that name would hide it. Pick another name.")
    if name == "preferred":
        raise UsageError("'preferred' is reserved: default_model = \"preferred\" follows your votes.")
    if name == target:
        raise UsageError(f"An alias cannot point at itself ({name} -> {target}).")
    magics = ctx.notebook.magics
    magics.aliases = {**magics.aliases, name: target}
    return Result({"alias": name, "target": target}, human=f"aiex: {name} -> {target}")


@REGISTRY.command("dealias", help="forget a session alias", surfaces=("notebook",), args=[arg("name", metavar="NAME")])
def dealias(args, ctx) -> Result:
    """Forget an alias made with `%aiex alias`."""
    from ...errors import UsageError

    magics = ctx.notebook.magics
    if args.name not in magics.aliases:
        known = ", ".join(sorted(magics.aliases)) or "none"
        raise UsageError(f"No session alias {args.name!r} (session aliases: {known}).")
    magics.aliases = {k: v for k, v in magics.aliases.items() if k != args.name}
    return Result({"removed": args.name}, human=f"aiex: forgot {args.name}")
