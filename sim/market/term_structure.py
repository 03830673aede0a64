"""The VIX futures curve: monthly expiry dates and futures prices on every path.

Expiries follow the CBOE rule for monthly VIX futures and options: the
Wednesday 30 calendar days before the third Friday of the following calendar
month (the day the SPX options that make up that VIX expire 30 days later).
The real rule has a holiday clause: if that Friday is an exchange holiday, the
expiry is 30 days before the business day preceding it (e.g. the March 2025
future expired on Tuesday 2025-03-18, because Friday 2025-04-18 was Good
Friday).  No holidays are modelled here (see ``sim.market.calendar``), so such
expiries come out one day late, on the Wednesday.

Prices are ``pricing.vix.vix_future``: ``100 E[VIX_T]`` from the conditional
moments of the variance, with a lognormal convexity correction.  Each path
may carry its own dynamics (its regime), so the parameters are scalars or
per-path arrays.  Under regime switching this is an approximation: a path's
futures are priced as if its current regime's dynamics held until expiry
(the chance of switching before expiry is ignored).

Measures. Prices are expectations under the pricing measure Q, whose
variance dynamics are ``kappa_Q = kappa - vol_risk_premium`` and ``theta_Q =
kappa theta / kappa_Q`` (``sim.config.MarketModel``), not those of the
simulated paths (P). `vix_futures` takes the dynamics as given; the
``*_for`` functions (`vix_futures_for`, `vix_option_model_vol_for`,
`spx_atm_vol_for`) take the scenario's model and each path's regime and
look up the Q parameters themselves (`pricing_parameters`), so that no
caller prices with the P parameters by mistake. With no premium Q is P and
they equal the low-level functions with the model's own parameters, bit for
bit.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from pricing.vix import _vix_future_kernel, spx_atm_vol, vix_future, vix_model_vol
from sim.config import MarketModel
from sim.market.pricing_params import pricing_table

__all__ = [
    "PRICING_PARAMETERS",
    "RegimeVixTerms",
    "futures_from_moments",
    "model_vol_from_moments",
    "pricing_parameters",
    "spx_atm_vol_for",
    "vix_expiries_after",
    "vix_expiry",
    "vix_futures",
    "vix_futures_for",
    "vix_index_for",
    "vix_option_model_vol_for",
]

#: Columns of :func:`pricing_parameters`, in the order ``pricing.vix`` takes them.
PRICING_PARAMETERS = ("kappa", "theta", "xi", "jump_intensity", "jump_variance_mean",
                      "jump_var_contrib")

#: Calendar days from a VIX expiry to the SPX expiry (third Friday) it prices.
_DAYS_BEFORE_SPX_EXPIRY = 30


def vix_expiry(year: int, month: int) -> np.datetime64:
    """Expiry date of the monthly VIX future of ``(year, month)``.

    The Wednesday 30 calendar days before the third Friday of the following
    month (CBOE rule, without the holiday clause: see the module docstring).

    Parameters
    ----------
    year : int
        Contract year, e.g. 2025.
    month : int
        Contract month, 1 (January) to 12 (December).

    Returns
    -------
    numpy.datetime64
        The expiry, ``datetime64[D]``; always a Wednesday in ``(year, month)``.

    Raises
    ------
    ValueError
        If ``month`` is not in 1..12.
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month!r}")
    following = np.datetime64(f"{int(year):04d}-{int(month):02d}", "M") + 1
    first_day = following.astype("datetime64[D]")
    # Third Friday: the first Friday on or after the 1st, plus two weeks.
    third_friday = np.busday_offset(first_day, 2, roll="forward", weekmask="Fri")
    return third_friday - np.timedelta64(_DAYS_BEFORE_SPX_EXPIRY, "D")


