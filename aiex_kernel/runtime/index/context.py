"""Assemble the context for a question: rank the index, read the winning code, fit the budget."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ...core.chunking import Chunk
from ...core.compress import Piece, fit
from ...core.indexing import KINDS
from ...core.ranking import CONTAINER_KINDS, QueryTerms, mentioned_files, rank_chunks
from ...core.signatures import python_head
from ...core.terms import STOP, name_hash, own_ranges
from ...core.tokens import estimate_tokens
from ...errors import SandboxError
from ..sandbox import Sandbox
from ..tokenizers import TokenCounter
from .view import IndexView

__all__ = ["ContextResult", "assemble_context"]

#: chunks considered for the full and signature levels
MAX_CANDIDATES = 300
#: characters of a signature line at most (the rest of a long parameter list is cut)
SIGNATURE_LINE_CHARS = 80
#: lines of a docstring shown in full; a longer one keeps its first paragraph (one line fewer, at most)
DOCSTRING_LINES = 5
#: files given an outline
MAX_OUTLINES = 200
#: definitions listed in one outline
OUTLINE_NAMES = 40
#: share of the budget the full chunks may take (the rest goes to signatures and outlines); small budgets
#: keep more for signatures, since one signature line costs about a tenth of a body and names a candidate
FULL_SHARE = 0.65
SMALL_FULL_SHARE = 0.25


def full_share(budget: int) -> float:
    """SMALL_FULL_SHARE up to 1,024 tokens, FULL_SHARE from 4,096 on, in between by the budget's log."""
    import math

    if budget <= 1024:
        return SMALL_FULL_SHARE
    if budget >= 4096:
        return FULL_SHARE
    return SMALL_FULL_SHARE + (FULL_SHARE - SMALL_FULL_SHARE) * math.log2(budget / 1024) / 2
_MODULE = KINDS.index("module")


