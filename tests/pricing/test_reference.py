"""Reference values: Hull and Haug textbook prices, QuantLib 1.44 prices and greeks.

Source and tolerances: ``shared/reference/README.md`` next to the repository
(textbook cases carry their own ``tol`` on the price; QuantLib cases are
checked to 1e-8 absolute on the price and 1e-6 relative on each greek).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from pricing import black76_price, bs_greeks, bs_price, implied_vol, implied_vol_black76

REFERENCE_FILE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "black_scholes.json"
)

#: QuantLib cases: absolute price tolerance, index points.
PRICE_ATOL = 1e-8
#: QuantLib cases: relative tolerance on delta, gamma, vega, theta.
GREEKS_RTOL = 1e-6
#: Implied vol must recover the reference sigma to this absolute tolerance.
IMPLIED_VOL_ATOL = 1e-9


def _load_cases(section: str) -> list:
    if not REFERENCE_FILE.exists():
        return [
            pytest.param(
                None, marks=pytest.mark.skip(reason=f"reference file not found: {REFERENCE_FILE}")
            )
        ]
    cases = json.loads(REFERENCE_FILE.read_text())[section]
    return [pytest.param(case, id=f"{section}-{i}-{case['kind']}") for i, case in enumerate(cases)]


TEXTBOOK = _load_cases("textbook")
EUROPEAN = _load_cases("european")


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI must have ../shared beside the clone")
def test_reference_file_is_present_in_ci() -> None:
    assert REFERENCE_FILE.exists(), f"CI needs the reference values at {REFERENCE_FILE}"


def test_tolerances_are_the_published_ones() -> None:
    if not REFERENCE_FILE.exists():
        pytest.skip(f"reference file not found: {REFERENCE_FILE}")
    meta = json.loads(REFERENCE_FILE.read_text())["meta"]["tolerance"]
    assert meta["price"] == PRICE_ATOL and meta["greeks_rel"] == GREEKS_RTOL


def _is_black76(case: dict) -> bool:
    return case.get("model") == "black76"


def _model_price(case: dict) -> float:
    is_call = case["kind"] == "call"
    if _is_black76(case):
        return black76_price(case["F"], case["K"], case["T"], case["r"], case["sigma"], is_call)
    return bs_price(case["S"], case["K"], case["T"], case["r"], case["q"], case["sigma"], is_call)


@pytest.mark.parametrize("case", TEXTBOOK)
def test_textbook_price(case: dict) -> None:
    assert abs(_model_price(case) - case["price"]) <= case["tol"], case["source"]


@pytest.mark.parametrize("case", EUROPEAN)
def test_quantlib_price(case: dict) -> None:
    assert abs(_model_price(case) - case["price"]) <= PRICE_ATOL


@pytest.mark.parametrize("case", EUROPEAN)
def test_quantlib_greeks(case: dict) -> None:
    greeks = bs_greeks(
        case["S"],
        case["K"],
        case["T"],
        case["r"],
        case["q"],
        case["sigma"],
        case["kind"] == "call",
    )
    for name in ("delta", "gamma", "vega", "theta"):
        assert math.isclose(getattr(greeks, name), case[name], rel_tol=GREEKS_RTOL, abs_tol=0.0), (
            name
        )


@pytest.mark.parametrize("case", TEXTBOOK + EUROPEAN)
def test_implied_vol_recovers_sigma(case: dict) -> None:
    # Invert the model price (not the rounded textbook price) so the answer is exact.
    is_call = case["kind"] == "call"
    price = _model_price(case)
    if _is_black76(case):
        sigma = implied_vol_black76(price, case["F"], case["K"], case["T"], case["r"], is_call)
    else:
        sigma = implied_vol(price, case["S"], case["K"], case["T"], case["r"], case["q"], is_call)
    assert abs(sigma - case["sigma"]) <= IMPLIED_VOL_ATOL


@pytest.mark.parametrize("case", EUROPEAN)
def test_implied_vol_of_quantlib_price(case: dict) -> None:
    # QuantLib's own price differs from ours by < 1e-8; the vol by < 1e-8 / vega.
    sigma = implied_vol(
        case["price"],
        case["S"],
        case["K"],
        case["T"],
        case["r"],
        case["q"],
        case["kind"] == "call",
    )
    assert abs(sigma - case["sigma"]) <= PRICE_ATOL / case["vega"] + 1e-12
