"""Calibrate the four-regime SVCJ market model to real SPX and VIX history.

Data: the daily S&P 500 closes 1999-01-04..2018-12-31 (``arch.data.sp500``,
column ``Adj Close``, equal to ``Close`` for the price index) and the daily
VIX closes 2014-01-03..2018-12-31 (``arch.data.vix``; days without a close
dropped, the rest joined to the SPX trading days). The fit is closed form on
those series (no optimizer, no randomness), so it is deterministic; only the
check by simulation and the smile refit use a seed.

Time scale. The simulator steps one tick per business day with
``dt = 1 / TICKS_PER_YEAR``, ``TICKS_PER_YEAR = 365.25 * 5 / 7 ~ 260.9``
(``sim.runner``; its calendar has no holidays). A real trading day is mapped
to one tick, so every per-day estimate is annualized with ``TICKS_PER_YEAR``,
not 252: a daily return variance ``s^2`` becomes ``v = 260.9 s^2``, a daily
AR(1) coefficient ``phi`` becomes ``kappa = -260.9 ln(phi)``, a count per day
an intensity per ``260.9`` ticks. The simulated paths then have the real
daily return scale, which is what the condor trades. (The stylized-facts
table annualizes both sides with ``sqrt(252)``: it compares daily scales.)

Method (the constants are module attributes):

1. Variance proxy: the mean squared daily log return of the 21 trading days
   before each day, annualized (``RV_WINDOW``): the variance known at the
   day's open. Trailing rather than centred so that a crash day is judged
   against the calm before it, not against its own aftermath.
2. Regimes: days are labelled calm / normal / stressed / crisis by the 30%,
   70% and 90% quantiles of the proxy over 1999-2018 (``REGIME_QUANTILES``;
   realized vol about 10.6%, 18.7% and 27.5%). Why these: the bottom 30% are
   the quiet stretches (2004-2007, 2013-2014, 2016-2017), the middle 40% ordinary
   markets, the next 20% corrections and sell-offs, the top 10% the crises
   of 2001-2002, 2008-2009 and 2011; a tenth keeps about 500 days to fit
   the crisis regime from.
3. Transition matrix: counts of day-to-day label pairs plus one in every
   cell (Laplace smoothing: never-seen moves such as calm to crisis get a
   small probability instead of none), rows normalized to 1. The chain
   starts from its stationary distribution.
4. Jumps: a day is a jump day when ``|r| > 4`` stdevs of its proxy
   (``JUMP_Z``), i.e. a move the variance known that morning does not
   explain; the reference is the day's proxy rather than its regime's
   average vol because the crisis regime spans realized vols from ~28% to
   ~80%: against its average, the ordinary +-10% days of October 2008 count
   as jumps, and a normal jump law fitted to them (stdev 11%) gave simulated
   kurtosis near 25 against 8 in the data. Per regime: ``jump_intensity``
   = jump days / years in the regime, ``jump_spot_mean`` and
   ``jump_spot_std`` = mean and stdev of the jump days' log returns (the
   pooled stdev when a regime has fewer than two), ``jump_spot_per_variance
   = 0``. ``jump_variance_mean``: on jump days with a VIX close the variance
   jump is read as ``max(d(VIX^2), 0) / a_Q`` (``a_Q`` below); those days fix one
   ratio ``variance jump / |jump return|`` pooled over them, applied to each
   regime's mean ``|jump return|`` (the documented fallback, as the VIX data
   hold only a few jump days and none in the crisis regime).
5. Variance dynamics from ``w = (VIX/100)^2`` on 2014-2018 non-jump days
   whose close and the previous day's are both known: ``kappa = -ln(phi)
   TICKS_PER_YEAR`` from the AR(1) slope ``phi`` of ``w`` fitted by weighted
   least squares (weights ``1/w``, efficient for the CIR shock variance
   ``xi^2 v dt``; ordinary least squares lets the few largest spikes set the
   slope and gives kappa ~ 26 instead of ~ 15), one value for all regimes;
   per regime ``xi^2 = c sum(e^2) / (a_Q^2 dt sum(w_prev))`` over the
   regime's AR(1) residuals ``e``, where ``a_Q = (1 - e^{-kappa_Q tau}) /
   (kappa_Q tau)``, ``tau = 30/365``, ``kappa_Q = kappa - vol_risk_premium``
   (step 9): the simulated VIX is priced under Q, ``VIX^2 = a_Q v + ...``,
   so ``dw = a_Q dv`` and the residual variance is ``a_Q^2 xi^2 v dt``; ``c``
   is the variance-premium ratio below and ``w / c`` proxies the level of
   ``v`` (the diffusion coefficient is the same under both measures, only
   the level needs the correction). ``kappa`` is the P speed: the paths'
   autocorrelation is P's whatever the measure of the VIX. ``rho = corr(r,
   dw)``. A regime with fewer than
   ``MIN_VIX_DAYS`` such days (the crisis: 2014-2018 had few) takes the
   pooled xi and rho.
6. ``theta``: the regime's mean annualized squared return on its non-jump
   days. The model's mean variance in a regime is ``theta + lambda mu_v /
   kappa``, but subtracting the jump term double-counts: in the data the
   weeks after a jump are mostly labelled a higher regime already (the
   proxy rises with the jump), so the calm regime's realized variance holds
   little of their aftermath (subtracting it halved the calm theta and
   lowered the simulated SPX/VIX correlation from -0.51 to -0.47).
7. Drift: ``equity_premium = 0`` in every regime. The realized drift
   (``RegimeFit.historical_drift``) is reported, not imposed: it is one
   draw of a 20-year path (stdev about 4%/yr), and a zero premium keeps the
   condor's edge from coming out of an assumed market drift.
8. Not fitted: ``spot0 = 5000`` (the level does not matter to returns; the
   presets share it), ``variance0`` = the chain's stationary mean variance
   ``sum pi_r (theta_r + lambda_r mu_v,r / kappa)``, rate and dividend
   yield, scheduled events (the data carry no event calendar) and breadth
   (no advance-decline data): their defaults.
9. Variance risk premium: one ``vol_risk_premium`` (``[market]``, inherited
   by every regime; ``sim.config.MarketModel``: ``kappa_Q = kappa -
   vol_risk_premium``, ``theta_Q = kappa theta / kappa_Q``) chosen so that the
   model's ratio equals the measured ``c`` (`premium_for_ratio`): the
   stationary mean of the simulated VIX^2, priced under Q, over the
   stationary mean realized variance of the P paths, diffusive plus jumps,
   ``sum pi_r E[VIX^2 | r] / sum pi_r (theta*_r + lambda_r E[J_S^2])`` with
   ``E[v | r] = theta*_r`` (`stationary_variance_ratio`). One premium, not
   one per regime: ``c`` is one number, measured on 2014-2018 only, which
   cannot tell the regimes apart. The premium sets ``a_Q``, with which xi and
   the variance jumps are read (steps 4 and 5), and they move ``theta*`` and
   so the premium: the two are iterated to a fixed point of the rounded
   premium (``PREMIUM_ITERATIONS`` rounds at most; two on the shipped data).

Variance-premium ratio ``c``: mean real ``VIX^2`` over the mean realized
variance of the following 30 calendar days (``365/30`` times the sum of
squared returns), 2014-2018. Without a premium the simulated VIX is the
expected variance (the model's ratio is ~1) and sits below a real VIX of
the same market by about ``sqrt(c)``; step 9 imposes ``c`` through an
explicit, scenario-stated ``vol_risk_premium``. The paths do not change
with it (they are P's); the VIX, the VIX futures and options and the SPX
option prices do.

Smile: refit with ``sim.market.smile_fit`` to Monte Carlo option prices of
the calibrated model under the pricing measure
(``MarketModel.under_pricing_measure``: every regime's ``kappa_Q``,
``theta_Q``; option prices are Q expectations, and the smile's ATM level is
read from the Q variance swap rate) started in each regime at its ``theta``
(``smile_paths`` paths per state and expiry; 0 keeps the default smile).

Fitted parameters are rounded to ``SIGNIFICANT_DIGITS`` significant digits
(the transition matrix to 6 decimals, its diagonal the remainder of the row)
so that the scenario file reads well; the check simulation runs the rounded
model, the one in the file.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from pricing.vix import VIX_TAU, vix_squared_one
from sim.config import MarketModel, RegimeChain, RegimeParams, Scenario, SmileModel
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.heston import generate, vix_jump_term
from sim.market.regimes import stationary_distribution
from sim.market.smile_fit import ImpliedVolQuotes, fit_smile, model_implied_vols, smile_errors
from sim.market.stylized import (
    FACTS,
    agrees,
    format_facts_table,
    is_vix_fact,
    stylized_facts,
    stylized_facts_by_path,
)

#: Regime names, calmest first.
REGIME_NAMES = ("calm", "normal", "stressed", "crisis")
#: Regimes that count as stress (targets of breadth divergence).
STRESS_REGIMES = ("stressed", "crisis")
#: Quantiles of the variance proxy that separate the regimes.
REGIME_QUANTILES = (0.30, 0.70, 0.90)
#: Trading days in the trailing window of the realized-variance proxy.
RV_WINDOW = 21
#: A return beyond this many stdevs of its day's proxy is a jump.
JUMP_Z = 4.0
#: Pseudo-count added to every cell of the transition counts.
PSEUDO_COUNT = 1.0
#: Fewest VIX day pairs for a regime-specific xi and rho.
MIN_VIX_DAYS = 120
#: SPX level at the first tick of the calibrated scenario (as the other presets).
SPOT0 = 5000.0
#: Significant digits kept of each fitted parameter.
SIGNIFICANT_DIGITS = 4
#: Check simulation: 16 paths of 5030 days, the length of the real 1999-2018
#: history (sample autocorrelations of a persistent series depend on it).
CHECK_PATHS = 16
CHECK_DAYS = 5030
#: Monte Carlo paths per state and expiry of the smile refit (0: keep the default smile).
SMILE_PATHS = 20_000
#: Most rounds of the fixed point of ``vol_risk_premium`` and the VIX loading (step 9).
PREMIUM_ITERATIONS = 20
#: Lower end of the premium search: the lower bound of ``MarketModel.vol_risk_premium``.
PARAM_LO_PREMIUM = -50.0
#: Where ``alvh calibrate`` writes the scenario.
PRESET_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "presets" / "calibrated.toml"

_DT = 1.0 / TICKS_PER_YEAR
_DATA_NOTE = ("SPX daily closes 1999-01-04..2018-12-31 (arch.data.sp500) and VIX daily "
              "closes 2014-01-03..2018-12-31 (arch.data.vix)")


def _round(x: float) -> float:
    """``x`` to ``SIGNIFICANT_DIGITS`` significant digits."""
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")


@dataclass(frozen=True)
class History:
    """Daily SPX closes and the VIX close of the same day (NaN where unknown).

    Attributes
    ----------
    dates : numpy.ndarray
        ``datetime64[D]`` trading days, shape ``(n_days,)``, increasing.
    spx_close : numpy.ndarray
        SPX close, index points.
    vix_close : numpy.ndarray
        VIX close, index points; NaN on days without one (before 2014).
    """

    dates: np.ndarray
    spx_close: np.ndarray
    vix_close: np.ndarray


def load_history() -> History:
    """The SPX 1999-2018 and VIX 2014-2018 daily closes shipped with ``arch``."""
    import arch.data.sp500
    import arch.data.vix

    spx = arch.data.sp500.load()["Adj Close"].dropna()
    vix = arch.data.vix.load()["vix"].dropna().reindex(spx.index)
    return History(dates=spx.index.values.astype("datetime64[D]"),
                   spx_close=spx.to_numpy(dtype=float), vix_close=vix.to_numpy(dtype=float))


@dataclass(frozen=True)
class RegimeFit:
    """What the calibration found for one regime (``MarketModel`` units).

    Attributes
    ----------
    name : str
    share : float
        Share of the 1999-2018 days labelled with this regime.
    mean_spell_days : float
        Mean length of a run of consecutive days in the regime, trading days.
    realized_variance : float
        Mean annualized squared log return on the regime's non-jump days.
    historical_drift : float
        Mean daily log return times ``TICKS_PER_YEAR`` (reported, not imposed), 1/year.
    n_vix_days : int
        Non-jump day pairs with VIX closes in the regime.
    kappa, theta, xi, rho : float
        Fitted variance dynamics, rounded as in the scenario.
    n_jumps : int
        Jump days found.
    jump_intensity, jump_spot_mean, jump_spot_std, jump_variance_mean : float
        Fitted jumps, rounded as in the scenario.
    source : str
        Whether xi and rho are the regime's own or pooled.
    """

    name: str
    share: float
    mean_spell_days: float
    realized_variance: float
    historical_drift: float
    n_vix_days: int
    kappa: float
    theta: float
    xi: float
    rho: float
    n_jumps: int
    jump_intensity: float
    jump_spot_mean: float
    jump_spot_std: float
    jump_variance_mean: float
    source: str

    def mean_variance(self) -> float:
        """The model's long-run mean variance in the regime, ``theta + lambda mu_v / kappa``."""
        return self.theta + self.jump_intensity * self.jump_variance_mean / self.kappa


