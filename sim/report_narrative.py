"""Narration of one simulated path: what the condor and each hedge layer did, and when.

:func:`narrate` turns the recording of one path (``sim.recorder.Recording``
of a one-path batch, or :meth:`~sim.recorder.Recording.path` of a larger
one) into short sentences with the numbers of its ledger and its market::

    tick 34 (2025-02-21): L1 opened: 12 VIX calls at strike 24.0, expiry
    2025-03-05, for $3,100 (premium and costs), as VIX rose to 22.4.

Every number comes from the data: ledger rows (strikes, contracts, prices,
costs, cash flows), the market at the tick (SPX, VIX) and the recorded
``condor_tested`` flag. A position's P&L when it ends is the sum of its
ledger cash flows for options; for VIX futures, whose daily variation
margin has no ledger row, it is ``quantity x (exit price - entry price) x
1,000`` less its costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.recorder import CONDOR_OWNER, Recording

#: Contract multiplier of each ledger instrument, $ per index point.
MULTIPLIER = {"spx_option": 100.0, "vix_option": 100.0, "vix_future": 1000.0}
#: Words for the reasons a condor is closed (ledger ``reason``).
CONDOR_EXITS = {
    "profit_target": "closed at its profit target",
    "stop_loss": "closed at its stop loss",
    "exit_dte": "closed at its exit days to expiry",
    "shrink": "cut in size at the hedge agent's request (realized vol above implied)",
    "roll_out": "rolled out in time (closed, reopened at a later expiry)",
    "roll_untested": "had its untested side rolled in",
    "end": "closed",
}
#: Words for the reasons a hedge layer is closed (after the layer's name in the ledger).
LAYER_EXITS = {
    "condor_closed": "closed with the condor",
    "profit_target": "closed at its profit target",
    "vix_unwind": "closed as VIX fell back under its entry level",
    "signal_cleared": "closed as its trigger cleared",
    "expiry_near": "closed near expiry",
    "roll": "closed to roll to a later expiry",
}
#: Sentences shown per path before the rest is summarized.
MAX_SENTENCES = 40


@dataclass(frozen=True)
class PathEvent:
    """One narrated event of a path.

    Attributes
    ----------
    tick : int
        Tick of the event.
    owner : str
        ``"condor"``, a layer name, or ``"market"``.
    kind : str
        ``open``, ``close``, ``settle``, ``skip``, ``tested`` or ``final``.
    text : str
        The sentence, without the ``tick N (date):`` prefix.
    """

    tick: int
    owner: str
    kind: str
    text: str


def money(value: float) -> str:
    """Dollars as ``$1,234`` or ``-$1,234`` (whole dollars)."""
    text = f"{abs(value):,.0f}"
    return f"-${text}" if value < 0 and text.strip("0,") else f"${text}"


def _points(value: float, step: float) -> str:
    return f"{value:,.1f}" if step < 1.0 else f"{value:,.0f}"


def _legs_text(rows: np.ndarray) -> str:
    """What an order's legs are, in words: ``12 VIX calls at strike 24.0`` and the like."""
    instrument = str(rows["instrument"][0])
    units = round(float(np.abs(rows["quantity"]).max()))
    plural = "" if units == 1 else "s"
    expiries = sorted({str(e) for e in rows["expiry"]})
    if instrument == "vix_future":
        parts = [f"{'long' if q > 0 else 'short'} {abs(q):,.0f} VIX future"
                 f"{'' if abs(q) == 1 else 's'} expiring {e} at {p:,.2f}"
                 for q, e, p in zip(rows["quantity"], rows["expiry"], rows["price"], strict=True)]
        return " and ".join(parts)
    name = "SPX" if instrument == "spx_option" else "VIX"
    step = 5.0 if instrument == "spx_option" else 0.5
    kind = "call" if bool(rows["is_call"][0]) else "put"
    expiry = f", expiry {expiries[0]}" if len(expiries) == 1 else ""
    if len(rows) == 1:
        return (f"{units} {name} {kind}{plural} at strike {_points(rows['strike'][0], step)}"
                f"{expiry}")
    long_rows = rows[rows["quantity"] > 0]
    short_rows = rows[rows["quantity"] < 0]
    if len(long_rows) == 1 and len(short_rows) == 1:
        spread = "debit" if _premium(rows) < 0 else "credit"
        return (f"{units} {name} {kind} {spread} spread{plural}, long "
                f"{_points(long_rows['strike'][0], step)} / short "
                f"{_points(short_rows['strike'][0], step)}{expiry}")
    strikes = " / ".join(_points(k, step) for k in rows["strike"])
    return f"{units} {name} option legs at {strikes}{expiry}"


