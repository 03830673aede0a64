"""Instruments the book can hold, and how each is priced from a market state.

SPX options: European, cash-settled, multiplier 100, priced with
Black-Scholes at an implied vol read from the path's state. With
``SmileModel.kind = "model"`` (the default) that vol is the model's own: the
SVCJ price of the option under the path's regime (pricing measure), by
Fourier (COS) pricing, tabulated once per regime over variance, expiry and
moneyness and interpolated per leg, so marks are the model's conditional
prices (up to interpolation error of about 0.1 vol point; event jumps are not
in the table). With ``kind = "parametric"`` it is the parametric smile of
:class:`sim.config.SmileModel`, whose ATM level for expiry ``T`` is
``atm_vix_ratio`` times the model's variance-swap vol to ``T``,
``sqrt(theta* + (v - theta*) a(T) + jump term)`` with ``a(T) = (1 -
e^{-kappa T}) / (kappa T)`` (``pricing.vix.spx_atm_vol_one``), read from the
path's variance and the parameters of its current regime under the pricing
measure: the same formula as the VIX index (equal to ``atm_vix_ratio *
VIX / 100`` at 30 days), so the ATM term structure is in contango when the
variance is below its mean and inverted above it.

VIX options (:class:`VixPricer`): European, multiplier 100, Black-76 on the
VIX future of the same expiry at the skewed, soft-clipped model vol of
``pricing.vix_options`` (parameters from :class:`sim.config.VixSpec`); they
settle to the VIX index on their expiry date. VIX futures: multiplier 1000,
``100 E_Q[VIX_T]`` (``pricing.vix.vix_future``) under the pricing measure of
the path's current regime (``sim.market.term_structure``), settling to the
VIX index on their expiry date; the book marks them with daily variation
margin (``sim.book``).

Time to expiry is calendar time, ``T = (expiry date - today) / 365`` years
(Actual/365, as in the reference tables). Positions expire at the close of
their expiry date and settle to that close's spot (SPX options) or VIX (VIX
options and futures).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from pricing.black import bs_greeks_one, bs_price_one, norm_ppf
from pricing.smile import smile_vol_one
from pricing.svcj import log_contract_variance_one
from pricing.vix import spx_atm_vol_one
from pricing.vix_options import vix_option_price
from pricing.vol_table import (
    _LOG,
    _SQRT,
    DEFAULT_T_GRID,
    DEFAULT_V_GRID,
    DEFAULT_X_GRID,
    _bracket,
    build_vol_table,
    interpolate_in_x,
    table_moneyness_one,
)
from sim.config import MarketModel, SmileModel, VixSpec
from sim.market import term_structure
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.pricing_params import SVCJ_ROWS, pricing_table, regime_pricing_table

#: Instrument kinds the book holds (values of ``Book.kind``).
SPX_OPTION, VIX_OPTION, VIX_FUTURE = 0, 1, 2
#: Name of each instrument kind, as the ledger writes it.
INSTRUMENT_NAMES = ("spx_option", "vix_option", "vix_future")
#: Contract multiplier of each instrument kind, dollars per index point per contract.
MULTIPLIERS = np.array([100.0, 100.0, 1000.0])
#: Premium paid or received per index point of trade price per contract, dollars: a VIX
#: future pays none (its value is settled daily as variation margin), so opening one
#: moves only its costs into cash.
PREMIUM_MULTIPLIERS = np.array([100.0, 100.0, 0.0])
#: Contract multiplier of an SPX option, dollars per index point.
SPX_MULTIPLIER = 100.0
#: Strike grid of SPX options, index points.
SPX_STRIKE_STEP = 5.0
#: Strike grid of VIX options, index points.
VIX_STRIKE_STEP = 0.5
#: Days per year of option time (Actual/365).
DAYS_PER_YEAR = 365.0


#: Pricing modes of :class:`SpxPricer`.
PARAMETRIC, MODEL = 0, 1
#: Grids of the model vol tables (``pricing.vol_table`` defaults).
_V_GRID = np.ascontiguousarray(DEFAULT_V_GRID, dtype=np.float64)
_T_GRID = np.ascontiguousarray(DEFAULT_T_GRID, dtype=np.float64)
_X_GRID = np.ascontiguousarray(DEFAULT_X_GRID, dtype=np.float64)


def _event_schedule(model: MarketModel, market) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days (since 1970-01-01) of the run's macro events, their spot variance and variance jump."""
    from sim.market.events import event_sizes

    if market is None or not np.any(market.events):
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    ticks = np.flatnonzero(market.events)
    sizes = event_sizes(model.events)
    spot_var = np.zeros(ticks.size)
    var_jump = np.zeros(ticks.size)
    for kind, (spot_std, jump_mean) in sizes.items():
        hit = (market.events[ticks] & kind) != 0
        spot_var += hit * spot_std**2
        var_jump += hit * jump_mean
    days = market.dates[ticks].astype("datetime64[D]").astype(np.int64)
    return np.ascontiguousarray(days), spot_var, var_jump


