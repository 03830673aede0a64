"""The report's figures, drawn with matplotlib's Agg renderer into PNG bytes.

Each function takes arrays (no simulator objects but the one-path
recordings of a sample path) and returns the PNG file's bytes. Figures are
built on :class:`matplotlib.figure.Figure` with an explicit Agg canvas, never
through ``pyplot``, so nothing global changes and no display is needed;
mathtext is off, so ``$`` in labels is a dollar sign.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

#: Resolution of every figure, dots per inch.
DPI = 100
#: Width of a full-width figure, inches.
WIDTH = 10.0
_BAND_ALPHAS = (0.18, 0.35)
_RC = {"text.parse_math": False, "font.size": 9.0, "axes.titlesize": 10.0,
       "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8.0,
       "legend.frameon": False}


def _new_figure(height: float, ncols: int = 1, nrows: int = 1, **kwargs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


#: When set (:func:`returning_figures`), the figure functions return the
#: :class:`matplotlib.figure.Figure` itself instead of its PNG bytes.
_AS_FIGURE: contextvars.ContextVar[bool] = contextvars.ContextVar("as_figure", default=False)


@contextlib.contextmanager
def returning_figures() -> Iterator[None]:
    """Within the block, every figure function returns its ``Figure``, not PNG bytes.

    For notebooks (``sim.api``): a ``Figure`` shows itself in Jupyter and can
    be saved in any format with ``fig.savefig``.
    """
    token = _AS_FIGURE.set(True)
    try:
        yield
    finally:
        _AS_FIGURE.reset(token)


def _png(fig) -> bytes:
    if _AS_FIGURE.get():
        return fig
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _colors(names: Sequence[str]) -> dict[str, str]:
    palette = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
               "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


def histogram_bins(values: Sequence[np.ndarray], n_bins: int = 60,
                   clip: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Common bin edges for several samples: ``n_bins`` equal bins over the pooled
    ``clip`` percentiles (values outside are drawn in the edge bins)."""
    pooled = np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
    pooled = pooled[np.isfinite(pooled)]
    if pooled.size == 0:
        return np.linspace(-1.0, 1.0, n_bins + 1)
    low, high = np.percentile(pooled, clip)
    if not high > low:
        low, high = low - 1.0, high + 1.0
    return np.linspace(low, high, n_bins + 1)