@dataclass
class ContextResult:
    query: str
    text: str
    tokens: int
    budget: int
    tokenizer: str
    exact: bool
    files: list[str]
    levels: dict[str, int]
    candidates: int
    stale: list[str] = field(default_factory=list)
    redacted: dict[str, int] = field(default_factory=dict)  #: secrets removed from the pieces, by kind
    notes: list[str] = field(default_factory=list)  #: what the user should know (e.g. the index was not updated)
    seconds: float = 0.0
    #: the code sent, most relevant first: {"path", "start_line", "end_line", "level", "name"}
    sources: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def assemble_context(view: IndexView, sandbox: Sandbox, query: str, budget: int, counter: TokenCounter, *,
                     focus: str = "", named_files: Sequence[str] = (), use_graph: bool = True,
                     similarity: np.ndarray | None = None, summaries: dict[str, str] | None = None,
                     redact_secrets: bool = True, pinned: Sequence[str] = ()) -> ContextResult:
    """The most relevant code for ``query`` in at most ``budget`` tokens (by ``counter``).

    ``focus`` is more text whose identifiers pull the ranking towards the files defining
    them (the notebook's code); ``named_files`` are paths the user named; the chunks of
    ``pinned`` files come before every other, in file order.
    """
    started = time.perf_counter()
    arrays = view.arrays
    q = QueryTerms(query)
    file_prior = None
    # files the question names ("in chatdemo.py"): pulled in like named files, and not weighted down as tests
    # or examples (the question is about them)
    mentioned = mentioned_files(query, (f["path"] for f in view.files))
    test_files = view.test_files()
    if mentioned and test_files is not None:
        test_files = test_files.copy()
        test_files[mentioned] = False
    if use_graph and len(view.files):
        index_of = {f["path"]: i for i, f in enumerate(view.files)}
        named = [index_of[p] for p in named_files if p in index_of]
        named += [i for i in mentioned if i not in named]
        extra = QueryTerms(focus).name_hashes if focus else []
        file_prior = view.file_prior([*q.name_hashes, *extra], q.names, named)
    scores = rank_chunks(arrays, q, file_prior=file_prior, similarity=similarity, test_files=test_files,
                         term_df=view.term_df(), mentioned=mentioned)
    n_files = len(view.files)
    file_score = np.zeros(n_files)
    if len(scores):
        np.maximum.at(file_score, arrays["chunk_file"], scores)
    ranked = np.argsort(-scores, kind="stable")
    ranked = ranked[scores[ranked] > 0][:MAX_CANDIDATES]
    if pinned:
        index_of = {f["path"]: i for i, f in enumerate(view.files)}
        pinned_files = [index_of[p] for p in pinned if p in index_of]
        first = np.flatnonzero(np.isin(arrays["chunk_file"], pinned_files))
        first = first[np.lexsort((arrays["chunk_start_line"][first], arrays["chunk_file"][first]))]
        ranked = np.concatenate([first, ranked[~np.isin(ranked, first)]]).astype(np.int64)
    records = view.chunks(ranked.tolist()) if len(ranked) else {}

    stale: set[str] = set()
    sources: dict[str, bytes | None] = {}

    def record(cid: int) -> Chunk:
        """The chunk record of ``cid`` (a candidate's was read with the others; a member or parent on demand)."""
        if cid not in records:
            records[cid] = view.chunks([cid])[cid]
        return records[cid]

    def source(path: str, file_index: int) -> bytes | None:
        if path not in sources:
            sources[path] = _read_current(sandbox, path, view.files[file_index], stale)
        return sources[path]

    ordered: list[Piece] = []  #: full and signature pieces in rank order
    taken: dict[str, list[tuple[int, int]]] = {}
    spent = 0
    share = full_share(budget)
    queue = list(reversed(ranked.tolist()))  #: popped from the end: the most relevant first
    seen_ids: set[int] = set()
    best_sent = False  #: whether the best match went in full (its callee is listed after it, once)
    callee_piece: Piece | None = None  #: its signature, replaced if it comes up later and fits in full
    while queue:
        cid = queue.pop()
        if cid in seen_ids:
            continue
        seen_ids.add(cid)
        chunk = record(cid)
        if _is_overload_stub(chunk):
            continue
        if chunk.kind == "module":  # its own code: imports, constants, top-level statements
            data = source(chunk.path, int(arrays["chunk_file"][cid]))
            text = _module_text(view, cid, data) if data is not None else ""
            cost = estimate_tokens(text)
            if text and spent + cost <= share * budget:
                piece = Piece(chunk.path, "full", 0,
                              f"top-level code (outside the definitions):\n```{chunk.language}\n{text}\n```", cid)
                ordered.append(piece)
                spent += cost
            continue
        inside = any(a <= chunk.start_line and chunk.end_line <= b for a, b in taken.get(chunk.path, ()))
        if inside:
            continue
        overlaps = any(not (chunk.end_line < a or b < chunk.start_line) for a, b in taken.get(chunk.path, ()))
        data = None
        if not overlaps and spent + chunk.tokens <= share * budget:
            data = source(chunk.path, int(arrays["chunk_file"][cid]))
        if data is not None:
            if callee_piece is not None and callee_piece.chunk == cid:  # listed as the callee: now in full
                ordered.remove(callee_piece)
            piece = Piece(chunk.path, "full", chunk.start_line, _full_text(chunk, data), cid)
            taken.setdefault(chunk.path, []).append((chunk.start_line, chunk.end_line))
            spent += estimate_tokens(piece.text)  # what is sent: a long docstring is cut
            ordered.append(piece)
            # a method or a nested function: the signatures of its class or function say where it lives
            for parent in _enclosing(arrays, cid):
                listed = callee_piece is not None and callee_piece.chunk == parent  # already, as the callee
                if parent not in seen_ids and not listed:
                    seen_ids.add(parent)
                    outer = record(parent)
                    ordered.append(Piece(outer.path, "signature", outer.start_line, _signature_text(outer), parent))
            if not best_sent:
                # the best full piece often hands the work to a function it calls ("launch" -> open_url)
                best_sent = True
                callee = _first_callee(view, cid, chunk.name, piece.text, seen_ids)
                if callee is not None:
                    inner = record(callee)
                    callee_piece = Piece(inner.path, "signature", inner.start_line, _signature_text(inner), callee)
                    ordered.append(callee_piece)
            continue
        if callee_piece is not None and callee_piece.chunk == cid:  # already listed as the callee
            queue.extend(reversed(_members(arrays, scores, cid, chunk)))  # a class: its members, as below
            continue
        ordered.append(Piece(chunk.path, "signature", chunk.start_line, _signature_text(chunk), cid))
        # a container shown only as its signature: its own relevant members come right after it
        queue.extend(reversed(_members(arrays, scores, cid, chunk)))

    fitted = fit(ordered, budget, counter.count, estimate=estimate_tokens)
    if len(fitted.pieces) == len(ordered):  # room left: add outlines (or summaries)
        outlines = _outlines(view, file_score, summaries)
        fitted = fit([*ordered, *outlines], budget, counter.count, estimate=estimate_tokens)
    if redact_secrets:
        # only the chosen pieces; fitted again, since a marker can be longer than the secret it replaces
        cleaned = _redacted(fitted.pieces)
        if cleaned != fitted.pieces:
            candidates = fitted.candidates
            fitted = fit(cleaned, budget, counter.count)
            fitted.candidates = candidates
    return ContextResult(query=query, text=fitted.text, tokens=fitted.tokens, budget=budget, tokenizer=counter.name,
                         exact=counter.exact, files=fitted.files, levels=fitted.counts(),
                         candidates=fitted.candidates, stale=sorted(stale),
                         redacted=_count_redactions(fitted.text), seconds=time.perf_counter() - started,
                         sources=_sources(fitted.pieces, records))


