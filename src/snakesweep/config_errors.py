"""Say which config file and key are wrong, in one line, when the schema rejects a config.

Snakemake's `validate()` reports a jsonschema error with the whole schema and instance; a user
needs the file, the key and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jsonschema
import yaml


def describe_config_error(error: BaseException, config_files: Sequence[str]) -> str | None:
    """One line naming the config file and key, or None if `error` holds no schema violation."""
    # Snakemake folds the jsonschema error into its message text; the object itself is the
    # exception it was handling (or one of its arguments, in older versions).
    candidates = [*getattr(error, "args", ()), error.__cause__, error.__context__]
    found = [c for c in candidates if isinstance(c, jsonschema.ValidationError)]
    if not found:
        return None
    violation = found[0]
    keys = list(violation.absolute_path)
    where = ".".join(str(part) for part in keys) or "(top level)"
    source = file_defining(keys, violation.instance, config_files)
    return f"{source}: invalid config at {where}: {violation.message}"


def file_defining(keys: list, value, config_files: Sequence[str]) -> str:
    """The config file whose value is in effect for `keys`.

    Snakemake lists files given with --configfile before the workflow's own `configfile:`, and
    the former override the latter, so the first file that sets the key to `value` is the one in
    effect. If none does, the value came from `--config` on the command line (whose strings
    were already given the schema's types where they fit one: see `snakesweep.config_types`).
    """
    for name in config_files:
        try:
            node = yaml.safe_load(Path(name).read_text())
        except (OSError, yaml.YAMLError):
            continue
        for key in keys:
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
            else:
                break
        else:
            # A mapping is compared by presence only: the schema filled in its defaults.
            if isinstance(value, dict) or node == value:
                return str(name)
    return "--config (command line)"


def yaml_error(path: str | Path) -> str | None:
    """One line saying where `path` stops being valid YAML, or None if it parses.

    Snakemake reports a broken config file without its name or the line; this says both.
    """
    try:
        yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        return f"{path}: config file not found"
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        return f"{path}: not valid YAML{where}: {problem}"
    return None
