"""Hedge policies as data: how the condor is managed and how ALVH layers are built.

A :class:`Policy` is what a policy TOML file holds (``scenarios/policies/``;
read by ``scenarios.load_policy``). It names the condor's management style
and a list of hedge layers. Each :class:`LayerSpec` says *what* to buy
(instrument, expiry, strikes), *how much* (a share of the condor's credit,
of its VIX sensitivity or of its notional), *when* (a :class:`Trigger` over
the signals of :data:`SIGNALS`, with hysteresis), and *when to let go*
(profit target, VIX back under its entry level, trigger cleared, roll before
expiry). A hedge budget (:class:`Budget`) and a liquidity floor
(:class:`Liquidity`) bound every opening; :class:`Shrink` asks the condor to
cut its size when realized volatility runs above implied.

Signals a condition may read (``Condition.signal``), per path and tick:

===================== ============ =================================================
name                  unit         definition
===================== ============ =================================================
``vix``               index pts    the VIX index
``vx1``, ``vx2``      index pts    front and second monthly VIX futures
``ts_slope``          1            ``vx1 / vx2`` (> 1: backwardation, a flat or
                                   inverted term structure)
``ts_slope_z``        1            z-score of ``ts_slope`` over 30 ticks
``rsi_spx/_vix``      0-100        RSI(14) of SPX / of VIX
``macd_hist_spx/_vix`` index pts   MACD histogram (also ``macd_spx``,
                                   ``macd_signal_spx`` and the ``_vix`` twins)
``ad_divergence``     0/1          breadth divergence flag
``realized_vol``      1/sqrt(yr)   20-tick realized vol of SPX
``rv_iv_ratio``       1            realized vol / (VIX / 100)
``days_to_event``     days         calendar days to the next FOMC/CPI/PPI day
``strike_distance``   ATM stdevs   distance of SPX to the nearer short strike of
                                   the condor, ``ln`` distance over ``atm sqrt(T)``
                                   (NaN when flat: every condition on it is off)
``strike_drift``      ATM stdevs   change of ``strike_distance`` over the last 5
                                   ticks (negative: drifting toward a short strike)
``short_delta``       1            the larger |delta| of the condor's short legs
``condor_tested``     0/1          1 once SPX has reached a short strike of the open
                                   condor (its ``condor.tested`` event), else 0
===================== ============ =================================================

and any name registered with :func:`register_signal` (a Python callable, for
what a condition on the table above cannot express). Whether a signal *is*
informative is a property of the scenario (e.g. ``divergence_predicts_stress``),
never of the policy.

Everything a user writes is validated once, by the loader, against the
ranges and choices declared here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.config import param

#: Condor management styles.
CONDOR_STYLES = ("non-trailed", "active")
#: Hedge instruments a layer may buy.
INSTRUMENTS = ("vix_call", "vix_call_spread", "vix_future_spread", "spx_put_spread",
               "spx_credit_spread")
#: Roles of a layer. ``leverage`` opens only while the first ``base`` layer is open.
ROLES = ("base", "acceleration", "defense", "leverage")
#: What a layer's size is a share of.
SIZE_BASES = ("credit", "vega", "notional")
#: How a trigger combines its conditions.
TRIGGER_MODES = ("all", "any", "score")
#: Comparison of a condition.
OPERATORS = (">", "<")
#: Sides of an SPX credit spread layer.
CREDIT_SIDES = ("away", "toward", "put", "call")

#: Market signals (``sim.market.signals``) a condition may read by name.
MARKET_SIGNALS = (
    "vx1", "vx2", "ts_slope", "ts_slope_z", "rsi_spx", "rsi_vix", "macd_spx",
    "macd_signal_spx", "macd_hist_spx", "macd_vix", "macd_signal_vix", "macd_hist_vix",
    "ad_divergence", "realized_vol", "rv_iv_ratio",
)
#: Signals computed by the hedge agent from the view and the condor it follows.
AGENT_SIGNALS = ("vix", "days_to_event", "strike_distance", "strike_drift", "short_delta",
                 "condor_tested")
#: Every built-in signal name.
SIGNALS = MARKET_SIGNALS + AGENT_SIGNALS


def choice(default: str, choices: tuple[str, ...], *, doc: str) -> Any:
    """Declare a text field that takes one of ``choices`` (checked by the loader)."""
    return field(default=default, metadata={"unit": "text", "doc": doc, "choices": choices,
                                             "lo": None, "hi": None})


def text(default: str, *, doc: str) -> Any:
    """Declare a free text field."""
    return field(default=default, metadata={"unit": "text", "doc": doc, "lo": None,
                                            "hi": None})


@dataclass(frozen=True)
class ActiveManagement:
    """How an ``active`` condor is managed (``[active]`` table of a policy).

    When the short leg on one side reaches ``roll_delta`` (absolute smile
    delta), the *untested* (other) side's spread is closed and reopened at
    ``CondorSpec.short_delta`` from the current spot, same expiry and width,
    at most ``max_untested_rolls`` times per condor. When spot reaches a short
    strike (the condor is *tested*) and ``roll_out`` is on, the whole condor
    is closed and a new one is opened at the next entry expiry
    (``dte_min``..``dte_max`` from today), at most ``max_roll_outs`` times
    in a row.

    Details (``sim.agents.condor``): the rules act in the trade phase after
    the exits, roll-out first; a rolled short strike stays 5 points inside
    the tested one (strikes never cross) and no roll is traded where the new
    short would not move toward the money; a roll-out always moves to a
    later expiry (the Friday after the old one if the entry expiry is not
    later); the streak of roll-outs restarts when a condor ends by any other
    exit or opens by the entry rule.
    """

    roll_delta: float = param(0.30, 0.0, 1.0, lo_open=True, hi_open=True, unit="1",
                              doc="short-leg |delta| at which the untested side is rolled in")
    max_untested_rolls: int = param(1, 0, 100, unit="rolls",
                                    doc="untested-side rolls allowed per condor")
    roll_out: bool = param(True, unit="true/false",
                           doc="roll the whole condor out in time when a short strike is tested")
    max_roll_outs: int = param(3, 0, 100, unit="rolls",
                               doc="roll-outs in a row before the condor is left to its exits")


@dataclass(frozen=True)
class Condition:
    """One test of a signal against a level, with hysteresis.

    With ``op = ">"`` the condition turns on when ``signal >= on`` and off
    again only when ``signal < off`` (``off <= on``); with ``op = "<"`` it
    turns on when ``signal <= on`` and off when ``signal > off`` (``off >=
    on``). ``off`` omitted means no hysteresis (``off = on``). A NaN signal
    (e.g. no condor open, or a look-back not yet filled) turns it off.
    """

    signal: str = text("vix", doc="signal name (see sim.policy: SIGNALS) or a registered one")
    op: str = choice(">", OPERATORS, doc="'>' fires above `on`, '<' below it")
    on: float = param(0.0, -1e9, 1e9, unit="signal unit", doc="level that turns it on")
    off: float | None = param(None, -1e9, 1e9, unit="signal unit",
                              doc="level that turns it off again (default: `on`)")
    weight: float = param(1.0, 0.0, 1e6, unit="1", doc="weight in a score trigger")

    @property
    def off_level(self) -> float:
        """The level that turns the condition off."""
        return self.on if self.off is None else self.off


@dataclass(frozen=True)
class Trigger:
    """When a layer wants to be on: its conditions combined, with hysteresis.

    ``mode = "all"``: every condition on; ``"any"``: at least one;
    ``"score"``: the weighted share of conditions on,
    ``sum(weight_i * on_i) / sum(weight_i)`` in ``[0, 1]``, turns the trigger on
    at ``>= threshold`` and off below ``clear`` (``clear <= threshold``; default
    ``threshold``). ``enabled = false`` switches the trigger (and so the
    layer) off entirely. A trigger with no condition never fires.
    """

    enabled: bool = param(True, unit="true/false", doc="whether the layer may fire at all")
    mode: str = choice("all", TRIGGER_MODES, doc="how conditions combine")
    threshold: float = param(0.5, 0.0, 1.0, unit="share of weight",
                             doc="score at which a score trigger turns on")
    clear: float | None = param(None, 0.0, 1.0, unit="share of weight",
                                doc="score below which a score trigger turns off")
    conditions: tuple[Condition, ...] = ()

    @property
    def clear_level(self) -> float:
        """Score below which a score trigger turns off."""
        return self.threshold if self.clear is None else self.clear


@dataclass(frozen=True)
class LayerSpec:
    """One hedge layer: instrument, expiry, strikes, size, trigger, and exits.

    Instruments and their strikes:

    - ``vix_call``: one long VIX call, strike ``future + long_offset`` (VIX
      points, on the 0.5 grid), expiring on the first Wednesday (VIX weekly)
      at least ``min_dte`` days out;
    - ``vix_call_spread``: long at ``future + long_offset``, short at
      ``future + short_offset``, same expiry;
    - ``vix_future_spread``: long the first monthly VIX future at least
      ``min_dte`` days out, short the next monthly (gains when the front
      rises against the back, i.e. when the term structure flattens or inverts);
    - ``spx_put_spread``: long SPX put at |delta| ``long_delta``, short put at
      ``short_delta``, first Friday at least ``min_dte`` days out;
    - ``spx_credit_spread``: a credit spread whose short strike sits
      ``breakeven_buffer`` points beyond the condor's break-even
      (``short put - credit`` or ``short call + credit``) on ``side``
      (``away``: the side SPX drifts away from; ``toward``: the side it
      drifts toward; or ``put`` / ``call``), with ``spread_width`` points of
      wing, same expiry rule as SPX puts.

    An expiry further than ``max_dte`` days is not traded.

    Size: ``size`` times the basis, in units of the instrument (one option,
    one spread, or one futures pair): ``credit`` - dollars of the open
    condor's credit over the unit's risk (premium for a debit, max loss for a
    credit spread, margin for a futures spread); ``vega`` - the condor's loss
    per VIX point over the unit's gain per VIX point, both measured by the
    model (repricing at a variance that moves the VIX up by one point);
    ``notional`` - the condor's SPX notional (contracts x spot x 100) over
    the unit's notional (VIX future x multiplier, or spot x 100). Rounded down,
    capped at ``max_units``.
    """

    name: str = text("", doc="layer name, unique in the policy (e.g. 'L1')")
    role: str = choice("base", ROLES, doc="base, acceleration, defense or leverage")
    instrument: str = choice("vix_call", INSTRUMENTS, doc="what the layer buys")
    min_dte: int = param(7, 1, 365, unit="calendar days", doc="fewest days to expiry at entry")
    max_dte: int = param(45, 1, 400, unit="calendar days", doc="most days to expiry at entry")
    long_offset: float = param(1.0, -50.0, 100.0, unit="VIX points",
                               doc="VIX call strike above its future")
    short_offset: float = param(6.0, -50.0, 100.0, unit="VIX points",
                                doc="short VIX call strike above its future (spreads)")
    long_delta: float = param(0.25, 0.0, 0.5, lo_open=True, hi_open=True, unit="1",
                              doc="|delta| of the long SPX put")
    short_delta: float = param(0.10, 0.0, 0.5, lo_open=True, hi_open=True, unit="1",
                               doc="|delta| of the short SPX put")
    side: str = choice("away", CREDIT_SIDES, doc="side of an SPX credit spread")
    spread_width: float = param(25.0, 5.0, 1000.0, unit="index points",
                                doc="wing of an SPX credit spread (multiple of 5)")
    breakeven_buffer: float = param(0.0, 0.0, 5000.0, unit="index points",
                                    doc="short strike beyond the condor's break-even")
    size_basis: str = choice("credit", SIZE_BASES, doc="what `size` is a share of")
    size: float = param(0.3, 0.0, 100.0, lo_open=True, unit="share of basis",
                        doc="hedge size as a share of the basis")
    max_units: int = param(1000, 1, 1_000_000, unit="contracts", doc="cap on units per opening")
    roll_dte: int = param(3, 0, 365, unit="calendar days",
                          doc="roll (or close) at or below this many days to expiry (0: hold)")
    profit_target: float = param(2.0, 0.0, 1000.0, unit="multiple of entry risk",
                                 doc="close when the gain reaches this multiple of the "
                                     "layer's max loss at entry (0: off)")
    unwind_vix_below_entry: bool = param(True, unit="true/false",
                                         doc="close when VIX falls under its level at entry")
    vix_unwind_margin: float = param(1.0, 0.0, 100.0, unit="VIX points",
                                     doc="how far under the entry VIX before unwinding")
    unwind_on_clear: bool = param(True, unit="true/false",
                                  doc="close when the trigger that opened the layer clears")
    requires: tuple[str, ...] = ()
    trigger: Trigger = field(default_factory=Trigger)


@dataclass(frozen=True)
class Budget:
    """Hedge budget: spend on hedges at most ``max_share`` of premium collected.

    Spend of an opening order = premium paid (0 for a credit) + its costs,
    in dollars; premium collected = the condor credits received on the path
    so far (credit x contracts x 100). An opening that would break the cap
    is cut to the units that fit, or skipped; the ledger says which
    (``action = "skip"`` rows, reason ``"<layer> budget cut"`` or
    ``"<layer> budget skip"``).
    """

    max_share: float = param(0.20, 0.0, 100.0, unit="share of premium collected",
                             doc="cap on cumulative hedge spend")


@dataclass(frozen=True)
class Liquidity:
    """Never open a hedge that takes the quick ratio (cash / margin) below the floor."""

    min_quick_ratio: float = param(1.2, 0.0, 1000.0, unit="1",
                                   doc="floor of cash / margin after an opening trade")


@dataclass(frozen=True)
class Shrink:
    """Cut the condor when realized vol runs above implied.

    When ``rv_iv_ratio >= 1 + margin`` on a path with an open condor, the
    hedge agent asks the condor (bus channel ``condor.shrink``) to keep
    ``keep`` of its contracts; once per condor.
    """

    enabled: bool = param(False, unit="true/false", doc="whether to shrink at all")
    margin: float = param(0.20, 0.0, 10.0, unit="1",
                          doc="realized/implied excess that triggers a shrink")
    keep: float = param(0.5, 0.0, 1.0, hi_open=True, unit="share of contracts",
                        doc="share of the condor kept after a shrink")


@dataclass(frozen=True)
class Policy:
    """A complete, validated policy: what ``scenarios.load_policy`` returns."""

    name: str
    description: str
    condor_style: str = choice("non-trailed", CONDOR_STYLES, doc="how the condor is managed")
    close_with_condor: bool = param(True, unit="true/false",
                                    doc="close every hedge layer when the condor closes")
    active: ActiveManagement = field(default_factory=ActiveManagement)
    budget: Budget = field(default_factory=Budget)
    liquidity: Liquidity = field(default_factory=Liquidity)
    shrink: Shrink = field(default_factory=Shrink)
    layers: tuple[LayerSpec, ...] = ()
    source: str = "<built-in>"

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the hedge layers, in order."""
        return tuple(layer.name for layer in self.layers)

    @property
    def hedges(self) -> bool:
        """Whether the policy runs a hedge agent (any layer, or size shrink)."""
        return bool(self.layers) or self.shrink.enabled

    def agent_factories(self) -> tuple[Callable, ...]:
        """Agent factories (``Context -> Agent``) for ``sim.engine.simulate``.

        The condor first (it trades in the ``trade`` phase), then the hedge
        agent when the policy has layers or a shrink rule (``hedge`` phase).
        """
        from sim.agents.alvh import HedgeAgent
        from sim.agents.condor import CondorAgent

        condor = functools.partial(CondorAgent, style=self.condor_style,
                                   active=self.active)
        if not self.hedges:
            return (condor,)
        return (condor, functools.partial(HedgeAgent, policy=self))


