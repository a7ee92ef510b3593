"""Small statistics for the lab's samples. PURE."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct``-th percentile by linear interpolation between closest ranks (numpy's
    default); None for no values."""
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is not in 0..100")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
