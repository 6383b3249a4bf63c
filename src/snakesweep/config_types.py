"""Give `--config` values the types the config schema asks for, before validation.

Snakemake parses a top-level `--config` value as an int, float or bool when it can, but reads
everything nested in it with YAML's BaseLoader, i.e. as strings: `--config agents='{count: 3}'`
gives `{"count": "3"}`, which the schema rejects. The workflow knows the schema, so it converts
each string to the first type other than string that the schema allows for that key and that
the string can be read as (integer, number, boolean, null, array, object). A string that fits
none of them is left as it is, and validation then rejects it with the usual one-line error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml


def typed_command_line(values: dict, schema_path: str | Path) -> dict:
    """The `--config` values with their schema's types (values read from files are untouched:
    YAML already gave them theirs)."""
    schema_path = Path(schema_path)
    return coerce(values, yaml.safe_load(schema_path.read_text()), schema_path.parent)


def coerce(value: Any, schema: dict, schema_dir: Path = Path(".")) -> Any:
    """`value` with each string converted to the first non-string type `schema` allows for
    it; `$ref`s to other schema files are followed from `schema_dir`."""
    schema = _follow_ref(schema, schema_dir)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {
            key: coerce(item, properties.get(key, {}), schema_dir) for key, item in value.items()
        }
    if isinstance(value, list):
        return [coerce(item, schema.get("items", {}), schema_dir) for item in value]
    if not isinstance(value, str):
        return value
    types = schema.get("type", [])
    for kind in [types] if isinstance(types, str) else types:
        if kind == "string":
            continue  # already one; try the others first (`entity: null` means None)
        converted = _convert(value, kind)
        if converted is not _NO:
            return coerce(converted, schema, schema_dir)
    return value


def _follow_ref(schema: dict, schema_dir: Path) -> dict:
    """The schema a `$ref: other.schema.yaml` names (the config schema's `train:` section is
    the run schema), merged with the referring schema's other keys."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or ref.startswith("#"):
        return schema
    target = yaml.safe_load((schema_dir / ref.split("#")[0]).read_text())
    return {**target, **{key: item for key, item in schema.items() if key != "$ref"}}


_NO = object()  # "this string is not a value of that type"


def _convert(text: str, kind: str) -> Any:
    """`text` as a value of the JSON-schema type `kind`, or `_NO`."""
    if kind in ("integer", "number"):
        for parse in (int, float) if kind == "number" else (int,):
            try:
                number = parse(text)
            except ValueError:
                continue
            return number if math.isfinite(number) else _NO
        return _NO
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return _NO
    fits = {"boolean": bool, "null": type(None), "array": list, "object": dict}.get(kind)
    return parsed if fits is not None and isinstance(parsed, fits) else _NO
