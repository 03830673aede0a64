"""What a historical replay prints and writes: text tables, narration, CSV and HTML.

Text (:func:`format_report`): the window, what in the path is data and what
is model, a table per policy over the whole window and a table per stress
episode (:data:`sim.replay.EPISODES`).

Files (:func:`write_outputs`, each written atomically with
:func:`sim.output.atomic_file`): ``series-<policy>.csv`` (the daily series,
:data:`sim.replay.SERIES_COLUMNS` and one ``layer_<name>`` column per hedge
layer), ``summary.csv`` (per policy), ``episodes.csv`` (per episode and
policy) and ``replay.html``, one self-contained page.

The HTML page has no network reference: its figures are drawn with
matplotlib's Agg renderer on :class:`matplotlib.figure.Figure` objects (no
pyplot, no global state) into PNG bytes, embedded as base64 ``data:`` URIs.
Each ``<img>`` has an ``id`` (:data:`FIGURE_IDS`, plus ``fig-episode-<n>``
per episode in the window):

``fig-market``
    S&P 500 and VIX closes over the window, the stress episodes shaded, and
    the regime the replay assigned to each day;
``fig-equity``
    P&L (equity minus initial cash) of every policy;
``fig-layers``
    per policy, the days the condor and each hedge layer were held;
``fig-episode-<n>``
    per episode: each policy's P&L from the close before the episode, and
    the VIX.

Then the per-policy table, and per episode its table (``id``
``episode-table-<n>``) and a generated narration of what each policy did
(:func:`narration`: numbers from the ledger and the daily series). The same
input gives the same bytes (PNG metadata without a software tag or date, no
timestamp in the page).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.replay import (
    EPISODES,
    SERIES_COLUMNS,
    EpisodeStats,
    LayerActivity,
    PolicyEpisode,
    PolicyReplay,
    ReplayResult,
    TradeEvent,
    replay,
)

#: Ids of the figures every report holds (episodes add ``fig-episode-<n>``).
FIGURE_IDS = ("fig-market", "fig-equity", "fig-layers")
#: Colour of the episode shading.
_EPISODE_COLOUR = "#f4a261"
_DPI = 100
_RC = {"font.size": 9, "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3,
       "path.simplify": True}


def _figure(width: float, height: float, rows: int = 1, sharex: bool = True,
            height_ratios: Sequence[float] | None = None):
    """A Figure on an Agg canvas and its axes (a list)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False,
                        gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)
    return fig, list(axes[:, 0])


def _png(fig) -> str:
    """The figure as a base64 PNG data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _dates(result: ReplayResult) -> np.ndarray:
    return result.dates.astype("datetime64[D]").astype("O")


def _shade(ax, result: ReplayResult, label: bool = False) -> None:
    for k, stats in enumerate(result.episodes()):
        ax.axvspan(stats.first_day.astype("O"), stats.last_day.astype("O"),
                   color=_EPISODE_COLOUR, alpha=0.25, lw=0,
                   label="stress episode" if label and k == 0 else None)


def market_figure(result: ReplayResult) -> str:
    """SPX and VIX over the window with the episodes shaded, and the regime per day."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig, (spx_ax, vix_ax, regime_ax) = _figure(10, 6.2, rows=3,
                                                   height_ratios=(3, 2.2, 1))
        x = _dates(result)
        market = result.market
        spx_ax.plot(x, market.spot[:, 0], color="#1d3557", lw=1, label="S&P 500 close")
        _shade(spx_ax, result, label=True)
        spx_ax.set_ylabel("S&P 500 (index points)")
        spx_ax.set_title("S&P 500 and VIX closes (data), stress episodes shaded")
        spx_ax.legend(loc="upper left")
        for stats in result.episodes():
            spx_ax.annotate(stats.episode.name, (stats.first_day.astype("O"), 0.03),
                            xycoords=spx_ax.get_xaxis_transform(), fontsize=8, va="bottom")
        vix_ax.plot(x, market.vix[:, 0], color="#e63946", lw=1, label="VIX close")
        _shade(vix_ax, result)
        vix_ax.set_ylabel("VIX (index points)")
        vix_ax.legend(loc="upper left")
        names = market.regime_names
        regime_ax.step(x, market.regime[:, 0], where="post", color="#457b9d", lw=1)
        _shade(regime_ax, result)
        regime_ax.set_yticks(range(len(names)), names)
        regime_ax.set_ylim(-0.5, len(names) - 0.5)
        regime_ax.set_ylabel("regime (model)")
        return _png(fig)


