"""The commands: one registry (``registry.py``), the options shared by several commands (``options.py``),
and one module per topic, each registering its commands for the surfaces they belong to."""

from .registry import REGISTRY, SURFACES, Command, Context, Registry, Result, arg, get_registry, parse_command, \
    split_options, subparser

__all__ = ["REGISTRY", "SURFACES", "Command", "Context", "Registry", "Result", "arg", "get_registry",
           "parse_command", "split_options", "subparser"]
