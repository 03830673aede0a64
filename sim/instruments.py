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

Speed. The book prices a table of legs with one kernel
(:meth:`SpxPricer.price_into`) in which what a path's legs of one expiry share
(the model setup, forward, discount factors) and what every path shares for
an expiry (business days, event variance) are computed once; the hedge's
short-strike signals (:meth:`SpxPricer.short_strike_signals`) and the strike
solver share setups the same way. Each gives, bit for bit, the numbers of the
plain per-leg kernels kept above (``_price_legs_kernel``, ``_vol_kernel``).
Large calls run over threads when that is faster (:class:`KernelChoice`).
VIX legs go through one moment pass, numpy's power and log1p (the operations
of ``RegimeVixTerms``), then one pricing pass.
"""

from __future__ import annotations

import functools
import math
import time

import numba
import numpy as np
from numba import njit, prange

from pricing.black import bs_delta_one, bs_price_one, bs_price_terms, norm_ppf
from pricing.smile import smile_vol_one
from pricing.svcj import log_contract_variance_one
from pricing.vix import spx_atm_vol_one
from pricing.vix_options import vix_option_price_one
from pricing.vol_table import (
    _LINEAR,
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
#: Distinct expiries per kernel call whose expiry-only setup is tabulated once (the
#: rest, if any, are set up per path, with the same numbers).
_MAX_HORIZONS = 64
#: Smallest calls that the pricing kernels spread over threads: legs priced, paths
#: with a short strike pair, strikes solved (see ``KernelChoice``).
_PARALLEL_MIN_LEGS = 16384
_PARALLEL_MIN_PATHS = 4096
_PARALLEL_MIN_SOLVES = 1024
#: Blocks of paths the parallel kernels hand out to threads (each a contiguous range).
_CHUNKS = 16
#: Grids of the model vol tables (``pricing.vol_table`` defaults).
_V_GRID = np.ascontiguousarray(DEFAULT_V_GRID, dtype=np.float64)
_T_GRID = np.ascontiguousarray(DEFAULT_T_GRID, dtype=np.float64)
_X_GRID = np.ascontiguousarray(DEFAULT_X_GRID, dtype=np.float64)


def kernel_array(values, dtype=None) -> np.ndarray:
    """``values`` as a C-contiguous, writeable array of ``dtype`` (copied only if needed).

    What the kernels are handed: numba compiles one version per array type,
    and read-only views (``np.broadcast_to``) are a type of their own, so
    giving the kernels plain arrays keeps one compiled version each.
    """
    return np.require(values, dtype=dtype, requirements=("C", "W"))


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
        return (kernel_array(view.spot, dtype=np.float64),
                kernel_array(view.variance, dtype=np.float64),
                kernel_array(regime))

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
        strike = kernel_array(strike, dtype=np.float64)
        shape = strike.shape
        out = np.zeros(shape, dtype=np.float64)
        self.price_into(view, strike, np.broadcast_to(is_call, shape),
                        np.broadcast_to(expiry, shape), np.zeros(shape, dtype=np.int8),
                        np.broadcast_to(active, shape), out)
        return out

    def price_into(self, view, strike, is_call, expiry, kind, active, out) -> None:
        """Write the mid prices of the active SPX legs of a table into ``out``.

        As :meth:`price`, for a table that mixes instrument kinds: legs that
        are not active or whose ``kind`` is not ``SPX_OPTION`` keep what
        ``out`` holds. All arrays have the shape ``(n_legs, n_paths)``.
        """
        shape = out.shape
        spot, variance, regime = self._state(view)
        _quote_spx_kernel(
            spot, variance, regime, self.table, int(view.day), self.rate,
            self.dividend_yield, *self.smile_args, *self._model_args,
            kernel_array(strike, dtype=np.float64),
            kernel_array(is_call, dtype=np.bool_),
            kernel_array(expiry, dtype=np.int64),
            kernel_array(np.broadcast_to(kind, shape), dtype=np.int8),
            kernel_array(active, dtype=np.bool_), out)

    def vol(self, view, strike, T) -> np.ndarray:
        """Smile vol (annualized decimal) of one strike per path at ``T`` years.

        ``strike`` and ``T`` are scalars or arrays of shape ``(n_paths,)``.
        """
        spot, variance, regime = self._state(view)
        out = np.empty(spot.shape, dtype=np.float64)
        T = kernel_array(np.broadcast_to(T, spot.shape), dtype=np.float64)
        _vol_kernel(spot, variance, regime, self.table, T, self.rate,
                    self.dividend_yield, *self.smile_args, *self._model_args, int(view.day),
                    kernel_array(np.broadcast_to(strike, spot.shape), np.float64), out)
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
                 else kernel_array(mask, dtype=np.bool_))
        _strike_for_delta_kernel(spot, variance, regime, self.table, float(T), self.rate,
                                 self.dividend_yield, *self.smile_args, *self._model_args,
                                 int(view.day), float(target_delta),
                                 bool(is_call), SPX_STRIKE_STEP, solve, out)
        return out


    def short_strike_signals(self, view, expiry, put_strike, call_strike,
                             need_atm: bool = True, need_delta: bool = True
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ATM vol and short-strike deltas of one position per path, in one pass.

        The numbers a hedge reads off a short put and a short call expiring
        on ``expiry``, bit for bit those of the separate calls: the ATM vol
        ``atm_vol(view, T_atm)`` with ``T_atm = max(dte, 1) / 365``, and the
        absolute Black-Scholes deltas of the two strikes at their smile vols
        (``vol(view, K, max(T, 1 day))``, ``T = max(dte, 0) / 365``). A
        path's model setup is found once for all three when the horizons
        agree, and paths run in parallel.

        Parameters
        ----------
        view : MarketView
            Usually the view of the paths with a position (``view.take``).
        expiry : ndarray of int64, shape (n,)
            Days since 1970-01-01.
        put_strike, call_strike : ndarray, shape (n,)
            Index points.
        need_atm, need_delta : bool
            Which outputs to compute (the other is left NaN).

        Returns
        -------
        atm, put_delta, call_delta : ndarray, shape (n,)
            ATM vol (annualized decimal) and |delta| of the put and the call.
        """
        spot, variance, regime = self._state(view)
        expiry = np.asarray(expiry, dtype=np.int64)
        days = np.maximum(expiry - int(view.day), 1)
        T_atm = days / DAYS_PER_YEAR
        # The ATM strike is the forward as ``atm_vol`` computes it (numpy's exp).
        forward = spot * np.exp((self.rate - self.dividend_yield) * T_atm)
        T = np.maximum(expiry - int(view.day), 0) / DAYS_PER_YEAR
        atm = np.full(spot.shape, np.nan)
        put_delta = np.full(spot.shape, np.nan)
        call_delta = np.full(spot.shape, np.nan)
        _short_strike_kernel(
            spot, variance, regime, self.table, self.rate, self.dividend_yield,
            *self.smile_args, *self._model_args, int(view.day), forward, days, T_atm, T,
            kernel_array(put_strike, dtype=np.float64),
            kernel_array(call_strike, dtype=np.float64), bool(need_atm),
            bool(need_delta), atm, put_delta, call_delta)
        return atm, put_delta, call_delta


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
            out[live] = self._vix_legs(view, live[-1], days[live])
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

    def future_legs_at(self, view, path, days) -> np.ndarray:
        """Futures prices (index points) of a list of legs: path index and days to expiry.

        The VIX index where ``days <= 0``.
        """
        return self._leg_futures(view, path, days)

    def _leg_futures(self, view, path, days) -> np.ndarray:
        return self._vix_legs(view, path, days)

    def option_legs(self, view, path, K, call, days) -> np.ndarray:
        """Mid prices (index points) of a list of VIX option legs.

        Parameters
        ----------
        view : MarketView
        path : ndarray of int, shape (n,)
            Path of each leg (index into the view's arrays).
        K : ndarray, shape (n,)
            Strikes, index points.
        call : ndarray of bool, shape (n,)
        days : ndarray of int64, shape (n,)
            Calendar days to expiry; intrinsic value against the VIX at ``<= 0``.

        Returns
        -------
        ndarray, shape (n,)
        """
        return self._vix_legs(view, path, days, K, call)

    def _vix_legs(self, view, path, days, K=None, call=None) -> np.ndarray:
        """Futures (``K`` None) or option prices of a list of legs, in three passes.

        The moments of ``VIX_T^2`` and their ratio ``s2 / m^2`` in one kernel;
        ``(1 + ratio)^(-1/8)`` and ``log1p(ratio)`` in numpy, exactly as
        ``term_structure.futures_from_moments`` and ``model_vol_from_moments``
        take them; the futures, the model vols and the Black-76 prices in a
        second kernel. The same numbers as ``RegimeVixTerms.futures`` /
        ``.model_vol`` and ``pricing.vix_options.vix_option_price``.
        """
        path = np.asarray(path, dtype=np.int64)
        days = np.asarray(days, dtype=np.int64)
        out = np.empty(path.size)
        if not path.size:
            return out
        today = int(view.day)
        max_days = int(days.max())
        max_steps = _business_days_after(today, today + max_days) if max_days > 0 else 0
        mean_coef, second_coef = self.terms.coefficients(int(max_steps))
        mean = np.empty(path.size)
        ratio = np.empty(path.size)
        variance = kernel_array(view.variance, dtype=np.float64)
        regime = kernel_array(view.regime, dtype=np.int64)
        vix = kernel_array(view.vix, dtype=np.float64)
        _vix_moments_kernel(today, path, days, variance, regime, mean_coef, second_coef, mean,
                            ratio)
        shrink = (1.0 + ratio) ** -0.125
        if K is None:
            _vix_future_legs_kernel(path, days, vix, mean, shrink, out)
        else:
            spread = np.log1p(ratio)
            _vix_option_legs_kernel(path, days, vix, mean, shrink, spread,
                                    kernel_array(K, dtype=np.float64),
                                    kernel_array(call, dtype=np.bool_), self.rate,
                                    *self.option_args, out)
        return out

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
        price = self.option_legs(view, path, K, call, days)
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
def _spx_expiry_range(expiry, kind, active, today):
    """First and last expiry day after ``today`` of the active SPX legs, and which occur.

    Returns ``(first, present)``: ``present[d]`` is True where day ``first + d``
    is the expiry of some such leg (empty if there is none).
    """
    first = np.int64(-1)
    last = np.int64(-1)
    n_legs, n_paths = expiry.shape
    for j in range(n_paths):
        for i in range(n_legs):
            if active[i, j] and kind[i, j] == SPX_OPTION and expiry[i, j] > today:
                day = expiry[i, j]
                if first < 0 or day < first:
                    first = day
                if day > last:
                    last = day
    if first < 0:
        return first, np.zeros(0, dtype=np.bool_)
    present = np.zeros(last - first + 1, dtype=np.bool_)
    for j in range(n_paths):
        for i in range(n_legs):
            if active[i, j] and kind[i, j] == SPX_OPTION and expiry[i, j] > today:
                present[expiry[i, j] - first] = True
    return first, present


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