@functools.lru_cache(maxsize=64)
def _cached_vol_table(params: tuple[float, ...], rate: float, dividend_yield: float
                      ) -> np.ndarray:
    """The model vol table of one regime, built once per parameter set and process."""
    return build_vol_table(*params, rate, dividend_yield, _V_GRID, _T_GRID, _X_GRID)


class SpxPricer:
    """Prices SPX options on every path from its variance, regime and the smile.

    Parameters
    ----------
    model : MarketModel
        Rates, dividend yield and the per-regime dynamics.
    smile : SmileModel
        The smile shape.
    market : MarketPaths, optional
        The batch's paths: its scheduled macro events (dates and kinds) add
        their variance to the model vols of the options they fall before
        (``kind = "model"`` only; see :meth:`price`).
    """

    def __init__(self, model: MarketModel, smile: SmileModel, market=None) -> None:
        self.model = model
        self.rate = float(model.rate)
        self.dividend_yield = float(model.dividend_yield)
        self.smile = smile
        self.table = regime_pricing_table(model)
        self.mode = MODEL if smile.kind == "model" else PARAMETRIC
        self.svcj = pricing_table(model, SVCJ_ROWS)
        if self.mode == MODEL:
            self.vol_tables = np.stack([_cached_vol_table(tuple(col), self.rate,
                                                          self.dividend_yield)
                                        for col in self.svcj.T])
        else:
            self.vol_tables = np.zeros((1, 2, 2, 2))
        self.event_days, self.event_spot_var, self.event_var_jump = _event_schedule(
            model, market)
        self.smile_args = (smile.atm_vix_ratio, smile.skew, smile.curvature,
                           smile.max_moneyness, smile.min_vol, smile.max_vol)

    @property
    def _model_args(self) -> tuple:
        return (self.mode, self.svcj, self.vol_tables, _V_GRID, _T_GRID, _X_GRID,
                self.event_days, self.event_spot_var, self.event_var_jump)

    def _state(self, view) -> tuple[np.ndarray, ...]:
        regime = np.asarray(view.regime, dtype=np.int64)
        return (np.ascontiguousarray(view.spot, dtype=np.float64),
                np.ascontiguousarray(view.variance, dtype=np.float64),
                np.ascontiguousarray(regime))

    def price(self, view, strike, is_call, expiry, active) -> np.ndarray:
        """Mid prices of a table of legs on every path.

        Parameters
        ----------
        view : MarketView
            Spot (index points), variance (annualized), regime and date (``day``).
        strike : ndarray, shape (n_legs, n_paths)
            Index points.
        is_call : array of bool, broadcastable to ``strike``
        expiry : array of int64, broadcastable to ``strike``
            Expiry dates as days since 1970-01-01.
        active : array of bool, broadcastable to ``strike``
            Only active legs are priced; the others get 0.

        Returns
        -------
        ndarray, shape (n_legs, n_paths)
            Mid price per unit, index points; intrinsic value on the expiry date.
        """
        strike = np.ascontiguousarray(strike, dtype=np.float64)
        shape = strike.shape
        out = np.zeros(shape, dtype=np.float64)
        spot, variance, regime = self._state(view)
        _price_legs_kernel(
            spot, variance, regime, self.table, int(view.day), self.rate,
            self.dividend_yield, *self.smile_args, *self._model_args, strike,
            np.ascontiguousarray(np.broadcast_to(is_call, shape), dtype=np.bool_),
            np.ascontiguousarray(np.broadcast_to(expiry, shape), dtype=np.int64),
            np.ascontiguousarray(np.broadcast_to(active, shape), dtype=np.bool_), out)
        return out

    def vol(self, view, strike, T) -> np.ndarray:
        """Smile vol (annualized decimal) of one strike per path at ``T`` years.

        ``strike`` and ``T`` are scalars or arrays of shape ``(n_paths,)``.
        """
        spot, variance, regime = self._state(view)
        out = np.empty(spot.shape, dtype=np.float64)
        T = np.ascontiguousarray(np.broadcast_to(T, spot.shape), dtype=np.float64)
        _vol_kernel(spot, variance, regime, self.table, T, self.rate,
                    self.dividend_yield, *self.smile_args, *self._model_args, int(view.day),
                    np.ascontiguousarray(np.broadcast_to(strike, spot.shape), np.float64), out)
        return out

    def atm_vol(self, view, T) -> np.ndarray:
        """ATM vol (annualized decimal) at ``T`` years on every path."""
        spot = np.asarray(view.spot, dtype=np.float64)
        forward = spot * np.exp((self.rate - self.dividend_yield) * T)
        return self.vol(view, forward, T)

    def strikes_for_delta(self, view, T: float, target_delta: float, is_call: bool,
                          mask=None) -> np.ndarray:
        """Strike (index points, on the 5-point grid) whose smile delta is ``target_delta``.

        The delta is the Black-Scholes delta at the smile vol of that strike
        (sticky strike), solved as a fixed point in log-moneyness by the
        secant method (bisection on the delta as a fallback), then rounded to
        the nearest strike of the SPX grid. Paths outside ``mask`` get NaN.
        """
        spot, variance, regime = self._state(view)
        out = np.empty(spot.shape, dtype=np.float64)
        solve = (np.ones(spot.shape, dtype=np.bool_) if mask is None
                 else np.ascontiguousarray(mask, dtype=np.bool_))
        _strike_for_delta_kernel(spot, variance, regime, self.table, float(T), self.rate,
                                 self.dividend_yield, *self.smile_args, *self._model_args,
                                 int(view.day), float(target_delta),
                                 bool(is_call), SPX_STRIKE_STEP, solve, out)
        return out


