"""Is any MNIST mirror reachable? Asked before torchvision (and torch) are imported.

Offline, `data.source: auto` ends on the bundled sample anyway; finding that out with one cheap
request per mirror, instead of importing torchvision to watch its download fail, keeps the data
stage of an offline pipeline short.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence

from snakesweep.errors import UserError


class DownloadError(UserError):
    """No mirror delivered a file with the expected checksum."""


def unreachable_mirrors(mirrors: Sequence[str], filename: str, timeout: float) -> list[str]:
    """'URL: reason' for each mirror that cannot serve `filename`; empty if one can.

    Stops at the first mirror that answers: the download then tries them all, in order.
    """
    failures = []
    for mirror in mirrors:
        url = f"{mirror if mirror.endswith('/') else mirror + '/'}{filename}"
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, method="HEAD"), timeout=timeout
            ):
                return []
        except urllib.error.HTTPError:
            return []  # the server answered; the download itself judges what it serves
        except (OSError, ValueError) as err:  # no connection, no name, a timeout, a bad URL
            failures.append(f"{url}: {err}")
    return failures