def _premium(rows: np.ndarray) -> float:
    """Premium received at mid for an opening order, $ (negative: paid)."""
    mult = np.array([MULTIPLIER[str(i)] for i in rows["instrument"]])
    premium = -(rows["quantity"] * rows["price"] * mult)
    return float(np.where(rows["instrument"] == "vix_future", 0.0, premium).sum())


def _condor_open_text(rows: np.ndarray, spot: float, vix: float) -> str:
    puts = np.sort(rows["strike"][~rows["is_call"]])
    calls = np.sort(rows["strike"][rows["is_call"]])
    contracts = round(float(np.abs(rows["quantity"]).max()))
    credit = _premium(rows)
    cost = float(rows["cost"].sum())
    reason = str(rows["reason"][0])
    how = "rolled out into a new condor" if reason == "roll_out" else "condor opened"
    strikes = ""
    if puts.size == 2 and calls.size == 2:
        strikes = (f", short put {puts[1]:,.0f} (wing {puts[0]:,.0f}), short call "
                   f"{calls[0]:,.0f} (wing {calls[1]:,.0f})")
    return (f"{how}: {contracts} contract{'' if contracts == 1 else 's'}{strikes}, expiry "
            f"{rows['expiry'][0]}, credit {money(credit)} at mid less {money(cost)} of costs, "
            f"with SPX at {spot:,.0f} and VIX at {vix:.1f}")


def _position_pnl(rows: np.ndarray) -> float:
    """P&L of positions that have ended, from all their ledger rows, $."""
    future = rows["instrument"] == "vix_future"
    pnl = float(rows["cash_flow"][~future].sum())
    if future.any():
        legs = rows[future]
        for position, slot in {(int(r["position_id"]), int(r["slot"])) for r in legs}:
            leg = legs[(legs["position_id"] == position) & (legs["slot"] == slot)]
            entry = leg[leg["action"] == "open"]
            exits = leg[leg["action"] != "open"]
            if entry.size:
                pnl += float((exits["quantity"] * (exits["price"] - entry["price"][0])).sum()
                             * MULTIPLIER["vix_future"])
        pnl -= float(legs["cost"].sum())
    return pnl


