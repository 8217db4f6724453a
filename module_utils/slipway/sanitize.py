"""Untrusted text in, untrusted text out.

Issue titles, bodies and comments come from any signed-in portal user; Claude's answers may repeat
what an attacker planted in them. Before text reaches the model: hidden HTML comments and invisible or
bidirectional-control characters are removed, its size is bounded (and the truncation said), and it is
fenced as data with a fence the text cannot close.

Before text reaches Forgejo (``safe_markdown``, ``safe_line``): secrets are redacted, by known value
and by pattern (``redact``), and the text is made inert as Forgejo renders markdown: no raw HTML, no
images (beacons), no @mentions, no closing keywords (``closes #N``) and no code span or fence the text
itself opens. Fenced code blocks are re-fenced by this module with a fence longer than any backtick
run inside them, so no line of the text can close them; everything outside them is escaped character
by character (``<``, ``&``, backticks, backslashes), so nothing there is markup that could start code,
HTML or an image. ``find_secrets`` names the kinds of secret in a text (never the values), for the
pre-push scan of a fix's diff.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable
from pathlib import Path

HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# Keep newlines and tabs; drop every other control character and all "format" characters (Cf:
# zero-width spaces and joiners, bidirectional embeddings/overrides/isolates, soft hyphens, tags...).
_KEEP = {"\n", "\t"}
ZWJ = "\u200d"
REDACTED = "[redacted]"


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


# -- secrets ----------------------------------------------------------------------------------------------

# Values that are obviously placeholders, not secrets (``postgres://user:password@host``, ``TOKEN=xxx``).
_PLACEHOLDERS = re.compile(
    r"(?i)^(?:[*x.]+|pass(?:word)?|secret|changeme|example|test|dummy|redacted|\[redacted\]|none|null|"
    r"true|false|your[-_a-z]*|<[^>]*>|\$.*|\{.*|%.*|(?:process\.env|os\.environ|import\.meta\.env)\b.*)$"
)
_SENSITIVE_NAME = (
    r"[A-Za-z0-9_]{0,40}(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|"
    r"password|passwd|secret|token|api_?key|access_?key|private_?key)[A-Za-z0-9_]{0,40}"
)


class _Pattern:
    """One kind of secret: ``regex`` finds it; group ``value`` (or the whole match) is what is redacted.
    ``scan``: precise enough to refuse a push on (a diff's added lines are code, where a looser pattern
    such as ``password = form.password`` would be a false alarm)."""

    def __init__(self, kind: str, regex: str, scan: bool = True, flags: int = 0):
        self.kind, self.regex, self.scan = kind, re.compile(regex, flags), scan

    def value_span(self, match: re.Match) -> tuple[int, int] | None:
        if "value" in self.regex.groupindex:
            value = match.group("value")
            if value is None or _PLACEHOLDERS.match(value):
                return None
            return match.span("value")
        if self.kind == "API key" and not (
            re.search(r"\d", match.group()) and re.search(r"[A-Za-z]", match.group()[3:])
        ):
            return None
        return match.span()


PATTERNS = [
    _Pattern(
        "private key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    _Pattern("Anthropic API key or OAuth token", r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{8,}"),
    _Pattern("API key", r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"),
    _Pattern("GitHub token", r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    _Pattern("GitLab token", r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}"),
    _Pattern("Slack token", r"(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,}"),
    _Pattern("AWS access key", r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    _Pattern(
        "JSON web token", r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    ),
    _Pattern(
        "password in a URL",
        r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\"`<>]{1,200}:(?P<value>[^\s@/'\"`<>]{1,200})@",
    ),
    _Pattern("bearer token", r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9._~+/=-]{12,})"),
    _Pattern(
        "authorization header",
        r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?(?:token|basic|bearer)\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})",
    ),
    # A Forgejo/Gitea token is 40 hex digits, as a commit hash is: only in a token context.
    _Pattern(
        "Forgejo token",
        r"(?i)\b(?:token|access_token|authorization)[\"']?(?:\s*[:=]\s*|\s+)[\"']?(?:token\s+)?(?P<value>[0-9a-f]{40})\b",
    ),
    # NAME=value as in an .env file or a shell (no spaces around '=', an upper-case secret-like name).
    _Pattern(
        "secret assignment",
        r"(?<![A-Za-z0-9_])(?:export\s+)?[A-Z][A-Z0-9_]{0,40}(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|"
        r"PRIVATE_?KEY|CREDENTIALS?)[A-Z0-9_]{0,40}=[\"']?(?P<value>[^\s\"'`#;,)]{4,})",
    ),
    # Looser: ``password: hunter2``, ``"token": "abc..."`` in prose and logs; only redacted, never
    # a reason to refuse a push (code says ``password = req.body.password``).
    _Pattern(
        "secret value",
        r"(?<![A-Za-z0-9_])" + _SENSITIVE_NAME + r"[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"'`,;)\]}]{6,})",
        scan=False,
    ),
]


def _known(values: Iterable[str]) -> list[str]:
    return sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True)


def _spans(text: str, known_values: Iterable[str], scan_only: bool) -> list[tuple[int, int, str]]:
    spans = []
    for value in _known(known_values):
        start = text.find(value)
        while start != -1:
            spans.append((start, start + len(value), "known secret value"))
            start = text.find(value, start + 1)
    for pattern in PATTERNS:
        if scan_only and not pattern.scan:
            continue
        for match in pattern.regex.finditer(text):
            span = pattern.value_span(match)
            if span and span[1] > span[0]:
                spans.append((*span, pattern.kind))
    return spans


def find_secrets(text: str, known_values: Iterable[str] = ()) -> list[str]:
    """The kinds of secret in ``text`` (known values and the precise patterns), never the values."""
    return sorted({kind for _s, _e, kind in _spans(text or "", known_values, scan_only=True)})


def redact(text: str, known_values: Iterable[str] = ()) -> str:
    """``text`` with every known secret value and everything that looks like a secret replaced."""
    text = text or ""
    spans = sorted(_spans(text, known_values, scan_only=False))
    out, pos = [], 0
    for start, end, _kind in spans:
        if end <= pos:
            continue
        out.append(text[pos : max(start, pos)])
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def scrub_secrets(text: str, secret_values: Iterable[str]) -> str:
    """Kept for callers of the old name: redaction by known value and by pattern."""
    return redact(text, secret_values)


def credential_values(path: Path) -> list[str]:
    """The token-like strings of a Claude credentials file (``accessToken``, ``refreshToken``...), when
    this user can read it; nothing otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found: list[str] = []

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and len(node) >= 8 and re.search(r"(?i)token|key|secret", key):
            found.append(node)

    walk(data)
    return found


