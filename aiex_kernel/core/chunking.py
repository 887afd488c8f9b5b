"""Semantic chunking with tree-sitter.

A chunk is a function, method, class, struct, impl, interface, trait, enum, module
(Elixir ``defmodule``) or macro, found by the language's tags query, plus one
``module`` chunk per file holding what lies outside the top-level definitions
(imports, top-level statements). Nested definitions are chunks too; a function
directly inside a class-like chunk is a ``method``.

Pure: :func:`chunk_source` takes a file's bytes and returns plain data.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
from bisect import bisect_right
from functools import lru_cache
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from .gc_pause import paused_gc
from .languages import LanguageSpec, get_language, get_parser, get_query, get_spec, language_for_path
from .tokens import CHARS_PER_TOKEN, estimate_tokens

__all__ = ["Chunk", "FileChunks", "CHUNK_FIELDS", "chunk_batch", "chunk_source", "decode_source"]

#: Kinds whose direct function children are methods.
CLASS_KINDS = frozenset({"class", "struct", "impl", "interface", "trait", "enum", "object"})
#: Longer signatures (minified code) are cut, ending with an ellipsis.
MAX_SIGNATURE_CHARS = 400
#: Kinds that have a cyclomatic complexity.
FUNCTION_KINDS = frozenset({"function", "method", "macro"})


@dataclass(frozen=True, slots=True)
class Chunk:
    """One semantic unit of a source file. Lines are 1-based and inclusive."""

    path: str
    language: str
    kind: str
    name: str
    qualname: str
    start_line: int
    end_line: int
    start_byte: int
    end_byte: int
    signature: str
    docstring: str
    tokens: int
    sha256: str
    has_error: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def signature_line(self) -> str:
        """The signature on one line (whitespace collapsed), or ``KIND NAME`` when there is none."""
        return " ".join(self.signature.split()) or f"{self.kind} {self.name}"

    def __reduce__(self):
        # Pickle as constructor arguments: 3x faster than the default for slotted
        # dataclasses, and results of cluster tasks are pickled by the thousand.
        return (Chunk, tuple(getattr(self, name) for name in CHUNK_FIELDS))


CHUNK_FIELDS = tuple(Chunk.__dataclass_fields__)


@dataclass(slots=True)
class FileChunks:
    """The chunks of one file, and what was noticed about the file."""

    path: str
    language: str
    size: int
    lines: int
    chunks: list[Chunk]
    has_error: bool = False
    #: the file was not valid UTF-8 and was decoded with replacement characters
    decode_errors: bool = False
    #: cyclomatic complexity per chunk (same order as ``chunks``), ``None`` when not asked
    complexity: list[int | None] | None = field(default=None)


def decode_source(data: bytes) -> tuple[bytes, bool]:
    """UTF-8 bytes to parse, and whether the input needed repairing.

    Invalid UTF-8 is decoded with replacement characters; byte offsets then refer
    to the repaired text.
    """
    try:
        data.decode("utf-8")
        return data, False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace").encode("utf-8"), True


@dataclass(slots=True)
class _Def:
    node: object  # the definition node
    start: int  # byte where the chunk starts (decorators, export, attributes)
    kind: str
    name: str
    parent: int = -1
    qualname: str = ""


def chunk_source(
    data: bytes,
    path: str,
    language: str | None = None,
    *,
    complexity: bool = False,
) -> FileChunks:
    """Chunk one file.

    ``path`` is the file's path relative to the project root (POSIX separators);
    ``language`` defaults to the one its extension names. With ``complexity=True``
    the result also carries each function's cyclomatic complexity.
    """
    spec = get_spec(language) if language else language_for_path(path)
    if spec is None:
        from ..errors import UnsupportedLanguage

        raise UnsupportedLanguage(f"No grammar for {path!r}; aiex chunks only languages it has grammars for.")
    source, repaired = decode_source(data)
    tree = get_parser(spec.name).parse(source)
    root = tree.root_node
    defs = _definitions(spec, root, source)
    chunks = [_module_chunk(spec, path, source, root, defs)]
    for d in defs:
        chunks.append(_chunk(spec, path, source, d))
    result = FileChunks(
        path=path,
        language=spec.name,
        size=len(source),
        lines=_count_lines(source),
        chunks=chunks,
        has_error=root.has_error,
        decode_errors=repaired,
    )
    if complexity:
        result.complexity = [None, *_complexities(spec, root, defs)]
    return result


def _count_lines(source: bytes) -> int:
    if not source:
        return 0
    return source.count(b"\n") + (0 if source.endswith(b"\n") else 1)


def _definitions(spec: LanguageSpec, root, source: bytes) -> list[_Def]:
    found = _walked(spec, root, source) if spec.walk_definitions else _queried(spec, root, source)
    defs = sorted(found, key=lambda d: (d.start, -d.node.end_byte))
    # Nesting: a stack of open definitions gives each its parent and qualname.
    stack: list[int] = []
    for i, d in enumerate(defs):
        while stack and defs[stack[-1]].node.end_byte <= d.start:
            stack.pop()
        if stack:
            parent = defs[stack[-1]]
            d.parent = stack[-1]
            d.qualname = f"{parent.qualname}.{d.name}"
            if d.kind == "function" and parent.kind in CLASS_KINDS:
                d.kind = "method"
        else:
            d.qualname = d.name
        stack.append(i)
    return defs


def _walked(spec: LanguageSpec, root, source: bytes) -> list[_Def]:
    """Definitions found by walking statement-level nodes only (``walk_definitions``)."""
    kinds, containers = _walk_ids(spec.name)
    markers = spec.walk_markers
    found: list[_Def] = []
    stack = [root]
    while stack:
        node = stack.pop()
        kind = kinds.get(node.kind_id)
        if kind is not None:
            name = node.child_by_field_name("name")
            found.append(_Def(node=node, start=_outer_start(spec, node), kind=kind,
                              name=_text(source, name) if name is not None else "<anonymous>"))
        for child in node.named_children:
            if child.kind_id in containers:
                # Every definition's text holds its keyword: a subtree without one
                # holds no definition (most function bodies), so skip it unwalked.
                start, end = child.start_byte, child.end_byte
                if any(source.find(m, start, end) != -1 for m in markers):
                    stack.append(child)
    return found


@lru_cache(maxsize=None)
def _walk_ids(language: str) -> tuple[dict[int, str], frozenset[int]]:
    """``walk_definitions``/``walk_containers`` as node kind ids (cheaper than names)."""
    spec = get_spec(language)
    lang = get_language(language)
    kinds = {lang.id_for_node_kind(t, True): k for t, k in spec.walk_definitions.items()}
    containers = {lang.id_for_node_kind(t, True) for t in spec.walk_containers} | set(kinds)
    return kinds, frozenset(i for i in containers if i is not None)


def _queried(spec: LanguageSpec, root, source: bytes) -> list[_Def]:
    """Definitions found by the language's tags query."""
    query = get_query(spec.name, "tags")
    if query is None:
        return []
    import tree_sitter

    seen: dict[tuple[int, int], _Def] = {}
    for _pattern, caps in tree_sitter.QueryCursor(query).matches(root):
        kind = node = None
        for cap, nodes in caps.items():
            if cap.startswith("definition."):
                kind, node = cap[len("definition.") :], nodes[0]
                break
        if node is None:
            continue
        key = (node.start_byte, node.end_byte)
        if key in seen:
            continue
        names = caps.get("name")
        name = _text(source, names[0]) if names else "<anonymous>"
        seen[key] = _Def(node=node, start=_outer_start(spec, node), kind=kind, name=name)
    return list(seen.values())