def path_events(recording: Recording, path: int = 0) -> list[PathEvent]:
    """The events of one path of a recording, in the order they happened.

    Parameters
    ----------
    recording : Recording
        A recording (any number of paths).
    path : int
        The path's index in the recording's batch.

    Returns
    -------
    list of PathEvent
        Ledger orders (openings, closings, settlements, cut or skipped hedge
        orders), the ticks where SPX first reached a short strike of the open
        condor, and the final P&L.
    """
    rows = recording.trade_rows()
    rows = rows[rows["path"] == path]
    spot = recording.market.spot[:, path]
    vix = recording.market.vix[:, path]
    owners = np.array((*recording.slot_owner, ""), dtype=object)
    slot_owner = owners[np.minimum(rows["slot"].astype(np.int64), len(owners) - 1)]
    keyed: list[tuple[tuple[int, int, int], PathEvent]] = []
    # Orders: consecutive rows of one tick, position, action and reason.
    start = 0
    seq = 0
    while start < rows.size:
        stop = start + 1
        key = _order_key(rows[start], slot_owner[start])
        while stop < rows.size and _order_key(rows[stop], slot_owner[stop]) == key:
            stop += 1
        order = rows[start:stop]
        owner = str(slot_owner[start]) or "book"
        tick = int(order["tick"][0])
        event = _order_event(order, owner, rows, spot[tick], vix[tick])
        # Settlements come first in a tick, then the condor's trade phase, then the
        # hedge phase (the hedge agent's layers and the shrinks it asks for).
        if order["action"][0] == "settle":
            phase = 0
        elif owner == CONDOR_OWNER and order["reason"][0] != "shrink":
            phase = 1
        else:
            phase = 3
        keyed.append(((tick, phase, seq), event))
        seq += 1
        start = stop
    keyed += [((tick, 2, 0), event) for tick, event in _tested_events(recording, path)]
    keyed.sort(key=lambda item: item[0])
    events = [event for _, event in keyed]
    last = recording.n_ticks - 1
    events.append(PathEvent(last, "book", "final",
                            f"final P&L {money(float(recording.pnl[last, path]))} (equity "
                            f"{money(float(recording.equity[last, path]))}), SPX at "
                            f"{spot[last]:,.0f}, VIX at {vix[last]:.1f}"))
    return events


def _order_key(row, owner: str) -> tuple:
    # The condor's legs may belong to several positions (a side rolled in is a new
    # position): one condor order is told once.
    position = -1 if owner == CONDOR_OWNER else int(row["position_id"])
    return (int(row["tick"]), position, str(row["action"]), str(row["reason"]), owner)


def _order_event(order: np.ndarray, owner: str, rows: np.ndarray, spot: float,
                 vix: float) -> PathEvent:
    tick = int(order["tick"][0])
    action = str(order["action"][0])
    reason = str(order["reason"][0])
    positions = np.unique(order["position_id"])
    flow = float(order["cash_flow"].sum())
    history = rows[np.isin(rows["position_id"], positions) & (rows["tick"] <= tick)]
    if action == "skip":
        what = reason.removeprefix(f"{owner} ")
        words = {"budget cut": "its order was cut to what the hedge budget leaves",
                 "budget skip": "it triggered, but the hedge budget left no room: not opened",
                 "liquidity cut": "its order was cut to keep the quick ratio above its floor",
                 "liquidity skip": "it triggered, but the liquidity floor left no room: "
                                   "not opened"}
        return PathEvent(tick, owner, "skip", f"{owner}: {words.get(what, what)} "
                         f"(VIX {vix:.1f})")
    if owner == CONDOR_OWNER:
        if action == "open" and reason in ("entry", "roll_out"):
            return PathEvent(tick, owner, "open", _condor_open_text(order, spot, vix))
        if action == "open":
            return PathEvent(tick, owner, "open",
                             f"condor reopened as {_legs_text(order)} ({reason}), "
                             f"{_flow_words(flow)}, SPX at {spot:,.0f}")
        ended = _position_ended(history)
        if action == "settle":
            text = (f"condor settled at expiry against SPX {spot:,.0f}: "
                    f"{money(flow)} paid out" if flow < 0 else
                    f"condor expired with SPX at {spot:,.0f} (settled {money(flow)})")
        else:
            words = CONDOR_EXITS.get(reason, f"closed ({reason})")
            if reason == "shrink" and ended:
                words = ("closed: the hedge agent asked to cut its size (realized vol above "
                         "implied) and its contracts rounded down to none")
            text = f"condor {words}, {_flow_words(flow)}, SPX at {spot:,.0f}, VIX {vix:.1f}"
        if ended:
            text += f"; the condor made {money(_position_pnl(history))}"
        return PathEvent(tick, owner, "close" if action != "settle" else "settle", text)
    # A hedge layer.
    if action == "open":
        premium = _premium(order)
        spend = max(-premium, 0.0) + float(order["cost"].sum())
        verb = "rolled into" if reason.endswith(" roll") else "opened:"
        paid = (f"for {money(spend)} (premium and costs)" if premium <= 0 else
                f"for a credit of {money(premium)} less {money(float(order['cost'].sum()))} "
                f"of costs")
        return PathEvent(tick, owner, "open", f"{owner} {verb} {_legs_text(order)}, {paid}, "
                         f"as VIX stood at {vix:.1f} (SPX {spot:,.0f})")
    ended = _position_ended(history)
    pnl = f"; the layer made {money(_position_pnl(history))}" if ended else ""
    if action == "settle":
        return PathEvent(tick, owner, "settle", f"{owner} expired and settled against VIX "
                         f"{vix:.1f} (SPX {spot:,.0f}){pnl}")
    what = reason.removeprefix(f"{owner} ")
    words = LAYER_EXITS.get(what, f"closed ({what})")
    return PathEvent(tick, owner, "close",
                     f"{owner} {words}, VIX at {vix:.1f}, {_flow_words(flow)}{pnl}")