# ---------------------------------------------------------------------------
# Fused kernels: what several legs of one path and expiry share is computed once
#
# The model-mode kernels below give, bit for bit, the numbers of the kernels
# above (`_price_legs_kernel`, `_vol_kernel` and the scalar `_model_setup` /
# `_model_vol` / `bs_price_one`), by the same floating-point operations in
# the same order; they only compute shared parts once (per expiry and regime,
# per path and expiry) and take every array as an argument (tuples of arrays
# and array slices inside a loop cost a reference count each).
# ---------------------------------------------------------------------------


@njit(cache=True)
def _expiry_part(T, kappa, today, event_days, spot_var, var_jump, T_grid):
    """The part of :func:`_model_setup` that depends on the expiry and regime, not the path.

    ``(T_var, extra, j, wt)``: business-day horizon, event variance and the
    expiry bracket.
    """
    expiry = today + int(np.round(T * DAYS_PER_YEAR))
    T_var = _business_days_after(today, expiry) / TICKS_PER_YEAR
    if T_var <= 0.0:
        return T_var, 0.0, 0, 0.0
    extra = 0.0
    if event_days.shape[0] > 0:
        extra = _event_variance(today, T, kappa, event_days, spot_var, var_jump)
    j, wt = _bracket(T_grid, T_var, _LOG)
    return T_var, extra, j, wt


