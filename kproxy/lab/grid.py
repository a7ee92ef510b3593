"""Which cases the lab runs, in what order, and which it skips to stay in budget. PURE.

A case is one backend at one size (N Services x M endpoints). Cases run cheapest first (by
size and the backend's known cost), so a tight budget still covers the whole grid at small
sizes and cuts only the most expensive cases. Before each
case the planner predicts its time from the same backend's smaller cases; a case predicted to
overrun what is left of the budget, or bigger than one that already timed out, is skipped (and
says so in the results) rather than started.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kproxy.lab import workload
from kproxy.lab.backends import BACKENDS

DEFAULT_SERVICES = (100, 1000, 5000, 10000, 20000)
DEFAULT_ENDPOINTS = (1, 10, 100)
DEFAULT_BACKENDS = tuple(BACKENDS)
QUICK_SERVICES = (100, 1000)
QUICK_ENDPOINTS = (10,)


# Rough cost of a case per unit of size, relative to restore-legacy (measured: python-iptables
# restores ~20-30x slower, the nft variant ~2x), so cheap cases run first.
COST_WEIGHT = {"restore-legacy": 1, "restore-nft": 2, "python-iptables": 20}


@dataclass(frozen=True, order=True)
class Case:
    services: int
    endpoints: int
    backend: str

    @property
    def size(self) -> int:
        """Roughly proportional to the rules written (one SEP chain per endpoint)."""
        return self.services * (self.endpoints + 1)

    def __str__(self) -> str:
        return f"{self.backend} {self.services:,} x {self.endpoints}"


@dataclass(frozen=True)
class Limits:
    """Per-backend caps (python-iptables is slow at large N)."""

    max_services: int = DEFAULT_SERVICES[-1]
    nft_max_services: int = DEFAULT_SERVICES[-1]
    iptc_max_services: int = 20000
    max_endpoints_total: int = 1_000_000


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """``"1000,10k,2e4"`` -> (1000, 10000, 20000); ValueError naming ``what`` otherwise."""
    values = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        scale = 1
        if part.endswith("k"):
            scale, part = 1000, part[:-1]
        try:
            number = float(part) * scale
        except ValueError:
            raise ValueError(f"{what}: {part!r} is not a number") from None
        if number != int(number) or number < 1:
            raise ValueError(f"{what}: {part!r} is not a positive whole number")
        values.append(int(number))
    if not values:
        raise ValueError(f"{what}: empty list")
    return tuple(sorted(set(values)))


def parse_backends(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise ValueError(
            f"--backends: unknown {', '.join(unknown) or '(empty)'}; choose from "
            f"{', '.join(BACKENDS)}"
        )
    return names


def service_sizes(explicit: Sequence[int] | None, max_services: int) -> tuple[int, ...]:
    """The N axis: the explicit list, or the defaults up to ``max_services`` plus that value
    itself when it goes beyond them."""
    if max_services < 1:
        raise ValueError("--max-services must be at least 1")
    if explicit is not None:
        return tuple(sorted(n for n in explicit if n <= max_services))
    sizes = [n for n in DEFAULT_SERVICES if n <= max_services]
    if max_services > DEFAULT_SERVICES[-1] or not sizes:
        sizes.append(max_services)
    return tuple(sorted(set(sizes)))


def build_cases(
    services: Sequence[int],
    endpoints: Sequence[int],
    backends: Sequence[str],
    limits: Limits,
) -> tuple[list[Case], list[tuple[Case, str]]]:
    """(cases to run, cheapest first; cases left out with the reason)."""
    run: list[Case] = []
    skipped: list[tuple[Case, str]] = []
    for backend in backends:
        for m in endpoints:
            for n in services:
                case = Case(n, m, backend)
                reason = _excluded(case, limits)
                if reason:
                    skipped.append((case, reason))
                else:
                    run.append(case)
    order = {name: i for i, name in enumerate(BACKENDS)}
    run.sort(key=lambda c: (c.size * COST_WEIGHT[c.backend], order[c.backend], c.services))
    return run, skipped


def _excluded(case: Case, limits: Limits) -> str | None:
    try:
        workload.check_size(case.services, case.endpoints)
    except ValueError as e:
        return f"skipped: {e}"
    total = case.services * case.endpoints
    if total > limits.max_endpoints_total:
        return (
            f"skipped: {total:,} endpoints is over --max-endpoints-total"
            f" {limits.max_endpoints_total:,}"
        )
    if case.backend == "restore-nft" and case.services > limits.nft_max_services:
        return f"skipped: restore-nft runs up to --nft-max-services {limits.nft_max_services:,}"
    if case.backend == "python-iptables" and case.services > limits.iptc_max_services:
        return (
            f"skipped: python-iptables runs up to --iptc-max-services {limits.iptc_max_services:,}"
        )
    return None


@dataclass
class Planner:
    """Learns each backend's case times and skips what cannot fit the remaining budget."""

    done: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    timed_out: dict[str, int] = field(default_factory=dict)  # backend -> smallest size
    # Assumed growth with size before two points are known.
    default_exponent: float = 1.2
    fixed_s: float = 4.0
    nft_exponent: float = 1.2

    def record(self, case: Case, seconds: float, timed_out: bool) -> None:
        if timed_out:
            prev = self.timed_out.get(case.backend)
            self.timed_out[case.backend] = min(case.size, prev) if prev else case.size
        else:
            self.done.setdefault(case.backend, []).append((case.size, seconds))

    def predict(self, case: Case) -> float | None:
        """Expected seconds, scaled from the biggest smaller case of the same backend.

        Only the part above the fixed cost of a case (namespaces, processes, the data-plane
        samples) grows with size; at least a fifth of a case's time is taken to grow."""
        points = sorted(p for p in self.done.get(case.backend, ()) if p[0] <= case.size)
        if not points:
            return None
        size, seconds = points[-1]
        fixed = seconds - self._growing(seconds)
        exponent = self.nft_exponent if case.backend == "restore-nft" else self.default_exponent
        if len(points) >= 2:
            (s0, t0), (s1, t1) = points[-2], points[-1]
            g0, g1 = self._growing(t0), self._growing(t1)
            if s1 > s0 * 1.5 and g0 > 0.5 and g1 > g0:
                exponent = _growth(s0, g0, s1, g1, low=1.0, high=3.0)
        return float(fixed + self._growing(seconds) * (case.size / size) ** exponent)

    def _growing(self, seconds: float) -> float:
        return max(seconds - self.fixed_s, seconds / 5)

    def skip_reason(self, case: Case, remaining: float) -> str | None:
        smallest = self.timed_out.get(case.backend)
        if smallest is not None and case.size >= smallest:
            return f"skipped: a smaller {case.backend} case timed out"
        predicted = self.predict(case)
        if predicted is not None and predicted > remaining:
            return (
                f"skipped: predicted ~{predicted:,.0f} s from smaller cases, "
                f"{max(remaining, 0):,.0f} s of budget left"
            )
        return None


def _growth(s0: float, t0: float, s1: float, t1: float, low: float, high: float) -> float:
    import math

    k = math.log(t1 / t0) / math.log(s1 / s0)
    return min(max(k, low), high)


def describe(cases: Iterable[Case]) -> str:
    return ", ".join(str(c) for c in cases)