def _flow_words(flow: float) -> str:
    """Cash of an order in words: ``receiving $120`` or ``paying $80`` (costs included)."""
    return f"receiving {money(flow)}" if flow >= 0 else f"paying {money(-flow)}"


def _position_ended(history: np.ndarray) -> bool:
    """Whether positions hold no contract after their ledger rows ``history``."""
    held: dict[tuple[int, int], float] = {}
    for row in history:
        slot = (int(row["position_id"]), int(row["slot"]))
        if row["action"] == "open":
            held[slot] = held.get(slot, 0.0) + float(row["quantity"])
        else:
            held[slot] = held.get(slot, 0.0) - float(row["quantity"])
    return all(abs(q) < 1e-9 for q in held.values())


def _tested_events(recording: Recording, path: int) -> list[tuple[int, PathEvent]]:
    tested = recording.condor_tested[:, path]
    first = np.flatnonzero(tested & ~np.concatenate([[False], tested[:-1]]))
    out = []
    for tick in first:
        spot = float(recording.market.spot[tick, path])
        short_put = recording.condor_strikes[1, tick, path]
        short_call = recording.condor_strikes[2, tick, path]
        if np.isfinite(short_put) and spot <= short_put:
            where = f"the short put {short_put:,.0f}"
        elif np.isfinite(short_call):
            where = f"the short call {short_call:,.0f}"
        else:
            where = "a short strike"
        out.append((int(tick), PathEvent(int(tick), "market", "tested",
                                         f"SPX at {spot:,.0f} reached {where}: the condor "
                                         f"is tested")))
    return out


def narrate(recording: Recording, path: int = 0, others: dict[str, float] | None = None,
            max_sentences: int = MAX_SENTENCES) -> list[str]:
    """Sentences that tell one path, each ``tick N (YYYY-MM-DD): ...``.

    Parameters
    ----------
    recording : Recording
    path : int
        Path index in the recording's batch.
    others : dict of str to float, optional
        Final P&L ($) of other policies on the same path, named in the last
        sentence.
    max_sentences : int
        Events told one by one; the rest is summarized by count, before the
        final P&L.

    Returns
    -------
    list of str
    """
    events = path_events(recording, path)
    dates = recording.market.dates
    body, final = events[:-1], events[-1]
    sentences = [f"tick {e.tick} ({dates[e.tick]}): {e.text}." for e in body[:max_sentences]]
    if len(body) > max_sentences:
        rest = body[max_sentences:]
        kinds: dict[str, int] = {}
        for event in rest:
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
        counts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        sentences.append(f"... and {len(rest)} more events ({counts}) until tick "
                         f"{rest[-1].tick}: every trade is in the trades table.")
    text = f"tick {final.tick} ({dates[final.tick]}): {final.text}"
    if others:
        text += "; on the same path " + ", ".join(f"{name} made {money(value)}"
                                                  for name, value in others.items())
    sentences.append(text + ".")
    return sentences
