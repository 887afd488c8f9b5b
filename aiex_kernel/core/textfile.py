"""A text file's bytes as text and back, unchanged wherever the text did not change.

:func:`decode` finds the encoding (a UTF-8 byte-order mark, UTF-8, a PEP 263 coding
line whose codec gives the same bytes back, else Latin-1, which maps every byte to one
character and back) and the line
ending (CRLF when every line ends so); the text has ``\\n`` line endings. A file that
mixes CRLF and LF lines keeps its ``\\r`` characters in the text, where matching that
forgives trailing whitespace finds them and the lines not edited keep them.
:func:`encode` turns edited text back into bytes with the same encoding, mark and
line endings. Invariant: ``encode(decode(data).text, decode(data)) == data`` for any
data that :func:`decode` accepts.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["Decoded", "NotText", "decode", "encode"]

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


class NotText(ValueError):
    """The bytes are not text aiex can edit (a binary file)."""


@dataclass(frozen=True)
class Decoded:
    text: str  #: with "\n" line endings
    encoding: str = "utf-8"
    newline: str = "\n"  #: "\n" or "\r\n" (mixed: "\n", the "\r"s kept in the text)
    bom: bool = False


def decode(data: bytes) -> Decoded:
    if b"\0" in data[:8192]:
        raise NotText("it is a binary file")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    encoding = "utf-8"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        encoding = _declared(body) or "latin-1"
        try:
            text = body.decode(encoding)
            if text.encode(encoding) != body:  # a codec that maps two byte sequences to one character
                raise UnicodeDecodeError(encoding, body, 0, 1, "does not round-trip")
        except (UnicodeError, LookupError):
            encoding, text = "latin-1", body.decode("latin-1")
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    newline = "\r\n" if crlf and not lf else "\n"
    if newline == "\r\n":
        text = text.replace("\r\n", "\n")
    return Decoded(text, encoding, newline, bom)


def _declared(body: bytes) -> str | None:
    """The encoding a PEP 263 coding line (first or second line) declares."""
    for line in body.split(b"\n", 2)[:2]:
        m = _CODING.match(line)
        if m:
            try:
                return codecs.lookup(m.group(1).decode("ascii")).name
            except LookupError:
                return None
    return None


def encode(text: str, like: Decoded) -> bytes:
    """``text`` as ``like``'s bytes would be (``UnicodeEncodeError`` if the encoding cannot hold it)."""
    if like.newline != "\n":
        text = text.replace("\n", like.newline)
    data = text.encode(like.encoding)
    return codecs.BOM_UTF8 + data if like.bom else data