@dataclass(frozen=True)
class MarketFit:
    """The fitted market model and the diagnostics of the fit.

    Attributes
    ----------
    model : MarketModel
        The calibrated model (regime chain and per-regime overrides included).
    regimes : tuple of RegimeFit
        One per regime, calmest first.
    pooled : RegimeFit
        The same estimates over all days (the ``[market]`` top-level values).
    thresholds : tuple of float
        Proxy values (annualized variance) that separate the regimes.
    transition : numpy.ndarray
        The rounded daily transition matrix of the scenario.
    stationary : numpy.ndarray
        Its stationary distribution.
    variance_premium_ratio : float
        ``c``: mean ``VIX^2`` / mean forward 30-day realized variance, 2014-2018.
    variance_jump_ratio : float
        Variance jump (annualized variance) per unit of absolute jump log return.
    labels : numpy.ndarray
        int64 regime index of each return day (1999-01-05 on).
    jump_days : numpy.ndarray
        bool, jump day flags of the return days.
    """

    model: MarketModel
    regimes: tuple[RegimeFit, ...]
    pooled: RegimeFit
    thresholds: tuple[float, ...]
    transition: np.ndarray
    stationary: np.ndarray
    variance_premium_ratio: float
    variance_jump_ratio: float
    labels: np.ndarray
    jump_days: np.ndarray


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`calibrate`.

    Attributes
    ----------
    scenario : Scenario
        ``name = "calibrated"``: the fitted market, the refit smile, other
        sections at their defaults.
    fit : MarketFit
        Parameters per regime and diagnostics.
    real_facts : dict
        Stylized facts of the real data: SPX facts over 1999-2018, the VIX
        facts and the SPX/VIX correlation over 2014-2018.
    real_facts_recent : dict
        Every fact over 2014-2018 alone, the period of the VIX data.
    simulated_facts : dict
        Facts of the check simulation (``sim.market.stylized``).
    simulated_bands : dict
        Per fact, the 5% and 95% quantiles of the fact computed path by path.
    smile_rms : tuple of float or None
        RMS error of the default and of the refit smile against the model's
        Monte Carlo implied vols (annualized decimal); None when not refit.
    seed, n_paths, n_days : int
        The check simulation.
    seconds : dict
        Wall time of ``fit``, ``simulate``, ``smile`` and ``total``, seconds.
    """

    scenario: Scenario
    fit: MarketFit
    real_facts: dict[str, float]
    real_facts_recent: dict[str, float]
    simulated_facts: dict[str, float]
    simulated_bands: dict[str, tuple[float, float]]
    smile_rms: tuple[float, float] | None
    seed: int
    n_paths: int
    n_days: int
    seconds: dict[str, float]

    def agreement(self) -> dict[str, bool]:
        """Per fact: does the simulation have the real sign and order of magnitude."""
        return {key: agrees(self.real_facts[key], value)
                for key, value in self.simulated_facts.items()}

    def facts_table(self) -> str:
        """Real versus simulated stylized facts, the paths' 5-95% band and the ratio."""
        return format_facts_table(
            {"real": self.real_facts, "real 2014-18": self.real_facts_recent,
             "simulated": self.simulated_facts},
            bands=self.simulated_bands, agreement=("real", "simulated"))

    def regime_table(self) -> str:
        """Fitted parameters and diagnostics per regime, with units."""
        rows = [
            ("share of days", "1", "{:.3f}", "share"),
            ("mean spell", "trading days", "{:.1f}", "mean_spell_days"),
            ("realized vol, non-jump days", "%/yr", "{:.1f}", "realized_variance"),
            ("historical drift (not used)", "%/yr", "{:.1f}", "historical_drift"),
            ("theta", "variance/yr", "{:.4g}", "theta"),
            ("kappa", "1/yr", "{:.4g}", "kappa"),
            ("xi", "1/sqrt(yr)", "{:.4g}", "xi"),
            ("rho", "1", "{:.4g}", "rho"),
            ("VIX day pairs", "days", "{:d}", "n_vix_days"),
            ("xi, rho from", "", "{}", "source"),
            ("jump days", "days", "{:d}", "n_jumps"),
            ("jump_intensity", "jumps/yr", "{:.4g}", "jump_intensity"),
            ("jump_spot_mean", "log-return", "{:.4g}", "jump_spot_mean"),
            ("jump_spot_std", "log-return", "{:.4g}", "jump_spot_std"),
            ("jump_variance_mean", "variance/yr", "{:.4g}", "jump_variance_mean"),
        ]
        fits = [*self.fit.regimes, self.fit.pooled]
        header = ["parameter", "unit", *(f.name for f in fits)]
        cells = []
        for label, unit, fmt, attr in rows:
            values = []
            for f in fits:
                value = getattr(f, attr)
                if attr == "realized_variance":
                    value = 100.0 * math.sqrt(value)
                elif attr == "historical_drift":
                    value = 100.0 * value
                values.append(fmt.format(value))
            cells.append([label, unit, *values])
        widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
        lines = ["  ".join([f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
                            for i, (c, w) in enumerate(zip(row, widths, strict=True))]).rstrip()
                 for row in [header, *cells]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def report(self, timing: bool = True) -> str:
        """The fit, the transition matrix and the facts table, as text.

        ``timing=False`` leaves out the wall times, so that the text depends
        only on the data and the seed (the scenario file's header).
        """
        fit = self.fit
        thresholds = ", ".join(f"{100 * math.sqrt(t):.1f}%" for t in fit.thresholds)
        width = max(len(n) for n in REGIME_NAMES)
        matrix = "\n".join(f"  {name:<{width}} " + " ".join(f"{p:8.6f}" for p in row)
                           for name, row in zip(REGIME_NAMES, fit.transition, strict=True))
        smile = ("smile: default kept (not refit)" if self.smile_rms is None else
                 f"smile: refit to the model's Monte Carlo implied vols under Q, RMS error "
                 f"{100 * self.smile_rms[0]:.2f} (default smile) -> "
                 f"{100 * self.smile_rms[1]:.2f} vol points")
        premium = fit.variance_premium_ratio
        model = fit.model
        kappa_q = model.kappa - model.vol_risk_premium
        failed = [key for key, ok in self.agreement().items() if not ok]
        return "\n".join([
            f"data: {_DATA_NOTE}",
            f"regimes: quantiles {REGIME_QUANTILES} of the trailing {RV_WINDOW}-day realized "
            f"variance; thresholds in realized vol: {thresholds}",
            "daily transition matrix (row: today, column: tomorrow; order "
            + ", ".join(REGIME_NAMES) + "):",
            matrix,
            "stationary distribution: " + ", ".join(
                f"{n} {p:.3f}" for n, p in zip(REGIME_NAMES, fit.stationary, strict=True)),
            "",
            self.regime_table(),
            "",
            f"stylized facts; simulated: {self.n_paths} paths x {self.n_days} days, seed "
            f"{self.seed}; real: SPX 1999-2018, VIX rows 2014-2018",
            self.facts_table(),
            "sign and order of magnitude reproduced: "
            + ("all facts" if not failed else "all but " + ", ".join(failed)),
            "",
            f"variance premium: mean VIX^2 / mean forward 30-day realized variance 2014-18 = "
            f"{premium:.2f} (VIX / forward vol ~ {math.sqrt(premium):.2f}); imposed as "
            f"vol_risk_premium = {model.vol_risk_premium:g}/yr in every regime (kappa_Q = "
            f"{kappa_q:.4g}/yr, theta_Q = {model.kappa / kappa_q:.3g} theta), model's "
            f"stationary mean VIX^2 (Q) / realized variance (P) = "
            f"{stationary_variance_ratio(model, fit.stationary):.3f}; paths unchanged by it",
            smile,
            *(["time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())]
              if timing else []),
        ])


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


def variance_proxy(returns: np.ndarray, window: int = RV_WINDOW) -> np.ndarray:
    """Trailing mean of squared returns over the days before each day, annualized.

    Day ``t`` gets ``TICKS_PER_YEAR * mean(r[t-window:t]^2)``, the variance
    known at the day's open; the window is shorter at the start of the
    sample, and day 0 (no past) uses its own return.

    Parameters
    ----------
    returns : numpy.ndarray, shape (n,)
        Daily log returns.
    window : int
        Trading days in the window.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Annualized variance (vol squared).
    """
    squared = np.concatenate([[0.0], np.cumsum(returns**2)])
    hi = np.maximum(np.arange(returns.size), 1)
    lo = np.maximum(hi - window, 0)
    return (squared[hi] - squared[lo]) / (hi - lo) * TICKS_PER_YEAR


def regime_labels(proxy: np.ndarray, quantiles=REGIME_QUANTILES
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Regime index of each day (0 = calmest) and the proxy thresholds used.

    Day ``t`` is in regime ``k`` when ``k`` thresholds are ``<= proxy[t]``.
    """
    thresholds = np.quantile(proxy, quantiles)
    return np.searchsorted(thresholds, proxy, side="right").astype(np.int64), thresholds


def transition_matrix(labels: np.ndarray, n_regimes: int,
                      pseudo_count: float = PSEUDO_COUNT) -> np.ndarray:
    """Row-stochastic daily transition matrix from a label sequence (smoothed counts).

    ``P[i, j] = (n_ij + pseudo_count) / sum_j (n_ij + pseudo_count)`` with
    ``n_ij`` the number of days in regime ``i`` followed by a day in ``j``.
    """
    counts = np.zeros((n_regimes, n_regimes))
    np.add.at(counts, (labels[:-1], labels[1:]), 1.0)
    counts += pseudo_count
    return counts / counts.sum(axis=1, keepdims=True)


def find_jumps(returns: np.ndarray, proxy: np.ndarray, z: float = JUMP_Z,
               window: int = RV_WINDOW) -> np.ndarray:
    """Days whose ``|r|`` exceeds ``z`` stdevs of the variance known at their open.

    Parameters
    ----------
    returns : numpy.ndarray
        Daily log returns.
    proxy : numpy.ndarray
        Their :func:`variance_proxy` (annualized with ``TICKS_PER_YEAR``).
    z : float
        Threshold in daily stdevs.
    window : int
        The proxy's window; the first ``window`` days (a shorter window) are
        never jumps.

    Returns
    -------
    numpy.ndarray
        bool, one flag per day.
    """
    jumps = np.abs(returns) > z * np.sqrt(proxy / TICKS_PER_YEAR)
    jumps[:window] = False
    return jumps


def _rounded_transition(transition: np.ndarray) -> np.ndarray:
    """Off-diagonal entries to 6 decimals, the diagonal the rest of its row."""
    rounded = np.round(transition, 6)
    np.fill_diagonal(rounded, 0.0)
    np.fill_diagonal(rounded, 1.0 - rounded.sum(axis=1))
    return rounded


def _mean_spell(mask: np.ndarray) -> float:
    """Mean length of the runs of True in ``mask`` (days)."""
    starts = np.count_nonzero(np.diff(np.concatenate([[0], mask.astype(np.int8)])) == 1)
    return float(mask.sum() / starts) if starts else 0.0


def _vix_loading(kappa: float) -> float:
    """``a = (1 - e^{-kappa tau}) / (kappa tau)``: the weight of ``v`` in model ``VIX^2``."""
    x = kappa * VIX_TAU
    return -math.expm1(-x) / x if x > 0.0 else 1.0


def _ar1(previous: np.ndarray, current: np.ndarray) -> tuple[float, np.ndarray]:
    """AR(1) slope of ``current`` on ``previous`` (with intercept) and the residuals.

    Weighted least squares with weights ``1 / previous``: the CIR shock has
    variance ``xi^2 v dt``, proportional to the level, so these weights make
    the estimator efficient (generalized least squares).
    """
    weight = 1.0 / previous
    design = np.column_stack([np.ones_like(previous), previous])
    normal = design.T @ (weight[:, None] * design)
    intercept, slope = np.linalg.solve(normal, design.T @ (weight * current))
    return float(slope), current - intercept - slope * previous


def variance_premium_ratio(returns: np.ndarray, return_dates: np.ndarray,
                           vix: np.ndarray) -> float:
    """Mean ``VIX^2`` over the mean realized variance of the next 30 calendar days.

    The realized variance after day ``t`` is ``365/30`` times the sum of the
    squared log returns of the trading days in ``(t, t + 30]`` (calendar
    days), the VIX's horizon and annualization; days whose window runs past
    the data are left out.

    Parameters
    ----------
    returns : numpy.ndarray
        Daily log returns dated ``return_dates`` (datetime64[D], increasing).
    return_dates : numpy.ndarray
        Their dates.
    vix : numpy.ndarray
        VIX close on the same days (index points, NaN where unknown).

    Returns
    -------
    float
        The ratio ``c`` (1 means no variance premium).
    """
    squared = np.concatenate([[0.0], np.cumsum(returns**2)])
    ends = np.searchsorted(return_dates, return_dates + 30, side="right")
    starts = np.arange(returns.size) + 1
    usable = np.isfinite(vix) & (return_dates + 30 <= return_dates[-1])
    forward = (squared[ends] - squared[starts]) * 365.0 / 30.0
    return float(np.mean((vix[usable] / 100.0) ** 2) / np.mean(forward[usable]))


def realized_jump_variance(model: MarketModel) -> float:
    """``lambda E[J_S^2]``: the SPX jumps' share of the realized variance (annualized).

    For ``J_S = mu_S + b J_v + sigma_S Z`` with ``J_v ~ Exp(mean mu_v)``:
    ``E[J_S^2] = sigma_S^2 + b^2 mu_v^2 + (mu_S + b mu_v)^2``.
    """
    b, mu_v = model.jump_spot_per_variance, model.jump_variance_mean
    mean = model.jump_spot_mean + b * mu_v
    return model.jump_intensity * (model.jump_spot_std**2 + (b * mu_v) ** 2 + mean**2)


def stationary_variance_ratio(model: MarketModel, stationary: np.ndarray) -> float:
    """The model's counterpart of the variance-premium ratio ``c``.

    ``sum_r pi_r E[VIX^2 | r] / sum_r pi_r E[RV | r]``: the stationary mean of
    the VIX^2 the simulator prices (under Q) over the stationary mean realized
    variance of the paths (under P), each regime at its own long-run mean
    variance ``theta*_r = theta_r + lambda_r mu_v,r / kappa_r`` (the
    frozen-regime approximation, as ``variance0``). ``VIX^2`` is affine in
    ``v``, so ``E[VIX^2 | r]`` is the Q formula of ``pricing.vix`` at
    ``theta*_r``: ``a_Q theta*_r + (1 - a_Q) theta*_Q,r + jump term`` with
    ``theta*_Q,r = kappa_r theta*_r / kappa_Q,r``. The realized variance is
    the diffusive ``theta*_r`` plus the jumps' ``lambda E[J_S^2]``
    (`realized_jump_variance`), as the squared daily returns of the data
    hold both. Without a premium the ratio is 1 up to the difference of the
    VIX jump term ``2 lambda (E[e^J] - 1 - E[J])`` from ``lambda E[J^2]``.

    Parameters
    ----------
    model : MarketModel
        Every regime with ``kappa > 0``.
    stationary : numpy.ndarray
        Stationary distribution of the regime chain, shape ``(n_regimes,)``.

    Returns
    -------
    float
        The ratio (1: no variance premium).
    """
    vix_squared = realized = 0.0
    for share, p, q in zip(stationary, model.regime_models(), model.pricing_models(),
                           strict=True):
        mean_variance = p.theta + p.jump_intensity * p.jump_variance_mean / p.kappa
        vix_squared += share * vix_squared_one(mean_variance, q.kappa, q.theta,
                                               q.jump_intensity, q.jump_variance_mean,
                                               vix_jump_term(q))
        realized += share * (mean_variance + realized_jump_variance(p))
    return float(vix_squared / realized)


def premium_for_ratio(model: MarketModel, stationary: np.ndarray, ratio: float) -> float:
    """The ``vol_risk_premium``, one for all regimes, at which the model's ratio is ``ratio``.

    Solves ``stationary_variance_ratio(model with vol_risk_premium = lambda) =
    ratio`` for ``lambda`` (1/year; the regimes inherit the ``[market]``
    premium). The ratio falls as ``kappa_Q = kappa - lambda`` rises (both the
    weight ``a_Q`` of ``v`` and ``(1 - a_Q) theta*_Q`` grow as ``kappa_Q`` falls,
    with ``kappa_Q theta_Q = kappa theta`` fixed), so the root is unique;
    Brent's method on ``-50 <= lambda < min_r kappa_r``. The reach is
    bounded: as ``kappa_Q -> 0`` the ratio tends to about ``1 + kappa tau / 2``
    (``tau = 30/365``; 1.61 at the fitted kappa ~15, 1.16 at the default
    kappa 4), since ``kappa_Q theta_Q = kappa theta`` is fixed.

    Raises
    ------
    ValueError
        If no premium in that range reaches ``ratio``.
    """
    if any(p.vol_risk_premium is not None for p in model.regimes.params):
        raise ValueError("premium_for_ratio sets one premium for all regimes; the model's "
                         "regimes set their own")
    lo = PARAM_LO_PREMIUM
    hi = min(m.kappa for m in model.regime_models()) * (1.0 - 1e-9)

    def excess(premium: float) -> float:
        return stationary_variance_ratio(
            dataclasses.replace(model, vol_risk_premium=premium), stationary) - ratio

    if not excess(lo) < 0.0 < excess(hi):
        raise ValueError(f"no vol_risk_premium in [{lo:g}, {hi:g}) gives the variance ratio "
                         f"{ratio!r}")
    return float(brentq(excess, lo, hi, xtol=1e-12, rtol=1e-14))


def fit_market(history: History | None = None) -> MarketFit:
    """Fit the four-regime SVCJ model to the history (module docstring: the method).

    Parameters
    ----------
    history : History, optional
        Default: :func:`load_history`.

    Returns
    -------
    MarketFit
    """
    history = load_history() if history is None else history
    returns = np.diff(np.log(history.spx_close))
    dates = history.dates[1:]
    vix = history.vix_close[1:]
    vix_prev = history.vix_close[:-1]

    proxy = variance_proxy(returns, RV_WINDOW)
    labels, thresholds = regime_labels(proxy, REGIME_QUANTILES)
    transition = _rounded_transition(transition_matrix(labels, len(REGIME_NAMES)))
    stationary = stationary_distribution(transition)
    jumps = find_jumps(returns, proxy, JUMP_Z, RV_WINDOW)
    ratio = variance_premium_ratio(returns, dates, vix)

    # Non-jump VIX day pairs: the day's close and the previous trading day's
    # are both known; jump days belong to the jump fit, not the diffusion.
    w = (vix / 100.0) ** 2
    w_prev = (vix_prev / 100.0) ** 2
    pair = np.isfinite(vix) & np.isfinite(vix_prev)
    diffusive = pair & ~jumps
    phi, residuals = _ar1(w_prev[diffusive], w[diffusive])
    kappa = _round(-math.log(phi) * TICKS_PER_YEAR)
    residual = np.zeros(returns.size)
    residual[diffusive] = residuals
    everywhere = np.ones(returns.size, dtype=bool)
    pooled_jump_std = float(np.std(returns[jumps], ddof=1))

    def correlation(mask: np.ndarray) -> float:
        days = mask & diffusive
        return float(np.corrcoef(returns[days], (w - w_prev)[days])[0, 1])

    def fit_at(loading: float) -> tuple[tuple[RegimeFit, ...], RegimeFit, float, MarketModel]:
        """Regimes, pooled fit, variance-jump ratio and model (no premium) for the
        weight ``loading`` of ``v`` in the VIX^2 (step 5 of the module docstring)."""

        def vol_of_variance(mask: np.ndarray) -> float:
            days = mask & diffusive
            # Residual variance a^2 xi^2 v dt with v proxied by w / c (module docstring).
            return math.sqrt(ratio * np.sum(residual[days] ** 2)
                             / (loading**2 * _DT * np.sum(w_prev[days])))

        pooled_xi, pooled_rho = vol_of_variance(everywhere), correlation(everywhere)

        # Variance jump per unit of absolute jump return, pooled over the jump days
        # with a VIX close (step 4 of the module docstring).
        jump_vix = jumps & pair
        variance_jump = np.maximum(w - w_prev, 0.0)[jump_vix] / loading
        variance_jump_ratio = float(np.sum(variance_jump) / np.sum(np.abs(returns[jump_vix])))

        def regime_fit(name: str, mask: np.ndarray) -> RegimeFit:
            days = int(mask.sum())
            n_vix = int(np.sum(mask & diffusive))
            own = n_vix >= MIN_VIX_DAYS or mask.all()
            xi, rho = (vol_of_variance(mask), correlation(mask)) if own else (pooled_xi,
                                                                             pooled_rho)
            jump_returns = returns[mask & jumps]
            n_jumps = jump_returns.size
            realized = float(np.mean(returns[mask & ~jumps] ** 2) * TICKS_PER_YEAR)
            return RegimeFit(
                name=name, share=days / returns.size, mean_spell_days=_mean_spell(mask),
                realized_variance=realized,
                historical_drift=float(returns[mask].mean() * TICKS_PER_YEAR),
                n_vix_days=n_vix, kappa=kappa, theta=_round(realized),
                xi=_round(xi), rho=_round(rho), n_jumps=n_jumps,
                jump_intensity=_round(n_jumps / (days / TICKS_PER_YEAR)),
                jump_spot_mean=_round(float(jump_returns.mean())) if n_jumps else 0.0,
                jump_spot_std=_round(float(jump_returns.std(ddof=1)) if n_jumps >= 2
                                     else pooled_jump_std),
                jump_variance_mean=(_round(variance_jump_ratio
                                           * float(np.mean(np.abs(jump_returns))))
                                    if n_jumps else 0.0),
                source="all days" if mask.all() else ("regime" if own else "pooled"))

        regimes = tuple(regime_fit(name, labels == k) for k, name in enumerate(REGIME_NAMES))
        pooled = regime_fit("pooled", everywhere)
        chain = RegimeChain(
            names=REGIME_NAMES,
            transition=tuple(tuple(float(p) for p in row) for row in transition),
            initial="stationary",
            stress=STRESS_REGIMES,
            params=tuple(RegimeParams(
                name=f.name, equity_premium=0.0, kappa=f.kappa, theta=f.theta, xi=f.xi,
                rho=f.rho, jump_intensity=f.jump_intensity, jump_spot_mean=f.jump_spot_mean,
                jump_spot_std=f.jump_spot_std, jump_variance_mean=f.jump_variance_mean,
                jump_spot_per_variance=0.0) for f in regimes),
        )
        stationary_mean = [float(np.dot(stationary, [f.theta for f in regimes])),
                           float(np.dot(stationary, [f.mean_variance() for f in regimes]))]
        model = MarketModel(
            spot0=SPOT0, variance0=_round(stationary_mean[1]), kappa=kappa,
            theta=_round(stationary_mean[0]), xi=pooled.xi, rho=pooled.rho, equity_premium=0.0,
            jump_intensity=pooled.jump_intensity, jump_spot_mean=pooled.jump_spot_mean,
            jump_spot_std=pooled.jump_spot_std, jump_variance_mean=pooled.jump_variance_mean,
            jump_spot_per_variance=0.0, regimes=chain,
        )
        return regimes, pooled, variance_jump_ratio, model

    # Step 9: the premium sets the loading a(kappa_Q) that xi and the variance jumps
    # are read with, and they (through theta*) the premium: iterate to a fixed point
    # of the rounded premium (two rounds on the shipped data).
    vol_risk_premium = 0.0
    for _ in range(PREMIUM_ITERATIONS):
        regimes, pooled, variance_jump_ratio, model = fit_at(
            _vix_loading(kappa - vol_risk_premium))
        solved = _round(premium_for_ratio(model, stationary, ratio))
        if solved == vol_risk_premium:
            break
        vol_risk_premium = solved
    else:
        raise RuntimeError(f"vol_risk_premium did not settle in {PREMIUM_ITERATIONS} rounds "
                           f"(last {vol_risk_premium!r})")
    model = dataclasses.replace(model, vol_risk_premium=vol_risk_premium)
    return MarketFit(model=model, regimes=regimes, pooled=pooled,
                     thresholds=tuple(float(t) for t in thresholds), transition=transition,
                     stationary=stationary, variance_premium_ratio=ratio,
                     variance_jump_ratio=variance_jump_ratio, labels=labels, jump_days=jumps)


def real_facts(history: History) -> tuple[dict[str, float], dict[str, float]]:
    """Stylized facts of the history.

    Returns
    -------
    merged : dict
        SPX facts over all SPX days (1999-2018), VIX facts and the SPX/VIX
        correlation over the days with a VIX close (2014-2018).
    recent : dict
        Every fact over the days with a VIX close alone.
    """
    with_vix = np.isfinite(history.vix_close)
    recent = stylized_facts(history.spx_close[with_vix], history.vix_close[with_vix])
    spx_only = stylized_facts(history.spx_close)
    merged = {fact.key: (recent if is_vix_fact(fact.key) else spx_only)[fact.key]
              for fact in FACTS}
    return merged, recent


def refit_smile(fit: MarketFit, n_paths: int, seed: int
                ) -> tuple[SmileModel, tuple[float, float]]:
    """Fit the smile to the model's Monte Carlo implied vols, one state per regime.

    Each state starts the chain in one regime (so the VIX of the first tick
    is that regime's) at the regime's ``theta``; expiries and strikes are the
    defaults of ``sim.market.smile_fit.model_implied_vols``. The paths are
    those of the pricing measure (``fit.model.under_pricing_measure()``):
    option prices are Q expectations, so the fitted smile keeps the variance
    risk premium in SPX option prices instead of undoing it.

    Returns
    -------
    smile : SmileModel
        The defaults with ``atm_vix_ratio``, ``skew`` and ``curvature`` refit
        (rounded to ``SIGNIFICANT_DIGITS``).
    rms : (float, float)
        RMS error of the default and of the refit smile, annualized decimal.
    """
    model = fit.model.under_pricing_measure()
    quotes = [model_implied_vols(
        dataclasses.replace(model, regimes=dataclasses.replace(model.regimes, initial=f.name)),
        variances=(f.theta,), n_paths=n_paths, ticks_per_year=TICKS_PER_YEAR, seed=seed)
        for f in fit.regimes]
    pooled = ImpliedVolQuotes(**{
        f.name: np.concatenate([getattr(q, f.name) for q in quotes])
        for f in dataclasses.fields(ImpliedVolQuotes)})
    fitted = fit_smile(pooled)
    smile = dataclasses.replace(fitted, atm_vix_ratio=_round(fitted.atm_vix_ratio),
                                skew=_round(fitted.skew), curvature=_round(fitted.curvature))

    def rms(s: SmileModel) -> float:
        return float(np.sqrt(np.mean(smile_errors(s, pooled) ** 2)))

    return smile, (rms(SmileModel()), rms(smile))


def calibrate(seed: int = 0, n_paths: int = CHECK_PATHS, n_days: int = CHECK_DAYS,
              smile_paths: int = SMILE_PATHS, history: History | None = None
              ) -> CalibrationResult:
    """Fit the market to history, refit the smile, and check the stylized facts.

    Parameters
    ----------
    seed : int
        Root of the ``SeedSequence`` of the check simulation and the smile
        refit (spawned into two streams). The fit itself uses no randomness.
    n_paths, n_days : int
        Size of the check simulation (paths; trading days after the first).
    smile_paths : int
        Paths per state and expiry of the smile refit; 0 keeps the default smile.
    history : History, optional
        Default: :func:`load_history`.

    Returns
    -------
    CalibrationResult
    """
    start = time.perf_counter()
    history = load_history() if history is None else history
    fit = fit_market(history)
    real, recent = real_facts(history)
    fitted = time.perf_counter()

    path_seed, smile_seed = np.random.SeedSequence(seed).spawn(2)
    paths = generate(fit.model, n_paths, n_days, _DT, np.random.default_rng(path_seed))
    simulated = stylized_facts(paths.spot, paths.vix)
    bands = {key: (float(np.nanquantile(values, 0.05)), float(np.nanquantile(values, 0.95)))
             for key, values in stylized_facts_by_path(paths.spot, paths.vix).items()}
    simulated_at = time.perf_counter()

    smile, smile_rms = SmileModel(), None
    if smile_paths > 0:
        smile, smile_rms = refit_smile(fit, smile_paths, int(smile_seed.generate_state(1)[0]))
    done = time.perf_counter()

    scenario = Scenario(
        name="calibrated",
        description=("Four regimes (calm/normal/stressed/crisis) of SVCJ dynamics fitted to "
                     "SPX 1999-2018 and VIX 2014-2018 by alvh calibrate"),
        market=fit.model, smile=smile)
    return CalibrationResult(
        scenario=scenario, fit=fit, real_facts=real, real_facts_recent=recent,
        simulated_facts=simulated, simulated_bands=bands, smile_rms=smile_rms, seed=seed,
        n_paths=n_paths, n_days=n_days,
        seconds={"fit": fitted - start, "simulate": simulated_at - fitted,
                 "smile": done - simulated_at, "total": done - start})


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def scenario_toml(result: CalibrationResult) -> str:
    """The calibrated scenario as TOML, headed by comments on how it was made."""
    from scenarios import dumps

    header = [
        "Generated by `alvh calibrate` (sim/market/calibrate.py); rerun it rather than",
        "editing by hand.",
        f"Seed {result.seed} (check simulation and smile refit; the fit itself is "
        "deterministic).",
        "Method: 4 regimes by quantiles of the trailing 21-day realized variance; daily",
        "transition matrix from the labelled days; per regime theta from realized variance,",
        "xi and rho from VIX^2 2014-2018 (kappa pooled), jumps = |r| > 4 trailing stdevs;",
        "equity_premium 0 (historical drift reported, not imposed); one vol_risk_premium",
        "(prices under Q: kappa_Q = kappa - vol_risk_premium) sets the model's stationary",
        "mean VIX^2 / realized variance to the measured ratio; the paths do not use it.",
        "",
        *result.report(timing=False).splitlines(),
    ]
    comments = "\n".join(("# " + line).rstrip() for line in header)
    return comments + "\n\n" + dumps(result.scenario)


def write_scenario(result: CalibrationResult, out_path: str | Path = PRESET_FILE) -> Path:
    """Write :func:`scenario_toml` to ``out_path`` (UTF-8) and return the path."""
    path = Path(out_path)
    path.write_text(scenario_toml(result), encoding="utf-8")
    return path


def calibrate_command(out_path: str | Path | None = PRESET_FILE, seed: int = 0,
                      n_paths: int = CHECK_PATHS, n_days: int = CHECK_DAYS,
                      refit_smile: bool = True) -> tuple[Scenario, str, float]:
    """What ``alvh calibrate`` does: fit, check, write the scenario file.

    Parameters
    ----------
    out_path : str, Path or None
        Where to write the scenario TOML (default: the ``calibrated`` preset,
        ``scenarios/presets/calibrated.toml``); None writes nothing.
    seed : int
        Seed of the check simulation and the smile refit.
    n_paths, n_days : int
        Size of the check simulation (see :func:`calibrate`).
    refit_smile : bool
        Refit the smile to the calibrated model (``SMILE_PATHS`` paths per
        state and expiry, about a second); False keeps the default smile.

    Returns
    -------
    scenario : Scenario
        The calibrated scenario.
    report : str
        Regime parameters, transition matrix, and the real-versus-simulated
        stylized-facts table with units.
    seconds : float
        Wall time of the calibration (writing excluded).
    """
    result = calibrate(seed=seed, n_paths=n_paths, n_days=n_days,
                       smile_paths=SMILE_PATHS if refit_smile else 0)
    if out_path is not None:
        write_scenario(result, out_path)
    return result.scenario, result.report(), result.seconds["total"]