def equity_figure(result: ReplayResult) -> str:
    """P&L of every policy over the window."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(10, 3.6)
        x = _dates(result)
        for run in result.policies:
            ax.plot(x, run.series["pnl"], lw=1.1, label=run.name)
        _shade(ax, result, label=True)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_ylabel("P&L ($)")
        ax.set_title("P&L per policy (equity minus initial cash, at each close)")
        ax.legend(loc="upper left")
        return _png(fig)


def _runs(held: np.ndarray) -> list[tuple[int, int]]:
    """``(start, length)`` of each run of True in ``held``."""
    edges = np.diff(np.concatenate([[0], held.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return [(int(a), int(b - a)) for a, b in zip(starts, stops, strict=True)]


def layers_figure(result: ReplayResult) -> str:
    """Per policy, the days the condor and each hedge layer were held at the close."""
    import matplotlib
    import matplotlib.dates as mdates

    with matplotlib.rc_context(_RC):
        n = len(result.policies)
        heights = [1 + len(run.layer_names) for run in result.policies]
        fig, axes = _figure(10, 0.9 + 0.42 * sum(heights) + 0.35 * n, rows=n,
                            height_ratios=heights)
        days = mdates.date2num(_dates(result))
        width = np.diff(np.concatenate([days, [days[-1] + 1]]))
        for ax, run in zip(axes, result.policies, strict=True):
            rows = [("condor", run.series["condor_contracts"] > 0)]
            rows += [(name, run.series[f"layer_{name}"] > 0) for name in run.layer_names]
            for k, (_, held) in enumerate(rows):
                spans = [(days[a], days[a + m - 1] + width[a + m - 1] - days[a])
                         for a, m in _runs(held)]
                ax.broken_barh(spans, (k - 0.35, 0.7),
                               color="#2a9d8f" if k == 0 else "#e76f51")
            _shade(ax, result)
            ax.set_yticks(range(len(rows)), [name for name, _ in rows])
            ax.set_ylim(-0.6, len(rows) - 0.4)
            ax.invert_yaxis()
            ax.set_title(f"{run.name}: positions held at the close", loc="left")
        axes[-1].xaxis_date()
        return _png(fig)


def episode_figure(result: ReplayResult, stats: EpisodeStats) -> str:
    """Each policy's P&L from the close before the episode, and the VIX, over the episode."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(10, 3.2)
        first = max(stats.first_tick - 1, 0)
        window = slice(first, stats.last_tick + 1)
        x = _dates(result)[window]
        for run, p in zip(result.policies, stats.policies, strict=True):
            ax.plot(x, run.series["equity"][window] - p.equity_before, lw=1.2,
                    label=run.name, marker=".", ms=3)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_ylabel("P&L since episode start ($)")
        ax.set_title(f"{stats.episode.name}: P&L per policy (lines) and VIX (shaded)")
        ax.legend(loc="lower left")
        vix_ax = ax.twinx()
        vix_ax.fill_between(x, result.market.vix[window, 0], color="#e63946", alpha=0.12,
                            step="mid")
        vix_ax.set_ylabel("VIX (index points)")
        vix_ax.grid(False)
        return _png(fig)


# --------------------------------------------------------------------------- text
def format_money(x: float) -> str:
    """Dollars with thousands separators and no cents; ``-0`` shows as ``0``."""
    text = f"{x:,.0f}"
    return "0" if text == "-0" else text


def _signed_money(x: float) -> str:
    text = format_money(abs(x))
    return f"-${text}" if x < 0 and text != "0" else f"${text}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Aligned text table; the first ``left`` columns left-aligned, the rest right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths),
                      *(line(r) for r in rows)])


def layer_days_text(run: PolicyReplay) -> str:
    """``"L1 247, L2 30"``: trading days each layer was held at the close."""
    days = run.layer_days()
    return ", ".join(f"{name} {n}" for name, n in days.items()) if days else "-"