# -- markdown that renders as the text says -----------------------------------------------------------------

MENTION = re.compile(r"(?<![\w])@(?=[A-Za-z0-9_])")
# Forgejo's closing and reopening keywords, followed by a reference (``#7``, ``owner/repo#7``, ``!7``,
# or an issue/pull URL): the keyword gets a zero-width joiner, so Forgejo never acts on it.
CLOSING = re.compile(
    r"(?i)(?<![\w])(close[sd]?|fix(?:e[sd])?|resolve[sd]?|reopen(?:s|ed)?)(?=[\s:]*(?:[\w.-]+/[\w.-]+)?[#!]\d"
    r"|[\s:]*https?://\S+/(?:issues|pulls)/\d)"
)
_CLOSING_REF = re.compile(
    r"(?i)(?<![\w])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?|reopen(?:s|ed)?)[\s:]*"
    r"(?P<ref>(?:[\w.-]+/[\w.-]+)?[#!]\d+|https?://\S+/(?:issues|pulls)/\d+)"
)


def closing_references(text: str) -> list[str]:
    """What closing/reopening keywords in ``text`` point at (``#7``, ``owner/repo#7``, URLs), in order."""
    return [m.group("ref") for m in _CLOSING_REF.finditer(text or "")]


_OPEN_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_SAFE_INFO = re.compile(r"^[A-Za-z0-9_+#.-]{1,30}$")
# Forgejo renders these code blocks as something other than code.
_RENDERED_INFO = {"mermaid", "math", "plantuml", "geojson", "topojson", "stl"}
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", "`": "&#96;", "\\": "\\\\"}


def _defuse_words(text: str) -> str:
    """No mention, no closing keyword: a zero-width joiner after ``@`` and after a keyword's first letter."""
    text = MENTION.sub("@" + ZWJ, text)
    return CLOSING.sub(lambda m: m.group(1)[0] + ZWJ + m.group(1)[1:], text)


def _escape_text(text: str) -> str:
    """Outside code: every character that could start HTML, an entity, a code span or an escape shown
    as itself; no image (``![`` loses its ``!``'s meaning)."""
    out = "".join(_TEXT_ESCAPES.get(char, char) for char in text)
    return _defuse_words(out.replace("![", "&#33;["))


def _code_block(lines: list[str], info: str) -> str:
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    bar = "`" * max(3, longest + 1)
    info = info.strip().split()[0] if info.strip() else ""
    if not _SAFE_INFO.match(info) or info.lower() in _RENDERED_INFO:
        info = ""
    body = "\n".join(_defuse_words(line) for line in lines)
    return f"{bar}{info}\n{body}\n{bar}" if lines else f"{bar}{info}\n{bar}"


