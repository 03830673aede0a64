"""The HTML report renders in headless Chromium with every figure decoded.

Needs Debian's ``chromium`` package (``apt-get install chromium``; ``.ci/run``
installs it); skipped with that reason where it is missing. The page is
opened from a file (``--dump-dom``) with networking switched off; a copy of
it gets a small script that writes, after the ``load`` event, each image's
decoded size into the DOM, which Chromium then prints.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import scenarios
from sim.compare import compare
from sim.report import SECTIONS, build_from_compare, figure_ids, write_report


def _chromium() -> str | None:
    found = shutil.which("chromium")
    if found is None and os.access("/usr/bin/chromium", os.X_OK):
        found = "/usr/bin/chromium"
    return found


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not installed (Debian: apt-get install chromium; .ci/run "
           "installs it): the report's rendering in a browser is not checked")

#: Appended to a copy of the page: each image's id, decoded size and state.
CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const lines = [];
  for (const img of document.images) {
    lines.push(img.id + " " + img.naturalWidth + " " + img.naturalHeight + " " + img.complete);
  }
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = lines.join("\\n");
  document.body.appendChild(out);
});
</script>"""


def chromium_dump_dom(page: Path, profile: Path) -> str:
    """The DOM of a page after load, as headless Chromium serializes it."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions",
               f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom",
               page.resolve().as_uri()]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_renders_in_headless_chromium_with_every_figure(tmp_path):
    scenario = scenarios.load("default")
    scenario = dataclasses.replace(scenario, simulation=dataclasses.replace(
        scenario.simulation, n_days=40))
    result = compare([scenario], ["none", "alvh"], n_paths=256, seed=5, bootstrap=50)
    data = build_from_compare(result, sample_paths=128)
    files = write_report(data, tmp_path / "report.html")
    expected = figure_ids(data.scenarios[0])
    assert files.figure_ids == expected and len(expected) == 9

    checked = tmp_path / "checked.html"
    text = files.html.read_text(encoding="utf-8")
    assert "<script" not in text                     # the report itself runs no script
    checked.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    dom = chromium_dump_dom(checked, tmp_path / "profile")

    match = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.S)
    assert match, "the page's load event never fired in Chromium"
    images = {}
    for line in match.group(1).strip().splitlines():
        name, width, height, complete = line.split()
        images[name] = (int(width), int(height), complete)
    assert sorted(images) == sorted(expected)
    for name, (width, height, complete) in images.items():
        assert complete == "true" and width > 300 and height > 100, (name, width, height)
    for section in SECTIONS:
        assert f'id="default-{section}"' in dom
    assert "<table" in dom and "Best path" in dom
