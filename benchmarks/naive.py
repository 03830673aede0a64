"""The naive way: one SimPy process per path, scalar pricing with ``scipy.stats.norm``.

This is the comparison point of benchmark 4 in ``benchmarks/run.py``: the
condor (and, with ``hedge=True``, a VIX call hedge) simulated the way one
would write it without arrays, to measure what the vectorized engine
(``sim.engine.simulate``: one SimPy environment per batch, agents acting on
all paths at once, numba kernels) buys.

What it does, per path, in its own SimPy process (``env.timeout(1)`` per tick)
over the same pre-generated ``MarketPaths`` the vectorized engine reads:

- cash earns the scenario's rate over calendar days
  (``cash * expm1(r days / 365)``, as ``sim.book.Book.begin_tick``);
- one iron condor at a time, by the rules of ``sim.agents.condor``
  (non-trailed): on every ``entry_interval``-th tick but the last, a flat
  path opens a condor on the first Friday at least ``dte_min`` calendar days
  away (none if that is more than ``dte_max`` away); the short put and call
  are at ``short_delta`` (Black-Scholes delta at the model vol of the strike,
  sticky strike) found by a scalar bisection on the strike and rounded to the
  5-point grid; wings ``wing_width`` further out; size
  ``min(floor(risk_budget * equity / max loss), max_contracts)``; no trade
  if the credit is not positive or less than one contract is affordable;
- every tick, every open leg is repriced once: Black-Scholes on Python floats
  with ``scipy.stats.norm.cdf``, at the **model vol of the leg obtained by a
  scalar call**, ``SpxPricer.vol`` on a one-path view (the same SVCJ vol
  table lookup, scheduled-event variance included, that the vectorized book
  prices with, so marks agree with ``sim.book`` to rounding);
- exits at ``profit_target`` x credit profit, ``stop_loss`` x credit loss,
  ``exit_dte`` days to expiry (if positive), else cash settlement at
  intrinsic value on the expiry date; costs (half spread plus commission,
  ``sim.config.CostModel``) on every option traded; at the last tick open
  legs are valued at mid;
- with ``hedge=True``, each path also holds one VIX call at all times: on the
  first monthly VIX expiry more than ``HEDGE_ROLL_DAYS`` days away, strike
  the VIX future plus ``HEDGE_OFFSET`` points (0.5-point grid), closed and
  reopened on the next expiry when ``HEDGE_ROLL_DAYS`` days are left. Every
  tick it is repriced with Black-76 on Python floats (``scipy.stats.norm``),
  on the model's VIX future of its expiry and at the model's skewed
  lognormal vol of VIX, each obtained by a scalar call
  (``RegimeVixTerms.futures`` / ``.model_vol`` and
  ``pricing.vix_options.vix_option_vol`` on one-element arrays). Its cash is
  kept in a separate account so the condor trades exactly as under the
  ``none`` policy (which lets the condor counts be checked against the
  vectorized engine on the same paths).

What is *not* the same work as ``simulate(..., load_policy("alvh")...)``,
and which way it tilts the ratio:

- less work here (the ratio is conservative): no ledger, no margin, no
  accounting-identity check, no per-path statistics beyond condor counts and
  P&L, no market signals (RSI, MACD, futures curve, breadth) and no trigger,
  budget or liquidity logic; the hedge is one fixed VIX call, not up to four
  layers of VIX calls, call spreads, futures spreads and SPX spreads;
- more work here: the VIX call is held and repriced on every tick, while
  ``alvh`` holds its layers only while their triggers are on (the benchmark
  reports the share of ticks its layer L1 is held);
- the same: the market paths (generation is excluded on both sides), the
  condor's rules, the model vols of the SPX legs, one repricing of every
  open leg per tick (the vectorized book also quotes each leg once a tick).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import simpy
from scipy.stats import norm

from pricing.vix_options import vix_option_vol
from sim.agents.condor import first_expiry_on_or_after
from sim.config import Scenario
from sim.instruments import (
    DAYS_PER_YEAR,
    SPX_MULTIPLIER,
    SPX_STRIKE_STEP,
    VIX_STRIKE_STEP,
    SpxPricer,
    vix_expiries_after,
)
from sim.market.paths import MarketPaths
from sim.market.term_structure import RegimeVixTerms, business_days_to

#: VIX points above the future of its expiry at which the naive hedge buys its call.
HEDGE_OFFSET = 2.0
#: Calendar days to expiry at which the naive hedge rolls its VIX call.
HEDGE_ROLL_DAYS = 2
#: Multiplier of a VIX option, dollars per index point.
VIX_OPTION_MULTIPLIER = 100.0
#: Leg signs of the condor: long put, short put, short call, long call.
LEG_SIGNS = (1.0, -1.0, -1.0, 1.0)
LEG_CALLS = (False, False, True, True)


@dataclass
class NaiveResult:
    """Outcome of a naive run.

    Attributes
    ----------
    n_paths, n_ticks : int
        Paths simulated and ticks per path (the first included).
    wall_seconds : float
        Wall time of the SimPy run, s (market generation excluded).
    n_condors : ndarray of int, shape (n_paths,)
        Condors opened per path.
    condor_pnl : ndarray, shape (n_paths,)
        Final equity of the condor account minus initial cash, $ (open legs at mid).
    hedge_pnl : ndarray, shape (n_paths,)
        P&L of the VIX call account, $ (0 without the hedge).
    spx_prices, vix_prices : int
        Scalar SPX and VIX option prices computed (marks, quotes, strike search
        deltas excluded).
    """

    n_paths: int
    n_ticks: int
    wall_seconds: float
    n_condors: np.ndarray
    condor_pnl: np.ndarray
    hedge_pnl: np.ndarray
    spx_prices: int
    vix_prices: int

    @property
    def path_ticks_per_second(self) -> float:
        """Path-ticks simulated per second of wall time."""
        return self.n_paths * self.n_ticks / self.wall_seconds


# ---------------------------------------------------------------------------
# Scalar pricing on Python floats (scipy.stats.norm)
# ---------------------------------------------------------------------------


def bs_price(S: float, K: float, T: float, r: float, q: float, sigma: float,
             is_call: bool) -> float:
    """Black-Scholes price (index points) of one option, ``scipy.stats.norm.cdf`` on floats.

    ``T <= 0`` gives the intrinsic value; ``sigma * sqrt(T) <= 0`` the
    discounted intrinsic value of the forward (as ``pricing.black``).
    """
    if T <= 0.0:
        return max(S - K, 0.0) if is_call else max(K - S, 0.0)
    fwd_pv = S * math.exp(-q * T)
    strike_pv = K * math.exp(-r * T)
    total_vol = sigma * math.sqrt(T)
    if total_vol <= 0.0:
        return max(fwd_pv - strike_pv, 0.0) if is_call else max(strike_pv - fwd_pv, 0.0)
    d1 = (math.log(S / K) + (r - q) * T) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    if is_call:
        return fwd_pv * float(norm.cdf(d1)) - strike_pv * float(norm.cdf(d2))
    return strike_pv * float(norm.cdf(-d2)) - fwd_pv * float(norm.cdf(-d1))


def bs_abs_delta(S: float, K: float, T: float, r: float, q: float, sigma: float,
                 is_call: bool) -> float:
    """|Black-Scholes delta| of one option: ``e^{-qT} N(+-d1)``, scipy on floats."""
    total_vol = sigma * math.sqrt(T)
    d1 = (math.log(S / K) + (r - q) * T) / total_vol + 0.5 * total_vol
    return math.exp(-q * T) * float(norm.cdf(d1 if is_call else -d1))


def black76_price(F: float, K: float, T: float, r: float, sigma: float,
                  is_call: bool) -> float:
    """Black-76 price (index points) of one option on a future: Black-Scholes with ``q = r``."""
    return bs_price(F, K, T, r, r, sigma, is_call)


# ---------------------------------------------------------------------------
# Model inputs by scalar calls
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OnePathView:
    """The market of one path at one tick, shaped like ``sim.engine.MarketView`` (1 path)."""

    tick: int
    day: int
    spot: np.ndarray
    variance: np.ndarray
    vix: np.ndarray
    regime: np.ndarray


class ScalarModel:
    """Scalar access to the model's SPX vols and VIX futures and option vols.

    Parameters
    ----------
    scenario : Scenario
    market : MarketPaths
        The paths (their macro-event schedule enters the SPX model vols).
    """

    def __init__(self, scenario: Scenario, market: MarketPaths) -> None:
        self.spx = SpxPricer(scenario.market, scenario.smile, market)
        self.terms = RegimeVixTerms(scenario.market)
        self.vix_spec = scenario.vix
        self.rate = self.spx.rate
        self.dividend_yield = self.spx.dividend_yield

    def spx_vol(self, view: OnePathView, K: float, T: float) -> float:
        """Model vol (annualized decimal) of an SPX option of strike ``K``, ``T`` years."""
        return float(self.spx.vol(view, K, T)[0])

    def spx_price(self, view: OnePathView, K: float, expiry: int, is_call: bool) -> float:
        """Mid price (index points) of one SPX option at its model vol, scipy Black-Scholes."""
        T = (expiry - view.day) / DAYS_PER_YEAR
        S = float(view.spot[0])
        if T <= 0.0:
            return bs_price(S, K, 0.0, self.rate, self.dividend_yield, 0.0, is_call)
        sigma = self.spx_vol(view, K, T)
        return bs_price(S, K, T, self.rate, self.dividend_yield, sigma, is_call)

    def vix_future(self, view: OnePathView, expiry: int) -> float:
        """Model VIX future (index points) of ``expiry`` (days since 1970-01-01)."""
        if expiry <= view.day:
            return float(view.vix[0])
        steps = business_days_to(view.day, expiry)
        return float(self.terms.futures(view.variance, view.regime, np.atleast_1d(steps))[0])

    def vix_call_price(self, view: OnePathView, K: float, expiry: int) -> float:
        """Mid price (index points) of one VIX call: Black-76 (scipy) at the model's vol."""
        if expiry <= view.day:
            return max(float(view.vix[0]) - K, 0.0)
        T = (expiry - view.day) / DAYS_PER_YEAR
        steps = np.atleast_1d(business_days_to(view.day, expiry))
        forward = float(self.terms.futures(view.variance, view.regime, steps)[0])
        model_vol = float(self.terms.model_vol(view.variance, view.regime, steps, T)[0])
        spec = self.vix_spec
        sigma = float(vix_option_vol(K, forward, T, model_vol, spec.option_vol_scale,
                                     spec.option_skew, spec.min_option_vol,
                                     spec.max_option_vol))
        return black76_price(forward, K, T, self.rate, sigma, True)

    def strike_for_delta(self, view: OnePathView, T: float, target: float,
                         is_call: bool) -> float:
        """Strike (index points, 5-point grid) whose smile |delta| is ``target``: scalar bisection.

        Bisection on ``ln(K/F)`` over eight ATM standard deviations on the
        strike's side of the forward, to 1e-7, with the delta at the model
        vol of each trial strike (sticky strike), then rounded to the grid.
        """
        S = float(view.spot[0])
        r, q = self.rate, self.dividend_yield
        forward = S * math.exp((r - q) * T)
        atm = self.spx_vol(view, forward, T)
        reach = 8.0 * max(atm, 0.01) * math.sqrt(max(T, 1e-6)) + 0.01
        lo, hi = (0.0, reach) if is_call else (-reach, 0.0)
        while hi - lo > 1e-7:
            mid = 0.5 * (lo + hi)
            K = forward * math.exp(mid)
            delta = bs_abs_delta(S, K, T, r, q, self.spx_vol(view, K, T), is_call)
            # |delta| falls as the strike moves away from the money on this side.
            if (delta > target) == is_call:
                lo = mid
            else:
                hi = mid
        strike = forward * math.exp(0.5 * (lo + hi))
        return max(SPX_STRIKE_STEP, round(strike / SPX_STRIKE_STEP) * SPX_STRIKE_STEP)