_CONTAINERS = set(CONTAINER_KINDS)
#: ``@overload`` / ``@typing.overload`` among a Python definition's decorators
_OVERLOAD = re.compile(r"^\s*@(?:typing\.|t\.)?overload\b", re.MULTILINE)


def _is_overload_stub(chunk: Chunk) -> bool:
    """A typing ``@overload`` stub of a ``.py`` file: its body is ``...`` and the implementation that follows it
    has the same name and parameters, so listing it would only repeat that one (a ``.pyi`` file has no
    implementation: its stubs stay)."""
    return chunk.language == "python" and chunk.path.endswith(".py") and bool(_OVERLOAD.search(chunk.signature))


#: a call: a name and its opening parenthesis
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _first_callee(view: IndexView, cid: int, name: str, code: str, seen: set[int]) -> int | None:
    """The first definition that chunk ``cid`` (named ``name``, its ``code`` shown) calls (or, for a class,
    derives from) and that is not ``seen`` yet: one its own file defines, or the only one of that name in the
    project (a name several files define says nothing about which one is meant). Decorators are not calls of
    the body."""
    arrays = view.arrays
    body = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("@"))
    called = [n for n in dict.fromkeys(_CALL.findall(body)) if n != name and n.lower() not in STOP]
    if not called:
        return None
    hashes = [name_hash(n) for n in called]
    names = arrays["chunk_name"]
    defined = np.flatnonzero(np.isin(names, np.asarray(hashes, dtype=np.uint32)) & (arrays["chunk_kind"] != _MODULE))
    defined = defined[defined != cid]
    own_file = arrays["chunk_file"][cid]
    for h in hashes:
        found = defined[names[defined] == h]
        here = found[arrays["chunk_file"][found] == own_file]
        pick = int(here[0]) if len(here) else int(found[0]) if len(found) == 1 else None
        if pick is not None and pick not in seen:
            return pick
    return None


#: members of a container promoted right after its signature, at most
MAX_MEMBERS = 5


def _enclosing(arrays, cid: int) -> list[int]:
    """The definitions chunk ``cid`` lies in (its class, the function it is nested in), innermost first."""
    start, end = arrays["chunk_start_line"][cid], arrays["chunk_end_line"][cid]
    near = np.flatnonzero(arrays["chunk_file"] == arrays["chunk_file"][cid])
    around = near[(arrays["chunk_start_line"][near] <= start) & (arrays["chunk_end_line"][near] >= end)
                  & (near != cid) & (arrays["chunk_kind"][near] != _MODULE)]
    order = np.lexsort((arrays["chunk_end_line"][around], -arrays["chunk_start_line"][around]))
    return [int(i) for i in around[order]]


