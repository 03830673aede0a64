"""Stylized facts of daily SPX and VIX series, real or simulated.

The facts that a market model for option selling has to get right (Cont 2001,
"Empirical properties of asset returns: stylized facts and statistical
issues", Quantitative Finance 1(2)): fat tails and negative skew of daily
returns, volatility clustering (slowly decaying autocorrelation of ``|r|``),
the leverage effect (falls raise future volatility), the strongly negative
SPX/VIX correlation, and the level and mean reversion of the VIX.

Definitions, with ``r_t = ln(S_t / S_{t-1})`` the daily log return of the
closes and ``V_t`` the VIX close (index points):

=================  ======================  ==============================================
key                unit                    definition
=================  ======================  ==============================================
vol_annual         annualized decimal      ``sqrt(252) * std(r)``
skew               1                       sample skewness of ``r``
excess_kurtosis    1                       sample kurtosis of ``r`` minus 3
acf_abs_1/5/20     1                       autocorrelation of ``|r|`` at lag 1, 5, 20 days
leverage           1                       ``corr(r_t, |r_{t+1}|)``
spx_vix_corr       1                       ``corr(r_t, ln V_t - ln V_{t-1})``
vix_mean           index points            mean of ``V``
vix_median         index points            median of ``V``
vix_p95            index points            95th percentile of ``V``
vix_ar1            1 per trading day       OLS slope of ``V_{t+1}`` on ``V_t`` (with intercept)
vix_to_vol         1                       ``vix_mean / (100 * vol_annual)``
=================  ======================  ==============================================

``sqrt(252)`` annualizes by trading days for the real and the simulated
series alike, so the row compares the daily return scale; the moments are
the biased (plug-in) estimators, which is immaterial at thousands of days.
``vix_to_vol`` compares the VIX with the realized vol of the same days: it is
about 1 for a VIX without a variance risk premium and does not depend on how
volatile the period was, so it compares a real and a simulated VIX whose
periods differ.

Panels of simulated paths, shape ``(n_days, n_paths)``, are summarized in two
ways (see :func:`stylized_facts`): the distribution facts (vol, skew,
kurtosis, VIX mean/median/95th percentile) pool every day of every path, as a
long history mixes calm and stressed years; the dependence facts
(autocorrelations and correlations) are computed on each path, as if each
were its own history, and averaged. Sample autocorrelations of a persistent
series are biased down in short samples (the sample mean absorbs part of the
slow component), so simulated paths should be as long as the real history
they are compared with. :func:`stylized_facts_by_path` gives every fact path
by path, for the spread of the estimates across paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Trading days per year used to annualize the daily return stdev.
TRADING_DAYS = 252

#: Lags (trading days) of the autocorrelation of absolute returns.
ACF_LAGS = (1, 5, 20)


@dataclass(frozen=True)
class Fact:
    """One stylized fact: its key, a label for tables, its unit and a number format."""

    key: str
    label: str
    unit: str
    fmt: str


#: The facts in table order; ``vix_*`` and ``spx_vix_corr`` need a VIX series.
FACTS: tuple[Fact, ...] = (
    Fact("vol_annual", "SPX vol, sqrt(252)*std(r)", "% /yr", "{:.1f}"),
    Fact("skew", "skewness of r", "1", "{:.2f}"),
    Fact("excess_kurtosis", "excess kurtosis of r", "1", "{:.1f}"),
    *(Fact(f"acf_abs_{lag}", f"ACF of |r|, lag {lag}", "1", "{:.3f}") for lag in ACF_LAGS),
    Fact("leverage", "corr(r_t, |r_t+1|)", "1", "{:.3f}"),
    Fact("spx_vix_corr", "corr(r, d ln VIX)", "1", "{:.3f}"),
    Fact("vix_mean", "VIX mean", "index pts", "{:.1f}"),
    Fact("vix_median", "VIX median", "index pts", "{:.1f}"),
    Fact("vix_p95", "VIX 95th percentile", "index pts", "{:.1f}"),
    Fact("vix_ar1", "VIX AR(1) coefficient", "1/day", "{:.3f}"),
    Fact("vix_to_vol", "VIX mean / SPX vol", "1", "{:.2f}"),
)

_VIX_KEYS = frozenset({"spx_vix_corr", "vix_mean", "vix_median", "vix_p95", "vix_ar1",
                       "vix_to_vol"})


def _as_panel(series: np.ndarray, name: str) -> np.ndarray:
    """``series`` as a float ``(n_days, n_paths)`` array, checked finite and positive."""
    panel = np.asarray(series, dtype=float)
    if panel.ndim == 1:
        panel = panel[:, None]
    if panel.ndim != 2 or panel.shape[0] < 30 or panel.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n_days,) or (n_days, n_paths) with "
                         f"n_days >= 30, got {np.shape(series)}")
    if not np.all(np.isfinite(panel)) or not np.all(panel > 0.0):
        raise ValueError(f"{name} must be finite and > 0 (index points)")
    return panel


def _corr_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``x`` with the same column of ``y``."""
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    denominator = np.sqrt((xc * xc).sum(axis=0) * (yc * yc).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xc * yc).sum(axis=0) / denominator