# ---------------------------------------------------------------------------
# One path, one process
# ---------------------------------------------------------------------------


class NaivePath:
    """State and SimPy process of one path: its condor, its VIX call, its cash.

    Parameters
    ----------
    scenario : Scenario
    market : MarketPaths
    path : int
        Column of ``market`` this process reads.
    model : ScalarModel
    hedge : bool
        Hold and reprice a VIX call every tick.
    """

    def __init__(self, scenario: Scenario, market: MarketPaths, path: int,
                 model: ScalarModel, hedge: bool) -> None:
        self.scenario = scenario
        self.market = market
        self.path = path
        self.model = model
        self.hedge = hedge
        self.days = market.dates.astype("datetime64[D]").astype(np.int64)
        self.cash = float(scenario.account.initial_cash)
        self.hedge_cash = 0.0
        self.strikes: list[float] = []
        self.contracts = 0.0
        self.credit = 0.0
        self.expiry = 0
        self.n_condors = 0
        self.hedge_strike = 0.0
        self.hedge_expiry = 0
        self.condor_value = 0.0
        self.hedge_value = 0.0
        self.spx_prices = 0
        self.vix_prices = 0

    def _view(self, tick: int) -> OnePathView:
        m, p = self.market, self.path
        cols = slice(p, p + 1)
        return OnePathView(tick=tick, day=int(self.days[tick]), spot=m.spot[tick, cols],
                           variance=m.variance[tick, cols], vix=m.vix[tick, cols],
                           regime=m.regime[tick, cols])

    def _unit_cost(self, price: float, vix: float) -> float:
        """Half spread plus commission of one option contract at mid ``price``, $."""
        c = self.scenario.costs
        width = max(c.min_width, c.width_share * price)
        width *= 1.0 + c.vix_widening * max(vix - 20.0, 0.0) / 10.0
        return 0.5 * width * SPX_MULTIPLIER + c.commission

    def run(self, env: simpy.Environment):
        """SimPy process: settle, trade, hedge and mark this path, tick by tick."""
        n_ticks = self.market.n_steps + 1
        rate = self.model.rate
        previous_day = None
        for tick in range(n_ticks):
            view = self._view(tick)
            day = view.day
            if previous_day is not None:
                self.cash += self.cash * math.expm1(rate * (day - previous_day) / 365.0)
                self.hedge_cash += self.hedge_cash * math.expm1(
                    rate * (day - previous_day) / 365.0)
            previous_day = day
            self._settle(view)
            self._trade(view, is_last=tick == n_ticks - 1)
            if self.hedge:
                self._hedge(view)
            yield env.timeout(1)

    def _settle(self, view: OnePathView) -> None:
        spot = float(view.spot[0])
        if self.contracts and self.expiry <= view.day:
            for K, sign, is_call in zip(self.strikes, LEG_SIGNS, LEG_CALLS, strict=True):
                payoff = max(spot - K, 0.0) if is_call else max(K - spot, 0.0)
                self.cash += sign * self.contracts * payoff * SPX_MULTIPLIER
            self.contracts = 0.0
            self.condor_value = 0.0
        if self.hedge and self.hedge_expiry and self.hedge_expiry <= view.day:
            self.hedge_cash += max(float(view.vix[0]) - self.hedge_strike, 0.0) \
                * VIX_OPTION_MULTIPLIER
            self.hedge_expiry = 0
            self.hedge_value = 0.0

    def _trade(self, view: OnePathView, is_last: bool) -> None:
        spec = self.scenario.condor
        vix = float(view.vix[0])
        if self.contracts:
            prices = [self.model.spx_price(view, K, self.expiry, is_call)
                      for K, is_call in zip(self.strikes, LEG_CALLS, strict=True)]
            self.spx_prices += len(prices)
            value = sum(s * p for s, p in zip(LEG_SIGNS, prices, strict=True))
            profit = self.credit + value       # value of the legs is minus the cost to close
            dte = self.expiry - view.day
            if (profit >= spec.profit_target * self.credit
                    or -profit >= spec.stop_loss * self.credit
                    or (spec.exit_dte > 0 and dte <= spec.exit_dte)):
                costs = sum(self._unit_cost(p, vix) for p in prices) * self.contracts
                self.cash += value * self.contracts * SPX_MULTIPLIER - costs
                self.contracts = 0.0
                self.condor_value = 0.0
            else:
                self.condor_value = value * self.contracts * SPX_MULTIPLIER
        if self.contracts or is_last or view.tick % spec.entry_interval:
            return
        expiry = first_expiry_on_or_after(view.day + spec.dte_min)
        if expiry - view.day > spec.dte_max:
            return
        T = (expiry - view.day) / DAYS_PER_YEAR
        short_put = self.model.strike_for_delta(view, T, spec.short_delta, is_call=False)
        short_call = max(self.model.strike_for_delta(view, T, spec.short_delta, is_call=True),
                         short_put + SPX_STRIKE_STEP)
        strikes = [short_put - spec.wing_width, short_put, short_call,
                   short_call + spec.wing_width]
        prices = [self.model.spx_price(view, K, expiry, is_call)
                  for K, is_call in zip(strikes, LEG_CALLS, strict=True)]
        self.spx_prices += len(prices)
        credit = -sum(s * p for s, p in zip(LEG_SIGNS, prices, strict=True))
        max_loss = (spec.wing_width - credit) * SPX_MULTIPLIER
        equity = self.cash   # flat: nothing else is marked in the condor account
        contracts = 0.0
        if max_loss > 0:
            contracts = min(math.floor(spec.risk_budget * equity / max_loss),
                            spec.max_contracts)
        if credit <= 0 or contracts < 1 or strikes[0] <= 0:
            return
        costs = sum(self._unit_cost(p, vix) for p in prices) * contracts
        self.cash += credit * contracts * SPX_MULTIPLIER - costs
        self.strikes, self.contracts, self.credit, self.expiry = strikes, contracts, credit, \
            expiry
        self.condor_value = -credit * contracts * SPX_MULTIPLIER
        self.n_condors += 1

    def _hedge(self, view: OnePathView) -> None:
        vix = float(view.vix[0])
        if self.hedge_expiry and self.hedge_expiry - view.day <= HEDGE_ROLL_DAYS:
            price = self.model.vix_call_price(view, self.hedge_strike, self.hedge_expiry)
            self.vix_prices += 1
            self.hedge_cash += price * VIX_OPTION_MULTIPLIER - self._unit_cost(price, vix)
            self.hedge_expiry = 0
        if not self.hedge_expiry:
            expiry = int(vix_expiries_after(view.day + HEDGE_ROLL_DAYS, 1)[0])
            forward = self.model.vix_future(view, expiry)
            self.hedge_strike = round((forward + HEDGE_OFFSET) / VIX_STRIKE_STEP) \
                * VIX_STRIKE_STEP
            self.hedge_expiry = expiry
            price = self.model.vix_call_price(view, self.hedge_strike, expiry)
            self.hedge_cash -= price * VIX_OPTION_MULTIPLIER + self._unit_cost(price, vix)
        else:
            price = self.model.vix_call_price(view, self.hedge_strike, self.hedge_expiry)
        self.vix_prices += 1
        self.hedge_value = price * VIX_OPTION_MULTIPLIER


