"""Per-tick recording of a batch: the time series a report draws, kept only when asked.

The runner keeps per-path *final* results only (memory flat in paths). A
report also needs what happened *over time*: equity, hedge spend, which
hedge layers were held, the condor's strikes. :class:`SeriesRecorder`
collects them for the paths of one batch, as a read-only agent appended
after a policy's agents in :func:`sim.engine.simulate`::

    recorder = SeriesRecorder()
    batch = simulate(scenario, market, recorder.wrap(policy.agent_factories()))
    recording = recorder.recording          # a Recording of every path of the batch

:meth:`SeriesRecorder.wrap` wraps each factory so the recorder sees the agents
it creates (the condor and the hedge agent, whose state it reads), and
appends the recording agent last. The recorder trades nothing, publishes
nothing and writes to no array of the book or the agents, so the batch's
per-path results are the same bits with and without it (``sim.report``
checks this against the run's shard rows).

When it records. At every tick, once the ``mark`` phase is over: the
recording agent waits for the phase, then for a zero-delay timeout, which
SimPy runs after every callback of the phase event, so the book has marked
every leg whatever the order in which the processes waited on the phase.

What it records, per tick ``t`` and path ``p`` (arrays of shape
``(n_ticks, n_paths)``, ``n_ticks = n_days + 1``):

================= ============ ===================================================
field             unit         meaning
================= ============ ===================================================
``equity``        $            ``Book.equity``: cash plus the mid value of the
                               option legs held, after the mark of tick ``t``
``margin``        $            ``Book.margin``: margin held by all groups of legs
``hedge_spend``   $            the hedge agent's cumulative spend
                               (``HedgeAgent.spend``: premium paid on hedge
                               openings plus their costs); 0 without a hedge agent
``layer_open``    bool         per hedge layer, shape ``(n_layers, n_ticks,
                               n_paths)``: the layer's slot block holds a leg
``condor_open``   bool         the condor agent has a condor open
                               (``CondorAgent.is_open``)
``condor_tested`` bool         SPX has reached a short strike of the open
                               condor (``CondorAgent.tested``)
``condor_strikes`` index pts   shape ``(4, n_ticks, n_paths)``: long put, short
                               put, short call, long call of the condor's legs
                               in the book; NaN where the leg is not held
``contracts``     contracts    the condor's size (``CondorAgent.contracts``)
================= ============ ===================================================

The market (``spot``, ``vix``, ``regime``, ``dates``) is the batch's
:class:`~sim.market.paths.MarketPaths`; the trades are the book's ledger.
Both are kept by reference on the :class:`Recording`.

Memory is ``n_ticks x n_paths x`` about 70 bytes (a year of 2,048 paths:
about 36 MB): record a sample, never a whole large run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from sim.agents.alvh import HedgeAgent
from sim.agents.condor import LONG_CALL, LONG_PUT, SHORT_CALL, SHORT_PUT, CondorAgent
from sim.engine import Agent, AgentFactory, Context
from sim.ledger import LEDGER_DTYPE, Ledger
from sim.market.paths import MarketPaths

#: Order of the condor's strikes in :attr:`Recording.condor_strikes`.
STRIKE_NAMES = ("long_put", "short_put", "short_call", "long_call")
_STRIKE_LEGS = (LONG_PUT, SHORT_PUT, SHORT_CALL, LONG_CALL)
#: Owner name of the condor's slots in :attr:`Recording.slot_owner`.
CONDOR_OWNER = "condor"


@dataclass
class Recording:
    """Per-tick series of every path of one batch (see the module docstring).

    Attributes
    ----------
    market : MarketPaths
        The batch's market (spot, VIX, regime, dates), not copied.
    initial_cash : float
        Cash of every path at the start, $.
    equity, cash, margin, hedge_spend : ndarray, shape (n_ticks, n_paths)
        $.
    layer_names : tuple of str
        Names of the hedge layers, in policy order (empty without a hedge agent).
    layer_open : ndarray of bool, shape (n_layers, n_ticks, n_paths)
    condor_open, condor_tested : ndarray of bool, shape (n_ticks, n_paths)
    condor_strikes : ndarray, shape (4, n_ticks, n_paths)
        Index points, in :data:`STRIKE_NAMES` order; NaN where not held.
    contracts : ndarray, shape (n_ticks, n_paths)
    ledger : Ledger or None
        The batch's trade ledger (``path`` is the index in the batch).
    trades : ndarray or None
        Ledger rows (``sim.ledger.LEDGER_DTYPE``) when there is no ledger
        (the recording of one path taken from a batch).
    slot_owner : tuple of str
        Owner of each book slot: ``"condor"``, a layer name, or ``""``.
    """

    market: MarketPaths
    initial_cash: float
    equity: np.ndarray
    cash: np.ndarray
    margin: np.ndarray
    hedge_spend: np.ndarray
    layer_names: tuple[str, ...]
    layer_open: np.ndarray
    condor_open: np.ndarray
    condor_tested: np.ndarray
    condor_strikes: np.ndarray
    contracts: np.ndarray
    ledger: Ledger | None = field(repr=False, default=None)
    trades: np.ndarray | None = field(repr=False, default=None)
    slot_owner: tuple[str, ...] = ()

    @property
    def n_ticks(self) -> int:
        """Ticks recorded, the first included."""
        return self.equity.shape[0]

    @property
    def n_paths(self) -> int:
        """Paths of the batch."""
        return self.equity.shape[1]

    @property
    def pnl(self) -> np.ndarray:
        """P&L at every tick, ``equity - initial_cash``, $, shape (n_ticks, n_paths)."""
        return self.equity - self.initial_cash

    def trade_rows(self) -> np.ndarray:
        """Every ledger row of the batch, in trade order (``sim.ledger.LEDGER_DTYPE``)."""
        if self.trades is not None:
            return self.trades
        return self.ledger.records() if self.ledger is not None else np.empty(
            0, dtype=LEDGER_DTYPE)

    def drawdown(self) -> np.ndarray:
        """Fall of equity from its running peak (the initial cash included), $, per tick."""
        peak = np.maximum.accumulate(np.vstack([np.full(self.n_paths, self.initial_cash),
                                                self.equity]), axis=0)[1:]
        return peak - self.equity

    def path(self, index: int) -> Recording:
        """The recording of one path of the batch (arrays copied; ledger rows of that path).

        Parameters
        ----------
        index : int
            Path index in the batch.

        Returns
        -------
        Recording
            A one-path recording whose ledger holds the path's rows (with
            ``path`` set to 0).
        """
        rows = self.trade_rows()
        rows = rows[rows["path"] == index].copy()
        rows["path"] = 0
        keep = [index]
        return Recording(
            market=self.market.select(index), initial_cash=self.initial_cash,
            equity=self.equity[:, keep].copy(), cash=self.cash[:, keep].copy(),
            margin=self.margin[:, keep].copy(),
            hedge_spend=self.hedge_spend[:, keep].copy(), layer_names=self.layer_names,
            layer_open=self.layer_open[:, :, keep].copy(),
            condor_open=self.condor_open[:, keep].copy(),
            condor_tested=self.condor_tested[:, keep].copy(),
            condor_strikes=self.condor_strikes[:, :, keep].copy(),
            contracts=self.contracts[:, keep].copy(), trades=rows,
            slot_owner=self.slot_owner)


class RecordingAgent(Agent):
    """The recorder's SimPy process: reads the book and the agents after each mark.

    Parameters
    ----------
    ctx : Context
    agents : list of Agent
        The agents created before it (the policy's), searched for a
        :class:`~sim.agents.condor.CondorAgent` and a
        :class:`~sim.agents.alvh.HedgeAgent`; their state is only read.
    """

    def __init__(self, ctx: Context, agents: list[Agent]) -> None:
        book = ctx.book
        self.condor = next((a for a in agents if isinstance(a, CondorAgent)), None)
        self.hedge = next((a for a in agents if isinstance(a, HedgeAgent)), None)
        n_ticks, n = ctx.clock.n_ticks, book.n_paths
        self.layer_names = (tuple(layer.name for layer in self.hedge.policy.layers)
                            if self.hedge is not None else ())
        self.equity = np.zeros((n_ticks, n))
        self.cash = np.zeros((n_ticks, n))
        self.margin = np.zeros((n_ticks, n))
        self.hedge_spend = np.zeros((n_ticks, n))
        self.layer_open = np.zeros((len(self.layer_names), n_ticks, n), dtype=bool)
        self.condor_open = np.zeros((n_ticks, n), dtype=bool)
        self.condor_tested = np.zeros((n_ticks, n), dtype=bool)
        self.condor_strikes = np.full((4, n_ticks, n), np.nan)
        self.contracts = np.zeros((n_ticks, n))
        owner = [""] * book.n_slots
        if self.condor is not None:
            for slot in range(self.condor.block.start, self.condor.block.stop):
                owner[slot] = CONDOR_OWNER
        if self.hedge is not None:
            for name, block in zip(self.layer_names, self.hedge.blocks, strict=True):
                for slot in range(block.start, block.stop):
                    owner[slot] = name
        self.slot_owner = tuple(owner)
        super().__init__(ctx)

    def run(self):
        """After every tick's mark: copy the book's and the agents' state."""
        env, clock, book = self.ctx.env, self.ctx.clock, self.ctx.book
        while True:
            view = yield clock.phase("mark")
            # Every callback of the phase event (the book keeper's mark among
            # them) runs before a timeout scheduled now.
            yield env.timeout(0)
            t = view.tick
            self.equity[t] = book.equity
            self.cash[t] = book.cash
            self.margin[t] = book.margin
            if self.hedge is not None:
                self.hedge_spend[t] = self.hedge.spend
                for i, block in enumerate(self.hedge.blocks):
                    self.layer_open[i, t] = ~book.is_flat(block)
            if self.condor is not None:
                self.condor_open[t] = self.condor.is_open
                self.condor_tested[t] = self.condor.tested
                self.contracts[t] = self.condor.contracts
                start = self.condor.block.start
                for row, leg in enumerate(_STRIKE_LEGS):
                    held = book.active[start + leg]
                    self.condor_strikes[row, t] = np.where(held, book.strike[start + leg],
                                                           np.nan)


class SeriesRecorder:
    """Wraps a policy's agent factories so that a batch is recorded tick by tick.

    One recorder serves one call of :func:`sim.engine.simulate`; the factories
    it returns are closures, for this process only (``serial``).
    """

    def __init__(self) -> None:
        self.agents: list[Agent] = []
        self.agent: RecordingAgent | None = None

    def wrap(self, factories: Iterable[AgentFactory]) -> tuple[AgentFactory, ...]:
        """The policy's factories, each noting the agent it makes, then the recorder's.

        Parameters
        ----------
        factories : iterable of callables
            ``Context -> Agent``, in acting order (``policy.agent_factories()``).

        Returns
        -------
        tuple of callables
            To pass as the ``agents`` of :func:`sim.engine.simulate`.
        """
        if self.agent is not None or self.agents:
            raise RuntimeError("a SeriesRecorder records one batch; make a new one")

        def noted(factory: AgentFactory) -> Callable[[Context], Agent]:
            def make(ctx: Context) -> Agent:
                agent = factory(ctx)
                self.agents.append(agent)
                return agent
            return make

        def recorder(ctx: Context) -> Agent:
            self.agent = RecordingAgent(ctx, list(self.agents))
            return self.agent

        return (*(noted(f) for f in factories), recorder)

    @property
    def recording(self) -> Recording:
        """The series of the batch, once :func:`sim.engine.simulate` has returned."""
        agent = self.agent
        if agent is None:
            raise RuntimeError("nothing recorded: pass recorder.wrap(...) to simulate first")
        return Recording(
            market=agent.ctx.clock.market, initial_cash=agent.ctx.book.initial_cash,
            equity=agent.equity, cash=agent.cash, margin=agent.margin,
            hedge_spend=agent.hedge_spend,
            layer_names=agent.layer_names, layer_open=agent.layer_open,
            condor_open=agent.condor_open, condor_tested=agent.condor_tested,
            condor_strikes=agent.condor_strikes, contracts=agent.contracts,
            ledger=agent.ctx.book.ledger, slot_owner=agent.slot_owner)
