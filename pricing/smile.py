"""The SPX implied-volatility smile: a bounded quadratic in ATM standard deviations.

``vol(K) = clip(atm_vol * (1 + skew * u + curvature * u^2), min_vol, max_vol)``
with ``x = ln(K / F) / (atm_vol * sqrt(max(T, 1 hour)))`` (moneyness in ATM
standard deviations) and ``u = max_moneyness * tanh(x / max_moneyness)``.

Why this shape: measuring moneyness in ATM standard deviations keeps the
smile's shape the same across expiries and vol levels (the 16-delta put sits
near ``x = -1`` whether VIX is 12 or 60); scaling the whole smile by
``atm_vol`` keeps its relative steepness; and the ``tanh`` squashes ``x``
smoothly into ``(-max_moneyness, max_moneyness)`` so the wings flatten instead
of growing without bound. An unbounded quadratic in ``ln(K/F) / sqrt(T)`` (an
earlier version) sent far-wing vols to the cap near expiry, so that a put
spread and a call spread of the same expiry were worth more together than
their common width: a static arbitrage that the condor tests caught.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from pricing._arrays import flatten_inputs, shaped

__all__ = ["smile_vol", "smile_vol_one"]

#: Floor on time to expiry in the moneyness scaling: one hour, in years.
_MIN_SMILE_T = 1.0 / 365.0 / 24.0


@njit(cache=True, error_model="numpy")
def smile_vol_one(K, F, T, atm_vol, skew, curvature, max_moneyness, min_vol, max_vol):
    """Smile vol (annualized decimal) at strike ``K`` for forward ``F``, ``T`` years.

    ``x = ln(K/F) / (atm_vol * sqrt(max(T, 1/365/24)))``,
    ``u = max_moneyness * tanh(x / max_moneyness)``,
    ``vol = clip(atm_vol * (1 + skew*u + curvature*u*u), min_vol, max_vol)``.
    NaN in gives NaN out; ``atm_vol <= 0`` gives ``min_vol``.
    """
    if T != T or atm_vol != atm_vol or min_vol != min_vol or max_vol != max_vol:
        return np.nan
    if atm_vol <= 0.0:
        return min_vol
    scale = atm_vol * math.sqrt(max(T, _MIN_SMILE_T))
    if scale > 0.0:
        x = math.log(K / F) / scale
    else:
        # A subnormal atm_vol whose ATM stdev underflows to 0 (0/0 at K = F): the limit.
        log_moneyness = math.log(K / F)
        x = 0.0 if log_moneyness == 0.0 else math.copysign(np.inf, log_moneyness)
    u = max_moneyness * math.tanh(x / max_moneyness) if max_moneyness > 0.0 else 0.0
    vol = atm_vol * (1.0 + skew * u + curvature * u * u)
    if vol != vol:
        return np.nan
    if vol < min_vol:
        return min_vol
    if vol > max_vol:
        return max_vol
    return vol


def smile_vol(
    K: ArrayLike,
    F: ArrayLike,
    T: ArrayLike,
    atm_vol: ArrayLike,
    skew: ArrayLike,
    curvature: ArrayLike,
    max_moneyness: ArrayLike,
    min_vol: ArrayLike,
    max_vol: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Implied vol of SPX options from the parametric smile.

    ``vol = clip(atm_vol * (1 + skew * u + curvature * u**2), min_vol, max_vol)``
    with ``x = ln(K / F) / (atm_vol * sqrt(max(T, 1/(365*24))))`` the moneyness
    in ATM standard deviations (the time floor is one hour) and
    ``u = max_moneyness * tanh(x / max_moneyness)``. All arguments broadcast
    against each other.

    Parameters
    ----------
    K : array_like
        Strike, index points, > 0.
    F : array_like
        Forward price of the index for the expiry, index points, > 0.
    T : array_like
        Time to expiry, years (values below one hour use one hour).
    atm_vol : array_like
        Vol at ``K = F``, annualized decimal.
    skew : array_like
        Relative slope: share of ``atm_vol`` per ATM standard deviation
        (negative makes out-of-the-money puts dearer than calls).
    curvature : array_like
        Relative convexity: share of ``atm_vol`` per squared ATM standard deviation.
    max_moneyness : array_like
        Bound of ``|u|``, in ATM standard deviations; the smile flattens beyond it.
    min_vol, max_vol : array_like
        Floor and cap of the vol, annualized decimal, ``min_vol <= max_vol``.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Implied vol, annualized decimal, of the broadcast shape (a scalar when
        every input is a scalar). NaN inputs give NaN.

    Raises
    ------
    ValueError
        If `K` or `F` has an entry <= 0, or `min_vol` exceeds `max_vol`.
    """
    shape, flat, _flags = flatten_inputs(
        {
            "K": K,
            "F": F,
            "T": T,
            "atm_vol": atm_vol,
            "skew": skew,
            "curvature": curvature,
            "max_moneyness": max_moneyness,
            "min_vol": min_vol,
            "max_vol": max_vol,
        }
    )
    K_, F_, T_, atm_, skew_, curv_, xmax_, min_, max_ = flat
    for name, values in (("K", K_), ("F", F_)):
        if np.any(values <= 0.0):
            raise ValueError(f"{name} must be > 0, got {float(values[values <= 0.0][0])!r}")
    if np.any(min_ > max_):
        raise ValueError("min_vol must be <= max_vol")
    out = np.empty(K_.shape[0], dtype=np.float64)
    _smile_vol_kernel(K_, F_, T_, atm_, skew_, curv_, xmax_, min_, max_, out)
    return shaped(out, shape)


@njit(cache=True, error_model="numpy")
def _smile_vol_kernel(K, F, T, atm_vol, skew, curvature, max_moneyness, min_vol, max_vol,
                      out):
    for i in range(out.shape[0]):
        out[i] = smile_vol_one(K[i], F[i], T[i], atm_vol[i], skew[i], curvature[i],
                               max_moneyness[i], min_vol[i], max_vol[i])
