"""The discrete-event engine: one SimPy environment per batch of paths.

Time runs in ticks (one per trading day). Each tick has four phases, at
SimPy times ``tick * TICK + phase``, so that everything triggered inside a
phase (an agent reacting to another agent's event) has happened before the
next phase starts:

``settle``
    the book accrues interest on cash and cash-settles expired legs;
``trade``
    agents read the :class:`MarketView` and trade on masked sets of paths
    (the condor opens, manages and closes its positions here);
``hedge``
    agents that react to the positions taken in ``trade`` (the hedge agent)
    act here, after every ``trade``-phase event of the tick has been handled;
``mark``
    the book reprices every leg at mid, updates the path statistics and
    checks its accounting identity.

Agents are SimPy processes. They wait for phase events from the
:class:`Clock`, and talk to each other only through the :class:`EventBus`,
whose events carry a :class:`PathEvent`: *this happened on these paths*.
A batch of one path runs exactly the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from sim.book import Book
from sim.config import Scenario
from sim.instruments import SpxPricer, VixPricer
from sim.market.events import ALL_EVENTS, CPI, FOMC, PPI, days_to_next_event
from sim.market.paths import MarketPaths
from sim.market.signals import MarketSignals

#: Phases of a tick, in order.
PHASES = ("settle", "trade", "hedge", "mark")
#: SimPy time units per tick (phases sit at offsets 0, 1, 2, 3).
TICK = 4


@dataclass(frozen=True)
class MarketView:
    """The market at one tick, on every path of the batch (views, not copies).

    Attributes
    ----------
    tick : int
        Trading-day index, 0 at the first tick.
    date : numpy.datetime64
        Calendar date of the tick.
    day : int
        The same date as days since 1970-01-01 (for day arithmetic).
    spot, variance, vix : ndarray, shape (n_paths,)
        SPX (index points), instantaneous variance (annualized), VIX (index points).
    is_last : bool
        Whether this is the final tick of the run.
    regime : ndarray of int8, shape (n_paths,)
        Index of each path's regime (into ``MarketPaths.regime_names``).
    events : int
        Bit flags of the macro events of this tick (``sim.market.events``).
    days_to_event : int
        Calendar days to the next macro event of any kind after this tick
        (``sim.market.events.NO_EVENT_DAYS`` when none is left).
    net_advances, ad_line : ndarray, shape (n_paths,)
        Breadth: net advances (share of issues) and the advance-decline line.
    divergence : ndarray of bool, shape (n_paths,)
        Whether each path is in a breadth divergence episode.
    signals : MarketSignals or None
        The batch's signal table (RSI, MACD, realized vol, VIX futures...);
        read a row with ``view.signal(name)``.
    paths : ndarray of int or None
        For a view of some paths only (:meth:`take`), their indices in the
        batch; None for the whole batch.
    """

    tick: int
    date: np.datetime64
    day: int
    spot: np.ndarray
    variance: np.ndarray
    vix: np.ndarray
    is_last: bool
    regime: np.ndarray
    events: int = 0
    days_to_event: int = 0
    net_advances: np.ndarray | None = None
    ad_line: np.ndarray | None = None
    divergence: np.ndarray | None = None
    signals: Any = None
    paths: np.ndarray | None = None

    def signal(self, name: str) -> np.ndarray:
        """This tick's row of a signal of the batch (see ``sim.market.signals``)."""
        if self.signals is None:
            raise RuntimeError("no signal table is attached to this view")
        row = self.signals.at(name, self.tick)
        return row if self.paths is None else row[self.paths]

    def take(self, paths: np.ndarray) -> MarketView:
        """The view of some paths only: per-path arrays gathered at ``paths`` (copies).

        Work on a subset of the batch (the paths where an order is sent, where
        a position is open) uses it so that its cost follows the subset's
        size; pricers and the book accept it wherever they accept a view.
        """
        def pick(values):
            return None if values is None else np.asarray(values)[paths]

        batch_paths = paths if self.paths is None else self.paths[paths]
        return dataclasses.replace(
            self, spot=pick(self.spot), variance=pick(self.variance), vix=pick(self.vix),
            regime=pick(self.regime), net_advances=pick(self.net_advances),
            ad_line=pick(self.ad_line), divergence=pick(self.divergence), paths=batch_paths)


