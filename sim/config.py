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


#: Fields of :class:`MarketModel` that a regime may set for itself.
REGIME_FIELDS = ("equity_premium", "kappa", "theta", "xi", "rho", "jump_intensity",
                 "jump_spot_mean", "jump_spot_std", "jump_variance_mean",
                 "jump_spot_per_variance", "vol_risk_premium")


@dataclass(frozen=True)
class RegimeParams:
    """Dynamics of one named regime; a field left ``None`` takes the ``[market]`` value.

    TOML: a table ``[market.regimes.<name>]`` with any of the keys below.
    """

    name: str = field(default="normal", metadata={
        "unit": "text", "doc": "regime name, one of market.regimes.names", "lo": None,
        "hi": None})
    equity_premium: float | None = param(None, -2.0, 2.0, unit="1/year",
                                         doc="SPX drift above r - q in this regime")
    kappa: float | None = param(None, 0.0, 100.0, unit="1/year",
                                doc="speed of mean reversion of the variance in this regime")
    theta: float | None = param(None, 0.0, 4.0, unit="1/year (variance)",
                                doc="long-run mean of the diffusive variance in this regime")
    xi: float | None = param(None, 0.0, 5.0, unit="1/sqrt(year)",
                             doc="volatility of variance in this regime")
    rho: float | None = param(None, -1.0, 1.0, unit="1",
                              doc="SPX/variance correlation in this regime")
    jump_intensity: float | None = param(None, 0.0, 252.0, unit="jumps/year",
                                         doc="joint jump intensity in this regime")
    jump_spot_mean: float | None = param(None, -1.0, 1.0, unit="log-return",
                                         doc="mean log SPX jump in this regime")
    jump_spot_std: float | None = param(None, 0.0, 1.0, unit="log-return",
                                        doc="standard deviation of the log SPX jump")
    jump_variance_mean: float | None = param(None, 0.0, 4.0, unit="1/year (variance)",
                                             doc="mean exponential variance jump")
    jump_spot_per_variance: float | None = param(None, -20.0, 20.0,
                                                 unit="log-return per variance",
                                                 doc="loading of the SPX jump on the variance jump")
    vol_risk_premium: float | None = param(None, -50.0, 50.0, unit="1/year",
                                           doc="variance risk premium in this regime: "
                                               "kappa_Q = kappa - vol_risk_premium")


@dataclass(frozen=True)
class RegimeChain:
    """Markov chain over named market regimes, stepped once per trading day.

    TOML::

        [market.regimes]
        names = ["calm", "normal", "stressed", "crisis"]
        initial = "stationary"          # a regime name, or the stationary distribution
        stress = ["stressed", "crisis"] # regimes that breadth divergence may push toward
        transition = [[0.99, 0.01, 0.0, 0.0], ...]   # row i: P(next = j | now = i), per day
        [market.regimes.calm]
        theta = 0.012                    # overrides of the [market] dynamics

    The default is one regime, ``normal``, with the ``[market]`` dynamics.
    """

    names: tuple[str, ...] = field(default=("normal",), metadata={
        "unit": "names", "doc": "regime names, in the order of the transition matrix",
        "lo": None, "hi": None})
    transition: tuple[tuple[float, ...], ...] = field(default=((1.0,),), metadata={
        "unit": "probability per trading day",
        "doc": "row-stochastic matrix: P(regime tomorrow = column | today = row)",
        "lo": 0.0, "hi": 1.0})
    initial: str = field(default="normal", metadata={
        "unit": "name", "doc": "regime at the first tick, or 'stationary' to draw it",
        "lo": None, "hi": None})
    stress: tuple[str, ...] = field(default=(), metadata={
        "unit": "names", "doc": "regimes counted as stress (targets of breadth divergence)",
        "lo": None, "hi": None})
    params: tuple[RegimeParams, ...] = field(default=(), metadata={
        "unit": "tables", "doc": "per-regime overrides of the [market] dynamics",
        "lo": None, "hi": None})

    @property
    def n_regimes(self) -> int:
        """Number of regimes."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of a regime name."""
        return self.names.index(name)


