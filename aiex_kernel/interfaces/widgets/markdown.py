"""Markdown to HTML for widgets, with highlighted code (markdown-it-py and Pygments, both offline)."""

from __future__ import annotations

import functools
import html

__all__ = ["markdown_html"]


@functools.cache
def _renderer():
    from markdown_it import MarkdownIt

    def highlight(code: str, lang: str, _attrs) -> str:
        from pygments import highlight as pygmentize
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound

        try:
            lexer = get_lexer_by_name(lang or "text")
        except ClassNotFound:
            lexer = get_lexer_by_name("text")
        return pygmentize(code, lexer, HtmlFormatter(noclasses=True, nowrap=False, style="default"))

    return MarkdownIt("commonmark", {"highlight": highlight, "html": False}).enable("table")


def markdown_html(text: str) -> str:
    """``text`` rendered as HTML; raw HTML in it is escaped, never run."""
    try:
        return _renderer().render(text)
    except Exception:  # noqa: BLE001 - a renderer bug must not hide the answer
        return f"<pre>{html.escape(text)}</pre>"
