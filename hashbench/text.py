"""Names from files shown to people: what is removed before a string read from a record, a
suite or a plugin reaches a terminal, a Markdown or HTML board or a CSV."""

from __future__ import annotations

import re

# C0 and C1 controls (BEL, ESC: terminal escape sequences start with them), and the Unicode
# format characters that reorder or hide text: bidi embeddings, overrides and isolates
# (U+202A-E, U+2066-9, an RTL override makes "gpj.exe" read "exe.jpg"), marks (U+200E/F,
# U+061C), zero-width characters and the BOM
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def visible(text) -> str:
    """``text`` without control, bidi and zero-width characters: it shows what it says."""
    return UNSAFE.sub("", str(text))