@njit(cache=True)
def _horizon_table(T, today, svcj, event_days, spot_var, var_jump, T_grid):
    """:func:`_expiry_part` of one horizon ``T`` (years) in each regime: ``(1, n_regimes, 4)``."""
    n_regimes = svcj.shape[1]
    parts = np.zeros((1, n_regimes, 4))
    for r in range(n_regimes):
        T_var, extra, j, wt = _expiry_part(T, svcj[0, r], today, event_days, spot_var, var_jump,
                                           T_grid)
        parts[0, r, 0] = T_var
        parts[0, r, 1] = extra
        parts[0, r, 2] = j
        parts[0, r, 3] = wt
    return parts


@njit(cache=True)
def _day_table(first, present, today, svcj, event_days, spot_var, var_jump, T_grid):
    """:func:`_expiry_part` of the expiry days ``first + d`` where ``present[d]``.

    ``(len(present), n_regimes, 4)``, at ``T = (day - today) / 365`` years:
    what every path with a leg of that expiry shares, found once.
    """
    n_regimes = svcj.shape[1]
    parts = np.zeros((present.shape[0], n_regimes, 4))
    for d in range(present.shape[0]):
        if not present[d]:
            continue
        T = (first + d - today) / DAYS_PER_YEAR
        for r in range(n_regimes):
            T_var, extra, j, wt = _expiry_part(T, svcj[0, r], today, event_days, spot_var,
                                               var_jump, T_grid)
            parts[d, r, 0] = T_var
            parts[d, r, 1] = extra
            parts[d, r, 2] = j
            parts[d, r, 3] = wt
    return parts


@njit(cache=True, inline="always")
def _state_setup(parts, row, v, reg, svcj, v_grid):
    """:func:`_model_setup` of one path (variance ``v``, regime ``reg``) from a day table row.

    Only the path's own part is computed: ``v_ref`` and the variance bracket.
    """
    T_var = parts[row, reg, 0]
    if T_var <= 0.0:
        return T_var, 0.0, 0.0, 0, 0.0, 0, 0.0
    v_ref = log_contract_variance_one(v, T_var, svcj[0, reg], svcj[1, reg], svcj[4, reg],
                                      svcj[5, reg], svcj[6, reg], svcj[7, reg], svcj[8, reg])
    i, wv = _bracket(v_grid, v, _SQRT)
    return T_var, v_ref, parts[row, reg, 1], i, wv, int(parts[row, reg, 2]), parts[row, reg, 3]


