"""Model implied-vol table: SVCJ prices tabulated as Black-Scholes vols for fast marking.

Pricing an option by COS (``pricing.svcj``) takes a few hundred
characteristic-function evaluations; marking every option of every path on
every tick needs something cheaper that still agrees with the path model.
``build_vol_table`` prices, once per regime, a grid of states ``v``,
expiries ``T`` and moneyness ``x`` and stores the Black-Scholes implied
vols; ``vol_from_table_one`` interpolates them per tick, and
``pricing.black.bs_price_one`` turns the vol back into a price.

Moneyness is in standard deviations of the model's own variance-swap
variance:

``x = ln(K/F) / sqrt(T v_ref)``, ``v_ref = log_contract_variance_one(v, T, ...)``,

the log-contract (VIX-style) variance to ``T`` from the state ``v``
(``pricing.svcj``), with ``F = S e^{(r - q)T}``. A fixed ``x`` is then the
same place on the smile whatever the vol level and the expiry: the 16-delta
put sits near ``x = -1`` at every ``v`` and ``T``, and a table column of
``x`` needs no more resolution at ``v = 0.002`` than at ``v = 1``.

Table entries. ``table[i, j, l]`` is the Black-Scholes implied vol
(annualized decimal) of the SVCJ price of the out-of-the-money option at
``v_grid[i]``, ``T_grid[j]``, ``x_grid[l]``: the put where ``x < 0``, the call
where ``x >= 0`` (the call by put-call parity from the COS put). Vols are
quoted against the forward, so they do not depend on ``r`` and ``q`` (those
only enter the price-size cut below).

Wings. Where the OTM price is below ``MIN_PRICE_SHARE = 1e-12`` of spot
(or its implied vol cannot be solved), the price carries no usable vol
information; from there outward, away from ``x = 0``, the table repeats the
vol of the nearest valid point further in (flat extrapolation in ``x``).
Every entry is then clamped to ``[VOL_FLOOR, VOL_CAP] = [0.01, 5]``.

Interpolation (``vol_from_table_one``) is trilinear in ``(sqrt v, ln T, x)``
and clamps each coordinate to its grid: below the first expiry (1 day) the
1-day vols are used, beyond ``x`` in ``[-6, 4]`` the edge vols, outside
``[0.002, 1.5]`` the edge variances. ``sqrt v`` rather than ``ln v``: at a
fixed ``x`` the implied vol is close to linear in the instantaneous vol
(exactly so at short expiries without jumps). On the default
``MarketModel`` with 14 expiries the largest error for ``T >= 3`` days,
``|x| <= 3`` was 0.65 vol points linear in ``ln v`` and 0.21 linear in
``sqrt v``; ``ln T`` beat ``sqrt T`` and ``T``, and interpolating vols beat
interpolating variances. The default grids give 0.11 to 0.13 vol points
(at ``v`` near 1.5; below ``v = 0.3``, 0.09) and build in about 0.17 s on
two cores (measured here; timing is not part of the tests). A stressed
regime (``xi = 1``, ``lambda = 2``, ``mu_v = 0.1``, ``b = -1``; 0.5 s) is
less accurate: 0.45 vol points for ``v`` in ``[0.01, 0.5]`` at expiries of
a few days, 0.8 below ``v = 0.01``, where the jumps dominate ``v_ref`` and
the diffusive core of the smile is narrower than the ``x`` step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from pricing._arrays import flatten_inputs, shaped
from pricing.implied import implied_vol_one
from pricing.svcj import log_contract_variance_one, svcj_forward_puts

__all__ = [
    "DEFAULT_T_GRID",
    "DEFAULT_V_GRID",
    "DEFAULT_X_GRID",
    "build_vol_table",
    "table_moneyness_one",
    "vol_from_table",
    "vol_from_table_one",
]

#: Default states: 16 variances (annualized), log-spaced from 0.002 (vol 4.5%) to 1.5 (122%).
DEFAULT_V_GRID = np.geomspace(0.002, 1.5, 16)
#: Default expiries: 18 times (years), log-spaced from 1 day (1/365) to half a year,
#: i.e. 1, 1.4, 1.8, 2.5, 3.4, 4.6, 6.3, 8.5, 11.6, 15.7, 21.4, 29.1, 39.5, 53.6, 72.8,
#: 98.9, 134.4, 182.5 days. 18 rather than 14: the expiry direction limits the
#: accuracy, and 14 points double the largest error (0.2 against 0.13 vol points).
DEFAULT_T_GRID = np.geomspace(1.0 / 365.0, 0.5, 18)
#: Default moneyness: 41 points from -6 to +4 standard deviations, step 0.25.
DEFAULT_X_GRID = np.linspace(-6.0, 4.0, 41)

#: OTM prices below this share of spot are wing noise: extrapolated flat instead.
MIN_PRICE_SHARE = 1e-12
#: Bounds on every tabulated vol, annualized decimal.
VOL_FLOOR = 0.01
VOL_CAP = 5.0

# A prime: n -> n * stride mod n_cells is a permutation unless n_cells is a multiple of it.
_CELL_STRIDE = 7919

# Interpolation coordinates of ``_bracket``.
_LINEAR = 0
_LOG = 1
_SQRT = 2


# ---------------------------------------------------------------------------
# Scalar kernels
# ---------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def table_moneyness_one(K, F, T, v_ref):
    """Table moneyness ``x = ln(K/F) / sqrt(T v_ref)`` in standard deviations.

    ``K``, ``F`` index points, ``T`` years, ``v_ref`` annualized variance
    (``pricing.svcj.log_contract_variance_one``). Where ``T v_ref <= 0`` it
    is 0 at the money and ``-inf``/``+inf`` elsewhere (the table clamps it).
    """
    log_moneyness = math.log(K / F)
    total_variance = T * v_ref
    if total_variance > 0.0:
        return log_moneyness / math.sqrt(total_variance)
    if log_moneyness == 0.0:
        return 0.0
    return math.copysign(np.inf, log_moneyness)


@njit(cache=True, error_model="numpy")
def _bracket(grid, value, scale):
    """Index ``i`` and weight ``w`` of ``value`` between ``grid[i]`` and ``grid[i + 1]``, clamped.

    The weight is linear in ``value`` (``scale`` 0), ``ln value`` (1) or ``sqrt(value)`` (2).
    """
    n = grid.shape[0]
    if not value > grid[0]:
        return 0, 0.0
    if not value < grid[n - 1]:
        return n - 2, 1.0
    if scale == _LINEAR:
        # The last grid point <= value: a guess from the grid's mean step, then
        # a walk to it (the same index as the binary search; one or two steps
        # on an evenly spaced grid such as the moneyness axis).
        i = int((value - grid[0]) / (grid[n - 1] - grid[0]) * (n - 1))
        i = min(max(i, 0), n - 2)
        while i > 0 and grid[i] > value:
            i -= 1
        while i < n - 2 and grid[i + 1] <= value:
            i += 1
    else:
        i = np.searchsorted(grid, value, side="right") - 1
    lo = grid[i]
    hi = grid[i + 1]
    if scale == _LOG:
        w = math.log(value / lo) / math.log(hi / lo)
    elif scale == _SQRT:
        w = (math.sqrt(value) - math.sqrt(lo)) / (math.sqrt(hi) - math.sqrt(lo))
    else:
        w = (value - lo) / (hi - lo)
    return i, w


@njit(cache=True, error_model="numpy")
def vol_from_table_one(table, v_grid, T_grid, x_grid, v, T, x):
    """Model implied vol (annualized decimal) from a table, trilinear in ``(sqrt v, ln T, x)``.

    ``table`` of shape ``(len(v_grid), len(T_grid), len(x_grid))`` from
    ``build_vol_table``; ``v`` annualized variance, ``T`` years, ``x`` table
    moneyness (``table_moneyness_one``). Each coordinate is clamped to its
    grid. NaN input gives NaN.
    """
    if v != v or T != T or x != x:
        return np.nan
    i, wv = _bracket(v_grid, v, _SQRT)
    j, wt = _bracket(T_grid, T, _LOG)
    return interpolate_in_x(table, i, wv, j, wt, x_grid, x)


@njit(cache=True, error_model="numpy")
def interpolate_in_x(table, i, wv, j, wt, x_grid, x):
    """Trilinear table vol with the variance and expiry brackets already found.

    ``(i, wv)`` and ``(j, wt)`` are the `_bracket` results of the variance
    (``sqrt`` scale) and expiry (``log`` scale); callers pricing several
    strikes at one state and expiry find them once.
    """
    m, wx = _bracket(x_grid, x, _LINEAR)
    total = 0.0
    for di in range(2):
        fv = wv if di else 1.0 - wv
        for dj in range(2):
            ft = wt if dj else 1.0 - wt
            c0 = table[i + di, j + dj, m]
            c1 = table[i + di, j + dj, m + 1]
            total += fv * ft * (c0 + wx * (c1 - c0))
    return total


@njit(cache=True, error_model="numpy")
def _fill_smile(kappa, theta, xi, rho, lam, mu_s, sigma_s, mu_v, b, q, v, T, x_grid, out):
    """One row ``out[l]`` of the table: OTM implied vols at state ``v``, expiry ``T``."""
    v_ref = log_contract_variance_one(v, T, kappa, theta, lam, mu_s, sigma_s, mu_v, b)
    scale = math.sqrt(T * v_ref)
    n_x = x_grid.shape[0]
    log_strikes = x_grid * scale
    puts = svcj_forward_puts(log_strikes, T, v, kappa, theta, xi, rho, lam, mu_s, sigma_s,
                             mu_v, b)
    spot_share = math.exp(-q * T)  # forward-unit price -> share of spot, up to e^{-rT} F / S
    for n in range(n_x):
        k = log_strikes[n]
        is_call = k >= 0.0
        price = puts[n] + 1.0 - math.exp(k) if is_call else puts[n]
        if not price * spot_share >= MIN_PRICE_SHARE:
            out[n] = np.nan
        else:
            out[n] = implied_vol_one(price, 1.0, math.exp(k), T, 0.0, 0.0, is_call)
    # Flat extrapolation outward from the money: once a point fails, every
    # point beyond it takes the last valid vol.
    centre = 0
    for n in range(n_x):
        if abs(x_grid[n]) < abs(x_grid[centre]):
            centre = n
    if not out[centre] == out[centre]:
        out[centre] = math.sqrt(v_ref)
    last = out[centre]
    for n in range(centre - 1, -1, -1):
        if not out[n] == out[n]:
            out[:n + 1] = last
            break
        last = out[n]
    last = out[centre]
    for n in range(centre + 1, n_x):
        if not out[n] == out[n]:
            out[n:] = last
            break
        last = out[n]
    for n in range(n_x):
        out[n] = min(max(out[n], VOL_FLOOR), VOL_CAP)


@njit(cache=True, error_model="numpy", parallel=True)
def _vol_table_kernel(kappa, theta, xi, rho, lam, mu_s, sigma_s, mu_v, b, q, v_grid, T_grid,
                      x_grid, table):
    n_v = v_grid.shape[0]
    n_T = T_grid.shape[0]
    n_cells = n_v * n_T
    stride = _CELL_STRIDE if n_cells % _CELL_STRIDE else 1
    for n in prange(n_cells):
        # Small v and short T need many cosine terms: a stride permutation
        # spreads those cells over the threads' contiguous chunks.
        cell = (n * stride) % n_cells
        i = cell // n_T
        j = cell % n_T
        _fill_smile(kappa, theta, xi, rho, lam, mu_s, sigma_s, mu_v, b, q, v_grid[i],
                    T_grid[j], x_grid, table[i, j])


@njit(cache=True, error_model="numpy")
def _vol_from_table_kernel(table, v_grid, T_grid, x_grid, v, T, x, out):
    for n in range(out.shape[0]):
        out[n] = vol_from_table_one(table, v_grid, T_grid, x_grid, v[n], T[n], x[n])


# ---------------------------------------------------------------------------
# Public wrappers
# ---------------------------------------------------------------------------


def _grid(name: str, values: ArrayLike, positive: bool) -> NDArray[np.float64]:
    grid = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))
    if grid.shape[0] < 2 or not np.all(np.isfinite(grid)) or not np.all(np.diff(grid) > 0.0):
        raise ValueError(f"{name} must hold at least 2 finite, strictly increasing values")
    if positive and not grid[0] > 0.0:
        raise ValueError(f"{name} must be > 0, got {grid[0]!r}")
    return grid


def build_vol_table(
    kappa: float,
    theta: float,
    xi: float,
    rho: float,
    lam: float,
    mu_s: float,
    sigma_s: float,
    mu_v: float,
    b: float,
    r: float,
    q: float,
    v_grid: ArrayLike = DEFAULT_V_GRID,
    T_grid: ArrayLike = DEFAULT_T_GRID,
    x_grid: ArrayLike = DEFAULT_X_GRID,
) -> NDArray[np.float64]:
    """Tabulate SVCJ prices as Black-Scholes implied vols over state, expiry and moneyness.

    Parameters
    ----------
    kappa, theta, xi, rho, lam, mu_s, sigma_s, mu_v, b : float
        SVCJ parameters under the pricing measure, as in
        ``pricing.svcj.svcj_price`` (one regime of
        ``MarketModel.pricing_models()``).
    r : float
        Risk-free rate, continuously compounded, per year. The vols do not
        depend on it (they are quoted against the forward).
    q : float
        Dividend yield, continuously compounded, per year; it only moves the
        wing cut ``MIN_PRICE_SHARE`` (a share of spot).
    v_grid : array_like, optional
        Instantaneous variances (annualized), > 0, increasing.
    T_grid : array_like, optional
        Expiries in years, > 0, increasing.
    x_grid : array_like, optional
        Moneyness in standard deviations, ``ln(K/F) / sqrt(T v_ref)``, increasing.

    Returns
    -------
    ndarray of float64, shape (len(v_grid), len(T_grid), len(x_grid))
        Implied vols, annualized decimal, in ``[0.01, 5]`` (module docstring:
        OTM options, flat wings).

    Raises
    ------
    ValueError
        If a parameter is out of its range (as ``svcj_price``) or a grid is
        not finite and strictly increasing (``v_grid``, ``T_grid`` also > 0).
    """
    params = np.array([kappa, theta, xi, rho, lam, mu_s, sigma_s, mu_v, b, r, q],
                      dtype=np.float64)
    if not np.all(np.isfinite(params)):
        raise ValueError(f"parameters must be finite, got {params.tolist()!r}")
    for name, value in (("kappa", kappa), ("theta", theta), ("xi", xi), ("lam", lam),
                        ("sigma_s", sigma_s), ("mu_v", mu_v)):
        if value < 0.0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    if abs(rho) > 1.0:
        raise ValueError(f"rho must be in [-1, 1], got {rho!r}")
    if lam > 0.0 and not mu_v * b < 1.0:
        raise ValueError(f"mu_v * b must be < 1 when lam > 0, got {mu_v!r} * {b!r}")
    v_ = _grid("v_grid", v_grid, positive=True)
    T_ = _grid("T_grid", T_grid, positive=True)
    x_ = _grid("x_grid", x_grid, positive=False)
    table = np.empty((v_.shape[0], T_.shape[0], x_.shape[0]), dtype=np.float64)
    _vol_table_kernel(float(kappa), float(theta), float(xi), float(rho), float(lam),
                      float(mu_s), float(sigma_s), float(mu_v), float(b), float(q),
                      v_, T_, x_, table)
    return table


def vol_from_table(
    table: NDArray[np.float64],
    v_grid: ArrayLike,
    T_grid: ArrayLike,
    x_grid: ArrayLike,
    v: ArrayLike,
    T: ArrayLike,
    x: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Interpolate model implied vols from a table built by `build_vol_table`.

    `v`, `T` and `x` broadcast against each other.

    Parameters
    ----------
    table : ndarray, shape (len(v_grid), len(T_grid), len(x_grid))
        Implied vols, annualized decimal.
    v_grid, T_grid, x_grid : array_like
        The grids the table was built on.
    v : array_like
        Instantaneous variance, annualized.
    T : array_like
        Time to expiry, years.
    x : array_like
        Moneyness ``ln(K/F) / sqrt(T v_ref)`` (`table_moneyness_one`).

    Returns
    -------
    numpy.float64 or ndarray of float64
        Implied vol, annualized decimal, of the broadcast shape; trilinear
        in ``(sqrt v, ln T, x)``, each coordinate clamped to its grid. NaN
        input gives NaN.

    Raises
    ------
    ValueError
        If the table's shape does not match the grids or a grid is invalid.
    """
    v_ = _grid("v_grid", v_grid, positive=True)
    T_ = _grid("T_grid", T_grid, positive=True)
    x_ = _grid("x_grid", x_grid, positive=False)
    table_ = np.ascontiguousarray(table, dtype=np.float64)
    expected = (v_.shape[0], T_.shape[0], x_.shape[0])
    if table_.shape != expected:
        raise ValueError(f"table must have shape {expected} to match the grids, "
                         f"got {table_.shape}")
    shape, (v_q, T_q, x_q), _ = flatten_inputs({"v": v, "T": T, "x": x})
    out = np.empty(v_q.shape[0], dtype=np.float64)
    _vol_from_table_kernel(table_, v_, T_, x_, v_q, T_q, x_q, out)
    return shaped(out, shape)