def summary_rows(result: ReplayResult) -> list[dict[str, Any]]:
    """One row per policy over the whole window (units in the keys)."""
    rows = []
    for run in result.policies:
        t = run.totals
        row = {
            "policy": run.name, "pnl_usd": t["pnl"], "pnl_ex_carry_usd": t["pnl"] - t["carry"],
            "max_drawdown_usd": t["max_drawdown"], "hedge_spend_usd": t.get("hedge_spend", 0.0),
            "costs_usd": t["costs"], "carry_usd": t["carry"],
            "trades_orders": int(t["n_trades"]), "condors": int(t.get("n_condors", 0)),
            "layer_days_on": layer_days_text(run),
        }
        rows.append(row)
    return rows


#: Columns of the per-policy table: (header, key of :func:`summary_rows`).
POLICY_COLUMNS = (
    ("policy", "policy"), ("P&L ($)", "pnl_usd"), ("ex carry ($)", "pnl_ex_carry_usd"),
    ("max drawdown ($)", "max_drawdown_usd"), ("hedge spend ($)", "hedge_spend_usd"),
    ("costs ($)", "costs_usd"), ("carry ($)", "carry_usd"), ("trades (orders)", "trades_orders"),
    ("condors", "condors"), ("days each layer on (days)", "layer_days_on"),
)


def _policy_cells(row: dict[str, Any]) -> list[str]:
    cells = []
    for _, key in POLICY_COLUMNS:
        value = row[key]
        if key.endswith("_usd"):
            cells.append(format_money(value))
        elif isinstance(value, int):
            cells.append(f"{value:,}")
        else:
            cells.append(str(value))
    return cells


def policy_table(result: ReplayResult) -> str:
    """The per-policy text table over the whole window."""
    return _table([h for h, _ in POLICY_COLUMNS],
                  [_policy_cells(row) for row in summary_rows(result)])


def layer_counts(activities: Sequence[LayerActivity], what: str) -> str:
    """``"L1 2, L2 1"``: an integer attribute of each activity, zeros left out."""
    parts = [f"{a.name} {getattr(a, what)}" for a in activities if getattr(a, what)]
    return ", ".join(parts) if parts else "-"


def exit_counts(condor: LayerActivity) -> str:
    """``"stop_loss 1, profit_target 2"``: how the condors of an episode ended."""
    reasons: dict[str, int] = {}
    for ev in condor.events:
        if ev.action != "open" and ev.reason != "roll_out":
            reasons[ev.reason] = reasons.get(ev.reason, 0) + 1
    return ", ".join(f"{r} {n}" for r, n in reasons.items()) if reasons else "-"


def episode_header(stats: EpisodeStats) -> str:
    """One line: the episode, its days in the window, peak VIX and the S&P 500's path."""
    e = stats.episode
    cut = ", cut by the window" if stats.partial else ""
    return (f"{e.name}: {stats.first_day}..{stats.last_day} ({stats.n_days} trading days"
            f"{cut}); VIX peak {stats.peak_vix:.2f} on {stats.peak_vix_date}; S&P 500 "
            f"{stats.spx_before:,.2f} -> low {stats.spx_low:,.2f} on {stats.spx_low_date} "
            f"({100 * stats.spx_fall:+.1f}%) -> {stats.spx_last:,.2f} "
            f"({100 * stats.spx_change:+.1f}%)")


#: Columns of an episode table.
EPISODE_HEADER = ("policy", "P&L ($)", "worst close ($)", "hedge spend ($)", "layers opened",
                  "layers closed", "layer days on", "condor exits")


def episode_cells(p: PolicyEpisode) -> list[str]:
    """One policy's row of an episode table (:data:`EPISODE_HEADER`)."""
    return [p.policy, format_money(p.pnl), format_money(p.trough),
            format_money(p.hedge_spend), layer_counts(p.layers, "opened"),
            layer_counts(p.layers, "closed"), layer_counts(p.layers, "days_on"),
            exit_counts(p.condor)]


def episode_table(stats: EpisodeStats) -> str:
    """The per-policy text table of one episode."""
    return _table(EPISODE_HEADER, [episode_cells(p) for p in stats.policies])


