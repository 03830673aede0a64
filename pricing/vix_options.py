"""VIX options: Black-76 on the VIX future of the same expiry, at a skewed model vol.

A VIX option settles to the VIX at its expiry, so it is priced as a European
option on ``VIX_T`` whose mean is the VIX future ``F`` of that expiry
(``pricing.vix.vix_future``), i.e. Black-76 on ``F`` (CBOE VIX options
specification; Whaley 1993, "Derivatives on market volatility", J.
Derivatives 1(1)).  The vol is the model's lognormal vol of VIX to the
expiry, ``model_vol`` (``pricing.vix.vix_model_vol``), scaled and given the
upward VIX skew of ``sim.config.VixSpec``:

``vol(K) = soft_clip(x, min_vol, max_vol)`` with
``x = vol_scale * model_vol * (1 + skew * ln(K / F))``.

With ``skew > 0`` out-of-the-money calls are dearer than puts, as in the VIX
option market.

The soft clip is a monotone saturation with a continuous first derivative
(quadratic blends, as in a Huber function): with the blend half-width
``w = CLIP_BLEND * (max_vol - min_vol)``,

* ``soft_clip(x) = min_vol`` for ``x <= min_vol - w``,
* ``x + (min_vol + w - x)^2 / (4 w)`` for ``min_vol - w < x < min_vol + w``,
* ``x`` for ``min_vol + w <= x <= max_vol - w``,
* ``x - (x - max_vol + w)^2 / (4 w)`` for ``max_vol - w < x < max_vol + w``,
* ``max_vol`` for ``x >= max_vol + w``.

Its slope runs linearly from 0 to 1 across each blend and its second
derivative is bounded, ``1 / (2 w)``.  Why: a hard clip ``min(x, max_vol)``
puts a concave kink in the vol as a function of ``K``, so the call price
has a concave kink of size ``vega * vol'(K)`` there, a butterfly arbitrage
(about 1e-4 index points on a 0.5-point grid at VIX ~10 and 5 days for the
default ``sim.config.VixSpec``).  Spread over the blend, the curvature
``vega * vol''(K)`` stays below the call's positive Black-76 convexity: with
the default ``VixSpec`` no butterfly is left on any state tested (variance
0 to 1, 1 to 365 days; the blend has to be at least ~0.075 of the band).
It is not a guarantee for every skew: with ``option_skew`` from 1 to 5 or
``option_vol_scale = 2`` butterflies of 1e-8 to 1e-4 ``F`` remain (30 to
10^4 times smaller than with the hard clip).  At the floor the hard clip's
kink is convex and harmless; it is blended the same way for symmetry.  With
an infinite ``max_vol`` (no cap) the floor is the hard ``max(x, min_vol)``.

Kernels never raise: NaN in gives NaN out; ``K <= 0`` reads as
``ln(K/F) = -inf`` and ``F <= 0`` as ``+inf`` (the limits of the skew, so the
vol stays monotone in ``K``; the Black-76 price does not depend on the vol
there), both at once as 0.  Units: ``F`` and ``K`` in index points, ``T`` in
years, vols annualized decimals.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from pricing._arrays import flatten_inputs, require_non_negative, shaped
from pricing.black import black76_price_one

__all__ = ["CLIP_BLEND", "soft_clip", "vix_option_price", "vix_option_price_one",
           "vix_option_vol", "vix_option_vol_one"]

#: Half-width of each quadratic blend of the soft clip, as a share of
#: ``max_vol - min_vol`` (at most 0.5, where the two blends meet).
CLIP_BLEND = 0.2


@njit(cache=True, error_model="numpy")
def soft_clip(x, lo, hi):
    """``x`` saturated smoothly into ``[lo, hi]`` (module docstring: the formula).

    Non-decreasing, with a continuous first derivative; ``x`` itself on
    ``[lo + w, hi - w]``, exactly ``lo`` at or below ``lo - w`` and ``hi`` at or
    above ``hi + w``, ``w = CLIP_BLEND * (hi - lo)``.  Needs ``lo <= hi``; NaN
    gives NaN and ``x = +-inf`` the bounds.
    """
    if x != x:
        return np.nan
    w = CLIP_BLEND * (hi - lo)
    if not w < np.inf:
        return x if x > lo else lo  # no cap: the (convex, harmless) hard floor
    if x <= lo - w:
        return lo
    if x < lo + w:
        gap = lo + w - x
        return x + gap * gap / (4.0 * w)
    if x <= hi - w:
        return x
    if x < hi + w:
        gap = x - hi + w
        return x - gap * gap / (4.0 * w)
    return hi


@njit(cache=True, error_model="numpy")
def vix_option_vol_one(K, F, T, model_vol, vol_scale, skew, min_vol, max_vol):
    """Implied vol (annualized decimal) of a VIX option with strike ``K`` on future ``F``.

    ``soft_clip(vol_scale * model_vol * (1 + skew * ln(K/F)), min_vol, max_vol)``;
    ``T`` (years) is unused by the formula and kept for a uniform signature.
    """
    if (K != K or F != F or T != T or model_vol != model_vol or vol_scale != vol_scale
            or skew != skew or min_vol != min_vol or max_vol != max_vol):
        return np.nan
    base = vol_scale * model_vol
    if base == 0.0 or skew == 0.0 or (K <= 0.0 and F <= 0.0):
        vol = base
    elif K > 0.0 and F > 0.0:
        # ln(K/F) may be -inf or +inf when K/F under- or overflows: the same limits.
        vol = base * (1.0 + skew * math.log(K / F))
    else:
        # ln(K/F) = -inf (K <= 0) or +inf (F <= 0): the limit of the linear skew.
        vol = np.inf if (skew > 0.0) == (F <= 0.0) else -np.inf
    return soft_clip(vol, min_vol, max_vol)


@njit(cache=True, error_model="numpy")
def vix_option_price_one(K, F, T, r, model_vol, vol_scale, skew, min_vol, max_vol, is_call):
    """Black-76 price (index points) of one VIX option at the skewed model vol.

    ``black76_price_one(F, K, T, r, vix_option_vol_one(K, F, T, ...), is_call)``.
    """
    vol = vix_option_vol_one(K, F, T, model_vol, vol_scale, skew, min_vol, max_vol)
    return black76_price_one(F, K, T, r, vol, is_call)


def vix_option_vol(
    K: ArrayLike,
    F: ArrayLike,
    T: ArrayLike,
    model_vol: ArrayLike,
    vol_scale: ArrayLike,
    skew: ArrayLike,
    min_vol: ArrayLike,
    max_vol: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Implied vol of VIX options: the model's vol of VIX, scaled, skewed and soft-clipped.

    ``vol = soft_clip(vol_scale * model_vol * (1 + skew * ln(K / F)), min_vol, max_vol)``
    (`soft_clip`: a monotone saturation with a continuous slope, see the
    module docstring). All arguments broadcast against each other.

    Parameters
    ----------
    K : array_like
        Strike, index points (``K <= 0`` gives the ``K -> 0`` limit).
    F : array_like
        VIX future of the option's expiry, index points, ``>= 0``.
    T : array_like
        Time to expiry, years, ``>= 0`` (not used by the formula).
    model_vol : array_like
        The model's lognormal vol of VIX to the expiry
        (``pricing.vix.vix_model_vol``), annualized decimal, ``>= 0``.
    vol_scale : array_like
        Multiplier on ``model_vol`` (``VixSpec.option_vol_scale``), ``>= 0``.
    skew : array_like
        Relative change of the vol per unit of ``ln(K/F)``
        (``VixSpec.option_skew``); positive is the upward VIX skew.
    min_vol, max_vol : array_like
        Floor and cap of the vol, annualized decimal, ``0 <= min_vol <= max_vol``.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Implied vol, annualized decimal, of the broadcast shape.

    Raises
    ------
    ValueError
        If `F`, `T`, `model_vol`, `vol_scale` or `min_vol` has a negative
        entry, or `min_vol` exceeds `max_vol`.
    """
    shape, flat, _flags = flatten_inputs(
        {"K": K, "F": F, "T": T, "model_vol": model_vol, "vol_scale": vol_scale,
         "skew": skew, "min_vol": min_vol, "max_vol": max_vol}
    )
    K_, F_, T_, model_, scale_, skew_, min_, max_ = flat
    _check_vol_inputs(F_, T_, model_, scale_, min_, max_)
    out = np.empty(K_.shape[0], dtype=np.float64)
    _vix_option_vol_kernel(K_, F_, T_, model_, scale_, skew_, min_, max_, out)
    return shaped(out, shape)


