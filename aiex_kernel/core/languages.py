"""Languages aiex can chunk: file extensions, tree-sitter grammars and queries.

Grammars come from the per-language ``tree-sitter-<lang>`` wheels (nothing is
downloaded at run time). Queries are data files in ``aiex_kernel/queries``:

* ``<language>-tags.scm``: definitions, captured as ``@definition.<kind>`` with the
  symbol's name as ``@name`` (kinds: function, method, class, struct, impl,
  interface, trait, enum, module, macro);
* ``<language>-complexity.scm``: decision points (``@branch``) for cyclomatic
  complexity.

Parsers are cached per thread, compiled queries per process.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import PurePath

from ..errors import UnsupportedLanguage

__all__ = ["LanguageSpec", "LANGUAGES", "language_for_path", "get_parser", "get_query", "grammar_versions"]


@dataclass(frozen=True)
class LanguageSpec:
    """How to parse and chunk one language."""

    name: str
    extensions: tuple[str, ...]
    module: str  #: the grammar wheel's module
    function: str = "language"  #: the function in it returning the grammar
    query_name: str = ""  #: queries/<query_name>-*.scm (default: name)
    #: parents that belong to a definition (decorators, ``export``): a chunk starts there
    wrappers: frozenset[str] = frozenset()
    #: sibling nodes just before a definition that belong to it (Rust attributes)
    leading: frozenset[str] = frozenset()
    #: node types that are comments (for doc comments before a definition)
    comments: frozenset[str] = frozenset({"comment"})
    #: how comments start (a signature holding one is cut before it)
    comment_markers: tuple[bytes, ...] = (b"//", b"/*")
    #: node types holding a definition's body, when it has no ``body`` field
    body_types: frozenset[str] = field(default_factory=frozenset)
    #: Optional fast path: definition node types and their kinds, found by a walk
    #: that descends only through ``walk_containers`` (statement-level nodes). Use it
    #: only for a language whose definitions never sit inside expressions; it must
    #: find exactly what the tags query finds (a test checks). Else the tags query runs.
    walk_definitions: dict[str, str] = field(default_factory=dict)
    walk_containers: frozenset[str] = frozenset()
    #: bytes that every definition's text contains (its keywords); the walk skips
    #: containers whose text holds none of them
    walk_markers: tuple[bytes, ...] = ()

    @property
    def queries(self) -> str:
        return self.query_name or self.name


_JS_WRAPPERS = frozenset({"export_statement"})
#: TypeScript: `declare module "x" {}` starts at `declare`; a member's decorators are
#: its siblings in the class body (in JavaScript they are its children).
_TS_WRAPPERS = frozenset({"export_statement", "ambient_declaration"})
_TS_LEADING = frozenset({"decorator"})

LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            "python",
            (".py", ".pyi", ".pyw"),
            "tree_sitter_python",
            wrappers=frozenset({"decorated_definition"}),
            comment_markers=(b"#",),
            # Python definitions are statements: walking blocks and compound
            # statements finds them at a quarter of the tags query's cost.
            walk_definitions={"function_definition": "function", "class_definition": "class"},
            walk_markers=(b"def", b"class"),
            walk_containers=frozenset({
                "module", "block", "decorated_definition", "function_definition", "class_definition",
                "if_statement", "elif_clause", "else_clause", "for_statement", "while_statement",
                "try_statement", "except_clause", "except_group_clause", "finally_clause", "with_statement",
                "match_statement", "case_clause", "ERROR",
            }),
        ),
        LanguageSpec(
            "javascript",
            (".js", ".mjs", ".cjs", ".jsx"),
            "tree_sitter_javascript",
            wrappers=_JS_WRAPPERS,
            body_types=frozenset({"statement_block", "class_body"}),
        ),
        LanguageSpec(
            "typescript",
            (".ts", ".mts", ".cts"),
            "tree_sitter_typescript",
            "language_typescript",
            wrappers=_TS_WRAPPERS,
            leading=_TS_LEADING,
            body_types=frozenset({"statement_block", "class_body", "interface_body", "enum_body"}),
        ),
        LanguageSpec(
            "tsx",
            (".tsx",),
            "tree_sitter_typescript",
            "language_tsx",
            query_name="typescript",
            wrappers=_TS_WRAPPERS,
            leading=_TS_LEADING,
            body_types=frozenset({"statement_block", "class_body", "interface_body", "enum_body"}),
        ),
        LanguageSpec(
            "go",
            (".go",),
            "tree_sitter_go",
            body_types=frozenset({"block", "field_declaration_list"}),
        ),
        LanguageSpec(
            "rust",
            (".rs",),
            "tree_sitter_rust",
            leading=frozenset({"attribute_item"}),
            comments=frozenset({"line_comment", "block_comment"}),
            body_types=frozenset({"block", "declaration_list", "field_declaration_list", "enum_variant_list"}),
        ),
        LanguageSpec(
            "java",
            (".java",),
            "tree_sitter_java",
            comments=frozenset({"line_comment", "block_comment"}),
        ),
        LanguageSpec("elixir", (".ex", ".exs"), "tree_sitter_elixir", comment_markers=(b"#",),
                     body_types=frozenset({"do_block"})),
        LanguageSpec(
            "c",
            (".c", ".h"),
            "tree_sitter_c",
            body_types=frozenset({"compound_statement", "field_declaration_list", "enumerator_list"}),
        ),
        LanguageSpec("ruby", (".rb",), "tree_sitter_ruby", comment_markers=(b"#",),
                     body_types=frozenset({"body_statement"})),
    )
}

_BY_EXTENSION = {ext: spec for spec in LANGUAGES.values() for ext in spec.extensions}


def language_for_path(path: str | PurePath) -> LanguageSpec | None:
    """The language of a file by its extension, or ``None`` when aiex has no grammar."""
    name = path if isinstance(path, str) else str(path)
    dot = name.rfind(".")
    # PurePath(name).suffix, without building a path: none for dotfiles and a trailing dot
    if dot <= max(name.rfind("/"), name.rfind("\\")) + 1 or dot == len(name) - 1:
        return None
    return _BY_EXTENSION.get(name[dot:].lower())


def get_spec(language: str) -> LanguageSpec:
    try:
        return LANGUAGES[language]
    except KeyError:
        known = ", ".join(sorted(LANGUAGES))
        raise UnsupportedLanguage(f"No grammar for language {language!r}; aiex knows: {known}.") from None


@lru_cache(maxsize=None)
def get_language(language: str):
    """The tree-sitter ``Language`` object (grammar from its wheel)."""
    import tree_sitter

    spec = get_spec(language)
    try:
        module = importlib.import_module(spec.module)
    except ImportError:
        raise UnsupportedLanguage(
            f"The grammar for {language} is not installed; run `pip install {spec.module.replace('_', '-')}`."
        ) from None
    return tree_sitter.Language(getattr(module, spec.function)())


_local = threading.local()


def get_parser(language: str):
    """A parser for ``language``, one per thread (parsers are not thread-safe)."""
    parsers = _local.__dict__.setdefault("parsers", {})
    parser = parsers.get(language)
    if parser is None:
        import tree_sitter

        parser = parsers[language] = tree_sitter.Parser(get_language(language))
    return parser


@lru_cache(maxsize=None)
def get_query(language: str, kind: str):
    """The compiled ``queries/<language>-<kind>.scm``, or ``None`` if there is none."""
    import tree_sitter

    spec = get_spec(language)
    source = resources.files("aiex_kernel.queries") / f"{spec.queries}-{kind}.scm"
    if not source.is_file():
        return None
    return tree_sitter.Query(get_language(language), source.read_text(encoding="utf-8"))


def grammar_versions() -> dict[str, str | None]:
    """Installed version of each grammar wheel (``None`` when missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for spec in LANGUAGES.values():
        dist = spec.module.replace("_", "-")
        try:
            out[spec.name] = version(dist)
        except PackageNotFoundError:
            out[spec.name] = None
    return out
