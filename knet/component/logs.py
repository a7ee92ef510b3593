"""Logging set-up for our programs: one format, on stderr, with a verbosity switch."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEBUG_VERBOSITY = 4  # klog's -v=4 and above is debug detail


def setup_logging(verbose: bool | int, *, fmt: str = LOG_FORMAT, quiet: Iterable[str] = ()) -> None:
    """DEBUG when ``verbose`` is True or a klog-style level of 4 and above, else INFO.
    ``quiet`` names loggers (chatty libraries) held at WARNING."""
    debug = verbose is True or (not isinstance(verbose, bool) and verbose >= DEBUG_VERBOSITY)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, format=fmt, stream=sys.stderr
    )
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