@njit(cache=True, inline="always")
def _setup_scale(setup):
    """``sqrt(T_var v_ref)``, the moneyness scale of a setup (0 if not positive)."""
    total_variance = setup[0] * setup[1]
    return np.sqrt(total_variance) if total_variance > 0.0 else 0.0


@njit(cache=True, inline="always")
def _interpolate_regime(vol_tables, reg, i, wv, j, wt, x_grid, x):
    """``interpolate_in_x(vol_tables[reg], i, wv, j, wt, x_grid, x)`` without the slice."""
    m, wx = _bracket(x_grid, x, _LINEAR)
    total = 0.0
    for di in range(2):
        fv = wv if di else 1.0 - wv
        for dj in range(2):
            ft = wt if dj else 1.0 - wt
            c0 = vol_tables[reg, i + di, j + dj, m]
            c1 = vol_tables[reg, i + di, j + dj, m + 1]
            total += fv * ft * (c0 + wx * (c1 - c0))
    return total


@njit(cache=True, inline="always")
def _setup_vol(K, forward, T, setup, scale, vol_tables, reg, x_grid):
    """:func:`_model_vol` of strike ``K`` with :func:`_setup_scale` found once per setup."""
    T_var, v_ref, extra, i, wv, j, wt = setup
    if T_var <= 0.0 or T <= 0.0:
        return 0.0
    log_moneyness = math.log(K / forward)
    if T_var * v_ref > 0.0:
        x = log_moneyness / scale
    elif log_moneyness == 0.0:
        x = 0.0
    else:
        x = math.copysign(np.inf, log_moneyness)
    sigma = _interpolate_regime(vol_tables, reg, i, wv, j, wt, x_grid, x)
    return np.sqrt((sigma * sigma * T_var + extra) / T)


@njit(cache=True, inline="always")
def _expiry_terms(S, T, r, q):
    """What Black-Scholes and the model vol share across the strikes of one expiry.

    ``(forward, fwd_pv, strike_discount, sqrt_T, carry)``, as ``bs_price_one``
    and :func:`_model_vol` compute them for each strike.
    """
    return (S * np.exp((r - q) * T), S * np.exp(-q * T), np.exp(-r * T), np.sqrt(T),
            (r - q) * T)


@njit(cache=True, inline="always")
def _bs_price_shared(S, K, T, r, q, sigma, is_call, fwd_pv, strike_discount, sqrt_T, carry):
    """``bs_price_one(S, K, T, r, q, sigma, is_call)`` for ``T > 0`` with :func:`_expiry_terms`."""
    if S != S or K != K or T != T or r != r or q != q or sigma != sigma:
        return np.nan
    return bs_price_terms(S, K, sigma, is_call, fwd_pv, K * strike_discount, sqrt_T, carry)


class KernelChoice:
    """Runs a kernel serially or over threads, whichever has been faster here.

    Every call below ``min_paths`` paths runs serially: starting the threads
    costs tens of microseconds that small calls do not repay. Larger calls
    run the variant whose measured time per path (a moving average) is the
    smaller, and now and then the other one again, so that the choice
    follows the machine: on a quiet machine the threads win; when other
    processes hold the cores, a parallel region waits for a descheduled
    thread and the serial variant wins. The first call in a process takes
    the parallel variant whatever its size, so that a small warm-up run
    compiles (or loads) both. With ``numba.set_num_threads(1)`` (e.g. in each
    worker of a process pool) every call runs serially.

    The results never depend on the choice: each path's numbers come from
    the same code and are written only to its own entries.
    """

    #: Large calls before the variant not in use is timed again; the interval
    #: doubles (up to ``MAX_PROBE_EVERY``) while the timings keep the choice.
    PROBE_EVERY = 32
    MAX_PROBE_EVERY = 1024
    #: Weight of the newest timing in the moving averages.
    SMOOTHING = 0.3

    def __init__(self, serial, parallel) -> None:
        self.serial = serial
        self.parallel = parallel
        self.seconds_per_path = {False: None, True: None}
        # Whether each variant has run in this process (its first run may
        # include loading it, so it is not timed).
        self.ran = {False: False, True: False}
        self.large_calls = 0
        self.probe_every = self.PROBE_EVERY
        self.next_probe = self.PROBE_EVERY
        self.choice = True

    def __call__(self, n_paths: int, min_paths: int, args: tuple) -> None:
        """Run the kernel on ``args`` (``n_paths`` paths of work)."""
        if numba.get_num_threads() < 2:
            self.serial(*args)
            return
        if not self.ran[True]:
            self.ran[True] = True
            self.parallel(*args)
            return
        if n_paths < max(min_paths, 1):
            self.ran[False] = True
            self.serial(*args)
            return
        self.large_calls += 1
        use_parallel = self._pick()
        start = time.perf_counter()
        (self.parallel if use_parallel else self.serial)(*args)
        elapsed = time.perf_counter() - start
        if not self.ran[use_parallel]:
            self.ran[use_parallel] = True
            return
        rate = elapsed / n_paths
        known = self.seconds_per_path[use_parallel]
        self.seconds_per_path[use_parallel] = (
            rate if known is None else known + self.SMOOTHING * (rate - known))

    def _pick(self) -> bool:
        serial, parallel = self.seconds_per_path[False], self.seconds_per_path[True]
        if parallel is None:
            return True
        if serial is None:
            return False
        faster = parallel <= serial
        if faster != self.choice:
            self.choice = faster
            self.probe_every = self.PROBE_EVERY
            self.next_probe = self.large_calls + self.probe_every
        elif self.large_calls >= self.next_probe:
            self.probe_every = min(2 * self.probe_every, self.MAX_PROBE_EVERY)
            self.next_probe = self.large_calls + self.probe_every
            return not faster
        return faster


