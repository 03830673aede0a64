"""Frozen configuration of a scenario: the market model, the option smile,
trading costs, the condor and the account.

Every field carries its unit, its allowed range and a one-line definition in
``dataclasses.field(metadata=...)``; the scenario loader (``scenarios.load``)
reads that metadata to validate TOML input once, at the edge, and
``alvh describe`` prints it. Inside the simulator the types are trusted.

Units follow STYLE.md: volatilities are annualized decimals, variances
annualized (vol squared), times in years unless named ``*_days`` (calendar
days) or ``*_ticks`` (trading days), prices in index points, money in dollars.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

INF = math.inf


def param(
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    unit: str,
    doc: str,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Any:
    """Declare a scenario parameter with its range, unit and definition.

    Parameters
    ----------
    default : Any
        Value used when the scenario file omits the key.
    lo, hi : float or None
        Allowed range; ``None`` means unbounded on that side.
    unit : str
        Unit shown in tables and errors (``"index points"``, ``"1/year"``...).
    doc : str
        One-line definition for ``alvh describe`` and the docs.
    lo_open, hi_open : bool
        Whether the bound itself is excluded.
    """
    return field(
        default=default,
        metadata={
            "lo": lo,
            "hi": hi,
            "lo_open": lo_open,
            "hi_open": hi_open,
            "unit": unit,
            "doc": doc,
        },
    )


def allowed_range(f: dataclasses.Field) -> str:
    """Human-readable allowed range of a parameter field, e.g. ``-1 <= rho <= 1``."""
    meta = f.metadata
    lo, hi = meta.get("lo"), meta.get("hi")
    left = "" if lo is None else f"{lo:g} {'<' if meta.get('lo_open') else '<='} "
    right = "" if hi is None else f" {'<' if meta.get('hi_open') else '<='} {hi:g}"
    if lo is None and hi is None:
        return f"any {f.type}"
    return f"{left}{f.name}{right}"


@dataclass(frozen=True)
class MarketModel:
    """Heston stochastic variance with simultaneous jumps in price and variance (SVCJ).

    ``dv = kappa (theta - v) dt + xi sqrt(v) dW_v + J_v dN`` and
    ``d ln S = (r - q - lambda mbar - v/2) dt + sqrt(v) dW_S + J_S dN`` with
    ``corr(dW_S, dW_v) = rho``, ``J_v ~ Exp(jump_variance_mean)`` and
    ``J_S | J_v ~ N(jump_spot_mean + jump_spot_per_variance * J_v, jump_spot_std^2)``
    (Eraker, Johannes and Polson 2003; Duffie, Pan and Singleton 2000).
    """

    spot0: float = param(5000.0, 0.0, None, lo_open=True, unit="index points",
                         doc="SPX level at the first tick")
    variance0: float = param(0.025, 0.0, 4.0, unit="1/year (variance)",
                             doc="instantaneous variance v at the first tick (vol^2)")
    kappa: float = param(4.0, 0.0, 100.0, unit="1/year",
                         doc="speed of mean reversion of the variance")
    theta: float = param(0.035, 0.0, 4.0, unit="1/year (variance)",
                         doc="long-run mean of the diffusive variance")
    xi: float = param(0.6, 0.0, 5.0, unit="1/sqrt(year)",
                      doc="volatility of variance (0 switches stochastic variance off)")
    rho: float = param(-0.7, -1.0, 1.0, unit="1",
                       doc="correlation of the SPX and variance Brownian motions")
    rate: float = param(0.04, -0.1, 0.5, unit="1/year",
                        doc="risk-free rate, continuously compounded; cash earns it")
    dividend_yield: float = param(0.015, 0.0, 0.5, unit="1/year",
                                  doc="SPX dividend yield, continuous")
    jump_intensity: float = param(0.5, 0.0, 252.0, unit="jumps/year",
                                  doc="Poisson intensity lambda of joint SPX/variance jumps")
    jump_spot_mean: float = param(-0.03, -1.0, 1.0, unit="log-return",
                                  doc="mean log SPX jump when the variance jump is zero")
    jump_spot_std: float = param(0.03, 0.0, 1.0, unit="log-return",
                                 doc="standard deviation of the log SPX jump")
    jump_variance_mean: float = param(0.04, 0.0, 4.0, unit="1/year (variance)",
                                      doc="mean of the exponential jump in variance")
    jump_spot_per_variance: float = param(-0.5, -20.0, 20.0, unit="log-return per variance",
                                          doc="loading of the log SPX jump on the variance jump")

    def jump_moments(self) -> tuple[float, float]:
        """Mean of ``e^J - 1`` and of ``J`` for the SPX jump ``J``.

        Returns
        -------
        mbar : float
            ``E[e^J] - 1``, the jump compensator (per jump, decimal).
        mean_log_jump : float
            ``E[J]`` (log-return per jump).
        """
        mu, s, b, m = (self.jump_spot_mean, self.jump_spot_std,
                       self.jump_spot_per_variance, self.jump_variance_mean)
        # E[exp(b J_v)] for J_v ~ Exp(mean m) is 1 / (1 - b m), finite when b m < 1.
        mbar = math.exp(mu + 0.5 * s * s) / (1.0 - b * m) - 1.0
        return mbar, mu + b * m


@dataclass(frozen=True)
class SmileModel:
    """Parametric SPX implied-vol smile, tied to the VIX level.

    ``sigma(K, T) = clip(atm * (1 + skew * u + curvature * u^2), min_vol, max_vol)``
    with ``atm = atm_vix_ratio * VIX / 100``, moneyness in ATM standard
    deviations ``x = ln(K / F) / (atm * sqrt(T))`` (``F`` the forward, ``T`` in
    years) and ``u = max_moneyness * tanh(x / max_moneyness)``, which bounds
    the wings (see ``pricing/smile.py``). A negative ``skew`` makes
    out-of-the-money puts dearer than calls.

    The defaults are a least-squares fit (``sim.market.smile_fit``) to Monte
    Carlo option prices of the default market model (spot variance
    0.015-0.04, 14-45 days, strikes -2.5 to +2 ATM stdevs; RMS error about 0.6
    vol points), so the default scenario prices options close to fair under
    its own dynamics and gives neither the seller nor the buyer a hidden
    edge. Refit them when the market model changes.
    """

    atm_vix_ratio: float = param(0.95, 0.0, 3.0, lo_open=True, unit="1",
                                 doc="ATM implied vol as a share of VIX/100")
    skew: float = param(-0.155, -1.0, 1.0, unit="share of ATM vol per ATM stdev",
                        doc="slope of the smile in x = ln(K/F)/(atm*sqrt(T))")
    curvature: float = param(0.016, 0.0, 1.0, unit="share of ATM vol per ATM stdev^2",
                             doc="convexity of the smile in x")
    max_moneyness: float = param(3.0, 0.0, 10.0, lo_open=True, unit="ATM stdevs",
                                 doc="bound of the squashed moneyness; wings flatten beyond it")
    min_vol: float = param(0.03, 0.0, 5.0, lo_open=True, unit="1/sqrt(year)",
                           doc="floor of the implied vol")
    max_vol: float = param(3.0, 0.0, 10.0, lo_open=True, unit="1/sqrt(year)",
                           doc="cap of the implied vol")


@dataclass(frozen=True)
class CostModel:
    """Commission and bid-ask spread paid on every trade.

    Full bid-ask width of an option, in index points:
    ``max(min_width, width_share * mid) * (1 + vix_widening * max(VIX - 20, 0) / 10)``.
    A trade pays half of it per contract times the multiplier, plus commission.
    """

    commission: float = param(0.65, 0.0, 100.0, unit="$/contract",
                              doc="commission per option contract traded")
    min_width: float = param(0.10, 0.0, 100.0, unit="index points",
                             doc="narrowest bid-ask width of an option")
    width_share: float = param(0.02, 0.0, 1.0, unit="1",
                               doc="bid-ask width as a share of the mid price")
    vix_widening: float = param(0.25, 0.0, 10.0, unit="1 per 10 VIX points",
                                doc="relative widening of spreads per 10 VIX points above 20")


@dataclass(frozen=True)
class CondorSpec:
    """Non-trailed SPX iron condor: short strikes by delta, wings by width."""

    short_delta: float = param(0.16, 0.0, 0.5, lo_open=True, hi_open=True, unit="1",
                               doc="absolute delta of each short strike at entry")
    wing_width: float = param(50.0, 5.0, 1000.0, unit="index points",
                              doc="short strike to long wing distance (multiple of 5)")
    dte_min: int = param(30, 1, 365, unit="calendar days",
                         doc="fewest days to expiry accepted at entry")
    dte_max: int = param(45, 1, 365, unit="calendar days",
                         doc="most days to expiry accepted at entry")
    entry_interval: int = param(5, 1, 252, unit="trading days",
                                doc="a flat path may open a condor every this many ticks")
    profit_target: float = param(0.5, 0.0, 1.0, lo_open=True, unit="share of credit",
                                 doc="close when this share of the credit is captured")
    stop_loss: float = param(2.0, 0.0, 100.0, lo_open=True, unit="multiple of credit",
                             doc="close when the loss reaches this multiple of the credit")
    exit_dte: int = param(0, 0, 365, unit="calendar days",
                          doc="close at or below this many days to expiry (0: hold to expiry)")
    risk_budget: float = param(0.05, 0.0, 1.0, lo_open=True, unit="share of equity",
                               doc="max loss of a new condor as a share of account equity")
    max_contracts: int = param(100, 1, 100_000, unit="contracts",
                               doc="cap on condor size")


@dataclass(frozen=True)
class AccountSpec:
    """The trading account."""

    initial_cash: float = param(100_000.0, 0.0, None, lo_open=True, unit="$",
                                doc="cash at the first tick")


@dataclass(frozen=True)
class SimulationSpec:
    """Horizon and Monte Carlo defaults of a run."""

    start_date: str = field(default="2025-01-02", metadata={
        "unit": "ISO date", "doc": "calendar date of the first tick (a business day)",
        "lo": None, "hi": None})
    n_days: int = param(252, 1, 10_000, unit="trading days",
                        doc="number of daily ticks after the first")
    n_paths: int = param(2000, 1, 100_000_000, unit="paths",
                         doc="Monte Carlo paths when the command line gives none")
    batch_size: int = param(2000, 1, 1_000_000, unit="paths",
                            doc="paths simulated together in one SimPy environment")
    seed: int = param(20250102, 0, 2**63 - 1, unit="1",
                      doc="root of the numpy SeedSequence when the command line gives none")


@dataclass(frozen=True)
class Scenario:
    """A complete, validated scenario: what ``scenarios.load`` returns."""

    name: str
    description: str
    market: MarketModel = field(default_factory=MarketModel)
    smile: SmileModel = field(default_factory=SmileModel)
    costs: CostModel = field(default_factory=CostModel)
    condor: CondorSpec = field(default_factory=CondorSpec)
    account: AccountSpec = field(default_factory=AccountSpec)
    simulation: SimulationSpec = field(default_factory=SimulationSpec)
    source: str = "<built-in>"


#: TOML table name -> section dataclass, in the order ``alvh describe`` prints them.
SECTIONS: dict[str, type] = {
    "market": MarketModel,
    "smile": SmileModel,
    "costs": CostModel,
    "condor": CondorSpec,
    "account": AccountSpec,
    "simulation": SimulationSpec,
}
