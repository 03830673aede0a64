"""Calibration to SPX/VIX history and the stylized facts it is checked on.

Statistical checks on synthetic series use a fixed seed and a tolerance of 4
standard errors of the estimate (two-sided false-alarm rate ~6e-5 per check
if the seed were random).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import sim.runner
from scenarios import load, loads
from sim.config import MarketModel, SmileModel
from sim.market import calibrate as cal
from sim.market.stylized import (
    FACTS,
    agrees,
    format_facts_table,
    stylized_facts,
    stylized_facts_by_path,
)

N_SE = 4.0


@pytest.fixture(scope="module")
def history() -> cal.History:
    return cal.load_history()


@pytest.fixture(scope="module")
def result(history) -> cal.CalibrationResult:
    """The calibration exactly as ``alvh calibrate`` runs it (about 3 s)."""
    return cal.calibrate(seed=0, history=history)


def _closes(returns: np.ndarray) -> np.ndarray:
    """Closes (index points) whose log returns are ``returns`` (along axis 0)."""
    zeros = np.zeros((1, *returns.shape[1:]))
    return 100.0 * np.exp(np.concatenate([zeros, np.cumsum(returns, axis=0)]))


def _garch_returns(n: int, rng: np.random.Generator, alpha: float, gamma: float,
                   beta: float) -> np.ndarray:
    """GJR-GARCH(1,1) daily returns with unconditional variance 1e-4."""
    persistence = alpha + gamma / 2 + beta
    omega = 1e-4 * (1.0 - persistence)
    shocks = rng.standard_normal(n)
    returns = np.empty(n)
    variance = 1e-4
    for t in range(n):
        returns[t] = math.sqrt(variance) * shocks[t]
        variance = omega + (alpha + gamma * (returns[t] < 0)) * returns[t] ** 2 + beta * variance
    return returns


# --- stylized facts on series with known properties -------------------------------------------

def test_iid_normal_returns_have_no_skew_no_excess_kurtosis_and_no_clustering():
    n, sigma = 40_000, 0.01
    returns = np.random.default_rng(1).normal(0.0, sigma, n)
    facts = stylized_facts(_closes(returns))
    assert set(facts) == {f.key for f in FACTS if not f.key.startswith(("vix", "spx_vix"))}
    # Standard error of a sample stdev: sigma / sqrt(2 n).
    assert abs(facts["vol_annual"] - sigma * math.sqrt(252)) <= (
        N_SE * sigma * math.sqrt(252) / math.sqrt(2 * n))
    assert abs(facts["skew"]) <= N_SE * math.sqrt(6 / n)
    assert abs(facts["excess_kurtosis"]) <= N_SE * math.sqrt(24 / n)
    for key in ("acf_abs_1", "acf_abs_5", "acf_abs_20", "leverage"):
        assert abs(facts[key]) <= N_SE / math.sqrt(n), key


def test_garch_returns_cluster_and_gjr_asymmetry_gives_a_leverage_effect():
    n = 40_000
    clustered = stylized_facts(_closes(_garch_returns(n, np.random.default_rng(2),
                                                      alpha=0.10, gamma=0.0, beta=0.85)))
    for lag in (1, 5, 20):
        assert clustered[f"acf_abs_{lag}"] > N_SE / math.sqrt(n), lag
    assert clustered["acf_abs_1"] > clustered["acf_abs_20"]
    assert clustered["excess_kurtosis"] > N_SE * math.sqrt(24 / n)
    assert abs(clustered["leverage"]) <= N_SE / math.sqrt(n)

    asymmetric = stylized_facts(_closes(_garch_returns(n, np.random.default_rng(3),
                                                       alpha=0.02, gamma=0.15, beta=0.85)))
    assert asymmetric["leverage"] < -N_SE / math.sqrt(n)


def test_panels_pool_distribution_facts_and_average_dependence_facts():
    n = 20_000
    rng = np.random.default_rng(4)
    returns = rng.standard_normal((n, 2)) * np.array([0.005, 0.02])
    closes = _closes(returns)
    pooled = stylized_facts(closes)
    by_path = stylized_facts_by_path(closes)
    # A 50/50 mixture of two normal scales: kurtosis 3 E[s^4] / E[s^2]^2 - 3.
    s2 = np.array([0.005, 0.02]) ** 2
    mixture_kurtosis = 3 * np.mean(s2**2) / np.mean(s2) ** 2 - 3
    assert pooled["excess_kurtosis"] == pytest.approx(mixture_kurtosis, rel=0.1)
    assert np.all(np.abs(by_path["excess_kurtosis"]) <= N_SE * math.sqrt(24 / n))
    assert by_path["vol_annual"].shape == (2,)
    assert pooled["acf_abs_1"] == pytest.approx(by_path["acf_abs_1"].mean(), abs=1e-15)
    one = stylized_facts(closes[:, 1])
    assert one["vol_annual"] == pytest.approx(by_path["vol_annual"][1], rel=1e-12)


def test_vix_facts_of_a_known_ar1_and_a_correlated_pair():
    n, phi, level = 40_000, 0.95, 15.0
    rng = np.random.default_rng(5)
    z, e = rng.standard_normal(n), rng.standard_normal(n)
    vix = np.empty(n)
    vix[0] = level
    for t in range(1, n):
        vix[t] = level + phi * (vix[t - 1] - level) + 0.5 * e[t]
    spx = _closes(0.01 * z[1:])
    facts = stylized_facts(spx, vix)
    assert abs(facts["vix_ar1"] - phi) <= N_SE * math.sqrt((1 - phi**2) / n)
    assert facts["vix_mean"] == pytest.approx(vix.mean(), rel=1e-12)
    assert facts["vix_median"] == pytest.approx(np.median(vix), rel=1e-12)
    assert facts["vix_p95"] == pytest.approx(np.quantile(vix, 0.95), rel=1e-12)
    assert facts["vix_to_vol"] == pytest.approx(facts["vix_mean"] / (100 * facts["vol_annual"]))
    assert abs(facts["spx_vix_corr"]) <= N_SE / math.sqrt(n)

    # d ln VIX = -0.8 z + 0.6 e on the SPX shock z: correlation -0.8.
    log_vix = math.log(level) + np.concatenate([[0.0], np.cumsum(0.05 * (-0.8 * z + 0.6 * e))])
    paired = stylized_facts(_closes(0.01 * z), np.exp(log_vix))
    # Standard error of a sample correlation: (1 - r^2) / sqrt(n).
    assert abs(paired["spx_vix_corr"] + 0.8) <= N_SE * (1 - 0.64) / math.sqrt(n)


@pytest.mark.parametrize(("spx", "vix", "message"), [
    (np.full(10, 100.0), None, "n_days >= 30"),
    (np.full(50, 100.0), np.full(40, 15.0), "shape"),
    (np.r_[np.full(49, 100.0), -1.0], None, "> 0"),
    (np.full(50, 100.0), np.r_[np.full(49, 15.0), np.nan], "finite"),
])
def test_stylized_facts_refuse_bad_input(spx, vix, message):
    with pytest.raises(ValueError, match=message):
        stylized_facts(spx, vix)


def test_agreement_and_the_facts_table():
    assert agrees(-0.2, -0.9) and agrees(8.0, 0.9) and agrees(0.937, 0.97)
    assert not agrees(-0.2, 0.1) and not agrees(8.0, 0.7) and not agrees(0.0, 0.0)
    assert not agrees(1.0, np.nan)
    real = {"vol_annual": 0.19, "skew": -0.2}
    table = format_facts_table({"real": real, "sim": {"vol_annual": 0.2, "skew": 0.3}},
                               bands={"vol_annual": (0.18, 0.22)}, agreement=("real", "sim"))
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["fact", "unit"] and "sim/real" in lines[0]
    vol_row = next(line for line in lines if line.startswith("SPX vol"))
    assert "% /yr" in vol_row and "19.0" in vol_row and "18.0..22.0" in vol_row
    assert vol_row.endswith("ok")
    assert next(line for line in lines if line.startswith("skewness")).endswith("NO")
    assert not any(line.startswith("VIX") for line in lines)


# --- the fitting steps ------------------------------------------------------------------------

def test_time_scale_is_the_runners():
    assert cal.TICKS_PER_YEAR == sim.runner.TICKS_PER_YEAR


def test_variance_proxy_is_the_trailing_mean_of_squares():
    returns = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    proxy = cal.variance_proxy(returns, window=2) / cal.TICKS_PER_YEAR
    expected = [1e-4, 1e-4, (1e-4 + 4e-4) / 2, (4e-4 + 9e-4) / 2, 9e-4 / 2]
    np.testing.assert_allclose(proxy, expected, rtol=1e-12)


def test_transition_matrix_counts_pairs_with_laplace_smoothing():
    labels = np.array([0, 0, 0, 1, 1, 0])
    matrix = cal.transition_matrix(labels, 2, pseudo_count=1.0)
    # From 0: 0->0 twice, 0->1 once; from 1: 1->1 once, 1->0 once.
    np.testing.assert_allclose(matrix, [[3 / 5, 2 / 5], [2 / 4, 2 / 4]])
    labels = np.random.default_rng(6).integers(0, 4, 500)
    np.testing.assert_allclose(cal.transition_matrix(labels, 4).sum(axis=1), 1.0, rtol=1e-15)


def test_jumps_are_judged_against_the_variance_known_that_morning():
    returns = np.full(60, 0.01)
    returns[::2] *= -1
    returns[40] = -0.05
    jumps = cal.find_jumps(returns, cal.variance_proxy(returns, 21), z=4.0, window=21)
    assert np.flatnonzero(jumps).tolist() == [40]


def test_fit_is_a_persistent_ordered_four_regime_chain(result):
    fit = result.fit
    chain = fit.model.regimes
    matrix = np.array(chain.transition)
    assert chain.names == ("calm", "normal", "stressed", "crisis")
    assert chain.initial == "stationary" and chain.stress == ("stressed", "crisis")
    assert np.all(matrix > 0.0)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(np.diag(matrix) > 0.9)
    np.testing.assert_allclose(fit.stationary @ matrix, fit.stationary, atol=1e-12)
    # The chain's long-run shares are the labelled shares (the counts' own ratios).
    np.testing.assert_allclose(fit.stationary, [0.3, 0.4, 0.2, 0.1], atol=0.01)
    thetas = [f.theta for f in fit.regimes]
    assert thetas == sorted(thetas) and len(set(thetas)) == 4
    assert list(fit.thresholds) == sorted(fit.thresholds)
    by_name = {p.name: p for p in chain.params}
    for f in fit.regimes:
        params = by_name[f.name]
        assert params.theta == f.theta and params.kappa == f.kappa > 0
        assert params.equity_premium == 0.0 and params.jump_spot_per_variance == 0.0
        assert -1.0 < params.rho < 0.0 and params.xi > 0.0
        assert params.jump_intensity >= 0.0
    assert fit.model.equity_premium == 0.0 and fit.model.spot0 == 5000.0
    assert fit.model.variance0 == pytest.approx(
        float(np.dot(fit.stationary, [f.mean_variance() for f in fit.regimes])), rel=1e-3)
    assert fit.variance_premium_ratio > 1.0  # VIX^2 above realized variance, 2014-2018
    # One premium for all regimes, with which the model's ratio is the measured one
    # (to the rounding of the premium to 4 digits).
    assert fit.model.vol_risk_premium > 0.0
    assert all(p.vol_risk_premium is None for p in chain.params)
    assert 0.0 < fit.model.kappa - fit.model.vol_risk_premium < fit.model.kappa
    assert cal.stationary_variance_ratio(fit.model, fit.stationary) == pytest.approx(
        fit.variance_premium_ratio, rel=1e-3)
    no_premium = dataclasses.replace(fit.model, vol_risk_premium=0.0)
    assert abs(cal.stationary_variance_ratio(no_premium, fit.stationary) - 1.0) < 0.01
    # xi was read with the loading of v in the Q VIX^2 (steps 5 and 9).
    kappa_q = fit.model.kappa - fit.model.vol_risk_premium
    assert cal._vix_loading(kappa_q) > cal._vix_loading(fit.model.kappa)


def test_the_premium_ratio_of_a_model_and_the_premium_that_sets_it():
    model = MarketModel(kappa=15.0, jump_spot_per_variance=0.0)
    stationary = np.array([1.0])
    # Without a premium the ratio is 1 but for the jump term's higher cumulants:
    # 2 (E[e^J] - 1 - E[J]) against E[J^2] for J ~ N(-0.03, 0.03^2).
    mbar, mean_jump = model.jump_moments()
    second = 2.0 * (mbar - mean_jump)
    theta_star = model.theta + model.jump_intensity * model.jump_variance_mean / model.kappa
    jumps = model.jump_intensity * (0.03**2 + 0.03**2)
    assert cal.realized_jump_variance(model) == pytest.approx(jumps, rel=1e-14)
    assert cal.stationary_variance_ratio(model, stationary) == pytest.approx(
        (theta_star + model.jump_intensity * second) / (theta_star + jumps), rel=1e-12)
    # Under Q the stationary VIX^2 is a_Q theta* + (1 - a_Q) kappa theta* / kappa_Q + jump term.
    premium = cal.premium_for_ratio(model, stationary, 1.3)
    q = dataclasses.replace(model, vol_risk_premium=premium).pricing_model()
    a_q = -math.expm1(-q.kappa * 30 / 365) / (q.kappa * 30 / 365)
    vix_squared = (a_q * theta_star + (1 - a_q) * model.kappa * theta_star / q.kappa
                   + model.jump_intensity * second)
    assert vix_squared / (theta_star + jumps) == pytest.approx(1.3, rel=1e-10)
    assert 0.0 < premium < model.kappa
    # A larger target needs a larger premium; out of reach is an error: as kappa_Q -> 0
    # the ratio tends to about 1 + kappa tau / 2 = 1.62 here (1.16 at the default kappa 4).
    assert cal.premium_for_ratio(model, stationary, 1.4) > premium
    with pytest.raises(ValueError, match="no vol_risk_premium"):
        cal.premium_for_ratio(model, stationary, 1.7)
    with pytest.raises(ValueError, match="no vol_risk_premium"):
        cal.premium_for_ratio(MarketModel(jump_spot_per_variance=0.0), stationary, 1.3)


def test_calibration_is_deterministic_under_a_seed(history):
    runs = [cal.calibrate(seed=7, n_paths=3, n_days=300, smile_paths=400, history=history)
            for _ in range(2)]
    assert runs[0].scenario == runs[1].scenario
    assert runs[0].simulated_facts == runs[1].simulated_facts
    assert runs[0].simulated_bands == runs[1].simulated_bands
    assert runs[0].scenario.smile != SmileModel()
    other = cal.calibrate(seed=8, n_paths=3, n_days=300, smile_paths=0, history=history)
    assert other.scenario.market == runs[0].scenario.market  # the fit uses no randomness
    assert other.simulated_facts != runs[0].simulated_facts


# --- the calibrated model against history -----------------------------------------------------

def test_simulation_reproduces_sign_and_order_of_magnitude_of_every_fact(result):
    sim = result.simulated_facts
    assert set(sim) == set(result.real_facts) == {f.key for f in FACTS}
    failed = {key: (result.real_facts[key], sim[key])
              for key, ok in result.agreement().items() if not ok}
    assert not failed, failed
    assert sim["skew"] < 0 < sim["excess_kurtosis"]
    assert min(sim["acf_abs_1"], sim["acf_abs_5"], sim["acf_abs_20"]) > 0
    assert sim["leverage"] < 0 and sim["spx_vix_corr"] < 0
    assert 0.9 < sim["vix_ar1"] < 1.0
    # The premium brings the VIX to realized vol ratio to the real one (0.93 without).
    assert sim["vix_to_vol"] == pytest.approx(result.real_facts["vix_to_vol"], rel=0.05)


def test_the_scenario_file_reads_back_and_the_shipped_preset_is_current(result, tmp_path):
    text = cal.scenario_toml(result)
    assert text.startswith("# Generated by `alvh calibrate`")
    assert "time:" not in text  # the file depends on data and seed only
    assert dataclasses.replace(loads(text), source=result.scenario.source) == result.scenario

    shipped = load("calibrated")
    assert shipped.name == "calibrated"

    def numbers(scenario) -> list[float]:
        flat = []

        def walk(value):
            if dataclasses.is_dataclass(value):
                for f in dataclasses.fields(value):
                    walk(getattr(value, f.name))
            elif isinstance(value, tuple):
                for item in value:
                    walk(item)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                flat.append(float(value))

        walk(scenario)
        return flat

    # Rounded to 4 significant digits: a last-bit difference between machines
    # may move a parameter by one unit in the 4th digit, not more.
    np.testing.assert_allclose(numbers(shipped), numbers(result.scenario), rtol=1e-3, atol=2e-6)

    out = tmp_path / "calibrated.toml"
    scenario, report, seconds = cal.calibrate_command(out, seed=1, n_paths=2, n_days=300,
                                                      refit_smile=False)
    assert load(out).market == scenario.market == result.scenario.market
    assert "VIX mean / SPX vol" in report and seconds > 0.0