def vix_expiries_after(day: int, n: int) -> np.ndarray:
    """The next ``n`` monthly VIX expiries strictly after ``day``.

    Parameters
    ----------
    day : int
        Days since 1970-01-01; an expiry on that day is excluded.
    n : int
        Number of expiries, ``>= 0``.

    Returns
    -------
    ndarray of int64, shape (n,)
        Expiry dates as days since 1970-01-01, ascending
        (``sim.market.term_structure.vix_expiries_after``).
    """
    dates = term_structure.vix_expiries_after(np.datetime64(int(day), "D"), n)
    return dates.astype(np.int64)


def vix_expiry_on_or_after(day: int) -> int:
    """The first monthly VIX expiry on or after ``day`` (days since 1970-01-01)."""
    return int(vix_expiries_after(int(day) - 1, 1)[0])


class VixPricer:
    """Prices VIX futures and VIX options on every path from its variance and regime.

    Futures are ``E[VIX_T]`` under the pricing measure with regime switches
    priced in (``sim.market.term_structure.RegimeVixTerms``: the variance
    follows each step's regime, the regime its Markov chain, over the
    business days to expiry), by the same lognormal moment match as
    ``pricing.vix.vix_future``; with one regime they equal
    ``term_structure.vix_futures_for`` at horizon ``business days /
    TICKS_PER_YEAR``, and they are what ``MarketSignals.futures_at`` reports.
    Options are ``pricing.vix_options.vix_option_price``: Black-76 on the
    future of their expiry at the model's lognormal vol of VIX to that expiry
    (from the same moments; ``T = (expiry - today) / 365`` years), times
    ``option_vol_scale``, with the optional ``option_skew``, discounted at the
    model's rate. On and after its expiry date a future is
    the VIX index and an option its intrinsic value against the VIX index.

    Parameters
    ----------
    model : MarketModel
        Rate and the per-regime dynamics (their Q form is used).
    vix : VixSpec
        Option vol scale, skew and bounds; futures margin rates (read by the book).
    """

    def __init__(self, model: MarketModel, vix: VixSpec) -> None:
        self.model = model
        self.spec = vix
        self.rate = float(model.rate)
        n_regimes = model.regimes.n_regimes
        # One row per parameter (PRICING_PARAMETERS order), one column per regime.
        self.q_table = np.stack(term_structure.pricing_parameters(
            model, np.arange(n_regimes, dtype=np.int64)))
        self.option_args = (vix.option_vol_scale, vix.option_skew, vix.min_option_vol,
                            vix.max_option_vol)
        self.terms = term_structure.RegimeVixTerms(model)

    def _futures_of(self, today: int, variance, regime, days) -> np.ndarray:
        """Futures (index points) of legs ``days > 0`` calendar days out, all arrays (n,)."""
        steps = term_structure.business_days_to(today, today + days)
        return self.terms.futures(variance, regime, steps)

    def future(self, view, expiry) -> np.ndarray:
        """VIX futures prices of the given expiries on every path.

        Parameters
        ----------
        view : MarketView
            Variance (annualized), regime, VIX (index points) and date (``day``).
        expiry : array_like of int64
            Expiry dates (days since 1970-01-01), any shape that broadcasts with
            ``(n_paths,)`` on the last axis, e.g. ``(n_expiries, 1)`` or ``(n_paths,)``.

        Returns
        -------
        ndarray
            Futures prices, index points, of the broadcast shape; the VIX index
            on and after the expiry date.
        """
        expiry = np.asarray(expiry, dtype=np.int64)
        vix = np.asarray(view.vix, dtype=np.float64)
        shape = np.broadcast_shapes(expiry.shape, vix.shape)
        out = np.array(np.broadcast_to(vix, shape), dtype=np.float64)
        days = np.broadcast_to(expiry - int(view.day), shape)
        live = np.nonzero(days > 0)
        if live[0].size:
            path = live[-1]
            regime = np.asarray(view.regime)[path]
            variance = np.asarray(view.variance, dtype=np.float64)[path]
            out[live] = self._futures_of(int(view.day), variance, regime, days[live])
        return out

    def future_legs(self, view, expiry, active) -> np.ndarray:
        """Futures prices of a table of legs, ``(n_legs, n_paths)``; 0 where not ``active``.

        Only the active legs are priced (gathered, priced, scattered back).
        """
        active = np.asarray(active, dtype=bool)
        shape = np.broadcast_shapes(active.shape, np.shape(expiry))
        out = np.zeros(shape)
        leg, path = np.nonzero(np.broadcast_to(active, shape))
        if leg.size:
            days = np.broadcast_to(np.asarray(expiry, dtype=np.int64), shape)[leg, path] \
                - int(view.day)
            out[leg, path] = self._leg_futures(view, path, days)
        return out

    def _leg_futures(self, view, path, days) -> np.ndarray:
        price = np.asarray(view.vix, dtype=np.float64)[path].copy()
        live = days > 0
        if live.any():
            p = path[live]
            price[live] = self._futures_of(int(view.day),
                                           np.asarray(view.variance, dtype=np.float64)[p],
                                           np.asarray(view.regime)[p], days[live])
        return price

    def option(self, view, strike, is_call, expiry, active) -> np.ndarray:
        """Mid prices of a table of VIX option legs on every path.

        Parameters
        ----------
        view : MarketView
            Variance (annualized), regime, VIX (index points) and date (``day``).
        strike : ndarray, shape (n_legs, n_paths)
            Index points.
        is_call : array of bool, broadcastable to ``strike``
        expiry : array of int64, broadcastable to ``strike``
            Expiry dates as days since 1970-01-01.
        active : array of bool, broadcastable to ``strike``
            Only active legs are priced; the others get 0.

        Returns
        -------
        ndarray, shape (n_legs, n_paths)
            Mid price per unit, index points (multiplier not applied);
            intrinsic value against the VIX index on and after the expiry date.
        """
        strike = np.asarray(strike, dtype=np.float64)
        shape = strike.shape
        out = np.zeros(shape)
        leg, path = np.nonzero(np.broadcast_to(np.asarray(active, dtype=bool), shape))
        if not leg.size:
            return out
        K = strike[leg, path]
        call = np.broadcast_to(np.asarray(is_call, dtype=bool), shape)[leg, path]
        days = np.broadcast_to(np.asarray(expiry, dtype=np.int64), shape)[leg, path] \
            - int(view.day)
        vix = np.asarray(view.vix, dtype=np.float64)[path]
        price = np.where(call, np.maximum(vix - K, 0.0), np.maximum(K - vix, 0.0))
        live = days > 0
        if live.any():
            p = path[live]
            T = days[live] / DAYS_PER_YEAR
            variance = np.asarray(view.variance, dtype=np.float64)[p]
            regime = np.asarray(view.regime)[p]
            steps = term_structure.business_days_to(int(view.day), int(view.day) + days[live])
            forward = self.terms.futures(variance, regime, steps)
            model_vol = self.terms.model_vol(variance, regime, steps, T)
            price[live] = vix_option_price(K[live], forward, T, self.rate, model_vol,
                                           *self.option_args, call[live])
        out[leg, path] = price
        return out


