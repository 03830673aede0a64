"""MarketPaths: shape validation and path selection."""

import dataclasses

import numpy as np
import pytest

from sim.config import MarketModel, RegimeChain
from sim.market import MarketPaths, generate

PER_PATH = ("spot", "variance", "vix", "jumps", "regime", "net_advances", "ad_line",
            "divergence")


@pytest.fixture
def paths() -> MarketPaths:
    chain = RegimeChain(names=("calm", "stressed"), transition=((0.8, 0.2), (0.3, 0.7)),
                        initial="stationary", stress=("stressed",))
    model = MarketModel(jump_intensity=20.0, regimes=chain)
    return generate(model, 6, 5, 1 / 252, np.random.default_rng(7))


def test_shape_properties(paths):
    assert (paths.n_steps, paths.n_paths) == (5, 6)
    assert paths.dates.shape == (6,)
    for name in PER_PATH:
        assert getattr(paths, name).shape == (6, 6)
    assert paths.jumps.dtype == np.int32
    assert paths.regime.dtype == np.int8
    assert paths.divergence.dtype == np.bool_
    assert paths.events.shape == (6,) and paths.events.dtype == np.uint8
    assert paths.regime_names == ("calm", "stressed")
    assert (paths.jumps[0] == 0).all()
    assert (paths.net_advances[0] == 0).all() and (paths.ad_line[0] == 0).all()


@pytest.mark.parametrize("index", [3, np.int64(3), [3], np.array([False, False, False, True,
                                                                   False, False])])
def test_select_one_path_keeps_two_dimensions_and_data(paths, index):
    one = paths.select(index)
    assert one.n_paths == 1 and one.n_steps == paths.n_steps
    np.testing.assert_array_equal(one.dates, paths.dates)
    np.testing.assert_array_equal(one.events, paths.events)
    assert one.dt == paths.dt and one.regime_names == paths.regime_names
    for name in PER_PATH:
        np.testing.assert_array_equal(getattr(one, name)[:, 0], getattr(paths, name)[:, 3])


def test_select_several_paths(paths):
    some = paths.select(slice(1, 4))
    assert some.n_paths == 3
    for name in PER_PATH:
        np.testing.assert_array_equal(getattr(some, name), getattr(paths, name)[:, 1:4])
    np.testing.assert_array_equal(paths.select([4, 0]).vix, paths.vix[:, [4, 0]])


# Changed when MarketPaths gained its regime, event and breadth fields (all
# required, no silent defaults): invalid copies are built with
# dataclasses.replace instead of positional construction.
@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"vix": lambda p: p.vix[:, :2]}, "vix"),
        ({"dates": lambda p: p.dates[:-1]}, "spot"),
        ({"jumps": lambda p: p.jumps.astype(np.int64)}, "jumps"),
        ({"dates": lambda p: p.dates.astype("datetime64[s]")}, "dates"),
        ({"dt": lambda p: 0.0}, "dt"),
        ({"regime": lambda p: p.regime.astype(np.int64)}, "regime"),
        ({"regime": lambda p: p.regime[:, :3]}, "regime"),
        ({"regime": lambda p: p.regime + np.int8(2)}, "regime"),
        ({"regime_names": lambda p: ()}, "regime_names"),
        ({"regime_names": lambda p: ["calm", "stressed"]}, "regime_names"),
        ({"events": lambda p: p.events[:-1]}, "events"),
        ({"events": lambda p: p.events.astype(np.int64)}, "events"),
        ({"net_advances": lambda p: p.net_advances.astype(np.float32)}, "net_advances"),
        ({"ad_line": lambda p: p.ad_line[1:]}, "ad_line"),
        ({"divergence": lambda p: p.divergence.astype(np.int8)}, "divergence"),
    ],
)
def test_rejects_mismatched_shapes_and_types(paths, changes, name):
    with pytest.raises(ValueError, match=name):
        dataclasses.replace(paths, **{key: make(paths) for key, make in changes.items()})


def test_new_fields_are_required():
    with pytest.raises(TypeError, match="regime"):
        MarketPaths(np.array(["2025-01-02"], dtype="datetime64[D]"), 1 / 252,
                    np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1)),
                    np.zeros((1, 1), dtype=np.int32))