@dataclass(frozen=True)
class EventSpec:
    """Scheduled macro events (FOMC, CPI, PPI) and the jumps they bring.

    On an event day the log SPX return gets an extra ``N(-s^2/2, s^2)`` shock
    (mean-corrected, so the discounted SPX stays a martingale) and the
    variance an extra ``Exp(mean)`` jump, so volatility clusters after events.
    ``calendar`` is ``"generated"`` (FOMC eight times a year, CPI and PPI
    monthly, on the rules of ``sim.market.events``), ``"none"``, or the path of
    a CSV file with header ``date,kind`` (kind: FOMC, CPI or PPI), relative to
    the scenario file.
    """

    calendar: str = field(default="generated", metadata={
        "unit": "text", "doc": "'generated', 'none', or a CSV file of date,kind",
        "lo": None, "hi": None})
    fomc_spot_std: float = param(0.0, 0.0, 0.5, unit="log-return",
                                 doc="std of the extra SPX log-return on FOMC days")
    fomc_variance_jump: float = param(0.0, 0.0, 4.0, unit="1/year (variance)",
                                      doc="mean extra variance jump on FOMC days")
    cpi_spot_std: float = param(0.0, 0.0, 0.5, unit="log-return",
                                doc="std of the extra SPX log-return on CPI days")
    cpi_variance_jump: float = param(0.0, 0.0, 4.0, unit="1/year (variance)",
                                     doc="mean extra variance jump on CPI days")
    ppi_spot_std: float = param(0.0, 0.0, 0.5, unit="log-return",
                                doc="std of the extra SPX log-return on PPI days")
    ppi_variance_jump: float = param(0.0, 0.0, 4.0, unit="1/year (variance)",
                                     doc="mean extra variance jump on PPI days")


@dataclass(frozen=True)
class BreadthSpec:
    """Market breadth: daily net advances and the advance-decline line.

    Net advances (advancers minus decliners, as a share of issues, in
    ``[-1, 1]``) are ``tanh(beta * z + noise * e + divergence_drift * D)``
    where ``z`` is the day's SPX log-return over its expected daily stdev,
    ``e ~ N(0, 1)`` idiosyncratic, and ``D`` is 1 during a divergence episode
    (episodes start at ``divergence_rate`` per year and last
    ``divergence_days`` on average, geometrically distributed). The A/D line
    is the running sum of net advances.

    Whether divergence predicts stress is a switch, off by default: with
    ``divergence_predicts_stress = true`` the daily probabilities of moving
    from a non-stress regime into a stress regime are multiplied by
    ``stress_multiplier`` during episodes. Off, breadth carries no information
    about future regimes, and a hedge trigger that reads it should gain
    nothing: the simulator lets a user test a signal, never assumes it works.
    """

    beta: float = param(1.2, 0.0, 10.0, unit="1 per stdev",
                        doc="loading of net advances on the standardized SPX return")
    noise: float = param(0.35, 0.0, 10.0, unit="1",
                         doc="std of idiosyncratic noise in net advances (before tanh)")
    divergence_rate: float = param(3.0, 0.0, 252.0, unit="episodes/year",
                                   doc="rate at which divergence episodes start")
    divergence_days: float = param(15.0, 1.0, 252.0, unit="trading days",
                                   doc="mean length of a divergence episode")
    divergence_drift: float = param(-0.5, -10.0, 10.0, unit="1",
                                    doc="shift of net advances (before tanh) in an episode")
    divergence_predicts_stress: bool = field(default=False, metadata={
        "unit": "true/false", "doc": "whether episodes raise the odds of a stress regime",
        "lo": None, "hi": None})
    stress_multiplier: float = param(3.0, 1.0, 100.0, unit="1",
                                     doc="factor on transition odds into stress during episodes")