@njit(cache=True)
def spx_option_vol_one(S, K, T, r, q, v, kappa, theta, lam, mu_v, jump_term, atm_ratio, skew,
                       curvature, max_moneyness, min_vol, max_vol):
    """Smile vol (annualized decimal) of one SPX option at variance ``v``."""
    forward = S * np.exp((r - q) * T)
    atm = spx_atm_vol_one(v, T, kappa, theta, lam, mu_v, jump_term, atm_ratio)
    return smile_vol_one(K, forward, T, atm, skew, curvature, max_moneyness, min_vol,
                         max_vol)


@njit(cache=True)
def _event_variance(today, T, kappa, event_days, spot_var, var_jump):
    """Total variance (years x variance) the scheduled events in ``(today, today + T]`` add.

    Each event adds its spot shock variance ``s^2`` and, through its variance
    jump of mean ``m`` decaying at ``kappa``, ``m (1 - e^{-kappa tau}) / kappa``
    where ``tau`` is the time from the event to expiry.
    """
    expiry = today + T * DAYS_PER_YEAR
    total = 0.0
    start = np.searchsorted(event_days, today, side="right")
    for e in range(start, event_days.shape[0]):
        day = event_days[e]
        if day > expiry + 1e-9:
            break
        tau = (expiry - day) / DAYS_PER_YEAR
        decay = tau if kappa * tau < 1e-8 else -np.expm1(-kappa * tau) / kappa
        total += spot_var[e] + var_jump[e] * decay
    return total