def _outer_start(spec: LanguageSpec, node) -> int:
    """Where a definition's chunk starts: its decorators, ``export`` or attributes."""
    start = node.start_byte
    parent = node.parent
    while parent is not None and parent.type in spec.wrappers:
        start = parent.start_byte
        node = parent
        parent = node.parent
    if spec.leading:
        prev = node.prev_named_sibling
        while prev is not None and prev.type in spec.leading:
            start = prev.start_byte
            prev = prev.prev_named_sibling
    return start


def _text(source: bytes, node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def _chunk(spec: LanguageSpec, path: str, source: bytes, d: _Def) -> Chunk:
    # Positional arguments in field order: this runs once per chunk, on hot paths.
    node = d.node
    body = _body(spec, node)
    end = node.end_byte
    text = source[d.start : end]
    start_line = node.start_point[0] + 1 - source.count(b"\n", d.start, node.start_byte)
    chars = len(text) if text.isascii() else len(text.decode("utf-8", errors="replace"))
    return Chunk(
        path, spec.name, d.kind, d.name, d.qualname, start_line, node.end_point[0] + 1, d.start, end,
        _signature(spec, source, d, body), _docstring(spec, source, node, body),
        -(-chars // CHARS_PER_TOKEN), hashlib.sha256(text).hexdigest(), node.has_error,
    )


def _body(spec: LanguageSpec, node):
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    if spec.body_types:
        for child in node.named_children:
            if child.type in spec.body_types:
                return child
    return None


def _nested_body(spec: LanguageSpec, node, depth: int = 3):
    """The body of a definition whose node only holds it a few levels down.

    ``const f = () => {...}`` (declaration → declarator → arrow function) and Go's
    ``type S struct {...}`` (declaration → spec → struct type → fields): the
    shallowest node with a ``body`` field or of a ``body_types`` type, breadth first.
    """
    level = node.named_children
    for _ in range(depth):
        deeper = []
        for child in level:
            body = child.child_by_field_name("body")
            if body is not None:
                return body
            if child.type in spec.body_types:
                return child
            deeper.extend(child.named_children)
        level = deeper
    return None


def _signature(spec: LanguageSpec, source: bytes, d: _Def, body) -> str:
    if body is None:
        body = _nested_body(spec, d.node)
    if body is not None and body.start_byte > d.start:
        end = body.start_byte
        head = source[d.start : end]
        if any(marker in head for marker in spec.comment_markers):
            for child in d.node.children:  # a comment between the head and the body is not the signature
                if child.start_byte >= end:
                    break
                if child.type in spec.comments:
                    head = source[d.start : child.start_byte]
                    break
    else:
        end = source.find(b"\n", d.node.start_byte, d.node.end_byte)
        head = source[d.start : end if end != -1 else d.node.end_byte]
    sig = head.decode("utf-8", errors="replace").rstrip()
    if sig.endswith(" do"):  # Elixir / Ruby blocks
        sig = sig[:-3].rstrip()
    sig = sig.rstrip("{").rstrip()
    # Minified code can put a whole program before the body: a signature is a head.
    return sig if len(sig) <= MAX_SIGNATURE_CHARS else sig[: MAX_SIGNATURE_CHARS - 1] + "…"


def _docstring(spec: LanguageSpec, source: bytes, node, body) -> str:
    if spec.name == "python":
        return _python_docstring(source, body)
    if spec.name == "elixir":
        return _elixir_doc(source, node)
    return _doc_comment(spec, source, node)


def _python_docstring(source: bytes, block) -> str:
    if block is None:
        return ""
    if not block.named_child_count:
        return ""
    first = block.named_child(0)
    if first.type != "expression_statement" or not first.named_child_count:
        return ""
    string = first.named_child(0)
    if string.type not in ("string", "concatenated_string"):
        return ""
    if string.type == "string" and string.child_count == 3:
        # Fast path: one plain literal without escapes is its own content.
        prefix = source[string.start_byte : string.children[0].end_byte].lower()
        content = string.children[1]
        body = source[content.start_byte : content.end_byte]
        if content.type == "string_content" and b"\\" not in body and b"b" not in prefix and b"f" not in prefix:
            text = body.decode("utf-8", errors="replace")
            return inspect.cleandoc(text) if "\n" in text else text.strip()
    raw = _text(source, string)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = raw.strip("\"'rRbBuUfF")
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return inspect.cleandoc(value) if isinstance(value, str) else ""


def _doc_comment(spec: LanguageSpec, source: bytes, node) -> str:
    """The comment lines directly above a definition (JSDoc, ``///``, ``//``, ``#``)."""
    target = node
    while target.parent is not None and target.parent.type in spec.wrappers:
        target = target.parent
    lines: list[str] = []
    prev = target.prev_sibling
    if prev is None and target.parent is not None and target.parent.type in spec.body_types:
        prev = target.parent.prev_sibling  # first in a body: the comment may sit just before the body node
    row = target.start_point[0]
    while prev is not None and (prev.type in spec.leading or prev.type in spec.comments):
        if prev.end_point[0] < row - 1:
            break
        if prev.type in spec.comments:
            line_start = source.rfind(b"\n", 0, prev.start_byte) + 1
            if source[line_start : prev.start_byte].strip():
                break  # a trailing comment of the code above, not a doc comment
            lines.insert(0, _clean_comment(_text(source, prev)))
        row = prev.start_point[0]
        prev = prev.prev_sibling
    return inspect.cleandoc("\n".join(lines)) if lines else ""


def _clean_comment(text: str) -> str:
    out = []
    for line in text.splitlines():
        s = line.strip()
        for prefix in ("/**", "/*!", "/*", "///", "//!", "//", "#"):
            if s.startswith(prefix):
                s = s[len(prefix) :]
                break
        if s.endswith("*/"):
            s = s[:-2]
        s = s.strip()
        if s.startswith("*"):
            s = s[1:].strip()
        out.append(s)
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _elixir_doc(source: bytes, node) -> str:
    """``@doc``/``@moduledoc`` for an Elixir definition (before it / first in its block)."""
    candidates = []
    prev = node.prev_named_sibling
    if prev is not None:
        candidates.append((prev, ("doc", "typedoc")))
    body = next((c for c in node.named_children if c.type == "do_block"), None)
    if body is not None and body.named_child_count:
        candidates.append((body.named_children[0], ("moduledoc",)))
    for attr, names in candidates:
        if attr.type != "unary_operator":
            continue
        call = attr.child_by_field_name("operand")
        if call is None or call.type != "call":
            continue
        target = call.child_by_field_name("target")
        if target is None or _text(source, target) not in names:
            continue
        for arg in call.named_children:
            if arg.type == "arguments" and arg.named_child_count:
                s = arg.named_children[0]
                if s.type in ("string", "sigil"):
                    parts = [_text(source, c) for c in s.named_children if c.type == "quoted_content"]
                    return inspect.cleandoc("".join(parts))
    return ""


def _module_name(path: str, language: str) -> tuple[str, str]:
    p = PurePosixPath(path)
    stem_parts = [*p.parent.parts, p.stem] if str(p.parent) != "." else [p.stem]
    if language == "python":
        if stem_parts[-1] == "__init__" and len(stem_parts) > 1:
            stem_parts = stem_parts[:-1]
        return stem_parts[-1], ".".join(stem_parts)
    return p.stem, "/".join(stem_parts)


def _module_chunk(spec: LanguageSpec, path: str, source: bytes, root, defs: list[_Def]) -> Chunk:
    """The file-level chunk: what lies outside the top-level definitions."""
    pieces: list[bytes] = []
    pos = 0
    spans = []
    for d in defs:
        if d.parent == -1:
            spans.append((d.start, d.node.end_byte))
            pieces.append(source[pos : d.start])
            pos = d.node.end_byte
    pieces.append(source[pos:])
    text = b"".join(pieces)
    has_error = False
    if root.has_error:
        starts = [s for s, _ in spans]
        for child in root.children:
            i = bisect_right(starts, child.start_byte) - 1
            inside = i >= 0 and child.end_byte <= spans[i][1]
            if not inside and child.has_error:
                has_error = True
                break
    name, qualname = _module_name(path, spec.name)
    docstring = _python_docstring(source, root) if spec.name == "python" else ""
    return Chunk(
        path=path,
        language=spec.name,
        kind="module",
        name=name,
        qualname=qualname,
        start_line=1,
        end_line=max(1, _count_lines(source)),
        start_byte=0,
        end_byte=len(source),
        signature="",
        docstring=docstring,
        tokens=estimate_tokens(text.decode("utf-8", errors="replace")),
        sha256=hashlib.sha256(text).hexdigest(),
        has_error=has_error,
    )


def _complexities(spec: LanguageSpec, root, defs: list[_Def]) -> list[int | None]:
    """Cyclomatic complexity (1 + decision points) of each function-like definition.

    A decision point counts for the innermost function containing it, so nested
    functions do not inflate their parent.
    """
    values: list[int | None] = [1 if d.kind in FUNCTION_KINDS else None for d in defs]
    query = get_query(spec.name, "complexity")
    if query is None or not defs:
        return values
    import tree_sitter

    starts = [d.start for d in defs]
    for nodes in tree_sitter.QueryCursor(query).captures(root).values():
        for node in nodes:
            b = node.start_byte
            i = bisect_right(starts, b) - 1
            while i >= 0 and b >= defs[i].node.end_byte:  # innermost definition holding b
                i = defs[i].parent
            while i >= 0 and defs[i].kind not in FUNCTION_KINDS:  # ... that is a function
                i = defs[i].parent
            if i >= 0:
                values[i] += 1
    return values


def chunk_batch(items: list[tuple[str, bytes]], complexity: bool = False) -> list[FileChunks]:
    """Chunk a batch of ``(relative path, bytes)`` files: one cluster task.

    Needs nothing but its arguments, so it runs on any worker, local or remote.
    Cyclic garbage collection pauses meanwhile: chunking allocates hundreds of
    thousands of short-lived, acyclic objects (freed by reference counting), and
    collector passes over the growing result cost about 5% of the run.
    """
    with paused_gc():
        return [chunk_source(data, path, complexity=complexity) for path, data in items]
