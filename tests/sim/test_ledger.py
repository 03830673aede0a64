"""The ledger keeps an order's columns and writes its table when read: the same rows."""

from __future__ import annotations

import numpy as np

from sim.ledger import LEDGER_DTYPE, Ledger

NO_EXPIRY = np.iinfo(np.int64).min


def order(rng, n):
    return dict(path=np.sort(rng.choice(1000, n, replace=False)), slot=rng.integers(0, 9, n),
                position_id=rng.integers(0, 50, n), is_call=rng.random(n) < 0.5,
                strike=rng.uniform(4000, 6000, n), expiry=rng.integers(20000, 20100, n),
                quantity=rng.normal(size=n), price=rng.uniform(0, 50, n),
                cost=rng.uniform(0, 3, n), cash_flow=rng.normal(size=n) * 100)


def test_rows_are_those_written_at_once_and_callers_may_reuse_their_arrays():
    rng = np.random.default_rng(0)
    ledger = Ledger()
    expected = []
    for tick in range(5):
        columns = order(rng, 3 + tick)
        columns["instrument"] = np.array(["spx_option", "vix_future"])[columns["slot"] % 2]
        ledger.append(tick=tick, date=20000 + tick, action="open", reason=f"entry {tick}",
                      **columns)
        chunk = np.empty(len(columns["path"]), dtype=LEDGER_DTYPE)
        for name, values in columns.items():
            chunk[name] = values
        chunk["tick"], chunk["date"] = tick, np.datetime64(20000 + tick, "D")
        chunk["action"], chunk["reason"] = "open", f"entry {tick}"
        chunk["expiry"] = columns["expiry"].astype("datetime64[D]")
        expected.append(chunk)
        for values in columns.values():
            values[...] = values[::-1]      # the ledger copied them
    ledger.append(tick=9, date=20009, path=np.array([4]), slot=2, position_id=-1,
                  action="skip", reason="L1 budget skip", is_call=False, strike=0.0,
                  expiry=NO_EXPIRY, quantity=0.0, price=0.0, cost=0.0, cash_flow=0.0,
                  instrument="none")
    assert len(ledger) == sum(len(c) for c in expected) + 1
    rows = ledger.records()
    assert rows[:-1].tobytes() == np.concatenate(expected).tobytes()
    assert np.isnat(rows[-1]["expiry"]) and rows[-1]["action"] == "skip"
    # Reading again, or appending after a read, keeps every row in order.
    ledger.append(tick=10, date=20010, action="close", reason="x", **order(rng, 2))
    assert len(ledger.records()) == len(rows) + 2
    assert ledger.records()[: len(rows)].tobytes() == rows.tobytes()
    assert (ledger.for_path(4)["action"] == "skip").any()
