"""The captions of Snakemake's report, reused on the summary page.

The workflow flags outputs with ``report(f"{RESULTS}/prior/{{kind}}/samples.png",
caption="../report/prior_samples.rst", ...)``; :func:`read_captions` turns each into a pattern
over paths relative to the results folder and its caption text, and :func:`caption_for`
renders the caption of a file: its ``{{ snakemake.config[...] }}`` and
``{{ snakemake.wildcards.X }}`` expressions filled in, reStructuredText literals as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REPORT = re.compile(r'report\(\s*f?"(?P<path>[^"]+)",\s*caption="(?P<caption>[^"]+)"')
_WILDCARD = re.compile(r"\{\{(\w+)\}\}")
_JINJA = re.compile(r"\{\{\s*snakemake\.(config|wildcards)((?:\[\"\w+\"\])+|\.\w+)\s*\}\}")


@dataclass(frozen=True)
class Caption:
    pattern: re.Pattern
    text: str


def _pattern(path: str) -> re.Pattern:
    path = re.sub(r"^\{RESULTS\}/", "", path)
    out, last = "", 0
    for match in _WILDCARD.finditer(path):
        out += re.escape(re.sub(r"\{\w+\}", "\0", path[last : match.start()])).replace("\0", ".+")
        out += f"(?P<{match.group(1)}>[^/]+)"
        last = match.end()
    out += re.escape(re.sub(r"\{\w+\}", "\0", path[last:])).replace("\0", ".+")
    return re.compile(out + "$")


def read_captions(workflow: str | Path | None) -> list[Caption]:
    """Patterns and caption texts of every ``report(...)`` output under ``workflow/rules``."""
    rules = Path(workflow) / "rules" if workflow else None
    captions = []
    for smk in sorted(rules.glob("*.smk")) if rules is not None and rules.is_dir() else []:
        for match in _REPORT.finditer(smk.read_text(encoding="utf-8")):
            source = (smk.parent / match.group("caption")).resolve()
            if source.is_file():
                text = source.read_text(encoding="utf-8")
                captions.append(Caption(_pattern(match.group("path")), text))
    return captions


def caption_for(
    relative: str, captions: list[Caption], config: dict[str, Any] | None = None
) -> str:
    """The caption of the output at ``relative`` (to the results folder), rendered; "".
    The most specific pattern (fewest wildcards) wins."""
    for caption in sorted(
        captions, key=lambda c: (c.pattern.groups, c.pattern.pattern.count(".+"))
    ):
        match = caption.pattern.match(relative)
        if match is None:
            continue

        def fill(expr: re.Match, match: re.Match = match) -> str:
            if expr.group(1) == "wildcards":
                return match.groupdict().get(expr.group(2).lstrip("."), "")
            value: Any = config or {}
            for key in re.findall(r"\"(\w+)\"", expr.group(2)):
                value = value.get(key, "") if isinstance(value, dict) else ""
            return str(value)

        text = _JINJA.sub(fill, caption.text)
        return " ".join(text.replace("``", "").replace("**", "").split())
    return ""