def vix_expiries_after(date: str | np.datetime64, n: int) -> NDArray[np.datetime64]:
    """The next ``n`` monthly VIX expiries strictly after ``date``.

    Parameters
    ----------
    date : str or numpy.datetime64
        Calendar date (ISO ``"YYYY-MM-DD"``); an expiry on that date is excluded.
    n : int
        Number of expiries, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]``, shape ``(n,)``, ascending, one per consecutive month.

    Raises
    ------
    ValueError
        If ``n < 0``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    day = np.datetime64(date, "D")
    month = day.astype("datetime64[M]")
    # The expiry of a contract month falls inside that month, so the first one
    # after `day` is this month's or next month's.
    if _expiry_of_month(month) <= day:
        month = month + 1
    return np.array([_expiry_of_month(month + i) for i in range(n)], dtype="datetime64[D]")


def _expiry_of_month(month: np.datetime64) -> np.datetime64:
    """`vix_expiry` of a ``datetime64[M]`` month."""
    year = int(month.astype("datetime64[Y]").astype(np.int64)) + 1970
    return vix_expiry(year, int(month.astype(np.int64) % 12) + 1)


def vix_futures(
    variance: ArrayLike,
    T_years: ArrayLike,
    kappa: ArrayLike,
    theta: ArrayLike,
    xi: ArrayLike,
    jump_intensity: ArrayLike,
    jump_variance_mean: ArrayLike,
    jump_var_contrib: ArrayLike,
) -> NDArray[np.float64]:
    """VIX futures curve on every path: ``100 E[VIX_T]`` for each time to expiry.

    Parameters
    ----------
    variance : array_like
        Instantaneous variance per path (annualized, vol squared), shape
        ``(n_paths,)`` (any shape works; the futures axis is appended last).
    T_years : array_like
        Times to the futures' expiries, years, ``>= 0``, shape ``(n_futures,)``
        (or any shape that broadcasts against ``variance.shape + (1,)``).
    kappa, theta, xi, jump_intensity, jump_variance_mean, jump_var_contrib : array_like
        Dynamics of the variance (as in ``pricing.vix.vix_future``): scalars,
        or per-path arrays of the shape of ``variance`` (e.g. each path's
        regime parameters).  Units: 1/year, annualized variance,
        1/sqrt(year), jumps/year, annualized variance, annualized variance.

    Returns
    -------
    numpy.ndarray
        Futures prices, index points, float64, shape ``(n_paths, n_futures)``.

    Raises
    ------
    ValueError
        If any input has a negative entry, or the shapes do not broadcast.
    """
    variance = np.asarray(variance, dtype=np.float64)
    per_path = [np.asarray(p, dtype=np.float64)[..., np.newaxis]
                for p in (variance, kappa, theta, xi, jump_intensity, jump_variance_mean,
                          jump_var_contrib)]
    futures = vix_future(per_path[0], T_years, *per_path[1:])
    return np.asarray(futures, dtype=np.float64)


# ---------------------------------------------------------------------------
# Prices from the scenario's model: the pricing-measure parameters per path
# ---------------------------------------------------------------------------


def pricing_parameters(model: MarketModel, regime: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    """Each path's variance dynamics under the pricing measure Q, from its regime.

    Parameters
    ----------
    model : MarketModel
        The scenario's market model (P parameters, ``vol_risk_premium`` and
        regimes); its ``pricing_models()`` give the Q parameters.
    regime : array_like of int
        Index into ``model.regimes.names`` of each path's current regime, any
        shape (``MarketPaths.regime[tick]``; 0 for a single-regime model).

    Returns
    -------
    tuple of numpy.ndarray
        Six float64 arrays of the shape of ``regime``, in the order of
        :data:`PRICING_PARAMETERS`: ``kappa_Q`` (1/year), ``theta_Q``
        (annualized variance), ``xi`` (1/sqrt(year)), jump intensity
        (jumps/year), variance-jump mean (annualized variance) and the VIX^2
        jump term ``2 lambda (E[e^J] - 1 - E[J])`` (annualized variance).

    Raises
    ------
    ValueError
        If a regime index is out of range or not an integer, or a regime has
        no pricing measure (``kappa_Q <= 0``).
    """
    table = _pricing_columns(model)
    regime = np.asarray(regime)
    if regime.dtype.kind not in "iu":
        raise ValueError(f"regime must hold integer regime indices, got dtype {regime.dtype}")
    n_regimes = table.shape[0]
    if regime.size and (regime.min() < 0 or regime.max() >= n_regimes):
        raise ValueError(f"regime indices must be in 0..{n_regimes - 1} "
                         f"({', '.join(model.regimes.names)}), got "
                         f"{int(regime.min())}..{int(regime.max())}")
    per_path = table[regime]
    return tuple(np.ascontiguousarray(per_path[..., k]) for k in range(table.shape[1]))


def _pricing_columns(model: MarketModel) -> NDArray[np.float64]:
    """``pricing_table(model, PRICING_PARAMETERS).T``, ``(n_regimes, 6)``, made once per model."""
    try:
        return _cached_pricing_columns(model)
    except TypeError:   # a model that cannot be hashed: build it each time
        return pricing_table(model, PRICING_PARAMETERS).T


@functools.lru_cache(maxsize=32)
def _cached_pricing_columns(model: MarketModel) -> NDArray[np.float64]:
    table = pricing_table(model, PRICING_PARAMETERS).T
    table.flags.writeable = False
    return table


def vix_index_for(model: MarketModel, variance: NDArray[np.float64],
                  regime: NDArray[np.integer]) -> NDArray[np.float64]:
    """The VIX index (index points) of each path's variance under Q: the ``T = 0`` future.

    ``vix_futures_for(model, variance, regime, [0.0])[:, 0]``, the same
    numbers, for trusted input (1-D float64 variance >= 0, valid regime
    indices of the same length): it skips the checks and the broadcasting.
    """
    table = _pricing_columns(model)
    params = table[np.asarray(regime, dtype=np.int64)]
    variance = np.ascontiguousarray(variance, dtype=np.float64)
    out = np.empty(variance.shape[0])
    _vix_future_kernel(variance, np.zeros(variance.shape[0]),
                       *(np.ascontiguousarray(params[:, k]) for k in range(table.shape[1])), out)
    return out


def vix_futures_for(model: MarketModel, variance: ArrayLike, regime: ArrayLike,
                    T_years: ArrayLike) -> NDArray[np.float64]:
    """VIX futures curve on every path, priced under the pricing measure Q.

    `vix_futures` with the Q parameters of each path's regime
    (`pricing_parameters`). At ``T = 0`` it is the VIX index that
    ``sim.market.generate`` returns for the same variance and regime.

    Parameters
    ----------
    model : MarketModel
        The scenario's market model.
    variance : array_like
        Instantaneous variance per path (annualized), shape ``(n_paths,)``.
    regime : array_like of int
        Each path's regime index, the shape of ``variance`` (or a scalar).
    T_years : array_like
        Times to the futures' expiries, years, ``>= 0``, shape ``(n_futures,)``.

    Returns
    -------
    numpy.ndarray
        Futures prices, index points, shape ``(n_paths, n_futures)``.

    Raises
    ------
    ValueError
        As `pricing_parameters` and `vix_futures`.
    """
    variance = np.asarray(variance, dtype=np.float64)
    parameters = pricing_parameters(model, np.broadcast_to(regime, variance.shape))
    return vix_futures(variance, T_years, *parameters)


def vix_option_model_vol_for(model: MarketModel, variance: ArrayLike, regime: ArrayLike,
                             T_years: ArrayLike) -> NDArray[np.float64]:
    """The model's lognormal vol of VIX to each expiry on every path, under Q.

    ``pricing.vix.vix_model_vol`` with the Q parameters of each path's regime:
    the ``model_vol`` that ``pricing.vix_options`` scales, skews and clips
    into VIX option vols, consistent with the futures of `vix_futures_for`.

    Parameters
    ----------
    model : MarketModel
        The scenario's market model.
    variance : array_like
        Instantaneous variance per path (annualized), shape ``(n_paths,)``.
    regime : array_like of int
        Each path's regime index, the shape of ``variance`` (or a scalar).
    T_years : array_like
        Times to the options' expiries, years, ``>= 0``, shape ``(n_expiries,)``.

    Returns
    -------
    numpy.ndarray
        Vol of VIX, annualized decimal, shape ``(n_paths, n_expiries)``.

    Raises
    ------
    ValueError
        As `pricing_parameters`, or a negative input.
    """
    variance = np.asarray(variance, dtype=np.float64)
    parameters = pricing_parameters(model, np.broadcast_to(regime, variance.shape))
    per_path = [p[..., np.newaxis] for p in (variance, *parameters)]
    return np.asarray(vix_model_vol(per_path[0], T_years, *per_path[1:]), dtype=np.float64)


def spx_atm_vol_for(model: MarketModel, variance: ArrayLike, regime: ArrayLike,
                    T_years: ArrayLike, atm_ratio: float) -> NDArray[np.float64]:
    """SPX ATM implied vol to each expiry on every path, under Q.

    ``pricing.vix.spx_atm_vol`` (``atm_ratio`` times the variance swap vol to
    ``T``) with the Q parameters of each path's regime; at ``T = 30/365`` it
    is ``atm_ratio`` times the generator's VIX / 100.

    Parameters
    ----------
    model : MarketModel
        The scenario's market model.
    variance : array_like
        Instantaneous variance per path (annualized), shape ``(n_paths,)``.
    regime : array_like of int
        Each path's regime index, the shape of ``variance`` (or a scalar).
    T_years : array_like
        Times to expiry, years, ``>= 0``, shape ``(n_expiries,)``.
    atm_ratio : float
        ``SmileModel.atm_vix_ratio``, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        ATM vol, annualized decimal, shape ``(n_paths, n_expiries)``.

    Raises
    ------
    ValueError
        As `pricing_parameters`, or a negative input.
    """
    variance = np.asarray(variance, dtype=np.float64)
    kappa, theta, _xi, intensity, jump_mean, jump_term = pricing_parameters(
        model, np.broadcast_to(regime, variance.shape))
    per_path = [p[..., np.newaxis] for p in (variance, kappa, theta, intensity, jump_mean,
                                             jump_term)]
    return np.asarray(spx_atm_vol(per_path[0], T_years, *per_path[1:], atm_ratio),
                      dtype=np.float64)


# ---------------------------------------------------------------------------
# Regime switching priced in: VIX moments at a future tick, by a linear recursion
# ---------------------------------------------------------------------------


class RegimeVixTerms:
    """Moments of the VIX index at a future tick when the regime may switch on the way.

    The frozen-regime functions above price a VIX future as if the path's
    current regime lasted to expiry. Here the regime follows its Markov chain
    (``model.regimes.transition``, per tick; the chain is taken to be the same
    under the pricing measure, i.e. no premium for regime risk), the variance
    of each step follows the Q dynamics of the regime of that step (as in
    ``sim.market.generate``: the regime at tick ``t`` drives the step to
    ``t + 1``), and the VIX at expiry is the index the generator reports
    there, ``VIX_T^2 = a_k v_T + b_k`` in the regime ``k`` of that tick. The
    state ``x_t = (P_t[j], E[v_t 1{r_t=j}], E[v_t^2 1{r_t=j}])`` over regimes
    ``j`` evolves linearly, one tick of ``dt = 1 / TICKS_PER_YEAR`` years at a
    time (exact CIR-plus-jumps moments within a step: ``pricing.vix.
    variance_moments_one``; then the chain's transition), so ``x_n = L^n x_0``
    and ``E[VIX_T^2]``, ``E[VIX_T^4]`` are quadratic in today's variance
    with coefficients tabulated once per number of steps ``n``. Futures and
    the lognormal vol of VIX then follow from the mean and variance of
    ``VIX_T^2`` exactly as in the frozen-regime functions (the same moment
    match). With one regime this is the frozen-regime value at horizon
    ``n dt`` (business-day time), to rounding.

    Scheduled-event variance jumps and the breadth tilt of the transitions
    (``divergence_predicts_stress``) are not priced in.

    Parameters
    ----------
    model : MarketModel
        The scenario's market model.
    """

    def __init__(self, model: MarketModel) -> None:
        from pricing.vix import variance_moments_one, vix_squared_one
        from sim.market.calendar import TICKS_PER_YEAR

        table = pricing_table(model, PRICING_PARAMETERS)   # (6, R)
        kappa, theta, xi, lam, mu_v, jump_term = table
        n = table.shape[1]
        self.n_regimes = n
        dt = 1.0 / TICKS_PER_YEAR
        step = np.zeros((3 * n, 3 * n))
        self.vix2_slope = np.empty(n)
        self.vix2_level = np.empty(n)
        for j in range(n):
            args = (dt, kappa[j], theta[j], xi[j], lam[j], mu_v[j])
            mean0, var0 = variance_moments_one(0.0, *args)
            mean1, var1 = variance_moments_one(1.0, *args)
            a_mean, b_mean = mean0, mean1 - mean0
            c0, c1 = var0, var1 - var0
            p, m1, m2 = j, n + j, 2 * n + j
            step[p, p] = 1.0
            step[m1, p], step[m1, m1] = a_mean, b_mean
            step[m2, p] = c0 + a_mean * a_mean
            step[m2, m1] = c1 + 2.0 * a_mean * b_mean
            step[m2, m2] = b_mean * b_mean
            level = vix_squared_one(0.0, kappa[j], theta[j], lam[j], mu_v[j], jump_term[j])
            self.vix2_level[j] = level
            self.vix2_slope[j] = vix_squared_one(1.0, kappa[j], theta[j], lam[j], mu_v[j],
                                                 jump_term[j]) - level
        chain = np.asarray(model.regimes.transition, dtype=np.float64).T   # to <- from
        self.step = np.kron(np.eye(3), chain) @ step
        self._powers = [np.eye(3 * n)]
        self._mean_coef = np.empty((0, 3, n))
        self._second_coef = np.empty((0, 3, n))

    def _power(self, steps: int) -> np.ndarray:
        while len(self._powers) <= steps:
            self._powers.append(self.step @ self._powers[-1])
        return self._powers[steps]

    def coefficients(self, max_steps: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Read-out rows of ``E[VIX^2]`` and ``E[VIX^4]`` for 0..``max_steps`` ticks.

        Returns
        -------
        mean, second : ndarray, shape (>= max_steps + 1, 3, n_regimes)
            ``[steps, k, r]``: the moment after ``steps`` ticks from regime
            ``r`` is ``c[0] + c[1] v + c[2] v^2`` (``c = coef[steps, :, r]``).
            Tabulated once per number of steps and kept.
        """
        n = self.n_regimes
        have = self._mean_coef.shape[0]
        if max_steps >= have:
            a, b = self.vix2_slope, self.vix2_level
            # Read-outs of the state: E[VIX^2] and E[VIX^4] as rows over (P, M1, M2).
            read_mean = np.concatenate([b, a, np.zeros(n)])
            read_second = np.concatenate([b * b, 2.0 * a * b, a * a])
            size = max(max_steps + 1, 2 * have)
            mean = np.empty((size, 3, n))
            second = np.empty((size, 3, n))
            mean[:have], second[:have] = self._mean_coef, self._second_coef
            for count in range(have, size):
                power = self._power(count)
                mean[count] = (read_mean @ power).reshape(3, n)      # [P, M1, M2] x regime
                second[count] = (read_second @ power).reshape(3, n)
            self._mean_coef, self._second_coef = mean, second
        return self._mean_coef, self._second_coef

    def moments(self, variance: ArrayLike, regime: ArrayLike, steps: ArrayLike
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Mean and variance of ``(VIX_T / 100)^2`` after ``steps`` ticks.

        Parameters
        ----------
        variance : array_like
            Today's variance (annualized), any shape.
        regime : array_like of int
            Today's regime index, broadcastable with ``variance``.
        steps : array_like of int
            Ticks (business days) to expiry, ``>= 0``, broadcastable.

        Returns
        -------
        mean, var : ndarray
            ``E[VIX_T^2]`` (annualized variance) and ``Var[VIX_T^2]``, of the
            broadcast shape.
        """
        variance, regime, steps = np.broadcast_arrays(
            np.asarray(variance, dtype=np.float64), np.asarray(regime, dtype=np.int64),
            np.asarray(steps, dtype=np.int64))
        shape = variance.shape
        mean = np.empty(shape)
        var = np.empty(shape)
        if variance.size:
            mean_coef, second_coef = self.coefficients(int(steps.max()))
            _vix2_moments_kernel(variance.ravel(), regime.ravel(), steps.ravel(), mean_coef,
                                 second_coef, mean.reshape(-1), var.reshape(-1))
        return mean, var

    def futures(self, variance: ArrayLike, regime: ArrayLike, steps: ArrayLike
                ) -> NDArray[np.float64]:
        """VIX futures (index points) ``steps`` ticks ahead: ``100 sqrt(m) (1 + s2/m^2)^(-1/8)``."""
        return futures_from_moments(*self.moments(variance, regime, steps))

    def model_vol(self, variance: ArrayLike, regime: ArrayLike, steps: ArrayLike,
                  T_years: ArrayLike) -> NDArray[np.float64]:
        """Lognormal vol of VIX to expiry: ``sigma^2 T = ln(1 + s2/m^2) / 4`` (annualized)."""
        return model_vol_from_moments(*self.moments(variance, regime, steps), T_years)


def futures_from_moments(m: NDArray[np.float64], s2: NDArray[np.float64]
                         ) -> NDArray[np.float64]:
    """VIX futures (index points) from the mean ``m`` and variance ``s2`` of ``VIX_T^2``.

    The lognormal moment match ``100 sqrt(m) (1 + s2/m^2)^(-1/8)``; 0 where ``m <= 0``.
    """
    ratio = _relative_variance(m, s2)
    return np.where(m > 0, 100.0 * np.sqrt(np.maximum(m, 0.0)) * (1.0 + ratio) ** -0.125,
                    0.0)


def _relative_variance(m: NDArray[np.float64], s2: NDArray[np.float64]) -> NDArray[np.float64]:
    """``s2 / m^2`` where ``m > 0``, else 0; ``s2 / m / m`` where ``m^2`` underflows to 0
    (``m`` below ~1e-162, a variance near 0), which would give 0/0 = NaN."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        square = m * m
        ratio = np.where(m > 0, s2 / np.where(m > 0, m * m, 1.0), 0.0)
        return np.where((m > 0) & (square == 0), s2 / m / m, ratio)


def model_vol_from_moments(m: NDArray[np.float64], s2: NDArray[np.float64], T_years: ArrayLike
                           ) -> NDArray[np.float64]:
    """Lognormal vol of VIX (annualized) from the moments of ``VIX_T^2``: ``ln(1 + s2/m^2) / 4T``.

    0 where ``T <= 0`` or ``m <= 0``.
    """
    T = np.broadcast_to(np.asarray(T_years, dtype=np.float64), m.shape)
    ratio = _relative_variance(m, s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.log1p(ratio)
        # ratio = inf (s2 / m^2 overflows for m near 0): ln(s2 / m^2) from logs.
        spread = np.where(np.isinf(spread), np.log(s2) - 2.0 * np.log(m), spread)
        vol = np.sqrt(0.25 * spread / T)
    return np.where((T > 0) & (m > 0), vol, 0.0)


@njit(cache=True)
def _vix2_moments_kernel(variance, regime, steps, mean_coef, second_coef, mean, var):
    """``E[VIX^2]`` and ``Var[VIX^2]`` per element from the tabulated read-out rows.

    The same operations, in the same order, as the quadratic read-out
    ``c0 + c1 v + c2 v v`` in numpy, so the results are bit for bit those.
    """
    for n in range(variance.shape[0]):
        r = regime[n]
        k = steps[n]
        v = variance[n]
        m = mean_coef[k, 0, r] + mean_coef[k, 1, r] * v + mean_coef[k, 2, r] * v * v
        second = second_coef[k, 0, r] + second_coef[k, 1, r] * v + second_coef[k, 2, r] * v * v
        d = second - m * m
        mean[n] = m
        # np.maximum(d, 0.0): NaN propagates, a tie keeps d.
        var[n] = d if (d >= 0.0 or d != d) else 0.0


def business_days_to(today: ArrayLike, expiry: ArrayLike) -> NDArray[np.int64]:
    """Ticks from ``today`` to ``expiry`` (days since 1970): weekdays in ``(today, expiry]``."""
    today = np.asarray(today, dtype=np.int64)
    expiry = np.asarray(expiry, dtype=np.int64)
    start = (today + 1).astype("datetime64[D]")
    stop = (np.maximum(expiry, today) + 1).astype("datetime64[D]")
    return np.busday_count(start, stop).astype(np.int64)
