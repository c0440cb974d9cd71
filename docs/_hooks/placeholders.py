"""MkDocs hook: a placeholder such as ``<port>`` or ``<id>`` in running text is text, not an HTML tag.

Python-Markdown passes ``<port>`` through as raw HTML, which a browser then hides, so the error messages
quoted in docs/RELIABILITY.md (written by the hardening tests) would lose their placeholders. Code spans
and fenced blocks are left alone (Markdown escapes them itself), and so are real HTML tags.
"""

from __future__ import annotations

import re
from typing import Any

# The tags one writes inline in Markdown; anything else in <lower-case> is a placeholder.
_HTML_TAGS = frozenset(("a", "b", "br", "code", "del", "details", "div", "em", "i", "img", "kbd", "mark", "p"))
_HTML_TAGS |= frozenset(("s", "small", "span", "strong", "sub", "summary", "sup", "u"))
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+).+?\1")
_PLACEHOLDER = re.compile(r"<([a-z][a-z0-9_-]*)>")


def _escape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) in _HTML_TAGS else f"&lt;{match.group(1)}&gt;"

    return _PLACEHOLDER.sub(replace, text)


def _escape_line(line: str) -> str:
    """The line with placeholders escaped outside its code spans."""
    parts, position = [], 0
    for span in _CODE_SPAN.finditer(line):
        parts += [_escape(line[position : span.start()]), span.group(0)]
        position = span.end()
    parts.append(_escape(line[position:]))
    return "".join(parts)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """The page's Markdown with ``<placeholder>`` written as text outside code; MkDocs calls it per page."""
    lines, fence = [], None
    for line in markdown.splitlines(keepends=True):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening is not None and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            lines.append(line)
        elif opening is not None:
            fence = opening.group(1)
            lines.append(line)
        else:
            lines.append(_escape_line(line))
    return "".join(lines)