@dataclass(frozen=True)
class PathEvent:
    """The value of a bus event: *what* happened, *when*, and on *which paths*.

    Attributes
    ----------
    name : str
        Channel name, e.g. ``"condor.opened"``.
    tick : int
        Tick at which it happened.
    mask : ndarray of bool, shape (n_paths,)
        Paths on which it happened.
    payload : dict
        Extra per-path arrays, e.g. strikes.
    """

    name: str
    tick: int
    mask: np.ndarray
    payload: dict[str, Any] = field(default_factory=dict)


class EventBus:
    """Named channels of SimPy events that carry :class:`PathEvent` values.

    Two ways to listen:

    - ``yield bus.wait(name)`` suspends a process until the next publication
      on that channel. A publication made while the process is not waiting
      (e.g. a second one in the same phase, before the process has re-armed)
      is not seen: use it for one-shot waits.
    - ``queue = bus.subscribe(name, ...)`` then ``event = yield queue.get()``
      in a loop sees every publication on those channels, in the order they
      were published, at the SimPy time they were made (one
      :class:`simpy.Store` per subscription): use it for agents that must
      not miss one. Subscribe to related channels (``condor.opened`` and
      ``condor.closed``) with one queue: separate queues are each in order,
      but not with respect to each other.

    ``bus.publish(...)`` wakes the waiting processes and fills the queues at
    the current SimPy time. A publication with an empty mask is dropped.
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._pending: dict[str, simpy.Event] = {}
        self._queues: dict[str, list[simpy.Store]] = {}
        self.counts: dict[str, int] = {}

    def subscribe(self, *names: str) -> simpy.Store:
        """One queue that receives every later publication on any of ``names``, in order."""
        if not names:
            raise ValueError("subscribe to at least one channel")
        queue = simpy.Store(self.env)
        for name in dict.fromkeys(names):
            self._queues.setdefault(name, []).append(queue)
        return queue

    def wait(self, name: str) -> simpy.Event:
        """The event of the next publication on channel ``name``."""
        if name not in self._pending:
            self._pending[name] = self.env.event()
        return self._pending[name]

    def publish(self, name: str, tick: int, mask: np.ndarray, **payload: Any) -> None:
        """Publish that ``name`` happened at ``tick`` on the paths in ``mask``."""
        if not mask.any():
            return
        self.counts[name] = self.counts.get(name, 0) + 1
        value = PathEvent(name, tick, mask.copy(), payload)
        event = self._pending.pop(name, None)
        if event is not None:
            event.succeed(value)
        for queue in self._queues.get(name, ()):
            queue.put(value)


class Clock:
    """Drives the ticks: publishes the :class:`MarketView` and fires the phases."""

    def __init__(self, env: simpy.Environment, market: MarketPaths,
                 signals: MarketSignals | None = None) -> None:
        self.env = env
        self.market = market
        self.signals = signals
        self.days = market.dates.astype("datetime64[D]").astype(np.int64)
        self.days_to_event = days_to_next_event(market.dates, market.events)
        self.view: MarketView | None = None
        self._phase_events = {name: env.event() for name in PHASES}

    @property
    def n_ticks(self) -> int:
        """Ticks in the run, the first included."""
        return self.market.n_steps + 1

    def phase(self, name: str) -> simpy.Event:
        """The event of the next ``name`` phase; its value is the :class:`MarketView`."""
        return self._phase_events[name]

    def view_at(self, tick: int) -> MarketView:
        """The market view at ``tick``."""
        m = self.market
        return MarketView(tick=tick, date=m.dates[tick], day=int(self.days[tick]),
                          spot=m.spot[tick], variance=m.variance[tick], vix=m.vix[tick],
                          is_last=tick == self.n_ticks - 1, regime=m.regime[tick],
                          events=int(m.events[tick]),
                          days_to_event=int(self.days_to_event[tick]),
                          net_advances=m.net_advances[tick], ad_line=m.ad_line[tick],
                          divergence=m.divergence[tick], signals=self.signals)

    def days_to_next_event(self, kinds: int = ALL_EVENTS) -> int:
        """Calendar days from the current tick to the next event of ``kinds``."""
        tick = 0 if self.view is None else self.view.tick
        if kinds == ALL_EVENTS:
            return int(self.days_to_event[tick])
        return int(days_to_next_event(self.market.dates, self.market.events, kinds)[tick])

    def run(self):
        """SimPy process: every tick, fire the phases in order."""
        for tick in range(self.n_ticks):
            self.view = self.view_at(tick)
            for offset, name in enumerate(PHASES):
                delay = tick * TICK + offset - self.env.now
                if delay > 0:
                    yield self.env.timeout(delay)
                event = self._phase_events[name]
                self._phase_events[name] = self.env.event()
                event.succeed(self.view)


#: Offset of calendar events inside a tick: after settlement, before trading.
CALENDAR_OFFSET = 0.5
#: Bus channel of each macro event kind.
EVENT_CHANNELS = {FOMC: "macro.fomc", CPI: "macro.cpi", PPI: "macro.ppi"}


def calendar(env: simpy.Environment, clock: Clock, bus: EventBus):
    """SimPy process: fire the scheduled events of the run as bus events.

    At each macro-event tick it publishes ``macro.fomc``, ``macro.cpi`` or
    ``macro.ppi`` (mask: every path; payload ``date``), and on every SPX weekly
    expiry (Friday) ``expiry.spx``, between the ``settle`` and ``trade`` phases
    of that tick. It sleeps between events rather than polling every tick.
    """
    market = clock.market
    everyone = np.ones(market.n_paths, dtype=bool)
    fridays = np.is_busday(market.dates.astype("datetime64[D]"), weekmask="Fri")
    scheduled = np.flatnonzero((market.events != 0) | fridays)
    for tick in scheduled:
        delay = tick * TICK + CALENDAR_OFFSET - env.now
        if delay > 0:
            yield env.timeout(delay)
        flags = int(market.events[tick])
        for kind, channel in EVENT_CHANNELS.items():
            if flags & kind:
                bus.publish(channel, int(tick), everyone, date=market.dates[tick])
        if fridays[tick]:
            bus.publish("expiry.spx", int(tick), everyone, date=market.dates[tick])


@dataclass
class Context:
    """What an agent is given: the environment, clock, bus, book and scenario."""

    env: simpy.Environment
    clock: Clock
    bus: EventBus
    book: Book
    scenario: Scenario


class Agent:
    """Base of the agents: a SimPy process created from a :class:`Context`.

    Subclasses implement :meth:`run` as a generator and expose their per-path
    statistics through :meth:`path_stats`.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.process = ctx.env.process(self.run())

    def run(self):  # pragma: no cover - abstract
        """SimPy process body."""
        raise NotImplementedError
        yield

    def path_stats(self) -> dict[str, np.ndarray]:
        """Per-path statistics (name -> array of shape (n_paths,)) for the results."""
        return {}


