"""A table's Markdown as a standalone HTML page (an item of the workflow's HTML report).

markdown-it-py renders the GitHub tables (raw HTML in the text is escaped, not passed through); a
short stylesheet makes the rows readable. No scripts, no external resources.
"""
from __future__ import annotations

import html

from markdown_it import MarkdownIt

__all__ = ["to_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; white-space: nowrap; }
th { background: #f0f0f0; }
strong { color: #000; }
"""


def to_html(markdown_text: str, title: str) -> str:
    """UTF-8 HTML document of ``markdown_text`` (GitHub tables enabled), titled ``title``."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")