#: How a trade reads in the narration, by (action, reason); ``None``: not told.
_CONDOR_WORDS = {
    ("open", "entry"): "opened", ("open", "roll_out"): "rolled out",
    ("close", "profit_target"): "took profit", ("close", "stop_loss"): "stopped out",
    ("close", "exit_dte"): "closed before expiry",
    ("close", "shrink"): "shrunk to zero contracts",
    ("settle", "expiry"): "expired", ("close", "roll_out"): None,
}
_LAYER_WORDS = {
    ("open", "open"): "opened", ("settle", "expiry"): "expired",
    ("close", "profit_target"): "took profit",
    ("close", "vix_unwind"): "unwound (VIX back down)",
    ("close", "signal_cleared"): "closed (trigger cleared)",
    ("close", "condor_closed"): "closed with the condor",
    ("close", "expiry_near"): "closed near expiry",
    ("close", "roll"): "closed to roll (not reopened)",
}


def _story(events: Sequence[TradeEvent], words: dict[tuple[str, str], str | None]) -> list[str]:
    """Phrases for a sequence of trades: a roll (a close and an open of the same reason and
    day) reads as one; words from ``words``, else ``"<action> (<reason>)"``."""
    told = []
    skip = set()
    for k, ev in enumerate(events):
        if k in skip:
            continue
        if ev.action == "close" and ev.reason.startswith("roll"):
            pair = next((j for j in range(k + 1, len(events))
                         if j not in skip and events[j].action == "open"
                         and events[j].reason == ev.reason and events[j].date == ev.date), None)
            if pair is not None:
                skip.add(pair)
                verb = "rolled out" if ev.reason == "roll_out" else (
                    "rolled the untested side" if ev.reason == "roll_untested" else "rolled")
                told.append(f"{verb} {ev.date}")
                continue
        word = words.get((ev.action, ev.reason), f"{ev.action}d ({ev.reason})"
                         if ev.action != "open" else f"opened ({ev.reason})")
        if word is not None:
            told.append(f"{word} {ev.date}")
    return told


def _listing(phrases: Sequence[str], most: int = 6) -> str:
    if len(phrases) <= most:
        return ", ".join(phrases)
    return ", ".join(phrases[:most]) + f" and {len(phrases) - most} more"


def narration(stats: EpisodeStats, result: ReplayResult | None = None) -> list[str]:
    """One generated paragraph per policy: what it did in the episode, from the ledger.

    Parameters
    ----------
    stats : EpisodeStats
    result : ReplayResult, optional
        Gives the layers' instruments to the text.

    Returns
    -------
    list of str
        In the order of ``stats.policies``.
    """
    instruments = {}
    if result is not None:
        for run in result.policies:
            instruments[run.name] = dict(zip(run.layer_names, run.layer_instruments,
                                             strict=True))
    out = []
    for p in stats.policies:
        verb = "made" if p.pnl >= 0 else "lost"
        sentences = [f"{p.policy} {verb} ${format_money(abs(p.pnl))} (equity "
                     f"${format_money(p.equity_before)} -> ${format_money(p.equity_after)}; "
                     f"worst close {_signed_money(p.trough)} on {p.trough_date})"]
        condor = _story(p.condor.events, _CONDOR_WORDS)
        if condor:
            sentences.append("condor: " + _listing(condor))
        elif p.condor.days_on == stats.n_days:
            sentences.append("condor: one held throughout, no trade")
        else:
            sentences.append("condor: no trade")
        for layer in p.layers:
            kind = instruments.get(p.policy, {}).get(layer.name)
            name = f"{layer.name} ({kind})" if kind else layer.name
            story = _story(layer.events, _LAYER_WORDS)
            if story:
                sentences.append(f"{name}: " + _listing(story)
                                 + f"; held {layer.days_on} of {stats.n_days} days")
            elif layer.days_on:
                sentences.append(f"{name}: held {layer.days_on} of {stats.n_days} days, "
                                 "no trade")
        if p.layers and not any(layer.events or layer.days_on for layer in p.layers):
            sentences.append("no hedge layer was on")
        if p.hedge_spend:
            sentences.append(f"hedge spend ${format_money(p.hedge_spend)}")
        out.append("; ".join(sentences) + ".")
    return out


