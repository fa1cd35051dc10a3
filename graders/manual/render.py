"""An answer's Markdown as HTML that cannot run script in the TA's browser; its LaTeX left for KaTeX.

markdown-it-py renders CommonMark with raw HTML switched off, so a student's ``<script>`` or
``<img onerror=…>`` comes out as text; its link check refuses ``javascript:`` and other unsafe
URLs. Math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``, ``\\begin{align}…``) becomes an escaped
``<span class="math-tex">`` that the page's vendored KaTeX typesets (``trust`` off: no ``\\href``,
no HTML). Typesetting is slow in the browser (one 98 kB formula took a minute and made a 16 MB
page), so an answer's math is typeset on load, in order, only within a budget of ``MATH_BUDGET``
characters of TeX; a formula that does not fit shows its source as text, with a button that
typesets it on demand. The budget is ample for a normal answer (a reference answer holds at most
881). Images pasted into a cell (``attachment:NAME``) are inlined as data URIs when they are
PNG, JPEG, GIF or WebP and under 5 MB; other images are not loaded (the page's Content Security
Policy would block them anyway) and show as a note.
"""
from __future__ import annotations

import base64
import binascii
import html
from typing import Mapping

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath import texmath_plugin

#: an answer longer than this is cut before rendering (with a note)
MAX_ANSWER_CHARS = 100_000
#: characters of TeX per answer typeset when the page loads (see the module docstring)
MATH_BUDGET = 5_000
MAX_IMAGE_BYTES = 5 * 2**20
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: math token → (HTML element, displayed on its own line)
MATH_TOKENS = {"math_inline": ("span", False), "math_inline_double": ("span", True), "math_block": ("div", True),
               "math_block_eqno": ("div", True), "math_block_label": ("div", True), "amsmath": ("div", True)}


def _math(tag: str, display: bool):
    def rule(self, tokens, idx, options, env):
        tex = tokens[idx].content.strip()
        end = "\n" if tag == "div" else ""
        kind = "math-tex display" if display else "math-tex"
        if len(tex) <= env["math_budget"]:
            env["math_budget"] -= len(tex)
            return f'<{tag} class="{kind}">{html.escape(tex)}</{tag}>{end}'
        button = f'<button type="button" class="render-math">Render this formula ({len(tex):,} characters)</button>'
        return f'<{tag} class="math-source">{button}<span class="{kind} deferred">{html.escape(tex)}</span></{tag}>{end}'
    return rule


def _image(self, tokens: list[Token], idx: int, options, env) -> str:
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env))
    if src.startswith("attachment:"):
        uri = _attachment_uri(src[len("attachment:"):], env.get("attachments") or {})
        if uri:
            return f'<img src="{html.escape(uri)}" alt="{alt}" class="attachment">'
        return f'<span class="note">[attachment {html.escape(src[11:])} cannot be shown]</span>'
    if src.startswith("data:image/"):
        return f'<img src="{html.escape(src)}" alt="{alt}">'
    return f'<span class="note">[image not loaded: {html.escape(src)}]</span>'


def _attachment_uri(name: str, attachments: Mapping) -> str | None:
    data = attachments.get(name)
    if not isinstance(data, Mapping):
        return None
    for mime in IMAGE_TYPES:
        b64 = data.get(mime)
        if isinstance(b64, list):
            b64 = "".join(map(str, b64))
        if not isinstance(b64, str) or len(b64) > MAX_IMAGE_BYTES * 4 // 3 + 4:
            continue
        try:
            base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            continue
        return f"data:{mime};base64,{b64}"
    return None


def _link_open(self, tokens, idx, options, env):
    tokens[idx].attrSet("rel", "noopener noreferrer")
    tokens[idx].attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(texmath_plugin, delimiters="brackets")
    md.use(dollarmath_plugin, allow_space=True, allow_digits=False, double_inline=True)
    md.use(amsmath_plugin)
    for name, (tag, display) in MATH_TOKENS.items():
        md.add_render_rule(name, _math(tag, display))
    md.add_render_rule("image", _image)
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _parser()


def render_markdown(text: str, attachments: Mapping | None = None) -> Markup:
    """Safe HTML for an answer's Markdown (see the module docstring)."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    note = ""
    if len(text) > MAX_ANSWER_CHARS:
        note = (f'<p class="note">[the answer is {len(text):,} characters long; the first '
                f'{MAX_ANSWER_CHARS:,} are shown]</p>')
        text = text[:MAX_ANSWER_CHARS]
    try:
        body = _MD.render(text, {"attachments": attachments or {}, "math_budget": MATH_BUDGET})
    except RecursionError:  # pathological nesting: show it as text
        body = f"<pre>{html.escape(text)}</pre>"
    return Markup(body + note)
