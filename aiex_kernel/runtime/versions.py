"""Compare package versions across the Dask client, scheduler and workers."""

from __future__ import annotations

__all__ = ["CHECKED_PACKAGES", "version_problems"]

#: Packages that must agree between client, scheduler and workers.
CHECKED_PACKAGES = ("python", "dask", "distributed", "msgpack", "cloudpickle", "toolz", "aiex", "tree_sitter")
#: Extra packages to ask ``Client.get_versions`` for.
EXTRA_PACKAGES = ["aiex", "tree_sitter"]


def _short_python(v: str | None) -> str | None:
    # "3.11.7.final.0" -> "3.11.7"; only major.minor matters for pickles.
    return ".".join(v.split(".")[:2]) if v else v


def version_problems(versions: dict) -> tuple[list[str], list[str]]:
    """Mismatches in ``Client.get_versions(check=False)`` output.

    Returns ``(fatal, warnings)``: fatal when workers lack aiex (tasks would fail to
    import it); warnings for any checked package whose version differs.
    """
    client = versions.get("client", {}).get("packages", {})
    parties = {"scheduler": versions.get("scheduler", {}).get("packages", {})}
    for addr, info in (versions.get("workers") or {}).items():
        parties[f"worker {addr}"] = info.get("packages", {})
    fatal: list[str] = []
    warnings: list[str] = []
    for who, pkgs in parties.items():
        if who.startswith("worker") and pkgs.get("aiex") is None:
            fatal.append(
                f"{who} does not have aiex installed; install aiex=={client.get('aiex')} on every worker "
                "(and the same Python and Dask versions as this machine)."
            )
            continue
        for name in CHECKED_PACKAGES:
            mine, theirs = client.get(name), pkgs.get(name)
            if name == "python":
                mine, theirs = _short_python(mine), _short_python(theirs)
            if mine != theirs and not (name == "aiex" and who == "scheduler" and theirs is None):
                warnings.append(f"{name}: client has {mine}, {who} has {theirs}")
    return fatal, warnings
