"""``MarketPaths``: the simulated SPX/VIX paths that every agent trades on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MarketPaths:
    """Market state at every tick of every path, a struct of arrays.

    Row ``t`` is tick ``t`` (row 0 the first tick, the initial state), column
    ``p`` is path ``p``: arrays have shape ``(n_steps + 1, n_paths)``.

    Attributes
    ----------
    dates : numpy.ndarray
        ``datetime64[D]`` calendar date of each tick, shape ``(n_steps + 1,)``.
    dt : float
        Length of one step in years (e.g. 1/252 for daily ticks).
    spot : numpy.ndarray
        SPX level, index points, float64.
    variance : numpy.ndarray
        Instantaneous variance ``v`` (annualized, vol squared), float64, ``>= 0``.
    vix : numpy.ndarray
        VIX index implied by ``variance``, index points, float64.
    jumps : numpy.ndarray
        int32 count of SVCJ jumps that arrived in the step ending at the tick;
        row 0 is zeros.
    """

    dates: np.ndarray
    dt: float
    spot: np.ndarray
    variance: np.ndarray
    vix: np.ndarray
    jumps: np.ndarray

    def __post_init__(self) -> None:
        if self.dates.ndim != 1 or self.dates.dtype != np.dtype("datetime64[D]"):
            raise ValueError(
                f"dates must be a 1-D datetime64[D] array, got {self.dates.dtype} "
                f"with shape {self.dates.shape}"
            )
        if not self.dt > 0.0:
            raise ValueError(f"dt must be > 0 years, got {self.dt!r}")
        shape = self.spot.shape
        if len(shape) != 2 or shape[0] != self.dates.shape[0]:
            raise ValueError(
                f"spot must have shape (n_steps + 1, n_paths) = ({self.dates.shape[0]}, ...), "
                f"got {shape}"
            )
        for name in ("spot", "variance", "vix", "jumps"):
            array = getattr(self, name)
            if array.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
            expected = np.int32 if name == "jumps" else np.float64
            if array.dtype != expected:
                raise ValueError(f"{name} must be {np.dtype(expected)}, got {array.dtype}")

    @property
    def n_steps(self) -> int:
        """Number of steps after the first tick."""
        return self.spot.shape[0] - 1

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return self.spot.shape[1]

    def select(self, path_index: int | slice | np.ndarray) -> MarketPaths:
        """The same market restricted to some paths, still 2-D.

        Parameters
        ----------
        path_index : int, slice, array of int or boolean mask
            Paths to keep; an int keeps one path as a ``(n_steps + 1, 1)`` array.

        Returns
        -------
        MarketPaths
            New paths sharing ``dates`` and ``dt``.
        """
        if isinstance(path_index, int | np.integer):
            path_index = [int(path_index)]
        return dataclasses.replace(
            self,
            spot=self.spot[:, path_index],
            variance=self.variance[:, path_index],
            vix=self.vix[:, path_index],
            jumps=self.jumps[:, path_index],
        )