def format_report(result: ReplayResult) -> str:
    """The replay's text output: window, data/model notes, per-policy and per-episode tables."""
    dates = result.dates
    scenario = result.scenario
    lines = [
        f"replay: {dates[0]}..{dates[-1]}, {dates.size:,} trading days, one path from data",
        f"scenario: {scenario.name} ({scenario.source}); account "
        f"${format_money(scenario.account.initial_cash)}",
        "policies: " + ", ".join(f"{p.name} ({p.description})" for p in result.policies),
    ]
    lines += [f"note: {note}" for note in result.replay.notes]
    lines += ["", "per policy, whole window (ex carry: P&L less the interest on cash at the "
              "scenario's rate):", policy_table(result)]
    episodes = result.episodes()
    if not episodes:
        lines += ["", "no stress episode in the window ("
                  + ", ".join(f"{e.name} {e.start}..{e.end}" for e in EPISODES) + ")"]
    for stats in episodes:
        lines += ["", episode_header(stats), episode_table(stats)]
    if episodes:
        lines += ["", "episode P&L: equity at its last close minus equity at the close before "
                  "it; worst close: the lowest equity at a close in it, against the same; a roll "
                  "counts as a close and an open"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- files
def _csv(frame) -> str:
    # Floats at full precision (shortest repr), so the files reproduce the numbers.
    return frame.to_csv(index=False, lineterminator="\n")


def series_csv(run: PolicyReplay) -> str:
    """The daily series of one policy as CSV text."""
    import pandas as pd

    columns = [name for name, _ in SERIES_COLUMNS] + [f"layer_{n}" for n in run.layer_names]
    return _csv(pd.DataFrame({name: run.series[name] for name in columns}))


def episode_rows(result: ReplayResult) -> list[dict[str, Any]]:
    """One row per episode and policy (the episode CSV), units in the keys."""
    rows = []
    for stats in result.episodes():
        for p in stats.policies:
            rows.append({
                "episode": stats.episode.name, "episode_start": stats.episode.start,
                "episode_end": stats.episode.end, "first_day": str(stats.first_day),
                "last_day": str(stats.last_day), "trading_days": stats.n_days,
                "partial": stats.partial, "peak_vix_pts": stats.peak_vix,
                "peak_vix_date": str(stats.peak_vix_date), "spx_before_pts": stats.spx_before,
                "spx_low_pts": stats.spx_low, "spx_low_date": str(stats.spx_low_date),
                "spx_last_pts": stats.spx_last, "spx_change_pct": 100 * stats.spx_change,
                "policy": p.policy, "equity_before_usd": p.equity_before,
                "equity_after_usd": p.equity_after, "pnl_usd": p.pnl,
                "worst_close_usd": p.trough, "worst_close_date": p.trough_date,
                "hedge_spend_usd": p.hedge_spend,
                "layers_opened": layer_counts(p.layers, "opened"),
                "layers_closed": layer_counts(p.layers, "closed"),
                "layer_days_on": layer_counts(p.layers, "days_on"),
                "condor_opened": p.condor.opened, "condor_exits": exit_counts(p.condor),
            })
    return rows


def episodes_csv(result: ReplayResult) -> str:
    """The episode table as CSV text (a header only when no episode is in the window)."""
    import pandas as pd

    rows = episode_rows(result)
    columns = list(rows[0]) if rows else ["episode", "policy", "pnl_usd"]
    return _csv(pd.DataFrame(rows, columns=columns))


def write_outputs(result: ReplayResult, out_dir: str | Path) -> list[Path]:
    """Write the CSVs and the HTML report into ``out_dir`` (created if needed).

    Each file goes to a temporary file in the folder, is fsync-ed and renamed
    (:func:`sim.output.atomic_file`): a file is whole or absent.

    Returns
    -------
    list of Path
        ``series-<policy>.csv`` per policy, ``summary.csv``, ``episodes.csv``,
        ``replay.html``.
    """
    import pandas as pd

    from sim.output import atomic_file

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {}
    for run in result.policies:
        texts[f"series-{_file_name(run.name)}.csv"] = series_csv(run)
    texts["summary.csv"] = _csv(pd.DataFrame(summary_rows(result)))
    texts["episodes.csv"] = episodes_csv(result)
    texts["replay.html"] = replay_html(result)
    written = []
    for name, text in texts.items():
        path = folder / name
        with atomic_file(path, "w") as handle:
            handle.write(text)
        written.append(path)
    return written


def _file_name(name: str) -> str:
    """A policy name made safe for a file name."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return safe or "policy"


def replay_command(scenario: str, policies: Sequence[str], start: str | None = None,
                   end: str | None = None, out: str | None = None) -> tuple[ReplayResult, str]:
    """What ``alvh replay`` does: replay, write ``out`` if given, return the printed text."""
    result = replay(scenario, policies, start, end)
    text = format_report(result)
    if out is not None:
        files = write_outputs(result, out)
        text += "\n\nwrote " + ", ".join(str(p) for p in files)
    text += f"\n\nwall time: {result.wall_seconds:.2f} s (replay; writing excluded)"
    return result, text

# --------------------------------------------------------------------------- HTML
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1060px;
       color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool],
                table_id: str | None = None) -> str:
    attr = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{html.escape(c)}</td>' if num else f"<td>{html.escape(c)}</td>"
            for c, num in zip(row, numeric, strict=True)) + "</tr>"
        for row in rows)
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(fig_id: str, uri: str, alt: str) -> str:
    return f'<p><img id="{fig_id}" alt="{html.escape(alt)}" src="{uri}"></p>'


def replay_html(result: ReplayResult) -> str:
    """The whole report as one self-contained HTML page (module docstring)."""
    scenario = result.scenario
    dates = result.dates
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ALVH replay {dates[0]}..{dates[-1]}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Historical replay {dates[0]}..{dates[-1]}</h1>",
        f"<p>{dates.size:,} trading days, one path from data; scenario "
        f"<code>{esc(scenario.name)}</code>, account "
        f"${format_money(scenario.account.initial_cash)}; policies "
        + ", ".join(f"<code>{esc(p.name)}</code> ({esc(p.description)})"
                    for p in result.policies) + ".</p>",
        "<h2>What is data and what is model</h2><ul>",
        *(f"<li>{esc(note)}</li>" for note in result.replay.notes),
        "</ul>",
        "<h2>Market</h2>",
        _img("fig-market", market_figure(result), "S&P 500 and VIX with stress episodes"),
        "<h2>Policies over the window</h2>",
        _html_table([h for h, _ in POLICY_COLUMNS],
                    [_policy_cells(row) for row in summary_rows(result)],
                    [False] + [True] * 8 + [False], "policy-table"),
        '<p class="note">ex carry: P&amp;L less the interest earned on cash at the '
        "scenario's rate.</p>",
        _img("fig-equity", equity_figure(result), "P&L per policy"),
        _img("fig-layers", layers_figure(result), "positions held per policy"),
        "<h2>Stress episodes</h2>",
    ]
    episodes = result.episodes()
    if not episodes:
        parts.append("<p>No stress episode lies in this window.</p>")
    numeric = [False, True, True, True, False, False, False, False]
    for k, stats in enumerate(episodes, start=1):
        e = stats.episode
        parts += [
            f'<h3 id="episode-{k}">{esc(e.name)} ({e.start}..{e.end})</h3>',
            f"<p>{esc(episode_header(stats))}.</p>",
            f'<p class="note">{esc(e.note)}. Sources: {esc(e.sources)}.</p>',
            _html_table(EPISODE_HEADER, [episode_cells(p) for p in stats.policies], numeric,
                        f"episode-table-{k}"),
            "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in narration(stats, result))
            + "</ul>",
            _img(f"fig-episode-{k}", episode_figure(result, stats),
                 f"{e.name}: P&L per policy and VIX"),
        ]
    if episodes:
        parts.append('<p class="note">Episode P&amp;L: equity at its last close minus equity '
                     "at the close before it; worst close: the lowest equity at a close in it, "
                     "against the same; a roll counts as a close and an open.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


__all__ = [
    "EPISODE_HEADER", "FIGURE_IDS", "POLICY_COLUMNS", "episode_cells", "episode_header",
    "episode_rows", "episode_table", "episodes_csv", "exit_counts", "format_money",
    "format_report", "layer_counts", "narration", "policy_table", "replay_command",
    "replay_html", "series_csv", "summary_rows", "write_outputs",
]