@njit(cache=True)
def _business_days_after(today, expiry):
    """Business days (Monday to Friday) ``d`` with ``today < d <= expiry`` (days since 1970)."""
    if expiry <= today:
        return 0
    # 1970-01-01 was a Thursday: weekday (Monday = 0) of day d is (d + 3) % 7.
    count = 0
    full_weeks = (expiry - today) // 7
    count += 5 * full_weeks
    d = today + 7 * full_weeks
    while d < expiry:
        d += 1
        if (d + 3) % 7 < 5:
            count += 1
    return count


@njit(cache=True)
def _model_setup(T, v, p, today, event_days, spot_var, var_jump, v_grid, T_grid):
    """What the legs of one path and expiry share in model mode.

    Variance accrues on business days only (one tick is 1/TICKS_PER_YEAR year
    of variance), so the model's horizon ``T_var`` is the business days to
    expiry; the vol returned by :func:`_model_vol` is rescaled to calendar
    time ``T`` for Black-Scholes, so that ``sigma^2 T`` is the model's total
    variance. Scheduled events add their variance to that total (the usual
    event-vol adjustment: exact for the ATM level of a normal shock,
    approximate in the wings).
    """
    expiry = today + int(np.round(T * DAYS_PER_YEAR))
    T_var = _business_days_after(today, expiry) / TICKS_PER_YEAR
    if T_var <= 0.0:
        return T_var, 0.0, 0.0, 0, 0.0, 0, 0.0
    v_ref = log_contract_variance_one(v, T_var, p[0], p[1], p[4], p[5], p[6], p[7], p[8])
    extra = 0.0
    if event_days.shape[0] > 0:
        extra = _event_variance(today, T, p[0], event_days, spot_var, var_jump)
    i, wv = _bracket(v_grid, v, _SQRT)
    j, wt = _bracket(T_grid, T_var, _LOG)
    return T_var, v_ref, extra, i, wv, j, wt


