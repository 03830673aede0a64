"""Per-path trade ledger: one row per leg traded, opened, closed or settled,
and one row per path on which an agent skipped or cut an order.

Rows are appended in column chunks (one chunk per order over all its paths),
so recording costs a handful of numpy calls per order, not a Python loop
over paths; the chunks are written into the structured table only when it is
first read.

VIX futures move their daily variation margin into cash at every mark
without a ledger row; their ``close`` and ``settle`` rows carry the final
price and the last variation (so the ledger's cash flows of a future do not
add up to its P&L: the book's cash does).

Columns and units:

=========== =========== =========================================================
column      unit        meaning
=========== =========== =========================================================
tick        ticks       trading-day index of the trade (0 = first tick)
date        date        calendar date of the trade
path        1           path index inside its batch
slot        1           position slot of the leg in the book (``skip``: the
                        block's first slot)
position_id 1           order that opened the leg (shared by its legs; -1 for
                        ``skip``)
action      text        ``open``, ``close``, ``settle``, or ``skip`` (an order
                        skipped or cut on this path; no trade)
reason      text        why (``entry``, ``profit_target``, ``stop_loss``,
                        ``L1 budget cut``, ...)
instrument  text        ``spx_option``, ``vix_option``, ``vix_future``, or
                        ``none`` (``skip`` on a block that never held a leg)
is_call     bool        call or put (False for a future)
strike      index pts   strike of the option (0 for a future and ``skip``)
expiry      date        expiry date of the leg (NaT for ``skip``)
quantity    contracts   signed, negative for a short leg; for a ``close`` the
                        part closed (signed as held); 0 for ``skip``
price       index pts   trade price per unit (mid, or at settlement the
                        intrinsic value of an option, the VIX for a future)
cost        $           half spread plus commission paid on this leg
cash_flow   $           cash received (negative: paid), costs included; for a
                        future the last variation margin (none at ``open``)
=========== =========== =========================================================
"""

from __future__ import annotations

import numpy as np

LEDGER_DTYPE = np.dtype([
    ("tick", np.int32),
    ("date", "datetime64[D]"),
    ("path", np.int64),
    ("slot", np.int16),
    ("position_id", np.int64),
    ("action", "U6"),
    ("reason", "U32"),
    ("instrument", "U10"),
    ("is_call", np.bool_),
    ("strike", np.float64),
    ("expiry", "datetime64[D]"),
    ("quantity", np.float64),
    ("price", np.float64),
    ("cost", np.float64),
    ("cash_flow", np.float64),
])


class Ledger:
    """Append-only table of leg trades of one batch of paths.

    An order's rows are kept as the columns it was given (arrays copied, so
    the caller may reuse its own) and written into the structured table
    only when it is read (:meth:`records`, :meth:`for_path`): a run whose
    ledger nobody reads pays a few microseconds per order, not the table.
    """

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._pending: list[tuple] = []
        self._n_rows = 0

    def append(self, *, tick: int, date: int, path, slot, position_id, action: str,
               reason: str, is_call, strike, expiry, quantity, price, cost,
               cash_flow, instrument="spx_option", copy: bool = True) -> None:
        """Append the legs of one order (arrays of equal length, one row per leg).

        ``instrument`` is one name or an array of names, one per row; an
        ``expiry`` of ``numpy.iinfo(numpy.int64).min`` is written as NaT.
        With ``copy=False`` the arrays are handed over to the ledger as they
        are (the caller must not change them afterwards).
        """
        columns = (path, slot, position_id, instrument, is_call, strike, expiry, quantity,
                   price, cost, cash_flow)
        if copy:
            columns = tuple(value.copy() if isinstance(value, np.ndarray) else value
                            for value in columns)
        self._pending.append((tick, date, action, reason, *columns))
        self._n_rows += len(path)

    def _materialize(self) -> None:
        """Write the pending orders into one structured chunk (same rows, same order)."""
        if not self._pending:
            return
        n_new = sum(len(order[4]) for order in self._pending)
        table = np.empty(n_new, dtype=LEDGER_DTYPE)
        start = 0
        for (tick, date, action, reason, path, slot, position_id, instrument, is_call, strike,
             expiry, quantity, price, cost, cash_flow) in self._pending:
            n = len(path)
            chunk = table[start:start + n]
            start += n
            chunk["tick"] = tick
            chunk["date"] = np.datetime64(int(date), "D")
            chunk["path"] = path
            chunk["slot"] = slot
            chunk["position_id"] = position_id
            chunk["action"] = action
            chunk["reason"] = reason
            chunk["instrument"] = instrument
            chunk["is_call"] = is_call
            chunk["strike"] = strike
            chunk["expiry"] = np.asarray(expiry, dtype=np.int64).astype("datetime64[D]")
            chunk["quantity"] = quantity
            chunk["price"] = price
            chunk["cost"] = cost
            chunk["cash_flow"] = cash_flow
        self._pending = []
        self._chunks.append(table)

    def records(self) -> np.ndarray:
        """All rows as one structured array, in the order they were traded."""
        self._materialize()
        if not self._chunks:
            return np.empty(0, dtype=LEDGER_DTYPE)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    def for_path(self, path: int) -> np.ndarray:
        """Rows of one path, in trade order."""
        rows = self.records()
        return rows[rows["path"] == path]

    def __len__(self) -> int:
        return self._n_rows
