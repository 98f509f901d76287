"""The built site works in a browser: headless Chromium (Debian's `chromium`) opens the home
page and the pipeline.yaml reference over HTTP, the pages have their navigation, and the search
index loads and answers a query. Screenshots go to docs/_screenshots/ (not committed)."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docs.blocks import DOCS

SCREENSHOTS = DOCS / "_screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
H1 = "document.querySelector('h1').textContent.replace('\u00b6', '').trim()"  # no permalink
SECTIONS = ["Home", "Tutorials", "How-to guides", "Reference", "Explanation", "Development"]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (search needs http://, not file://)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class Browser:
    """Chromium driven through the DevTools protocol, one page."""

    def __init__(self, binary: str, profile: Path) -> None:
        import websocket

        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._port(profile / "DevToolsActivePort")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            page = next(t for t in json.load(reply) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                                  suppress_origin=True)
        self.calls = 0
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def _port(self, file: Path) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"chromium exited with status {self.process.returncode}")
            if file.is_file() and file.read_text().strip():
                return file.read_text().split()[0]
            time.sleep(0.1)
        pytest.fail("chromium did not open its DevTools port within 30 s")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:  # events arrive between the answers
            message = json.loads(self.socket.recv())
            if message.get("id") == self.calls:
                assert "error" not in message, message
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete" and \
                    self.evaluate("location.href") == url:
                return
            time.sleep(0.1)
        pytest.fail(f"{url} did not load within 30 s")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot",
                                                    format="png")["data"]))

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    binary = os.environ.get("PIPELINECTL_CHROMIUM") or shutil.which("chromium")
    if binary is None:
        pytest.skip("Debian's chromium is not installed (tests/run.sh installs it)")
    opened = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield opened
    opened.close()


SEARCH = """(async () => {
    const input = document.querySelector('.md-search__input');
    input.focus();
    input.value = QUERY;
    input.dispatchEvent(new Event('input', {bubbles: true}));
    input.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true, key: 'Enter'}));
    for (let i = 0; i < 100; i++) {
        const found = [...document.querySelectorAll('.md-search-result__item h1')];
        if (found.length) return found.map(h => h.textContent.trim());
        await new Promise(done => setTimeout(done, 100));
    }
    return [];
})()"""


def search(browser: Browser, query: str) -> list[str]:
    """Type `query` into the site's search box; the titles of the results (the search worker
    must have loaded the index to give any)."""
    return browser.evaluate(SEARCH.replace("QUERY", json.dumps(query)))


def index_entries(browser: Browser, relative: str) -> list[str]:
    return browser.evaluate(f"fetch({json.dumps(relative)}).then(r => r.json())"
                            ".then(j => j.docs.map(d => d.location))")


def test_home_page(browser: Browser, served: str) -> None:
    browser.open(served)
    assert browser.evaluate(H1) == "pipelinectl"
    tabs = browser.evaluate("[...document.querySelectorAll('.md-tabs__link')]"
                            ".map(a => a.textContent.trim())")
    assert tabs == SECTIONS
    assert browser.evaluate("document.querySelectorAll('nav.md-nav--primary a').length") > 30
    browser.screenshot(SCREENSHOTS / "index.png")
    locations = index_entries(browser, "search/search_index.json")
    assert "reference/pipeline-yaml/" in locations
    assert "tutorials/first-r-pipeline/" in locations
    results = search(browser, "stale-commit guard")
    assert "How deploy decides" in results, results


def test_pipeline_yaml_reference(browser: Browser, served: str) -> None:
    browser.open(served + "reference/pipeline-yaml/")
    assert browser.evaluate(H1) == "pipeline.yaml"
    active = browser.evaluate("[...document.querySelectorAll("
                              "'nav.md-nav--primary .md-nav__link--active')]"
                              ".map(a => a.textContent.trim())")
    assert "pipeline.yaml" in active, active
    toc = browser.evaluate("[...document.querySelectorAll('nav.md-nav--secondary a')]"
                           ".map(a => a.getAttribute('href'))")
    for anchor in ("#metadata-name", "#schedule-timezone", "#tasks-depends-on"):
        assert anchor in toc, anchor
    browser.screenshot(SCREENSHOTS / "pipeline-yaml.png")
    assert "reference/pipeline-yaml/" in index_entries(browser, "../../search/search_index.json")
    results = search(browser, "starting_deadline")
    assert "pipeline.yaml" in results, results