def distribution_figure(values: Mapping[str, np.ndarray], xlabel: str, title: str) -> bytes:
    """Overlaid histograms (outlines, share of paths per bin), one per policy.

    Parameters
    ----------
    values : mapping of str to ndarray
        Policy name -> one value per path.
    xlabel, title : str

    Returns
    -------
    bytes
        PNG.
    """
    with _rc():
        fig, axes = _new_figure(3.6)
        ax = axes[0, 0]
        bins = histogram_bins(list(values.values()))
        colors = _colors(list(values))
        for name, v in values.items():
            v = np.asarray(v, dtype=np.float64)
            weights = np.full(v.size, 100.0 / max(v.size, 1))
            ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, weights=weights,
                    histtype="step", linewidth=1.6, color=colors[name],
                    label=f"{name} (mean {np.mean(v):,.0f}, median {np.median(v):,.0f})")
            ax.axvline(float(np.median(v)), color=colors[name], linestyle=":", linewidth=1.0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of paths (%)")
        ax.set_title(title)
        ax.legend(loc="upper left")
        return _png(fig)


def equity_fan_figure(dates: np.ndarray, percentiles: Mapping[str, np.ndarray],
                      levels: Sequence[float], title: str) -> bytes:
    """P&L percentile fan over time, one panel per policy (shared axes).

    Parameters
    ----------
    dates : ndarray of datetime64[D], shape (n_ticks,)
    percentiles : mapping of str to ndarray, shape (len(levels), n_ticks)
        Policy name -> P&L percentiles at each tick, $, in ``levels`` order
        (5, 25, 50, 75, 95).
    levels : sequence of float
    title : str

    Returns
    -------
    bytes
        PNG.
    """
    names = list(percentiles)
    with _rc():
        fig, axes = _new_figure(3.4, ncols=len(names), sharey=True)
        x = dates.astype("datetime64[D]").astype("O")
        colors = _colors(names)
        for ax, name in zip(axes[0], names, strict=True):
            p = percentiles[name]
            k = len(levels)
            for j in range(k // 2):
                ax.fill_between(x, p[j], p[k - 1 - j], color=colors[name],
                                alpha=_BAND_ALPHAS[min(j, len(_BAND_ALPHAS) - 1)],
                                linewidth=0,
                                label=f"{levels[j]:g}th-{levels[k - 1 - j]:g}th pct")
            ax.plot(x, p[k // 2], color=colors[name], linewidth=1.6, label="median")
            ax.axhline(0.0, color="black", linewidth=0.6)
            ax.set_title(name)
            ax.tick_params(axis="x", labelrotation=30)
        axes[0, 0].set_ylabel("P&L ($)")
        axes[0, 0].legend(loc="upper left")
        fig.suptitle(title)
        return _png(fig)


def hedge_activity_figure(dates: np.ndarray, spend: Mapping[str, np.ndarray],
                          layers: Mapping[str, Mapping[str, np.ndarray]], title: str) -> bytes:
    """Mean cumulative hedge spend over time, and the share of paths holding each layer.

    Parameters
    ----------
    dates : ndarray of datetime64[D], shape (n_ticks,)
    spend : mapping of str to ndarray, shape (n_ticks,)
        Policy -> mean cumulative hedge spend over the sample's paths, $.
    layers : mapping of str to mapping of str to ndarray, shape (n_ticks,)
        Policy -> layer -> share of the sample's paths holding the layer, %.
    title : str

    Returns
    -------
    bytes
        PNG.
    """
    with _rc():
        fig, axes = _new_figure(3.6, ncols=2)
        x = dates.astype("datetime64[D]").astype("O")
        colors = _colors(list(spend))
        styles = ("-", "--", ":", "-.")
        left, right = axes[0]
        for name, values in spend.items():
            left.plot(x, values, color=colors[name], linewidth=1.6, label=name)
        left.set_ylabel("mean cumulative hedge spend ($ per path)")
        left.set_title("hedge spend (premium paid plus costs)")
        left.legend(loc="upper left")
        drawn = False
        for name, by_layer in layers.items():
            for j, (layer, share) in enumerate(by_layer.items()):
                right.plot(x, share, color=colors.get(name, "black"),
                           linestyle=styles[j % len(styles)], linewidth=1.4,
                           label=f"{name} {layer}")
                drawn = True
        if not drawn:
            right.text(0.5, 0.5, "no policy here has hedge layers", ha="center",
                       va="center", transform=right.transAxes)
        else:
            right.legend(loc="upper left", ncols=2)
        right.set_ylabel("paths holding the layer (%)")
        right.set_title("layer activation")
        for ax in (left, right):
            ax.tick_params(axis="x", labelrotation=30)
        fig.suptitle(title)
        return _png(fig)


def regime_figure(groups: Sequence[str], policies: Sequence[str],
                  mean_pnl: np.ndarray, cvar95: np.ndarray, counts: Sequence[int],
                  title: str) -> bytes:
    """Mean P&L and CVaR 95% by regime group, bars per policy.

    Parameters
    ----------
    groups : sequence of str
        Regime groups (``all`` first).
    policies : sequence of str
    mean_pnl, cvar95 : ndarray, shape (len(groups), len(policies))
        $.
    counts : sequence of int
        Paths per group.
    title : str

    Returns
    -------
    bytes
        PNG.
    """
    with _rc():
        fig, axes = _new_figure(3.4, ncols=2)
        colors = _colors(list(policies))
        x = np.arange(len(groups))
        width = 0.8 / max(len(policies), 1)
        labels = [f"{g}\n({n:,} paths)" for g, n in zip(groups, counts, strict=True)]
        for ax, values, what in ((axes[0, 0], mean_pnl, "mean P&L ($)"),
                                 (axes[0, 1], cvar95, "CVaR 95% ($)")):
            for j, name in enumerate(policies):
                ax.bar(x + (j - (len(policies) - 1) / 2) * width, values[:, j], width,
                       color=colors[name], label=name)
            ax.axhline(0.0, color="black", linewidth=0.6)
            ax.set_xticks(x, labels)
            ax.set_ylabel(what)
            ax.set_title(what + " by dominant regime")
        axes[0, 0].legend(loc="best")
        fig.suptitle(title)
        return _png(fig)


def differences_figure(labels: Sequence[str], mean: np.ndarray, low: np.ndarray,
                       high: np.ndarray, baseline: str, title: str) -> bytes:
    """Paired mean P&L differences with their confidence intervals (a forest plot).

    Parameters
    ----------
    labels : sequence of str
        One per row (``policy, regime``).
    mean, low, high : ndarray, shape (len(labels),)
        Mean difference and its interval, $.
    baseline : str
    title : str

    Returns
    -------
    bytes
        PNG.
    """
    with _rc():
        fig, axes = _new_figure(max(1.8, 0.4 * len(labels) + 1.0))
        ax = axes[0, 0]
        y = np.arange(len(labels))[::-1]
        mean, low, high = (np.asarray(a, dtype=np.float64) for a in (mean, low, high))
        err = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
        ax.errorbar(mean, y, xerr=err, fmt="o", color="#1f77b4", ecolor="#1f77b4",
                    capsize=4)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(y, labels)
        ax.set_xlabel(f"mean P&L minus {baseline}'s on the same paths ($), 95% CI")
        ax.set_title(title)
        return _png(fig)


def sample_path_figure(dates: np.ndarray, spot: np.ndarray, vix: np.ndarray,
                       strikes: np.ndarray, layer_open: Mapping[str, np.ndarray],
                       pnl: Mapping[str, np.ndarray], focus: str, title: str) -> bytes:
    """One path: SPX with the condor's strikes, VIX with each layer held, P&L per policy.

    Parameters
    ----------
    dates : ndarray of datetime64[D], shape (n_ticks,)
    spot, vix : ndarray, shape (n_ticks,)
        Index points.
    strikes : ndarray, shape (4, n_ticks)
        The focus policy's condor: long put, short put, short call, long
        call, index points, NaN where not held.
    layer_open : mapping of str to ndarray of bool, shape (n_ticks,)
        The focus policy's layers: held at each tick.
    pnl : mapping of str to ndarray, shape (n_ticks,)
        Policy -> P&L over time on this path, $.
    focus : str
        The policy whose condor and layers are drawn.
    title : str

    Returns
    -------
    bytes
        PNG.
    """
    with _rc():
        fig, axes = _new_figure(7.2, nrows=3, sharex=True,
                                gridspec_kw={"height_ratios": (1.3, 1.0, 1.0)})
        x = dates.astype("datetime64[D]").astype("O")
        ax_spx, ax_vix, ax_pnl = axes[:, 0]
        ax_spx.plot(x, spot, color="black", linewidth=1.3, label="SPX")
        for row, (name, style) in enumerate((("long put", ":"), ("short put", "-"),
                                             ("short call", "-"), ("long call", ":"))):
            color = "#d62728" if "put" in name else "#2ca02c"
            ax_spx.step(x, strikes[row], where="post", color=color, linestyle=style,
                        linewidth=1.1, label=f"{focus} condor {name}")
        ax_spx.set_ylabel("SPX (index points)")
        ax_spx.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax_spx.set_title(title)
        ax_vix.plot(x, vix, color="#9467bd", linewidth=1.3, label="VIX")
        layer_colors = _colors([f"_{n}" for n in layer_open])
        for j, (layer, held) in enumerate(layer_open.items()):
            color = layer_colors[f"_{layer}"]
            held = np.asarray(held, dtype=bool)
            if not held.any():
                continue
            band = (j, j + 1)
            spans = _spans(held)
            for first, last in spans:
                ax_vix.axvspan(x[first], x[min(last, len(x) - 1)], ymin=band[0] / 8,
                               ymax=band[1] / 8, color=color, alpha=0.5, linewidth=0)
            opens = [first for first, _ in spans]
            closes = [last for _, last in spans if last < len(x)]
            ax_vix.plot([x[i] for i in opens], vix[opens], "^", color=color, markersize=6,
                        label=f"{layer} opened ({len(opens)}x)")
            ax_vix.plot([x[i] for i in closes], vix[closes], "v", color=color, markersize=6,
                        markerfacecolor="none", label=f"{layer} closed")
        ax_vix.set_ylabel("VIX (index points)")
        ax_vix.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        colors = _colors(list(pnl))
        for name, values in pnl.items():
            ax_pnl.plot(x, values, color=colors[name], linewidth=2.0 if name == focus else 1.1,
                        label=name)
        ax_pnl.axhline(0.0, color="black", linewidth=0.6)
        ax_pnl.set_ylabel("P&L ($)")
        ax_pnl.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax_pnl.tick_params(axis="x", labelrotation=30)
        return _png(fig)


def _spans(held: np.ndarray) -> list[tuple[int, int]]:
    """``(first tick held, first tick flat again)`` of each run of ``True``."""
    padded = np.concatenate([[False], held, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))
