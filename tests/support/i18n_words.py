"""Finding English left on a Chinese page: runs of Latin letters that are not names, units or standards.

A page in zh-CN may still show Latin letters where they are the trade's own words: the standards and
protocols (ONVIF, RTSP, GB/T 28181, WebRTC), the units the field writes in Latin (fps, kb/s), the file
formats offered for download, and UTC offsets. Names from the site's configuration (cameras, zones,
users, the time zone) are the caller's to allow. Anything else is an untranslated word.

Text the page marks as not for translation is skipped: `translate="no"` (the HTML attribute for names,
addresses and records kept as written) and elements in another language (`lang="en"`: the language
switch names English in English).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

#: Every entry is a proper name, a standard, a unit or a format, written so in Chinese too.
ALLOWED: frozenset[str] = frozenset(
    {
        "ONVIF",  # the camera interface standard
        "Profile",  # of "ONVIF Profile G", the standard's own name
        "RTSP",  # a stream's protocol
        "GB",  # GB/T 28181, the national standard
        "HTTP",  # "网关返回 HTTP 503"
        "API",  # the gateway's interface for programs
        "PDF",  # the formats a report downloads in
        "CSV",
        "JSON",
        "HTML",
        "UTC",  # the site's offset, UTC+08:00
        "GOP",  # the group of pictures: the trade writes it so
        "TCP",  # the transport of a camera's stream
        "UDP",
        "fps",  # the units of frame rate and bitrate
        "kb",  # kb/s
        "Mb",  # Mb/s
    }
)

_CHECKED_ATTRS = ("title", "placeholder", "aria-label", "alt")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


def foreign_words(texts: Iterable[str], names: Iterable[str] = ()) -> list[str]:
    """The Latin words of `texts` that are neither ALLOWED nor part of one of `names`."""
    allowed = set(ALLOWED)
    for name in names:
        allowed.update(LATIN_WORD.findall(name))
    return sorted({w for text in texts for w in LATIN_WORD.findall(text) if w not in allowed})


class ReadableText(HTMLParser):
    """The text a reader of an HTML page sees or hears: text nodes and the title, placeholder, aria-label
    and alt attributes, outside <script> and <style> and outside what the page marks as not translated."""

    def __init__(self, language: str) -> None:
        super().__init__(convert_charrefs=True)
        self.language = language
        self.texts: list[str] = []
        self._stack: list[tuple[str, bool]] = []

    @property
    def _skipping(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def _skips(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        values = dict(attrs)
        if tag in ("script", "style") or values.get("translate") == "no":
            return True
        lang = values.get("lang")
        return tag != "html" and lang is not None and lang != self.language

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        skip = self._skipping or self._skips(tag, attrs)
        if not skip:
            self.texts.extend(v for k, v in attrs if k in _CHECKED_ATTRS and v)
        if tag not in _VOID:
            self._stack.append((tag, skip))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not (self._skipping or self._skips(tag, attrs)):
            self.texts.extend(v for k, v in attrs if k in _CHECKED_ATTRS and v)

    def handle_endtag(self, tag: str) -> None:
        # Elements a page leaves open (<p>, <li>) are closed by their parent's end tag.
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if not self._skipping and data.strip():
            self.texts.append(data)


def readable_text(html: str, language: str = "zh-CN") -> list[str]:
    parser = ReadableText(language)
    parser.feed(html)
    parser.close()
    return parser.texts


#: For the browser: the same text, read from the live page (after its scripts ran), with the title.
READABLE_TEXT_JS = """() => {
  const lang = document.documentElement.lang;
  const skipped = (el) => {
    if (!el || el.closest('[translate="no"], script, style')) return true;
    const marked = el.closest('[lang]');
    return marked !== null && marked.getAttribute('lang') !== lang;
  };
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.nodeValue.trim() && !skipped(node.parentElement)) out.push(node.nodeValue);
  }
  for (const el of document.body.querySelectorAll('[title], [placeholder], [aria-label], [alt]')) {
    if (skipped(el)) continue;
    for (const name of ['title', 'placeholder', 'aria-label', 'alt']) {
      const value = el.getAttribute(name);
      if (value) out.push(value);
    }
  }
  return out;
}"""
