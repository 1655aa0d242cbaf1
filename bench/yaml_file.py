"""The one reader of YAML files (suites, includes, model cards, blind-spot studies, a results
folder's suite.yaml).

Why one: a file that is missing, unreadable, not UTF-8 text or not YAML must be the same one-line
error naming it wherever it is read (never a traceback), and a caller that may skip a bad file
(listings, sibling folders) catches one exception type instead of three."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import BenchError


class YamlFileError(BenchError):
    """A YAML file could not be read or parsed; the message names the file and says why."""


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: the problem and where it is (line, column)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def read_yaml(path: str | Path, shown: str | None = None) -> Any:
    """The parsed content of ``path`` (None for an empty file); ``shown`` is how messages name it."""
    name = shown if shown is not None else str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise YamlFileError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise YamlFileError(f"{name}: is a directory, not a YAML file") from None
    except OSError as exc:
        raise YamlFileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{name}: invalid YAML: {yaml_problem(exc)}") from None