@njit(cache=True)
def _quote_spx_paths(start, stop, spot, variance, regime, table, today, r, q, atm_ratio, skew,
                     curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid,
                     T_grid, x_grid, event_days, spot_var, var_jump, first, parts, strike,
                     is_call, expiry, kind, active, out):
    """Paths (columns) ``start`` to ``stop`` of :func:`_quote_spx_serial`."""
    for j in range(start, stop):
        S = spot[j]
        v = variance[j]
        reg = regime[j]
        setup_expiry = np.int64(-1)
        setup = (0.0, 0.0, 0.0, 0, 0.0, 0, 0.0)
        scale = 0.0
        T = 0.0
        fwd_pv = discount = sqrt_T = carry = forward = 0.0
        for i in range(strike.shape[0]):
            if not active[i, j] or kind[i, j] != SPX_OPTION:
                continue
            K = strike[i, j]
            if expiry[i, j] != setup_expiry:
                setup_expiry = expiry[i, j]
                T = (setup_expiry - today) / DAYS_PER_YEAR
                if T > 0.0:
                    forward, fwd_pv, discount, sqrt_T, carry = _expiry_terms(S, T, r, q)
                    if mode == MODEL:
                        setup = _state_setup(parts, setup_expiry - first, v, reg, svcj, v_grid)
                        scale = _setup_scale(setup)
            if T <= 0.0:
                out[i, j] = bs_price_one(S, K, 0.0, r, q, 0.0, is_call[i, j])
                continue
            if mode == MODEL:
                sigma = _setup_vol(K, forward, T, setup, scale, vol_tables, reg, x_grid)
            else:
                sigma = _leg_vol(S, K, T, r, q, v, table, reg,
                                 (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol),
                                 (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days,
                                  spot_var, var_jump), today)
            out[i, j] = _bs_price_shared(S, K, T, r, q, sigma, is_call[i, j], fwd_pv, discount,
                                         sqrt_T, carry)


@njit(cache=True)
def _quote_spx_serial(spot, variance, regime, table, today, r, q, atm_ratio, skew, curvature,
                      max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid, T_grid,
                      x_grid, event_days, spot_var, var_jump, strike, is_call, expiry, kind,
                      active, out):
    """Mid prices of the active SPX legs of a table ``(n_legs, n_paths)``, into ``out``.

    Bit for bit :func:`_price_legs_kernel`, faster: the legs of one path and
    expiry share the model setup, the forward, the discount factors and
    ``sqrt(T)``, and what depends only on the expiry is found once per
    distinct expiry. Legs not active or not SPX options are left as they
    are in ``out``. :func:`_quote_spx_parallel` is the same over threads.
    """
    first, present = _spx_expiry_range(expiry, kind, active, today)
    if mode != MODEL:
        present = np.zeros(0, dtype=np.bool_)
    parts = _day_table(first, present, today, svcj, event_days, spot_var, var_jump, T_grid)
    _quote_spx_paths(0, strike.shape[1], spot, variance, regime, table, today, r, q, atm_ratio,
                     skew, curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables,
                     v_grid, T_grid, x_grid, event_days, spot_var, var_jump, first, parts,
                     strike, is_call, expiry, kind, active, out)


