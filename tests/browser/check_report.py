"""Opens a herd HTML report in headless Chromium and checks what a person would see.

Usage: check_report.py REPORT.html SCREENSHOT.png

Prints one JSON object with what it found and exits 1 when a check fails: console errors or
page errors, any request that leaves the file (the report must work offline), a script that
ran from report data, and the thresholds table and a chart not being visible.
"""

import json
import pathlib
import sys

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> int:
    report = pathlib.Path(sys.argv[1]).resolve()
    shot = pathlib.Path(sys.argv[2])
    found = {"console_errors": [], "page_errors": [], "requests": [], "problems": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: found["console_errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: found["page_errors"].append(str(e)))
        page.on("request", lambda r: found["requests"].append(r.url) if not r.url.startswith("file://") else None)
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        found["thresholds_visible"] = page.locator("#thresholds table").is_visible()
        found["threshold_rows"] = page.locator("#thresholds tbody tr").count()
        found["failed_rows"] = page.locator("#thresholds tbody tr.fail").count()
        found["charts"] = page.locator("figure.chart svg").count()
        box = page.locator("figure.chart svg").first.bounding_box() if found["charts"] else None
        found["first_chart_visible"] = bool(box and box["width"] > 200 and box["height"] > 100)
        # Every chart over time or rate has axis titles and a hover title on its points.
        found["untitled_charts"] = page.evaluate(
            """() => [...document.querySelectorAll('#charts figure.chart svg, .breaking-point figure.chart svg')]
                .filter(svg => !/time since the start|arrival rate|replies per second/.test(svg.textContent))
                .map(svg => svg.closest('figure').id)"""
        )
        found["charts_without_hover"] = page.evaluate(
            """() => [...document.querySelectorAll('#charts figure.chart svg, .breaking-point figure.chart svg')]
                .filter(svg => svg.querySelectorAll('title').length === 0)
                .map(svg => svg.closest('figure').id)"""
        )
        found["fault_strip"] = page.evaluate(
            """() => [...document.querySelectorAll('#charts svg text')].some(t => / faults$/.test(t.textContent.trim()))"""
        )
        found["injected_script_ran"] = page.evaluate("() => window.__herd_injected === true")
        found["verdict_text"] = page.locator("#verdict").inner_text()
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    if found["console_errors"] or found["page_errors"]:
        found["problems"].append("console or page errors")
    if found["requests"]:
        found["problems"].append("the report fetched something over the network")
    if not found["thresholds_visible"] or found["threshold_rows"] == 0:
        found["problems"].append("the thresholds table is not visible")
    if not found["first_chart_visible"]:
        found["problems"].append("no chart is visible")
    if found["untitled_charts"]:
        found["problems"].append("charts without axis titles: " + ", ".join(found["untitled_charts"]))
    if found["charts_without_hover"]:
        found["problems"].append("charts without hover titles: " + ", ".join(found["charts_without_hover"]))
    if found["injected_script_ran"]:
        found["problems"].append("a script from report data ran")
    print(json.dumps(found))
    return 1 if found["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
