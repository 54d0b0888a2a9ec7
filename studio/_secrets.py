"""Find secrets in text: detect-secrets' maintained patterns plus the studio's own rules.

The patterns of every regular-expression plugin of `detect-secrets` (AWS, Azure storage, GitHub,
GitLab, Slack, Stripe, private keys including PGP blocks, JWTs, basic-auth URLs, ...) are used as
they ship, except the public-IP one (an address is no secret in a workflow). The studio adds rules
where it knows better: fine-grained GitHub tokens (``github_pat_``), API keys of the ``sk-`` family
(``sk-proj-``), Stripe test keys, Azure connection strings of any length, ``Authorization:``
headers and bearer tokens, 40-character AWS secret keys without the word "aws" next to them,
long lowercase-hex tokens, ``password=...`` style assignments and credentials in URLs.

Before matching, text is NFKC-normalised and stripped of invisible format characters (a zero-width
space inside ``sk-proj-...`` does not hide it). Texts are scanned in batches (one regular
expression pass per pattern over all of them), so a 10,000-node workflow is checked in well
under a second.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["clean", "entropy", "mask", "scan", "scan_many"]

Pattern = tuple[str, "re.Pattern[str]"]

_SKIPPED_PLUGINS = frozenset({"IPPublicDetector"})

_OWN: tuple[tuple[str, str], ...] = (
    ("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
    ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    ("an API key", r"\bsk-[A-Za-z0-9_\-]{16,}"),
    ("a Stripe key", r"\b[rsp]k_(?:live|test)_[0-9a-zA-Z]{16,}"),
    ("an Azure storage key", r"(?i)\bAccountKey=(?P<value>[A-Za-z0-9+/=]{20,})"),
    ("an Azure shared access signature", r"(?i)\bSharedAccessSignature=[^\s;]{16,}|\bsig=[A-Za-z0-9%+/=]{30,}"),
    ("an authorization header",
     r"(?i)\bauthorization\s*[:=]\s*['\"]?(?:bearer|basic|token|digest)\s+(?P<value>[^\s'\"]{8,})"),
    ("a bearer token", r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9\-._~+/]{16,}=*)"),
    ("an AWS access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("a Slack token", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("a Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----"),
    ("a JSON web token", r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\."),
    (
        "a password or token",
        r"(?i)\b(?:password|passwd|pwd|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token|token|"
        r"client[_\-]?secret)\b\s*[:=]\s*['\"]?(?P<value>[^\s'\"]{6,})",
    ),
    ("credentials in a URL", r"[a-z][a-z0-9+.\-]*://[^/\s:@]+:[^/\s@]+@"),
)
# Candidates that need a second look (mixed case and entropy) before they count.
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_HEX = re.compile(r"(?<![0-9A-Za-z_:\-])[0-9a-f]{32,}(?![0-9A-Za-z_])")
_KEY_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----")
_HASH_PREFIX = re.compile(r"(?i)(?:sha\d*|md5|blake2b?|hash|digest|commit)[\s:=\-]*$")
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")


def _friendly(secret_type: str) -> str:
    article = "an" if secret_type[:1].lower() in "aeiou" else "a"
    return f"{article} {secret_type}"


@lru_cache(maxsize=1)
def patterns() -> tuple[Pattern, ...]:
    """(what, pattern) for every rule: detect-secrets' plugins first, then the studio's own."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class  # noqa: PLC0415
    from detect_secrets.plugins.base import RegexBasedDetector  # noqa: PLC0415

    found: list[Pattern] = []
    plugins: dict[str, Any] = get_mapping_from_secret_type_to_class()
    for secret_type, plugin in sorted(plugins.items()):
        if not issubclass(plugin, RegexBasedDetector) or plugin.__name__ in _SKIPPED_PLUGINS:
            continue
        for regex in plugin().denylist:
            found.append((_friendly(secret_type), regex))
    found.extend((what, re.compile(pattern)) for what, pattern in _OWN)
    return tuple(found)


def clean(text: str) -> str:
    """``text`` as it reads: NFKC-normalised, invisible format characters removed."""
    if text.isascii():
        return text
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _extra(text: str) -> Iterable[tuple[int, int, str]]:
    for match in _AWS_SECRET.finditer(text):
        token = match.group(0)
        if (any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)
                and entropy(token) > 4.0):
            yield match.start(), match.end(), "an AWS secret access key"
    for match in _HEX.finditer(text):
        token = match.group(0)
        line_start = text.rfind("\n", 0, match.start()) + 1
        if (any(c.isdigit() for c in token) and any(c.isalpha() for c in token) and entropy(token) > 3.0
                and not _HASH_PREFIX.search(text[max(line_start, match.start() - 12) : match.start()])):
            yield match.start(), match.end(), "a hex token"


def scan(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, what)`` of every secret in ``clean(text)``, sorted by place."""
    text = clean(text)
    hits: list[tuple[int, int, str]] = []
    for what, regex in patterns():
        value = "value" in regex.groupindex
        for match in regex.finditer(text):
            start, end = match.span("value") if value else match.span()
            if end > start:
                hits.append((start, end, what))
    hits.extend(_extra(text))
    return sorted(hits)


_SEPARATOR = "\n\x00\n"


def _first_hits(texts: Sequence[str]) -> dict[int, tuple[int, str]]:
    """``index -> (start, what)`` of the first secret in ``clean(texts[index])``, for every text holding one.

    The texts are joined and scanned together: one regular-expression pass per pattern.
    """
    if not texts:
        return {}
    cleaned = [clean(t) for t in texts]
    starts: list[int] = []
    offset = 0
    for text in cleaned:
        starts.append(offset)
        offset += len(text) + len(_SEPARATOR)
    found: dict[int, tuple[int, str]] = {}
    for start, _, what in scan(_SEPARATOR.join(cleaned)):
        index = bisect.bisect_right(starts, start) - 1
        if start >= starts[index] + len(cleaned[index]) and index + 1 < len(cleaned):
            index += 1  # the match took the separator before a text as its leading space: it is that text's
        at = max(start - starts[index], 0)
        if index not in found or at < found[index][0]:
            found[index] = (at, what)
    return found


def scan_many(texts: Iterable[str]) -> dict[str, str]:
    """For every text that holds a secret, what the first one looks like (one pass per pattern)."""
    unique = sorted({t for t in texts if len(t) >= 8})
    return {unique[index]: what for index, (_, what) in sorted(_first_hits(unique).items())}


def mask(text: str) -> str:
    """``text`` with every secret cut to its first 4 characters and ``…``.

    A private key is hidden up to its END line; other secrets to the end of the word they are in
    (a JWT's signature too).
    """
    hits = scan(text)
    if not hits:
        return text
    text = clean(text)
    out: list[str] = []
    position = 0
    for hit_start, hit_end, _ in hits:
        if hit_end <= position:
            continue
        start, end = max(hit_start, position), hit_end
        if text.startswith("-----BEGIN", start):
            close = _KEY_END.search(text, start)
            end = close.end() if close is not None else len(text)
        else:
            while end < len(text) and not text[end].isspace() and text[end] not in "\"'`,;)":
                end += 1
        out.append(text[position:start])
        out.append(text[start : start + 4] + "…")
        position = end
    out.append(text[position:])
    return "".join(out)
