"""``MarketPaths``: the simulated SPX/VIX paths that every agent trades on."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
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
    regime : numpy.ndarray
        int8 index into ``regime_names`` of the regime at the tick; it sets
        the dynamics of the step from this tick to the next.
    regime_names : tuple of str
        Regime names, in the order of the transition matrix.
    events : numpy.ndarray
        uint8 bit flags per tick, shape ``(n_steps + 1,)``: OR of
        ``sim.market.events.FOMC``, ``CPI``, ``PPI``. The step ending at a
        flagged tick carried the event's shocks (row 0 is informational).
    net_advances : numpy.ndarray
        float64 advancers minus decliners as a share of issues, in
        ``[-1, 1]``, for the step ending at the tick; row 0 is zeros.
    ad_line : numpy.ndarray
        float64 advance-decline line, the running sum of ``net_advances``;
        row 0 is zeros.
    divergence : numpy.ndarray
        bool, whether the path is in a breadth divergence episode at the tick.
    """

    dates: np.ndarray
    dt: float
    spot: np.ndarray
    variance: np.ndarray
    vix: np.ndarray
    jumps: np.ndarray
    regime: np.ndarray
    regime_names: tuple[str, ...]
    events: np.ndarray
    net_advances: np.ndarray
    ad_line: np.ndarray
    divergence: np.ndarray

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
        for name, expected in _PATH_FIELDS.items():
            array = getattr(self, name)
            if array.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
            if array.dtype != expected:
                raise ValueError(f"{name} must be {np.dtype(expected)}, got {array.dtype}")
        if self.events.shape != self.dates.shape or self.events.dtype != np.uint8:
            raise ValueError(f"events must be uint8 of shape {self.dates.shape}, got "
                             f"{self.events.dtype} with shape {self.events.shape}")
        names = self.regime_names
        if (not isinstance(names, tuple) or not names
                or not all(isinstance(name, str) for name in names)):
            raise ValueError(f"regime_names must be a non-empty tuple of str, got {names!r}")
        if self.regime.size and not (0 <= self.regime.min() and self.regime.max() < len(names)):
            raise ValueError(f"regime must index regime_names (0 to {len(names) - 1}), got "
                             f"values {self.regime.min()} to {self.regime.max()}")

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
            self, **{name: getattr(self, name)[:, path_index] for name in _PATH_FIELDS})


    @classmethod
    def concat(cls, parts: Sequence[MarketPaths]) -> MarketPaths:
        """Markets of the same dates side by side: their paths, in order, as one market.

        Parameters
        ----------
        parts : sequence of MarketPaths
            At least one; all with the same ``dates``, ``dt``, ``events`` and
            ``regime_names`` (e.g. blocks of paths generated for one run).

        Returns
        -------
        MarketPaths
            Per-path arrays concatenated along the path axis (axis 1); the
            common fields are those of the first part. One part is returned
            as it is.

        Raises
        ------
        ValueError
            If ``parts`` is empty or the parts differ in a common field.
        """
        parts = list(parts)
        if not parts:
            raise ValueError("concat needs at least one MarketPaths")
        first = parts[0]
        for k, part in enumerate(parts[1:], start=1):
            for name in ("dates", "events"):
                if not np.array_equal(getattr(part, name), getattr(first, name)):
                    raise ValueError(f"part {k} has other {name} than part 0")
            if part.dt != first.dt or part.regime_names != first.regime_names:
                raise ValueError(f"part {k} has another dt or other regime names than part 0")
        if len(parts) == 1:
            return first
        return dataclasses.replace(first, **{
            name: np.concatenate([getattr(part, name) for part in parts], axis=1)
            for name in _PATH_FIELDS})


#: Per-path fields of shape ``(n_steps + 1, n_paths)`` and their dtypes.
_PATH_FIELDS: dict[str, type] = {
    "spot": np.float64,
    "variance": np.float64,
    "vix": np.float64,
    "jumps": np.int32,
    "regime": np.int8,
    "net_advances": np.float64,
    "ad_line": np.float64,
    "divergence": np.bool_,
}