def run_naive(scenario: Scenario, market: MarketPaths, hedge: bool = True) -> NaiveResult:
    """Simulate every path of ``market`` in its own SimPy process, scalar pricing throughout.

    Parameters
    ----------
    scenario : Scenario
        Condor rules, costs, account, smile and VIX option settings.
    market : MarketPaths
        Pre-generated paths (generation is not timed).
    hedge : bool
        Also hold and reprice one VIX call per path every tick.

    Returns
    -------
    NaiveResult
    """
    model = ScalarModel(scenario, market)
    env = simpy.Environment()
    paths = [NaivePath(scenario, market, p, model, hedge) for p in range(market.n_paths)]
    start = time.perf_counter()
    for state in paths:
        env.process(state.run(env))
    env.run()
    wall = time.perf_counter() - start
    initial = float(scenario.account.initial_cash)
    return NaiveResult(
        n_paths=market.n_paths, n_ticks=market.n_steps + 1, wall_seconds=wall,
        n_condors=np.array([s.n_condors for s in paths]),
        condor_pnl=np.array([s.cash + s.condor_value - initial for s in paths]),
        hedge_pnl=np.array([s.hedge_cash + s.hedge_value for s in paths]),
        spx_prices=sum(s.spx_prices for s in paths),
        vix_prices=sum(s.vix_prices for s in paths))
