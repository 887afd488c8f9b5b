"""Building small file trees in tests."""

from __future__ import annotations

from pathlib import Path


def write(base: Path, rel: str, content: str | bytes = "x = 1\n") -> Path:
    """``base/rel`` with ``content`` (text or bytes), its directories made first."""
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path