def _acf_columns(x: np.ndarray, lag: int) -> np.ndarray:
    """Sample autocorrelation at ``lag`` of each column (the usual biased estimator)."""
    xc = x - x.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xc[lag:] * xc[:-lag]).sum(axis=0) / (xc * xc).sum(axis=0)


def _ar1_columns(x: np.ndarray) -> np.ndarray:
    """OLS slope of ``x[t+1]`` on ``x[t]`` (with intercept), per column."""
    lagged, ahead = x[:-1], x[1:]
    lc = lagged - lagged.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (lc * (ahead - ahead.mean(axis=0))).sum(axis=0) / (lc * lc).sum(axis=0)


def _moments(returns: np.ndarray) -> tuple[float, float, float]:
    """Annualized vol, skewness and excess kurtosis of the pooled returns."""
    centred = returns - returns.mean()
    m2 = np.mean(centred**2)
    skew = np.mean(centred**3) / m2**1.5
    kurt = np.mean(centred**4) / m2**2 - 3.0
    return float(np.sqrt(TRADING_DAYS * returns.var(ddof=1))), float(skew), float(kurt)


def _per_path(returns: np.ndarray, vix: np.ndarray | None) -> dict[str, np.ndarray]:
    """The dependence facts of every path (column)."""
    absolute = np.abs(returns)
    out = {f"acf_abs_{lag}": _acf_columns(absolute, lag) for lag in ACF_LAGS}
    out["leverage"] = _corr_columns(returns[:-1], absolute[1:])
    if vix is not None:
        out["spx_vix_corr"] = _corr_columns(returns, np.diff(np.log(vix), axis=0))
        out["vix_ar1"] = _ar1_columns(vix)
    return out


def _check_inputs(spx_close, vix) -> tuple[np.ndarray, np.ndarray | None]:
    spx = _as_panel(spx_close, "spx_close")
    if vix is None:
        return spx, None
    vix_panel = _as_panel(vix, "vix")
    if vix_panel.shape != spx.shape:
        raise ValueError(f"vix must have the shape of spx_close {spx.shape}, "
                         f"got {vix_panel.shape}")
    return spx, vix_panel


def stylized_facts(spx_close: np.ndarray, vix: np.ndarray | None = None) -> dict[str, float]:
    """Stylized facts of daily SPX closes and, optionally, VIX closes.

    Parameters
    ----------
    spx_close : array_like, shape (n_days,) or (n_days, n_paths)
        Daily SPX closes (index points), ``n_days >= 30``; columns are paths.
    vix : array_like or None
        VIX closes (index points) on the same days, same shape; ``None`` leaves
        out the VIX facts.

    Returns
    -------
    dict of str to float
        The keys of :data:`FACTS` (module docstring: units and definitions),
        without the VIX keys when ``vix`` is None. ``vol_annual`` is a decimal
        (0.19 for 19%). Distribution facts pool all paths; autocorrelations
        and correlations are per-path means.

    Raises
    ------
    ValueError
        If the shapes disagree, a series is too short, or a value is not
        finite and positive.
    """
    spx, vix_panel = _check_inputs(spx_close, vix)
    returns = np.diff(np.log(spx), axis=0)
    vol, skew, kurt = _moments(returns.ravel())
    facts = {"vol_annual": vol, "skew": skew, "excess_kurtosis": kurt}
    facts.update({key: float(np.nanmean(value))
                  for key, value in _per_path(returns, vix_panel).items()})
    if vix_panel is not None:
        levels = vix_panel.ravel()
        facts["vix_mean"] = float(levels.mean())
        facts["vix_median"] = float(np.median(levels))
        facts["vix_p95"] = float(np.quantile(levels, 0.95))
        facts["vix_to_vol"] = facts["vix_mean"] / (100.0 * vol)
    return {fact.key: facts[fact.key] for fact in FACTS if fact.key in facts}