def _members(arrays, scores: np.ndarray, cid: int, chunk: Chunk) -> list[int]:
    """The best-scoring chunks inside container ``cid`` (its methods), most relevant first."""
    if int(arrays["chunk_kind"][cid]) not in _CONTAINERS:
        return []
    same = np.flatnonzero((arrays["chunk_file"] == arrays["chunk_file"][cid])
                          & (arrays["chunk_start_line"] > chunk.start_line)
                          & (arrays["chunk_end_line"] <= chunk.end_line) & (scores > 0))
    best = same[np.argsort(-scores[same], kind="stable")][:MAX_MEMBERS]
    return [int(i) for i in best]


def _sources(pieces: list[Piece], records: dict) -> list[dict]:
    """The chunks shown (in full or as signatures), in the order they were chosen: most relevant first."""
    out = []
    for p in pieces:
        if p.chunk is None or p.chunk not in records or p.level not in ("full", "signature"):
            continue
        c = records[p.chunk]
        out.append({"path": c.path, "start_line": c.start_line, "end_line": c.end_line, "level": p.level,
                    "name": "(top-level code)" if c.kind == "module" else c.qualname})
    return out


def _redacted(pieces: list[Piece]) -> list[Piece]:
    from dataclasses import replace

    from ...core.redact import redact

    out = []
    for p in pieces:
        r = redact(p.text)
        out.append(p if not r.found else replace(p, text=r.text))
    return out


def _count_redactions(text: str) -> dict[str, int]:
    """Secrets removed from what is actually shown (the markers left in the fitted text), by kind."""
    out: dict[str, int] = {}
    for kind in re.findall(r"\[REDACTED:([a-z-]+)\]", text):
        out[kind] = out.get(kind, 0) + 1
    return out


def _read_current(sandbox: Sandbox, path: str, entry: dict, stale: set[str]) -> bytes | None:
    """The file's bytes if it is still what the index saw (else None, and it is noted as stale)."""
    try:
        st = sandbox.stat(path)
        if st.st_size != entry["size"] or st.st_mtime_ns != entry["mtime_ns"]:
            stale.add(path)
            return None
        return sandbox.read_bytes(path)
    except (OSError, SandboxError):  # a file that vanished, became unreadable or was refused
        stale.add(path)
        return None


