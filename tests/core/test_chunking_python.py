"""The chunker on Python sources: pure, no cluster, no files."""

import hashlib

import pytest

from aiex_kernel.core.chunking import CHUNK_FIELDS, chunk_batch, chunk_source
from aiex_kernel.errors import UnsupportedLanguage

SOURCE = b'''"""Module doc."""
import os
from typing import Any

CONSTANT = 1


@decorator
@other(1)
class Outer(Base):
    """Outer doc."""

    attr = 2

    @property
    def prop(self) -> int:
        """Prop doc.

        More lines.
        """
        if self.attr and CONSTANT:
            return 1

        def helper(x):
            for i in x:
                pass
            return [y for y in x if y]

        return helper([])

    async def fetch(self):
        return await thing()

    class Inner:
        def deep(self):
            return 3 if CONSTANT else 4


async def top(a,
              b):
    return a


print("bye")
'''


def rows(result):
    return [(c.kind, c.qualname, c.start_line, c.end_line) for c in result.chunks]


def test_chunks_kinds_qualnames_lines():
    r = chunk_source(SOURCE, "pkg/mod.py")
    assert rows(r) == [
        ("module", "pkg.mod", 1, 44),
        ("class", "Outer", 8, 36),  # starts at the first decorator
        ("method", "Outer.prop", 15, 29),
        ("function", "Outer.prop.helper", 24, 27),  # nested function in a method
        ("method", "Outer.fetch", 31, 32),  # async method
        ("class", "Outer.Inner", 34, 36),
        ("method", "Outer.Inner.deep", 35, 36),
        ("function", "top", 39, 41),  # async function
    ]
    assert r.language == "python" and r.lines == 44 and r.size == len(SOURCE)
    assert not r.has_error and not r.decode_errors


def test_signatures_and_docstrings():
    by = {c.qualname: c for c in chunk_source(SOURCE, "pkg/mod.py").chunks}
    assert by["Outer"].signature == "@decorator\n@other(1)\nclass Outer(Base):"
    assert by["Outer"].docstring == "Outer doc."
    assert by["Outer.prop"].signature == "@property\n    def prop(self) -> int:"
    assert by["Outer.prop"].docstring == "Prop doc.\n\nMore lines."
    assert by["top"].signature == "async def top(a,\n              b):"
    assert by["top"].docstring == ""
    assert by["pkg.mod"].docstring == "Module doc."
    assert by["pkg.mod"].name == "mod"


def test_bytes_hash_and_tokens_match_the_span():
    r = chunk_source(SOURCE, "pkg/mod.py")
    for c in r.chunks[1:]:
        text = SOURCE[c.start_byte : c.end_byte]
        assert c.sha256 == hashlib.sha256(text).hexdigest()
        assert c.tokens == -(-len(text.decode()) // 4)
        assert SOURCE.count(b"\n", 0, c.start_byte) + 1 == c.start_line


def test_module_chunk_holds_what_is_outside():
    module = chunk_source(SOURCE, "pkg/mod.py").chunks[0]
    outside = (SOURCE[: SOURCE.index(b"@decorator")] + SOURCE[SOURCE.index(b"\n\n\nasync def top") :
               SOURCE.index(b"async def top")] + SOURCE[SOURCE.index(b'\n\n\nprint("bye")') :])
    assert module.sha256 == hashlib.sha256(outside).hexdigest()
    assert b"import os" in outside and b"def prop" not in outside
    assert (module.start_line, module.end_line, module.start_byte, module.end_byte) == (1, 44, 0, len(SOURCE))


def test_complexity():
    r = chunk_source(SOURCE, "pkg/mod.py", complexity=True)
    cx = {c.qualname: v for c, v in zip(r.chunks, r.complexity)}
    assert cx["Outer.prop"] == 3  # if + and; the nested helper's branches are its own
    assert cx["Outer.prop.helper"] == 4  # for + comprehension for + comprehension if
    assert cx["Outer.Inner.deep"] == 2  # conditional expression
    assert cx["Outer"] is None and cx["pkg.mod"] is None
    assert chunk_source(SOURCE, "pkg/mod.py").complexity is None


def test_syntax_error_still_chunks():
    src = b"def good():\n    return 1\n\ndef bad(:\n    pass\n\nclass K:\n    def m(self): pass\n"
    r = chunk_source(src, "e.py")
    assert r.has_error
    by = {c.qualname: c for c in r.chunks}
    assert not by["good"].has_error
    assert by["bad"].has_error
    assert "K.m" in by and not by["K.m"].has_error


def test_top_level_error_marks_module_chunk():
    r = chunk_source(b"import os\nx = (\ndef f():\n    pass\n", "t.py")
    assert r.has_error and r.chunks[0].has_error


def test_empty_file():
    r = chunk_source(b"", "empty.py")
    assert len(r.chunks) == 1
    (module,) = r.chunks
    assert (module.kind, module.tokens, module.start_line, module.end_line) == ("module", 0, 1, 1)
    assert r.lines == 0


def test_crlf_line_numbers():
    src = b"import os\r\n\r\nclass A:\r\n    def m(self):\r\n        return 1\r\n"
    assert rows(chunk_source(src, "w.py")) == [("module", "w", 1, 5), ("class", "A", 3, 5), ("method", "A.m", 4, 5)]


def test_invalid_utf8_is_replaced_and_flagged():
    src = b"# caf\xe9\ndef f():\n    return '\xff'\n"
    r = chunk_source(src, "latin.py")
    assert r.decode_errors
    assert rows(r)[1] == ("function", "f", 2, 3)
    assert r.size == len(src.decode("utf-8", "replace").encode())  # offsets refer to the repaired text
    assert not chunk_source(b"x = 'caf\xc3\xa9'\n", "ok.py").decode_errors


def test_package_init_module_name():
    r = chunk_source(b"x = 1\n", "pkg/sub/__init__.py")
    assert (r.chunks[0].name, r.chunks[0].qualname) == ("sub", "pkg.sub")


def test_to_dict_has_exactly_the_fields():
    c = chunk_source(SOURCE, "pkg/mod.py").chunks[2]
    assert tuple(c.to_dict()) == CHUNK_FIELDS == (
        "path", "language", "kind", "name", "qualname", "start_line", "end_line", "start_byte", "end_byte",
        "signature", "docstring", "tokens", "sha256", "has_error",
    )


def test_batch_and_unsupported():
    out = chunk_batch([("a.py", b"def a(): pass\n"), ("b.go", b"package b\nfunc B() {}\n")])
    assert [(f.path, f.language, len(f.chunks)) for f in out] == [("a.py", "python", 2), ("b.go", "go", 2)]
    with pytest.raises(UnsupportedLanguage, match="notes.txt"):
        chunk_source(b"hello", "notes.txt")