def stylized_facts_by_path(spx_close: np.ndarray,
                           vix: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every stylized fact computed on each path alone, as if it were a history.

    Parameters
    ----------
    spx_close, vix : array_like
        As in :func:`stylized_facts`.

    Returns
    -------
    dict of str to numpy.ndarray
        The keys of :func:`stylized_facts`, each an array of shape ``(n_paths,)``.
    """
    spx, vix_panel = _check_inputs(spx_close, vix)
    returns = np.diff(np.log(spx), axis=0)
    centred = returns - returns.mean(axis=0)
    m2 = np.mean(centred**2, axis=0)
    facts = {
        "vol_annual": np.sqrt(TRADING_DAYS * returns.var(axis=0, ddof=1)),
        "skew": np.mean(centred**3, axis=0) / m2**1.5,
        "excess_kurtosis": np.mean(centred**4, axis=0) / m2**2 - 3.0,
    }
    facts.update(_per_path(returns, vix_panel))
    if vix_panel is not None:
        facts["vix_mean"] = vix_panel.mean(axis=0)
        facts["vix_median"] = np.median(vix_panel, axis=0)
        facts["vix_p95"] = np.quantile(vix_panel, 0.95, axis=0)
        facts["vix_to_vol"] = facts["vix_mean"] / (100.0 * facts["vol_annual"])
    return {fact.key: facts[fact.key] for fact in FACTS if fact.key in facts}


def _cell(fact: Fact, value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return fact.fmt.format(100.0 * value if fact.key == "vol_annual" else value)


#: Largest ratio between a simulated and a real fact that still counts as the
#: same order of magnitude.
ORDER_OF_MAGNITUDE = 10.0


def agrees(real: float, simulated: float, factor: float = ORDER_OF_MAGNITUDE) -> bool:
    """Whether a simulated fact has the real one's sign and order of magnitude.

    True when both are finite, non-zero, of the same sign, and
    ``1/factor <= simulated / real <= factor``.
    """
    if not (np.isfinite(real) and np.isfinite(simulated)) or real == 0.0:
        return False
    ratio = simulated / real
    return bool(1.0 / factor <= ratio <= factor)


def format_facts_table(columns: Mapping[str, Mapping[str, float]],
                       bands: Mapping[str, tuple[float, float]] | None = None,
                       band_label: str = "paths 5-95%",
                       agreement: tuple[str, str] | None = None) -> str:
    """Side-by-side text table of stylized facts, one column per source.

    Parameters
    ----------
    columns : mapping of column title to facts
        E.g. ``{"real": stylized_facts(...), "simulated": ...}``; a fact missing
        from a column prints as ``-``.
    bands : mapping of fact key to (low, high), optional
        An extra last column ``low..high`` (e.g. the 5% and 95% quantiles of
        :func:`stylized_facts_by_path` across simulated paths).
    band_label : str
        Title of the band column.
    agreement : (str, str), optional
        Titles of a real and a simulated column: adds a last column with
        their ratio and whether they agree in sign and order of magnitude
        (:func:`agrees`).

    Returns
    -------
    str
        Aligned lines: fact, unit, one value per column (vol in % per year).
    """
    header = ["fact", "unit", *columns]
    if bands is not None:
        header.append(band_label)
    if agreement is not None:
        header.append("sim/real")
    rows = []
    for fact in FACTS:
        if not any(fact.key in facts for facts in columns.values()):
            continue
        row = [fact.label, fact.unit,
               *(_cell(fact, facts.get(fact.key)) for facts in columns.values())]
        if bands is not None:
            low, high = bands.get(fact.key, (None, None))
            row.append(f"{_cell(fact, low)}..{_cell(fact, high)}" if low is not None else "-")
        if agreement is not None:
            real = columns[agreement[0]].get(fact.key, np.nan)
            simulated = columns[agreement[1]].get(fact.key, np.nan)
            ok = agrees(real, simulated)
            ratio = simulated / real if np.isfinite(real) and real != 0.0 else np.nan
            row.append(f"{ratio:.2f} {'ok' if ok else 'NO'}")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        left = [f"{cells[0]:<{widths[0]}}", f"{cells[1]:<{widths[1]}}"]
        right = [f"{c:>{w}}" for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(left + right).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths),
                      *(line(r) for r in rows)])


def is_vix_fact(key: str) -> bool:
    """Whether a fact needs a VIX series."""
    return key in _VIX_KEYS