def _module_text(view: IndexView, cid: int, data: bytes) -> str:
    """A file's own top-level code: its text outside every definition, blank runs collapsed."""
    arrays = view.arrays
    ids = np.flatnonzero(arrays["chunk_file"] == arrays["chunk_file"][cid]).tolist()
    records = view.chunks(ids)
    spans = [(records[i].start_byte, records[i].end_byte) for i in ids]
    owned = own_ranges(spans)[ids.index(cid)]
    parts = [data[a:b].decode("utf-8", "replace").strip("\n") for a, b in owned]
    lines = [ln.rstrip() for part in parts if part.strip() for ln in part.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _cut_docstring(code: str) -> str:
    """A Python definition's ``code`` with a docstring longer than DOCSTRING_LINES cut to its first paragraph
    (DOCSTRING_LINES - 1 lines at most) and a line saying how many lines were cut; the code unchanged when it
    does not parse on its own or has no long docstring."""
    import ast

    if '"""' not in code and "'''" not in code:
        return code
    code = code.replace("\r\n", "\n").replace("\r", "\n")  # the newlines ast counts lines by, and no others
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    node = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not node.body:
        return code
    first = node.body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return code
    start, end = first.lineno, first.end_lineno  # 1-based, inclusive
    if end - start + 1 <= DOCSTRING_LINES:
        return code
    lines = code.split("\n")  # not splitlines(): a form feed in the code is no line break to ast
    doc = lines[start - 1:end]
    kept = next((i for i, line in enumerate(doc) if i and not line.strip()), len(doc))  # the first paragraph
    kept = min(kept, DOCSTRING_LINES - 1)
    indent = doc[0][: len(doc[0]) - len(doc[0].lstrip())]
    quote = "'''" if "'''" in doc[0] and '"""' not in doc[0] else '"""'
    marker = f"{indent}… ({end - start + 1 - kept} docstring lines cut){quote}"
    return "\n".join([*lines[: start - 1], *doc[:kept], marker, *lines[end:]])


def _full_text(chunk: Chunk, data: bytes) -> str:
    start = data.rfind(b"\n", 0, chunk.start_byte) + 1
    end = data.find(b"\n", max(chunk.end_byte - 1, 0))
    code = data[start: end if end >= 0 else len(data)].decode("utf-8", "replace")
    code = textwrap.dedent(code).rstrip()
    if chunk.language == "python":
        code = _cut_docstring(code)
    return f"lines {chunk.start_line}-{chunk.end_line}:\n```{chunk.language}\n{code}\n```"


def _signature_text(chunk: Chunk) -> str:
    """A definition without its body, on one line: ``958 def __init__(s, posix_offset=False):``.

    Its first line only, no backticks around it, and at most ``SIGNATURE_LINE_CHARS`` characters (a long
    parameter list is cut, ending in ``…``): 10-16 tokens where ``L958-988 `...` …`` took 15-20 and a long
    signature up to 100, so more candidates fit a budget (the localization benchmark's held-out split: 131 ->
    135 of 146 cases at 2,048 tokens). 80 characters rather than 120: two more tuning cases at 2,048 tokens,
    three more held-out ones at 1,024 and 4,096, none lost; the name and the first parameters still show.
    A Python function's head drops its annotations and long defaults first (``python_head``): a quarter fewer
    tokens on typed code (anyio's 2,000 definitions: 13.8 -> 10.3 tokens each; untyped code is as it was), so
    more of them fit (the tuning split at 2,048 tokens: 250 -> 252 of 260 cases); a method's ``self`` or
    ``cls`` goes too (the tuning split 247 -> 249 at 1,024 tokens and 254 -> 255 at 2,048; held-out 187 -> 188
    at 1,024). The class a method lies in is listed before it when it is shown at all.
    A line ending in its colon (Python) or cut short says its body is left out by itself; any other (``fn
    main()``) ends in `` …``: one token fewer a Python line (the tuning split, 375 cases: 356 -> 358 at
    1,024 tokens, 365 -> 366 at 2,048). Its line number comes bare, as in a numbered listing (``958``, not
    ``L958``): one token fewer again (358 -> 360 and 366 -> 367).
    """
    line = (python_head(chunk.signature) if chunk.language == "python" else None) or chunk.signature_line()
    if len(line) > SIGNATURE_LINE_CHARS:
        line = line[: SIGNATURE_LINE_CHARS - 1] + "…"
    return f"{chunk.start_line} {line}" if line.endswith((":", "…")) else f"{chunk.start_line} {line} …"


def _outlines(view: IndexView, file_score: np.ndarray, summaries: dict[str, str] | None) -> list[Piece]:
    """File outlines (or summaries), most relevant files first, then the rest in path order."""
    arrays = view.arrays
    order = sorted(range(len(view.files)), key=lambda f: (-file_score[f], view.files[f]["path"]))[:MAX_OUTLINES]
    by_file = np.argsort(arrays["chunk_file"], kind="stable")
    starts = np.searchsorted(arrays["chunk_file"][by_file], np.arange(len(view.files) + 1))
    wanted: dict[int, list[int]] = {}
    for f in order:
        ids = by_file[starts[f]:starts[f + 1]]
        # top-level definitions: not modules, and one level deep at most
        kinds = arrays["chunk_kind"][ids]
        wanted[f] = [int(i) for i in ids[kinds != _MODULE]]
    records = view.chunks([i for ids in wanted.values() for i in ids])
    pieces = []
    if summaries and summaries.get(""):
        pieces.append(Piece("(project overview)", "summary", 0, f"summary: {summaries['']}"))
    for f in order:
        path = view.files[f]["path"]
        if summaries and path in summaries:
            pieces.append(Piece(path, "summary", 0, f"summary: {summaries[path]}"))
            continue
        # each name once, at its last definition (an @overload stub's implementation follows it)
        last = {records[i].qualname: i for i in wanted[f] if records[i].qualname.count(".") <= 1}
        names = [records[i] for i in sorted(last.values())]  # chunk order: wanted[f] is ascending
        if not names:
            continue
        listed = ", ".join(f"{c.kind} {c.qualname} (L{c.start_line})" for c in names[:OUTLINE_NAMES])
        more = f", … {len(names) - OUTLINE_NAMES} more" if len(names) > OUTLINE_NAMES else ""
        pieces.append(Piece(path, "outline", 0, f"outline: {listed}{more}"))
    return pieces