@dataclass(frozen=True)
class MarketModel:
    """Heston stochastic variance with simultaneous jumps in price and variance (SVCJ).

    ``dv = kappa (theta - v) dt + xi sqrt(v) dW_v + J_v dN`` and
    ``d ln S = (r - q + mu - lambda mbar - v/2) dt + sqrt(v) dW_S + J_S dN`` with
    ``corr(dW_S, dW_v) = rho``, ``J_v ~ Exp(jump_variance_mean)`` and
    ``J_S | J_v ~ N(jump_spot_mean + jump_spot_per_variance * J_v, jump_spot_std^2)``
    (Eraker, Johannes and Polson 2003; Duffie, Pan and Singleton 2000).
    ``mu = equity_premium`` is a real-world drift above ``r - q``; option
    prices do not depend on it. The nested sections add regime switching
    (``regimes``), scheduled macro events (``events``) and market breadth
    (``breadth``); their defaults (one regime, no event jumps) leave the
    single-regime model as it is.

    Two measures. The dynamics above are the real-world measure P: the
    simulated paths (SPX, variance, jumps, regimes) follow them, and
    ``vol_risk_premium`` does not change them at all. Everything that is a
    price or an implied quantity uses the pricing measure Q: the VIX index
    that ``sim.market.generate`` returns, VIX futures, the model vol of VIX
    behind VIX options and the SPX ATM vol. Q is Heston's (1993, Rev.
    Financial Studies 6(2), 327-343) market price of volatility risk
    ``lambda(S, v, t) = lambda_v v``, with ``lambda_v = -vol_risk_premium``:
    the variance drift under Q is ``kappa (theta - v) - lambda_v v =
    kappa_Q (theta_Q - v)`` with

    ``kappa_Q = kappa - vol_risk_premium``, ``theta_Q = kappa theta / kappa_Q``,

    so ``kappa_Q theta_Q = kappa theta``; ``xi`` and ``rho`` are the same under
    both measures. A positive premium (investors pay for variance
    protection) lowers ``kappa_Q`` and raises ``theta_Q``, which lifts the
    VIX and the futures curve above the expected realized variance. It needs
    ``kappa_Q > 0``. Simplification: the jump law (intensity and sizes) is
    the same under P and Q, so jumps carry no premium of their own.
    :meth:`pricing_model` and :meth:`pricing_models` give the Q parameters;
    ``vol_risk_premium = 0`` (the default) makes Q equal to P.
    """

    spot0: float = param(5000.0, 0.0, 1e9, lo_open=True, unit="index points",
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
    equity_premium: float = param(0.0, -2.0, 2.0, unit="1/year",
                                  doc="SPX drift above r - q on the simulated paths (0: none)")
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
    vol_risk_premium: float = param(0.0, -50.0, 50.0, unit="1/year",
                                    doc="variance risk premium: prices use kappa_Q = kappa - "
                                        "vol_risk_premium, theta_Q = kappa theta / kappa_Q "
                                        "(0: none)")
    regimes: RegimeChain = field(default_factory=RegimeChain)
    events: EventSpec = field(default_factory=EventSpec)
    breadth: BreadthSpec = field(default_factory=BreadthSpec)

    def regime_models(self) -> tuple[MarketModel, ...]:
        """One single-regime model per regime, in ``regimes.names`` order.

        Each is this model with the regime's overrides applied; the nested
        regime, event and breadth sections are kept as they are.
        """
        overrides = {p.name: p for p in self.regimes.params}
        models = []
        for name in self.regimes.names:
            p = overrides.get(name)
            changes = {} if p is None else {
                f: getattr(p, f) for f in REGIME_FIELDS if getattr(p, f) is not None}
            models.append(dataclasses.replace(self, **changes))
        return tuple(models)

    def pricing_model(self) -> MarketModel:
        """This model's ``[market]`` dynamics under the pricing measure Q.

        A copy with ``kappa`` and ``theta`` replaced by ``kappa_Q = kappa -
        vol_risk_premium`` and ``theta_Q = kappa theta / kappa_Q`` and
        ``vol_risk_premium = 0`` (class docstring); every other field,
        ``equity_premium`` and the nested sections included, is kept as it
        is. With ``vol_risk_premium = 0`` it is this model itself, so Q
        prices are then bit for bit the P formulas.

        It reads the top-level fields only: for a model with regimes use
        :meth:`pricing_models` (``pricing_model()`` of each of
        :meth:`regime_models`), and do not call ``regime_models()`` on the
        result, whose regime overrides are still those of P.

        Returns
        -------
        MarketModel

        Raises
        ------
        ValueError
            If ``vol_risk_premium != 0`` and ``kappa_Q <= 0``.
        """
        premium = self.vol_risk_premium
        if premium == 0.0:
            return self
        kappa_q = self.kappa - premium
        if not kappa_q > 0.0:
            raise ValueError(
                "market: kappa - vol_risk_premium (kappa under the pricing measure) must be "
                f"> 0 when vol_risk_premium != 0, got {self.kappa!r} - {premium!r} = {kappa_q!r}")
        return dataclasses.replace(self, kappa=kappa_q, theta=self.kappa * self.theta / kappa_q,
                                   vol_risk_premium=0.0)

    def pricing_models(self) -> tuple[MarketModel, ...]:
        """One single-regime model per regime under the pricing measure Q.

        ``pricing_model()`` of each of :meth:`regime_models`, in
        ``regimes.names`` order: each regime's ``kappa_Q``, ``theta_Q`` from its
        own ``kappa``, ``theta`` and ``vol_risk_premium``.

        Raises
        ------
        ValueError
            If a regime has ``kappa_Q <= 0``; with several regimes the message
            names it.
        """
        models = []
        for name, model in zip(self.regimes.names, self.regime_models(), strict=True):
            try:
                models.append(model.pricing_model())
            except ValueError as error:
                if self.regimes.n_regimes == 1:
                    raise
                raise ValueError(f"regime {name!r}: {error}") from None
        return tuple(models)

    def under_pricing_measure(self) -> MarketModel:
        """The whole model, every regime, with its dynamics under Q: for simulating Q paths.

        The ``[market]`` dynamics and each regime's override table that sets
        ``kappa``, ``theta`` or ``vol_risk_premium`` get their ``kappa_Q`` and
        ``theta_Q`` and no premium, so that ``under_pricing_measure().regime_models()``
        has the dynamics of :meth:`pricing_models`. ``equity_premium`` is kept
        (set it to 0 for the risk-neutral SPX drift). Use it on a scenario's
        model, not on one of :meth:`regime_models`, whose nested regime table
        is that of the whole model. Returns this model itself when no premium
        is set anywhere.

        Raises
        ------
        ValueError
            As :meth:`pricing_models`.
        """
        self.pricing_models()  # validates every regime, naming the bad one
        if self.vol_risk_premium == 0.0 and all(
                not p.vol_risk_premium for p in self.regimes.params):
            return self
        params = []
        for p in self.regimes.params:
            if p.kappa is None and p.theta is None and p.vol_risk_premium is None:
                params.append(p)  # inherits the [market] dynamics, hence their Q form
                continue
            regime = dataclasses.replace(
                self, kappa=self.kappa if p.kappa is None else p.kappa,
                theta=self.theta if p.theta is None else p.theta,
                vol_risk_premium=(self.vol_risk_premium if p.vol_risk_premium is None
                                  else p.vol_risk_premium)).pricing_model()
            params.append(dataclasses.replace(p, kappa=regime.kappa, theta=regime.theta,
                                              vol_risk_premium=0.0))
        top = self.pricing_model()
        return dataclasses.replace(top, regimes=dataclasses.replace(self.regimes,
                                                                    params=tuple(params)))

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
    """SPX implied vols: the model's own (``kind = "model"``) or a parametric smile.

    ``kind = "model"`` (the default) marks every SPX option at the implied vol
    of its price under the path's regime dynamics (pricing measure), computed
    by Fourier (COS) pricing of the SVCJ model and read from a table over
    variance, expiry and moneyness (``pricing/svcj.py``,
    ``pricing/vol_table.py``); scheduled event jumps are not in it. The
    parameters below are then unused. ``kind = "parametric"`` uses:

    ``sigma(K, T) = clip(atm * (1 + skew * u + curvature * u^2), min_vol, max_vol)``
    with ``atm = atm_vix_ratio * sqrt(S(T))``, where ``S(T)`` is the model's
    variance-swap rate to expiry ``T`` (the VIX formula with ``tau = T``, under
    the pricing measure of the path's current regime, so ``atm =
    atm_vix_ratio * VIX / 100`` at 30 days), moneyness in ATM standard
    deviations ``x = ln(K / F) / (atm * sqrt(T))`` (``F`` the forward, ``T`` in
    years) and ``u = max_moneyness * tanh(x / max_moneyness)``, which bounds
    the wings (see ``pricing/smile.py``). A negative ``skew`` makes
    out-of-the-money puts dearer than calls.

    The defaults are a least-squares fit (``sim.market.smile_fit``) to Monte
    Carlo option prices of the default preset's market (spot variance
    0.015-0.04, 14-45 days, strikes -2.5 to +2 ATM stdevs; RMS error about 0.6
    vol points), so the default scenario prices options close to fair under
    its own dynamics and gives neither the seller nor the buyer a hidden
    edge. Refit them when the market model changes.
    """

    kind: str = field(default="model", metadata={
        "unit": "smile kind", "lo": None, "hi": None,
        "doc": "'model': SVCJ Fourier prices of the regime (vol table); "
               "'parametric': the smile below"})
    atm_vix_ratio: float = param(0.995, 0.0, 3.0, lo_open=True, unit="1",
                                 doc="ATM vol as a share of the variance-swap vol to expiry")
    skew: float = param(-0.144, -1.0, 1.0, unit="share of ATM vol per ATM stdev",
                        doc="slope of the smile in x = ln(K/F)/(atm*sqrt(T))")
    curvature: float = param(0.014, 0.0, 1.0, unit="share of ATM vol per ATM stdev^2",
                             doc="convexity of the smile in x")
    max_moneyness: float = param(3.0, 0.0, 10.0, lo_open=True, unit="ATM stdevs",
                                 doc="bound of the squashed moneyness; wings flatten beyond it")
    min_vol: float = param(0.03, 0.0, 5.0, lo_open=True, unit="1/sqrt(year)",
                           doc="floor of the implied vol")
    max_vol: float = param(3.0, 0.0, 10.0, lo_open=True, unit="1/sqrt(year)",
                           doc="cap of the implied vol")


@dataclass(frozen=True)
class VixSpec:
    """VIX futures curve and VIX options.

    Futures: the next ``n_futures`` monthly VIX expiries (the Wednesday 30
    days before the third Friday of the following month), each priced at
    ``E[VIX_T]`` from the conditional mean and variance of ``VIX_T^2`` under
    the model (a second-order convexity correction). Options: Black-76 on the
    future of their expiry, at vol ``option_vol_scale * sigma_model(T) * (1 +
    option_skew * ln(K/F))`` saturated smoothly into ``[min_option_vol,
    max_option_vol]`` (``pricing.vix_options.soft_clip``: quadratic blends of
    half-width 0.2 of the band, so the cap adds no butterfly arbitrage),
    where ``sigma_model(T)^2 T = ln(E[VIX_T^2] / E[VIX_T]^2)`` is the model's
    lognormal vol of VIX. With ``option_skew = 0`` (the default) the options
    are lognormal at the model's own vol of VIX, which is close to the
    model's own distribution of ``VIX_T`` (``benchmarks/vix_option_bias.py``
    measures the gap). A positive ``option_skew`` is an upward VIX skew on top
    of the model: it prices out-of-the-money VIX calls above what the
    model's paths pay on average (a VIX call premium), so a scenario that
    sets it states that hedges cost more than their expected payoff.
    Futures and ``sigma_model`` are prices: they use the variance dynamics
    under the pricing measure (``MarketModel.pricing_models``,
    ``sim.market.term_structure.vix_futures_for``).

    Margin of VIX futures in the book (``sim.book.group_margin``):
    ``future_margin * |net contracts| + future_spread_margin * min(long
    contracts, short contracts)`` per group of legs, so a calendar spread
    holds the spread rate and an outright position the outright rate.
    """

    n_futures: int = param(6, 1, 12, unit="expiries", doc="monthly VIX futures quoted")
    option_vol_scale: float = param(1.0, 0.0, 10.0, lo_open=True, unit="1",
                                    doc="multiplier on the model's vol of VIX")
    option_skew: float = param(0.0, 0.0, 5.0, unit="vol share per unit ln(K/F)",
                               doc="upward skew of VIX option vols on top of the model's "
                                   "(0: none; > 0: a VIX call premium)")
    min_option_vol: float = param(0.2, 0.0, 10.0, lo_open=True, unit="1/sqrt(year)",
                                  doc="floor of VIX option implied vol")
    max_option_vol: float = param(3.0, 0.0, 20.0, lo_open=True, unit="1/sqrt(year)",
                                  doc="cap of VIX option implied vol")
    future_margin: float = param(6000.0, 0.0, 1e6, unit="$/contract",
                                 doc="margin held per net long or short VIX future")
    future_spread_margin: float = param(1500.0, 0.0, 1e6, unit="$ per spread",
                                        doc="margin held per offsetting long/short pair of "
                                            "VIX futures")


@dataclass(frozen=True)
class CostModel:
    """Commission and bid-ask spread paid on every trade.

    Full bid-ask width of an option (SPX or VIX), in index points:
    ``max(min_width, width_share * mid) * (1 + vix_widening * max(VIX - 20, 0) / 10)``.
    An option trade pays half of it per contract times the multiplier (100),
    plus ``commission``. A VIX future trade pays ``future_half_spread`` times
    its multiplier (1000) plus ``future_commission`` per contract.
    """

    commission: float = param(0.65, 0.0, 100.0, unit="$/contract",
                              doc="commission per option contract traded")
    min_width: float = param(0.10, 0.0, 100.0, unit="index points",
                             doc="narrowest bid-ask width of an option")
    width_share: float = param(0.02, 0.0, 1.0, unit="1",
                               doc="bid-ask width as a share of the mid price")
    vix_widening: float = param(0.25, 0.0, 10.0, unit="1 per 10 VIX points",
                                doc="relative widening of spreads per 10 VIX points above 20")
    future_half_spread: float = param(0.025, 0.0, 10.0, unit="index points",
                                      doc="half the bid-ask width of a VIX future")
    future_commission: float = param(1.50, 0.0, 100.0, unit="$/contract",
                                     doc="commission per VIX future contract traded")


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

    initial_cash: float = param(100_000.0, 0.0, 1e15, lo_open=True, unit="$",
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
    vix: VixSpec = field(default_factory=VixSpec)
    costs: CostModel = field(default_factory=CostModel)
    condor: CondorSpec = field(default_factory=CondorSpec)
    account: AccountSpec = field(default_factory=AccountSpec)
    simulation: SimulationSpec = field(default_factory=SimulationSpec)
    source: str = "<built-in>"


#: TOML table name -> section dataclass, in the order ``alvh describe`` prints them.
SECTIONS: dict[str, type] = {
    "market": MarketModel,
    "smile": SmileModel,
    "vix": VixSpec,
    "costs": CostModel,
    "condor": CondorSpec,
    "account": AccountSpec,
    "simulation": SimulationSpec,
}