@njit(cache=True)
def _model_vol(K, forward, T, setup, vol_table, x_grid):
    """Model vol (annualized decimal, calendar time) of strike ``K`` from a :func:`_model_setup`."""
    T_var, v_ref, extra, i, wv, j, wt = setup
    if T_var <= 0.0 or T <= 0.0:
        return 0.0
    sigma = interpolate_in_x(vol_table, i, wv, j, wt, x_grid,
                             table_moneyness_one(K, forward, T_var, v_ref))
    return np.sqrt((sigma * sigma * T_var + extra) / T)


@njit(cache=True)
def _leg_vol(S, K, T, r, q, v, table, regime, smile, model, today):
    mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var, var_jump = model
    if mode == MODEL:
        setup = _model_setup(T, v, svcj[:, regime], today, event_days, spot_var, var_jump,
                             v_grid, T_grid)
        return _model_vol(K, S * np.exp((r - q) * T), T, setup, vol_tables[regime], x_grid)
    return spx_option_vol_one(S, K, T, r, q, v, table[0, regime], table[1, regime],
                              table[2, regime], table[3, regime], table[4, regime],
                              smile[0], smile[1], smile[2], smile[3], smile[4], smile[5])


@njit(cache=True)
def _price_legs_kernel(spot, variance, regime, table, today, r, q, atm_ratio, skew, curvature,
                       max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid,
                       T_grid, x_grid, event_days, spot_var, var_jump, strike, is_call, expiry,
                       active, out):
    smile = (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol)
    model = (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var, var_jump)
    n_legs, n_paths = strike.shape
    for j in range(n_paths):
        # In model mode the legs of one path and expiry share their setup.
        setup_expiry = -1
        setup = (0.0, 0.0, 0.0, 0, 0.0, 0, 0.0)
        for i in range(n_legs):
            if not active[i, j]:
                out[i, j] = 0.0
                continue
            T = (expiry[i, j] - today) / DAYS_PER_YEAR
            if T <= 0.0:
                out[i, j] = bs_price_one(spot[j], strike[i, j], 0.0, r, q, 0.0, is_call[i, j])
                continue
            if mode == MODEL:
                if expiry[i, j] != setup_expiry:
                    setup = _model_setup(T, variance[j], svcj[:, regime[j]], today, event_days,
                                         spot_var, var_jump, v_grid, T_grid)
                    setup_expiry = expiry[i, j]
                sigma = _model_vol(strike[i, j], spot[j] * np.exp((r - q) * T), T, setup,
                                   vol_tables[regime[j]], x_grid)
            else:
                sigma = _leg_vol(spot[j], strike[i, j], T, r, q, variance[j], table, regime[j],
                                 smile, model, today)
            out[i, j] = bs_price_one(spot[j], strike[i, j], T, r, q, sigma, is_call[i, j])


