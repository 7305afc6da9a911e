"""Every config key with its value, default and one-line doc, read from the fields themselves.

`dqnlab config` prints them as a table, and the README's configuration table is `markdown_table()`
(scripts/readme_config_table.py writes it; a test fails when the two drift apart).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from dqnlab.config import Config


@dataclass(frozen=True)
class ConfigKey:
    """One key: its dotted name (as `--set` takes it), its value in a config, its default and its doc."""

    key: str
    value: Any
    default: Any
    doc: str

    @property
    def changed(self) -> bool:
        return self.value != self.default


def config_keys(config: Config) -> list[ConfigKey]:
    """The keys of `config` in declaration order: top-level keys first, then each section's."""
    return _keys(config, Config(), "")


def _keys(obj: Any, default: Any, prefix: str) -> list[ConfigKey]:
    plain: list[ConfigKey] = []
    sections: list[ConfigKey] = []
    for f in fields(obj):
        value, default_value = getattr(obj, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            sections += _keys(value, default_value, f"{prefix}{f.name}.")
        else:
            plain.append(ConfigKey(f"{prefix}{f.name}", value, default_value, f.metadata.get("doc", "")))
    return plain + sections


def section_docs() -> dict[str, str]:
    """Each section's name and the first line of its class docstring."""
    defaults = Config()
    sections = (getattr(defaults, f.name) for f in fields(Config))
    return {
        f.name: (type(section).__doc__ or "").splitlines()[0]
        for f, section in zip(fields(Config), sections, strict=True)
        if dataclasses.is_dataclass(section)
    }


def format_value(value: Any) -> str:
    """A value as it is written after `--set KEY=` (none, true, [64, 64], 0.001), strings unquoted."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def console_table(config: Config) -> str:
    """Aligned columns key, value, default, doc; a `*` marks each value that differs from its default."""
    keys = config_keys(config)
    header = ("key", "value", "default", "doc")
    rows = [(k.key, format_value(k.value), format_value(k.default), k.doc) for k in keys]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    marks = [" ", *("*" if k.changed else " " for k in keys)]
    lines = [
        f"{mark} {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        for mark, row in zip(marks, [header, *rows], strict=True)
    ]
    return "\n".join(lines)


def markdown_table() -> str:
    """The README's configuration table: every key with its default and doc, section by section."""
    docs = section_docs()
    lines = ["| key | default | meaning |", "|---|---|---|"]
    section = ""
    for k in config_keys(Config()):
        name = k.key.split(".")[0] if "." in k.key else ""
        if name != section:
            section = name
            lines.append(f"| **`{name}`** | | {_escape(docs[name])} |")
        lines.append(f"| `{k.key}` | `{format_value(k.default)}` | {_escape(k.doc)} |")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


README_START = "<!-- config table: written by scripts/readme_config_table.py from the docs in src/dqnlab/config.py -->"
README_END = "<!-- end of config table -->"


def readme_table(readme: str) -> str:
    """The table between the README's markers (README_START, README_END), as it stands."""
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    return readme[start:end].strip("\n")


def with_readme_table(readme: str) -> str:
    """`readme` with the table between its markers replaced by `markdown_table()`."""
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    return f"{readme[:start]}\n{markdown_table()}\n{readme[end:]}"
