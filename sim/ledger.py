"""Per-path trade ledger: one row per leg traded, opened, closed or settled.

Rows are appended in column chunks (one chunk per order over all its paths),
so recording costs a handful of numpy calls per order, not a Python loop
over paths.

Columns and units:

========== =========== ==========================================================
column     unit        meaning
========== =========== ==========================================================
tick       ticks       trading-day index of the trade (0 = first tick)
date       date        calendar date of the trade
path       1           path index inside its batch
slot       1           position slot of the leg in the book
position_id 1          order that opened the leg (shared by its legs)
action     text        ``open``, ``close`` or ``settle``
reason     text        why (``entry``, ``profit_target``, ``stop_loss``, ...)
is_call    bool        call or put
strike     index pts   strike of the option
expiry     date        expiry date of the option
quantity   contracts   signed, negative for a short leg
price      index pts   trade price per unit (mid, or intrinsic at settlement)
cost       $           half spread plus commission paid on this leg
cash_flow  $           cash received (negative: paid), costs included
========== =========== ==========================================================
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
    ("reason", "U24"),
    ("is_call", np.bool_),
    ("strike", np.float64),
    ("expiry", "datetime64[D]"),
    ("quantity", np.float64),
    ("price", np.float64),
    ("cost", np.float64),
    ("cash_flow", np.float64),
])


class Ledger:
    """Append-only table of leg trades of one batch of paths."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []

    def append(self, *, tick: int, date: int, path, slot, position_id, action: str,
               reason: str, is_call, strike, expiry, quantity, price, cost,
               cash_flow) -> None:
        """Append the legs of one order (arrays of equal length, one row per leg)."""
        n = len(path)
        chunk = np.empty(n, dtype=LEDGER_DTYPE)
        chunk["tick"] = tick
        chunk["date"] = np.datetime64(int(date), "D")
        chunk["path"] = path
        chunk["slot"] = slot
        chunk["position_id"] = position_id
        chunk["action"] = action
        chunk["reason"] = reason
        chunk["is_call"] = is_call
        chunk["strike"] = strike
        chunk["expiry"] = np.asarray(expiry, dtype=np.int64).astype("datetime64[D]")
        chunk["quantity"] = quantity
        chunk["price"] = price
        chunk["cost"] = cost
        chunk["cash_flow"] = cash_flow
        self._chunks.append(chunk)

    def records(self) -> np.ndarray:
        """All rows as one structured array, in the order they were traded."""
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
        return sum(len(c) for c in self._chunks)
