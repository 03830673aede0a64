"""Broadcasting helpers shared by the public wrappers of the pricing kernels.

The kernels take 1-D contiguous float64 arrays (and a bool array for the
option type); the wrappers accept scalars or arrays of any broadcastable
shape. These helpers do the conversion both ways.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def flatten_inputs(
    floats: dict[str, ArrayLike], flags: ArrayLike | None = None
) -> tuple[tuple[int, ...], list[NDArray[np.float64]], NDArray[np.bool_] | None]:
    """Broadcast named inputs together and flatten them for a kernel.

    Parameters
    ----------
    floats : dict of str to array_like
        Numeric inputs by argument name, converted to float64.
    flags : array_like of bool, optional
        The ``is_call`` flags, converted to bool and broadcast with the rest.

    Returns
    -------
    shape : tuple of int
        The broadcast shape; ``()`` when every input is a scalar.
    flat : list of ndarray
        One 1-D contiguous float64 array per entry of `floats`, in order.
    flat_flags : ndarray of bool or None
        The flattened flags, or None when `flags` is None.
    """
    arrays = [np.asarray(value, dtype=np.float64) for value in floats.values()]
    if flags is not None:
        arrays.append(np.asarray(flags, dtype=np.bool_))
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    # An input of the full shape is used as it is (flattened, copied only if
    # not contiguous); broadcast views are read-only and are copied, so
    # kernels always get plain contiguous writeable arrays.
    flat = [np.ascontiguousarray(a).reshape(-1) if a.shape == shape and a.flags.writeable
            else np.require(np.broadcast_to(a, shape).reshape(-1), requirements=["C", "W"])
            for a in arrays]
    if flags is not None:
        return shape, flat[:-1], flat[-1]
    return shape, flat, None


def require_non_negative(name: str, values: NDArray[np.float64]) -> None:
    """Raise ValueError naming `name` if any value is negative (NaN passes)."""
    negative = values < 0.0
    if np.any(negative):
        first = float(values[negative][0])
        raise ValueError(f"{name} must be >= 0, got {first!r}")


def shaped(out: NDArray[np.float64], shape: tuple[int, ...]) -> np.float64 | NDArray[np.float64]:
    """Reshape a kernel output; a 0-d result comes back as a numpy float64 scalar."""
    result = out.reshape(shape)
    if result.ndim == 0:
        return result[()]
    return result
