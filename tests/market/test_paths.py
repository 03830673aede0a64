"""MarketPaths: shape validation and path selection."""

import numpy as np
import pytest

from sim.config import MarketModel
from sim.market import MarketPaths, generate


@pytest.fixture
def paths() -> MarketPaths:
    return generate(MarketModel(jump_intensity=20.0), 6, 5, 1 / 252, np.random.default_rng(7))


def test_shape_properties(paths):
    assert (paths.n_steps, paths.n_paths) == (5, 6)
    assert paths.dates.shape == (6,)
    for array in (paths.spot, paths.variance, paths.vix, paths.jumps):
        assert array.shape == (6, 6)
    assert paths.jumps.dtype == np.int32
    assert (paths.jumps[0] == 0).all()


@pytest.mark.parametrize("index", [3, np.int64(3), [3], np.array([False, False, False, True,
                                                                   False, False])])
def test_select_one_path_keeps_two_dimensions_and_data(paths, index):
    one = paths.select(index)
    assert one.n_paths == 1 and one.n_steps == paths.n_steps
    np.testing.assert_array_equal(one.dates, paths.dates)
    assert one.dt == paths.dt
    for name in ("spot", "variance", "vix", "jumps"):
        np.testing.assert_array_equal(getattr(one, name)[:, 0], getattr(paths, name)[:, 3])


def test_select_several_paths(paths):
    some = paths.select(slice(1, 4))
    assert some.n_paths == 3
    np.testing.assert_array_equal(some.spot, paths.spot[:, 1:4])
    np.testing.assert_array_equal(paths.select([4, 0]).vix, paths.vix[:, [4, 0]])


def test_rejects_mismatched_shapes(paths):
    with pytest.raises(ValueError, match="vix"):
        MarketPaths(paths.dates, paths.dt, paths.spot, paths.variance, paths.vix[:, :2],
                    paths.jumps)
    with pytest.raises(ValueError, match="spot"):
        MarketPaths(paths.dates[:-1], paths.dt, paths.spot, paths.variance, paths.vix,
                    paths.jumps)
    with pytest.raises(ValueError, match="jumps"):
        MarketPaths(paths.dates, paths.dt, paths.spot, paths.variance, paths.vix,
                    paths.jumps.astype(np.int64))
    with pytest.raises(ValueError, match="dates"):
        MarketPaths(paths.dates.astype("datetime64[s]"), paths.dt, paths.spot, paths.variance,
                    paths.vix, paths.jumps)
    with pytest.raises(ValueError, match="dt"):
        MarketPaths(paths.dates, 0.0, paths.spot, paths.variance, paths.vix, paths.jumps)