@njit(cache=True)
def _vol_kernel(spot, variance, regime, table, T, r, q, atm_ratio, skew, curvature,
                max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid, T_grid, x_grid,
                event_days, spot_var, var_jump, today, strike, out):
    smile = (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol)
    model = (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var, var_jump)
    for j in range(spot.shape[0]):
        out[j] = _leg_vol(spot[j], strike[j], T[j], r, q, variance[j], table, regime[j], smile,
                          model, today)


@njit(cache=True)
def _strike_for_delta_kernel(spot, variance, regime, table, T, r, q, atm_ratio, skew,
                             curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables,
                             v_grid, T_grid, x_grid, event_days, spot_var, var_jump, today,
                             target_delta, is_call, step, solve, out):
    # Sticky-strike delta at the smile vol: |delta| = e^{-qT} N(+-d1), so d1 is
    # fixed by the target and ln(K/F) = sigma(K)^2 T / 2 - d1 sigma(K) sqrt(T),
    # a fixed point in k = ln(K/F), solved by the secant method on
    # h(k) = g(k) - k; bisection on the delta itself is the fallback.
    smile = (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol)
    model = (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var, var_jump)
    sqrt_t = np.sqrt(T)
    p = target_delta * np.exp(q * T)
    d1 = norm_ppf(p) if is_call else -norm_ppf(p)
    for j in range(spot.shape[0]):
        if not solve[j]:
            out[j] = np.nan
            continue
        S = spot[j]
        v = variance[j]
        reg = regime[j]
        forward = S * np.exp((r - q) * T)
        k_prev = 0.0
        sigma = _leg_vol(S, forward, T, r, q, v, table, reg, smile, model, today)
        h_prev = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k_prev
        k = k_prev + h_prev
        found = False
        for _ in range(40):
            sigma = _leg_vol(S, forward * np.exp(k), T, r, q, v, table, reg, smile, model,
                             today)
            h = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k
            if abs(h) < 1e-10:
                found = True
                break
            slope = (h - h_prev) / (k - k_prev) if k != k_prev else -1.0
            k_prev, h_prev = k, h
            k = k - h / slope if slope != 0.0 else k + h
        if not found or (k > 0.0) != is_call:
            k = _bisect_delta(S, forward, T, r, q, v, table, reg, smile, model, today,
                              target_delta, is_call)
        out[j] = max(step, np.round(forward * np.exp(k) / step) * step)


@njit(cache=True)
def _bisect_delta(S, forward, T, r, q, v, table, regime, smile, model, today, target_delta,
                  is_call):
    # |delta| falls monotonically as the strike moves away from the money on
    # this side (for smiles without arbitrage): bisect on ln(K/F) over eight
    # ATM standard deviations, to 1e-7 (far below the 5-point grid).
    atm = _leg_vol(S, forward, T, r, q, v, table, regime, smile, model, today)
    reach = 8.0 * max(atm, smile[4]) * np.sqrt(max(T, 1e-6)) + 0.01
    if is_call:
        lo, hi = 0.0, reach
    else:
        lo, hi = -reach, 0.0
    while hi - lo > 1e-7:
        mid = 0.5 * (lo + hi)
        K = forward * np.exp(mid)
        sigma = _leg_vol(S, K, T, r, q, v, table, regime, smile, model, today)
        d = abs(bs_greeks_one(S, K, T, r, q, sigma, is_call)[0])
        if (d > target_delta) == is_call:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