AgentFactory = Callable[[Context], Agent]


def book_keeper(ctx: Context, check_identity: bool):
    """SimPy process: the book's part of each tick (accrue, settle, mark, check)."""
    book, clock = ctx.book, ctx.clock
    while True:
        view = yield clock.phase("settle")
        book.begin_tick(view)
        settled = book.settle_expired(view)
        if settled.any():
            ctx.bus.publish("book.settled", view.tick, settled.any(axis=0), legs=settled)
        view = yield clock.phase("mark")
        book.mark_to_market(view)
        if check_identity:
            book.check_identity()


@dataclass
class BatchResult:
    """Outcome of one batch: the book, the agents and their ledger."""

    market: MarketPaths
    book: Book
    agents: list[Agent]
    bus_counts: dict[str, int]


def simulate(scenario: Scenario, market: MarketPaths, agents: Iterable[AgentFactory],
             check_identity: bool = True) -> BatchResult:
    """Run the agents over a batch of market paths in one SimPy environment.

    Parameters
    ----------
    scenario : Scenario
        Costs, smile, account and agent specifications.
    market : MarketPaths
        The paths of the batch (any number, one included).
    agents : iterable of callables
        Factories ``Context -> Agent``, created in order (which also fixes the
        order in which they act within a phase).
    check_identity : bool
        Check the book's accounting identity at every tick.

    Returns
    -------
    BatchResult
    """
    env = simpy.Environment()
    clock = Clock(env, market, MarketSignals(market, scenario))
    bus = EventBus(env)
    pricer = SpxPricer(scenario.market, scenario.smile, market)
    book = Book(market.n_paths, scenario.account.initial_cash, pricer, scenario.costs,
                vix_pricer=VixPricer(scenario.market, scenario.vix))
    ctx = Context(env=env, clock=clock, bus=bus, book=book, scenario=scenario)
    env.process(book_keeper(ctx, check_identity))
    created = [factory(ctx) for factory in agents]
    env.process(calendar(env, clock, bus))
    env.process(clock.run())
    env.run()
    return BatchResult(market=market, book=book, agents=created, bus_counts=dict(bus.counts))
