"""PNG plots of the lab's rows (matplotlib, Agg backend: no display needed).

* sync-time.png       full sync, the restore floor and the partial sync vs N, log-log, one
                      colour per backend (and one for the userspace mode), one panel per M;
* connect-latency.png TCP connect round trip (p50, p99) to the first and the last programmed
                      Service vs N, one colour per data-plane mode, one panel per M;
* first-byte-latency.png  the same up to the server's first byte (in userspace mode the
                      handshake ends at the proxy; only this includes its hop to the pod);
* append-one-rule.png one ``iptables -A`` vs the rules already in the table, log-log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from kproxy.lab.results import Row

COLORS = {
    "restore-legacy": "tab:blue",
    "restore-nft": "tab:red",
    "python-iptables": "tab:green",
    "userspace (restore-legacy)": "tab:purple",
}
_DPI = 80


def _series(
    rows: Sequence[Row], key: Callable[[Row], Any], field: str
) -> tuple[list[Any], list[Any]]:
    pts = sorted((key(r), r[field]) for r in rows if r.get(field) is not None)
    return [p[0] for p in pts], [p[1] for p in pts]


def _panels(rows: Sequence[Row]) -> list[int]:
    return sorted({int(r["endpoints_per_service"]) for r in rows})


def _sync_label(r: Row) -> str:
    """iptables mode's rows by backend; other modes' by mode (and the backend they use)."""
    mode = r.get("mode") or "iptables"
    return str(r["backend"]) if mode == "iptables" else f"{mode} ({r['backend']})"


def plot_sync_time(rows: Sequence[Row], path: Path) -> Path | None:
    ms = _panels([r for r in rows if r.get("full_sync_s") is not None])
    if not ms:
        return None
    fig, axes = plt.subplots(1, len(ms), figsize=(4.3 * len(ms), 3.8), squeeze=False)
    for ax, m in zip(axes[0], ms, strict=True):
        sub = [r for r in rows if r["endpoints_per_service"] == m]
        for backend in sorted({_sync_label(r) for r in sub}):
            mine = [r for r in sub if _sync_label(r) == backend]
            color = COLORS.get(backend, "tab:gray")
            for field, style, label in (
                ("full_sync_s", "-o", "full sync"),
                ("restore_floor_s", "--", "restore alone"),
                ("partial_sync_s", ":x", "partial (1 endpoint)"),
            ):
                x, y = _series(mine, lambda r: r["services"], field)
                if x:
                    ax.plot(x, y, style, color=color, label=f"{backend}: {label}", ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{m} endpoint{'s' if m != 1 else ''} per Service", fontsize=10)
        ax.set_xlabel("Services (N)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("seconds")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    for ax in axes[0][:-1]:
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab, strict=True):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    fig.suptitle("kproxy sync time vs Services (log-log)", fontsize=11)
    fig.tight_layout()
    _legend_below(fig, handles, labels)
    return _save(fig, path)


def _mode_label(r: Row) -> str:
    return str(r.get("dataplane") or r["mode"])


MODE_COLORS = {
    "iptables (legacy)": "tab:blue",
    "iptables (nft)": "tab:red",
    "userspace (legacy)": "tab:purple",
}


def plot_latency(rows: Sequence[Row], path: Path, measure: str = "connect") -> Path | None:
    """``measure`` "connect": the handshake; "ttfb": until the server's first byte arrives.

    Medians on the top row, p99 below: the tail is noisier and an order of magnitude higher,
    and on one axis it would flatten the medians' trend."""
    measured = [r for r in rows if r.get(f"{measure}_last_p50_us") is not None]
    ms = _panels(measured)
    if not ms:
        return None
    fig, axes = plt.subplots(2, len(ms), figsize=(4.3 * len(ms), 6.4), squeeze=False, sharex=True)
    labels = sorted({_mode_label(r) for r in measured})
    for col, m in enumerate(ms):
        sub = [r for r in measured if r["endpoints_per_service"] == m]
        for k, label in enumerate(labels):
            mine = [r for r in sub if _mode_label(r) == label]
            color = MODE_COLORS.get(label, ("tab:orange", "tab:brown", "tab:gray")[k % 3])
            for row, field, style, what in (
                (0, f"{measure}_last_p50_us", "-o", "last Service"),
                (0, f"{measure}_first_p50_us", ":s", "first Service"),
                (1, f"{measure}_last_p99_us", "-o", "last Service"),
                (1, f"{measure}_first_p99_us", ":s", "first Service"),
            ):
                x, y = _series(mine, lambda r: r["services"], field)
                if x:
                    axes[row][col].plot(x, y, style, color=color, label=f"{label}: {what}", ms=4)
        axes[0][col].set_title(f"{m} endpoint{'s' if m != 1 else ''} per Service", fontsize=10)
        axes[1][col].set_xlabel("Services (N)")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log")
            ax.set_ylim(bottom=0)
            ax.grid(True, which="both", alpha=0.3)
    what = "TCP connect round trip" if measure == "connect" else "connect() to first byte"
    axes[0][0].set_ylabel(f"{what}, p50, µs")
    axes[1][0].set_ylabel(f"{what}, p99, µs")
    if measure == "connect":
        title = "First-packet latency: TCP connect through a Service VIP"
    else:
        title = "Connect to the server's first byte, through a Service VIP"
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _legend_below(fig, handles, names)
    return _save(fig, path)


def plot_append(rows: Sequence[Row], path: Path) -> Path | None:
    measured = [
        r
        for r in rows
        if r.get("append_one_rule_s") is not None and r.get("rules") and r["mode"] == "iptables"
    ]
    if not measured:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for backend in sorted({r["backend"] for r in measured}):
        x, y = _series(
            [r for r in measured if r["backend"] == backend],
            lambda r: r["rules"],
            "append_one_rule_s",
        )
        ax.plot(x, y, "-o", color=COLORS.get(backend, "tab:gray"), label=backend, ms=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rules already in the table")
    ax.set_ylabel("seconds for one rule")
    ax.set_title("Appending one rule (iptables -A / libiptc)", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _legend_below(fig: Any, handles: list[Any], labels: list[str]) -> None:
    # Below the panels; savefig's tight bounding box grows the image to include it.
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3 if len(labels) > 4 else 2,
        fontsize=7,
        frameon=False,
    )


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_all(rows: Sequence[Row], outdir: Path) -> list[Path]:
    made = [
        plot_sync_time(rows, outdir / "sync-time.png"),
        plot_latency(rows, outdir / "connect-latency.png", "connect"),
        plot_latency(rows, outdir / "first-byte-latency.png", "ttfb"),
        plot_append(rows, outdir / "append-one-rule.png"),
    ]
    return [p for p in made if p is not None]