def _render_safe(text: str) -> str:
    """Markdown that Forgejo renders as exactly this text: fenced blocks are re-fenced by us at column
    0 with blank lines around them (so they are top-level blocks whatever contained them); everything
    else is escaped."""
    out: list[str] = []

    def blank() -> None:
        if out and out[-1] != "":
            out.append("")

    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opened = _OPEN_FENCE.match(lines[i])
        if opened and not (opened["fence"][0] == "`" and "`" in opened["info"]):
            char, size = opened["fence"][0], len(opened["fence"])
            closing = re.compile(r"^ {0,3}" + re.escape(char) + "{" + str(size) + r",}[ \t]*$")
            body = []
            i += 1
            while i < len(lines) and not closing.match(lines[i]):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end of the text)
            blank()
            out += [_code_block(body, opened["info"]), ""]
            continue
        if lines[i].strip() or out[-1:] != [""]:
            out.append(_escape_text(lines[i]))
        i += 1
    return "\n".join(out).strip("\n")


def code_span(text: str) -> str:
    """Trusted text (e.g. the configured verify command) as one inline code span it cannot close."""
    flat = " ".join((text or "").split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    bar = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{bar}{pad}{_defuse_words(flat)}{pad}{bar}"


def safe_markdown(text: str | None, max_chars: int = 20000, secret_values: Iterable[str] = ()) -> str:
    """Model output made safe to post as a comment or PR body: hidden comments and invisible characters
    removed, entities decoded (so an encoded secret is seen), secrets redacted, bounded, then rendered
    inert (no HTML, images, mentions, closing keywords, or code the text opens itself)."""
    text = html.unescape(clean_untrusted(text))
    text = redact(strip_invisible(text), secret_values)
    text, cut = limit(text, max_chars)
    return _render_safe(text) + ("\n\n[truncated]" if cut else "")


def one_line(text: str, max_chars: int = 300) -> str:
    """A single printable line (for reasons shown in labels' comments, logs and errors)."""
    flat = " ".join(strip_invisible(text or "").split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 3] + "..."


def safe_line(text: str | None, secret_values: Iterable[str] = (), max_chars: int = 300) -> str:
    """One line of untrusted text (a reason) for a comment: redacted, flattened, rendered inert."""
    flat = one_line(redact(html.unescape(strip_invisible(text or "")), secret_values), max_chars)
    return _escape_text(flat)


def safe_title(text: str | None, secret_values: Iterable[str] = (), max_chars: int = 200) -> str:
    """A title (shown as text by Forgejo, with references linked): redacted, one line, no mention or
    closing keyword."""
    return _defuse_words(one_line(redact(strip_invisible(text or ""), secret_values), max_chars))
