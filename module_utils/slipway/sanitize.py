"""Untrusted text in, untrusted text out.

Issue titles, bodies and comments come from any signed-in portal user; Claude's answers may repeat
what an attacker planted in them. Before text reaches the model: hidden HTML comments and invisible or
bidirectional-control characters are removed, its size is bounded (and the truncation said), and it is
fenced as data with a fence the text cannot close. Before text from the model reaches Forgejo: no
@mentions of other users, no HTML that could hide content, no known secret.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# Keep newlines and tabs; drop every other control character and all "format" characters (Cf:
# zero-width spaces and joiners, bidirectional embeddings/overrides/isolates, soft hyphens, tags...).
_KEEP = {"\n", "\t"}
MENTION = re.compile(r"(?<![\w`])@([A-Za-z0-9][A-Za-z0-9._-]*)")
CODE_FENCE = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]*`)", re.DOTALL)


def strip_invisible(text: str) -> str:
    out = []
    for char in text:
        if char in _KEEP:
            out.append(char)
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        out.append(char)
    return "".join(out)


def clean_untrusted(text: str | None) -> str:
    """Text as a human would see it rendered: no hidden comments, no invisible characters."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    text = HTML_COMMENT.sub("", text)
    return strip_invisible(text).strip()


def limit(text: str, max_chars: int) -> tuple[str, bool]:
    """Text cut to ``max_chars`` characters; whether it was cut."""
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars], True


def fence(label: str, text: str, nonce: str) -> str:
    """Wrap untrusted text as data between markers the text cannot contain (the nonce is random)."""
    return f"<<<{label} {nonce} BEGIN>>>\n{text}\n<<<{label} {nonce} END>>>"


def new_nonce() -> str:
    return secrets.token_hex(8)


def untrusted_block(label: str, text: str | None, max_chars: int, nonce: str) -> str:
    """Cleaned, bounded and fenced; says so when the text was truncated."""
    cleaned, cut = limit(clean_untrusted(text), max_chars)
    note = f"\n[The {label.lower()} was truncated to its first {max_chars} characters.]" if cut else ""
    return fence(label, cleaned, nonce) + note


def _outside_code(text: str, transform) -> str:
    parts = CODE_FENCE.split(text)
    return "".join(part if i % 2 else transform(part) for i, part in enumerate(parts))


def _defuse(segment: str) -> str:
    segment = segment.replace("<", "&lt;").replace(">", "&gt;")
    return MENTION.sub(lambda m: f"`@{m.group(1)}`", segment)


def scrub_secrets(text: str, secret_values: Iterable[str]) -> str:
    for value in secret_values:
        if value and len(value) >= 6:
            text = text.replace(value, "[redacted]")
    return text


def safe_markdown(text: str | None, max_chars: int = 20000, secret_values: Iterable[str] = ()) -> str:
    """Model output made safe to post as a comment or PR body: hidden comments and invisible characters
    removed, HTML shown as text (outside code), @mentions defused, known secrets redacted, bounded."""
    text = clean_untrusted(text)
    text = _outside_code(text, _defuse)
    text = scrub_secrets(text, secret_values)
    text, cut = limit(text, max_chars)
    return text + ("\n\n[truncated]" if cut else "")


def one_line(text: str, max_chars: int = 300) -> str:
    """A single printable line (for reasons shown in labels' comments, logs and errors)."""
    flat = " ".join(strip_invisible(text or "").split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 3] + "..."