def vix_option_price(
    K: ArrayLike,
    F: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    model_vol: ArrayLike,
    vol_scale: ArrayLike,
    skew: ArrayLike,
    min_vol: ArrayLike,
    max_vol: ArrayLike,
    is_call: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Price of European VIX options: Black-76 on the future at the `vix_option_vol` vol.

    All arguments broadcast against each other.

    Parameters
    ----------
    K : array_like
        Strike, index points.
    F : array_like
        VIX future of the option's expiry (``pricing.vix.vix_future``), index
        points, ``>= 0``.
    T : array_like
        Time to expiry, years, ``>= 0`` (0 gives the intrinsic value).
    r : array_like
        Risk-free rate used to discount the payoff, continuously compounded, per year.
    model_vol : array_like
        The model's lognormal vol of VIX to the expiry, annualized decimal, ``>= 0``.
    vol_scale : array_like
        Multiplier on ``model_vol``, ``>= 0``.
    skew : array_like
        Relative change of the vol per unit of ``ln(K/F)``.
    min_vol, max_vol : array_like
        Floor and cap of the vol, annualized decimal, ``0 <= min_vol <= max_vol``.
    is_call : array_like of bool
        True for a call, False for a put.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Option price, index points (multiplier 100 not applied), of the
        broadcast shape.

    Raises
    ------
    ValueError
        As `vix_option_vol`.
    """
    shape, flat, flags = flatten_inputs(
        {"K": K, "F": F, "T": T, "r": r, "model_vol": model_vol, "vol_scale": vol_scale,
         "skew": skew, "min_vol": min_vol, "max_vol": max_vol}, is_call
    )
    K_, F_, T_, r_, model_, scale_, skew_, min_, max_ = flat
    _check_vol_inputs(F_, T_, model_, scale_, min_, max_)
    out = np.empty(K_.shape[0], dtype=np.float64)
    _vix_option_price_kernel(K_, F_, T_, r_, model_, scale_, skew_, min_, max_, flags, out)
    return shaped(out, shape)


def _check_vol_inputs(F, T, model_vol, vol_scale, min_vol, max_vol) -> None:
    for name, values in (("F", F), ("T", T), ("model_vol", model_vol),
                         ("vol_scale", vol_scale), ("min_vol", min_vol)):
        require_non_negative(name, values)
    if np.any(min_vol > max_vol):
        raise ValueError("min_vol must be <= max_vol")


# ---------------------------------------------------------------------------
# Array kernels: 1-D contiguous float64 inputs (bool is_call), outputs written in place.
# ---------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _vix_option_vol_kernel(K, F, T, model_vol, vol_scale, skew, min_vol, max_vol, out):
    for i in range(out.shape[0]):
        out[i] = vix_option_vol_one(K[i], F[i], T[i], model_vol[i], vol_scale[i], skew[i],
                                    min_vol[i], max_vol[i])


@njit(cache=True, error_model="numpy")
def _vix_option_price_kernel(K, F, T, r, model_vol, vol_scale, skew, min_vol, max_vol,
                             is_call, out):
    for i in range(out.shape[0]):
        out[i] = vix_option_price_one(K[i], F[i], T[i], r[i], model_vol[i], vol_scale[i],
                                      skew[i], min_vol[i], max_vol[i], is_call[i])