#: Python signals registered by name (see :func:`register_signal`).
SIGNAL_REGISTRY: dict[str, Callable[..., np.ndarray]] = {}
#: Python policies registered by name (see :func:`register_policy`).
POLICY_REGISTRY: dict[str, Callable[[], Any]] = {}


def register_signal(name: str):
    """Register a Python signal that trigger conditions can name.

    The callable gets ``(view, condor)``: the tick's ``MarketView`` and the
    hedge agent's :class:`~sim.agents.alvh.CondorState` (strikes, expiry,
    contracts of the condor on every path), and returns one float per path
    (NaN: no signal). It must use only data up to the current tick.

    Examples
    --------
    >>> @register_signal("spx_5d_return")              # doctest: +SKIP
    ... def spx_5d_return(view, condor):
    ...     spot = view.signals.market.spot
    ...     return spot[view.tick] / spot[max(view.tick - 5, 0)] - 1.0
    """
    if name in SIGNALS:
        raise ValueError(f"{name!r} is a built-in signal; choose another name")

    def decorate(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        SIGNAL_REGISTRY[name] = func
        return func

    return decorate


def register_policy(name: str, builder: Callable[[], Any]) -> None:
    """Register a policy built in Python, loadable by ``name`` like a preset.

    ``builder()`` returns a :class:`Policy` (e.g. one with a registered
    signal in its triggers) or any object with ``name``, ``description``,
    ``layer_names`` and ``agent_factories()`` (for custom agents).
    """
    POLICY_REGISTRY[name] = builder


def load_policy(name_or_path: str) -> Any:
    """A registered policy, a shipped preset (``scenarios/policies``) or a TOML file."""
    if name_or_path in POLICY_REGISTRY:
        return POLICY_REGISTRY[name_or_path]()
    from scenarios.policy_loader import load_policy as load_file

    return load_file(name_or_path)


def list_policies() -> list[tuple[str, str]]:
    """Names and descriptions of the shipped and registered policies."""
    from scenarios.policy_loader import list_policy_presets

    shipped = list_policy_presets()
    registered = [(name, getattr(builder(), "description", "")) for name, builder
                  in sorted(POLICY_REGISTRY.items())]
    return shipped + registered