@njit(cache=True, parallel=True)
def _quote_spx_parallel(spot, variance, regime, table, today, r, q, atm_ratio, skew, curvature,
                        max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid, T_grid,
                        x_grid, event_days, spot_var, var_jump, strike, is_call, expiry, kind,
                        active, out):
    """:func:`_quote_spx_serial` with the paths spread over threads."""
    first, present = _spx_expiry_range(expiry, kind, active, today)
    if mode != MODEL:
        present = np.zeros(0, dtype=np.bool_)
    parts = _day_table(first, present, today, svcj, event_days, spot_var, var_jump, T_grid)
    n_paths = strike.shape[1]
    size = -(-n_paths // _CHUNKS)
    for c in prange(_CHUNKS):
        _quote_spx_paths(c * size, min(n_paths, (c + 1) * size), spot, variance, regime, table,
                         today, r, q, atm_ratio, skew, curvature, max_moneyness, min_vol,
                         max_vol, mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days,
                         spot_var, var_jump, first, parts, strike, is_call, expiry, kind,
                         active, out)


def _quote_spx_kernel(*args) -> None:
    """:func:`_quote_spx_serial` or, for large tables, :func:`_quote_spx_parallel`."""
    strike = args[-6]
    _QUOTE_SPX(strike.shape[1], _PARALLEL_MIN_LEGS // max(1, strike.shape[0]), args)


@njit(cache=True)
def _strike_paths(start, stop, spot, variance, regime, table, T, r, q, atm_ratio, skew,
                  curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid,
                  T_grid, x_grid, event_days, spot_var, var_jump, today, target_delta, is_call,
                  step, solve, sqrt_t, d1, parts, out):
    """Paths ``start`` to ``stop`` of :func:`_strike_for_delta_serial`."""
    for j in range(start, stop):
        if not solve[j]:
            out[j] = np.nan
            continue
        S = spot[j]
        v = variance[j]
        reg = regime[j]
        forward = S * np.exp((r - q) * T)
        setup = (0.0, 0.0, 0.0, 0, 0.0, 0, 0.0)
        scale = 0.0
        if mode == MODEL:
            setup = _state_setup(parts, 0, v, reg, svcj, v_grid)
            scale = _setup_scale(setup)
            sigma = _setup_vol(forward, forward, T, setup, scale, vol_tables, reg, x_grid)
        else:
            sigma = _leg_vol(S, forward, T, r, q, v, table, reg,
                             (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol),
                             (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var,
                              var_jump), today)
        k_prev = 0.0
        h_prev = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k_prev
        k = k_prev + h_prev
        found = False
        for _ in range(40):
            K = forward * np.exp(k)
            if mode == MODEL:
                sigma = _setup_vol(K, forward, T, setup, scale, vol_tables, reg, x_grid)
            else:
                sigma = _leg_vol(S, K, T, r, q, v, table, reg,
                                 (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol),
                                 (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days,
                                  spot_var, var_jump), today)
            h = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k
            if abs(h) < 1e-10:
                found = True
                break
            slope = (h - h_prev) / (k - k_prev) if k != k_prev else -1.0
            k_prev, h_prev = k, h
            k = k - h / slope if slope != 0.0 else k + h
        if not found or (k > 0.0) != is_call:
            k = _bisect_delta(S, forward, T, r, q, v, table, reg,
                              (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol),
                              (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var,
                               var_jump), today, target_delta, is_call)
        out[j] = max(step, np.round(forward * np.exp(k) / step) * step)


@njit(cache=True)
def _strike_for_delta_serial(spot, variance, regime, table, T, r, q, atm_ratio, skew,
                             curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables,
                             v_grid, T_grid, x_grid, event_days, spot_var, var_jump, today,
                             target_delta, is_call, step, solve, out):
    # Sticky-strike delta at the smile vol: |delta| = e^{-qT} N(+-d1), so d1 is
    # fixed by the target and ln(K/F) = sigma(K)^2 T / 2 - d1 sigma(K) sqrt(T),
    # a fixed point in k = ln(K/F), solved by the secant method on
    # h(k) = g(k) - k; bisection on the delta itself is the fallback. In model
    # mode a path's setup is found once for all its trial strikes.
    sqrt_t = np.sqrt(T)
    p = target_delta * np.exp(q * T)
    d1 = norm_ppf(p) if is_call else -norm_ppf(p)
    parts = _horizon_table(T, today, svcj, event_days, spot_var, var_jump, T_grid)
    _strike_paths(0, spot.shape[0], spot, variance, regime, table, T, r, q, atm_ratio, skew,
                  curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid,
                  T_grid, x_grid, event_days, spot_var, var_jump, today, target_delta, is_call,
                  step, solve, sqrt_t, d1, parts, out)


@njit(cache=True, parallel=True)
def _strike_for_delta_parallel(spot, variance, regime, table, T, r, q, atm_ratio, skew,
                               curvature, max_moneyness, min_vol, max_vol, mode, svcj,
                               vol_tables, v_grid, T_grid, x_grid, event_days, spot_var,
                               var_jump, today, target_delta, is_call, step, solve, out):
    """:func:`_strike_for_delta_serial` with the paths spread over threads."""
    sqrt_t = np.sqrt(T)
    p = target_delta * np.exp(q * T)
    d1 = norm_ppf(p) if is_call else -norm_ppf(p)
    parts = _horizon_table(T, today, svcj, event_days, spot_var, var_jump, T_grid)
    n_paths = spot.shape[0]
    size = -(-n_paths // _CHUNKS)
    for c in prange(_CHUNKS):
        _strike_paths(c * size, min(n_paths, (c + 1) * size), spot, variance, regime, table, T,
                      r, q, atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol, mode,
                      svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var, var_jump,
                      today, target_delta, is_call, step, solve, sqrt_t, d1, parts, out)


def _strike_for_delta_kernel(*args) -> None:
    """:func:`_strike_for_delta_serial` or, for many paths, its parallel twin."""
    _STRIKE_FOR_DELTA(int(np.count_nonzero(args[-2])), _PARALLEL_MIN_SOLVES, args)


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
        d = abs(bs_delta_one(S, K, T, r, q, sigma, is_call))
        if (d > target_delta) == is_call:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@njit(cache=True)
def _short_strike_paths(start, stop, spot, variance, regime, table, r, q, atm_ratio, skew,
                        curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables,
                        v_grid, T_grid, x_grid, event_days, spot_var, var_jump, today, forward,
                        days, T_atm, T, put_strike, call_strike, need_atm, need_delta, first,
                        parts, atm, put_delta, call_delta):
    """Paths ``start`` to ``stop`` of :func:`_short_strike_serial`."""
    for j in range(start, stop):
        S = spot[j]
        v = variance[j]
        reg = regime[j]
        # The ATM vol's horizon max(dte, 1) / 365 is also the deltas' vol horizon
        # max(max(dte, 0) / 365, 1 / 365): one setup serves the three vols.
        horizon = T_atm[j]
        setup = (0.0, 0.0, 0.0, 0, 0.0, 0, 0.0)
        scale = 0.0
        model_forward = 0.0
        if mode == MODEL:
            setup = _state_setup(parts, days[j] - first, v, reg, svcj, v_grid)
            scale = _setup_scale(setup)
            model_forward = S * np.exp((r - q) * horizon)
        if need_atm:
            if mode == MODEL:
                atm[j] = _setup_vol(forward[j], model_forward, horizon, setup, scale,
                                    vol_tables, reg, x_grid)
            else:
                atm[j] = _leg_vol(S, forward[j], horizon, r, q, v, table, reg,
                                  (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol),
                                  (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days,
                                   spot_var, var_jump), today)
        if need_delta:
            if mode == MODEL:
                put_vol = _setup_vol(put_strike[j], model_forward, horizon, setup, scale,
                                     vol_tables, reg, x_grid)
                call_vol = _setup_vol(call_strike[j], model_forward, horizon, setup, scale,
                                      vol_tables, reg, x_grid)
            else:
                smile = (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol)
                model = (mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days, spot_var,
                         var_jump)
                put_vol = _leg_vol(S, put_strike[j], horizon, r, q, v, table, reg, smile, model,
                                   today)
                call_vol = _leg_vol(S, call_strike[j], horizon, r, q, v, table, reg, smile,
                                    model, today)
            put_delta[j] = abs(bs_delta_one(S, put_strike[j], T[j], r, q, put_vol, False))
            call_delta[j] = abs(bs_delta_one(S, call_strike[j], T[j], r, q, call_vol, True))


@njit(cache=True)
def _short_strike_table(mode, days, today, svcj, event_days, spot_var, var_jump, T_grid):
    """First horizon day and the :func:`_day_table` of the horizons ``days`` (>= 1) present."""
    if mode != MODEL or days.shape[0] == 0:
        return 0, np.zeros((0, svcj.shape[1], 4))
    first = days.min()
    present = np.zeros(days.max() - first + 1, dtype=np.bool_)
    for j in range(days.shape[0]):
        present[days[j] - first] = True
    # Rows are keyed by days to expiry: shift to expiry days for _day_table.
    return first, _day_table(today + first, present, today, svcj, event_days, spot_var,
                             var_jump, T_grid)


@njit(cache=True)
def _short_strike_serial(spot, variance, regime, table, r, q, atm_ratio, skew, curvature,
                         max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid, T_grid,
                         x_grid, event_days, spot_var, var_jump, today, forward, days, T_atm, T,
                         put_strike, call_strike, need_atm, need_delta, atm, put_delta,
                         call_delta):
    """:meth:`SpxPricer.short_strike_signals`: per path, one setup for the three vols.

    ``days`` is ``max(dte, 1)``, the horizon of every vol, in days.
    """
    first, parts = _short_strike_table(mode, days, today, svcj, event_days, spot_var,
                                       var_jump, T_grid)
    _short_strike_paths(0, spot.shape[0], spot, variance, regime, table, r, q, atm_ratio, skew,
                        curvature, max_moneyness, min_vol, max_vol, mode, svcj, vol_tables,
                        v_grid, T_grid, x_grid, event_days, spot_var, var_jump, today, forward,
                        days, T_atm, T, put_strike, call_strike, need_atm, need_delta, first,
                        parts, atm, put_delta, call_delta)


@njit(cache=True, parallel=True)
def _short_strike_parallel(spot, variance, regime, table, r, q, atm_ratio, skew, curvature,
                           max_moneyness, min_vol, max_vol, mode, svcj, vol_tables, v_grid,
                           T_grid, x_grid, event_days, spot_var, var_jump, today, forward, days,
                           T_atm, T, put_strike, call_strike, need_atm, need_delta, atm,
                           put_delta, call_delta):
    """:func:`_short_strike_serial` with the paths spread over threads."""
    first, parts = _short_strike_table(mode, days, today, svcj, event_days, spot_var,
                                       var_jump, T_grid)
    n_paths = spot.shape[0]
    size = -(-n_paths // _CHUNKS)
    for c in prange(_CHUNKS):
        _short_strike_paths(c * size, min(n_paths, (c + 1) * size), spot, variance, regime,
                            table, r, q, atm_ratio, skew, curvature, max_moneyness, min_vol,
                            max_vol, mode, svcj, vol_tables, v_grid, T_grid, x_grid, event_days,
                            spot_var, var_jump, today, forward, days, T_atm, T, put_strike,
                            call_strike, need_atm, need_delta, first, parts, atm, put_delta,
                            call_delta)


def _short_strike_kernel(*args) -> None:
    """:func:`_short_strike_serial` or, for many paths, its parallel twin."""
    _SHORT_STRIKE(args[0].shape[0], _PARALLEL_MIN_PATHS, args)


# ---------------------------------------------------------------------------
# VIX legs: moments, futures and option prices of a list of legs
# ---------------------------------------------------------------------------


@njit(cache=True)
def _vix_moments_kernel(today, path, days, variance, regime, mean_coef, second_coef, mean,
                        ratio):
    """``E[VIX_T^2]`` and ``Var / E^2`` of each leg ``days > 0`` out (0 for the others).

    The read-out of ``RegimeVixTerms.moments`` (same operations) after the
    business days to expiry, and the ratio as ``futures_from_moments`` forms it.
    """
    for n in range(path.shape[0]):
        if days[n] <= 0:
            mean[n] = 0.0
            ratio[n] = 0.0
            continue
        k = _business_days_after(today, today + days[n])
        p = path[n]
        r = regime[p]
        v = variance[p]
        m = mean_coef[k, 0, r] + mean_coef[k, 1, r] * v + mean_coef[k, 2, r] * v * v
        second = second_coef[k, 0, r] + second_coef[k, 1, r] * v + second_coef[k, 2, r] * v * v
        d = second - m * m
        var = d if (d >= 0.0 or d != d) else 0.0
        mean[n] = m
        # m * m underflows to 0 below m ~ 1e-162 (a variance near 0): divide twice there.
        ratio[n] = var / (m * m) if m * m > 0 else (var / m / m if m > 0 else 0.0)


@njit(cache=True)
def _vix_future_legs_kernel(path, days, vix, mean, shrink, out):
    """Futures ``100 sqrt(m) (1 + ratio)^(-1/8)`` (0 if ``m <= 0``); the VIX at ``days <= 0``."""
    for n in range(path.shape[0]):
        if days[n] <= 0:
            out[n] = vix[path[n]]
        else:
            m = mean[n]
            out[n] = 100.0 * np.sqrt(m if m >= 0.0 else 0.0) * shrink[n] if m > 0 else 0.0


@njit(cache=True)
def _vix_option_legs_kernel(path, days, vix, mean, shrink, spread, K, call, rate, vol_scale,
                            skew, min_vol, max_vol, out):
    """VIX option prices: intrinsic against the VIX at ``days <= 0``, else Black-76 on the
    future at the model vol ``sqrt(log1p(ratio) / 4T)`` (``spread = log1p(ratio)``)."""
    for n in range(path.shape[0]):
        if days[n] <= 0:
            level = vix[path[n]]
            if call[n]:
                out[n] = nan_max(level - K[n], 0.0)
            else:
                out[n] = nan_max(K[n] - level, 0.0)
            continue
        m = mean[n]
        forward = 100.0 * np.sqrt(m if m >= 0.0 else 0.0) * shrink[n] if m > 0 else 0.0
        T = days[n] / DAYS_PER_YEAR
        vol = np.sqrt(0.25 * spread[n] / T)
        model_vol = vol if (T > 0 and m > 0) else 0.0
        out[n] = vix_option_price_one(K[n], forward, T, rate, model_vol, vol_scale, skew,
                                      min_vol, max_vol, call[n])


@njit(cache=True)
def nan_max(a, b):
    """``np.maximum`` of two floats: NaN if either is NaN, else the larger (``a`` on a tie).

    The one scalar maximum of the kernels (instruments, book, hedge agent).
    """
    if a >= b or a != a:
        return a
    return b


#: Serial or parallel, by measured speed, for each kernel that has both.
_QUOTE_SPX = KernelChoice(_quote_spx_serial, _quote_spx_parallel)
_STRIKE_FOR_DELTA = KernelChoice(_strike_for_delta_serial, _strike_for_delta_parallel)
_SHORT_STRIKE = KernelChoice(_short_strike_serial, _short_strike_parallel)
