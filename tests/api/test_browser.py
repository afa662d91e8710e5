"""A real browser follows the change stream: headless Chromium's EventSource subscribes to
/v1/subscribe, receives the commits this test makes, survives a server restart through its own
automatic reconnect (Last-Event-ID), and reports what it received; the test checks it is exact.

The page is served by a small HTTP server in this test; the page posts a report to it after
every event, and the test waits for reports (a blocking queue, bounded by a timeout as the
failure bound). The stream is on another origin (weaseldb's port), so Chromium runs with web
security off for this throwaway profile; weaseldb does not send CORS headers.
"""
import http.server
import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest

from conftest import Server, SOCKET_TIMEOUT_S, commit_ok, write

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAGE = """<!doctype html>
<html><body><script>
const received = [];
let errors = 0, opens = 0;
function report() {
  fetch("/report", {method: "POST", body: JSON.stringify({received, errors, opens})});
}
const es = new EventSource("http://127.0.0.1:%(port)d/v1/subscribe?after=0");
es.onopen = () => { opens++; report(); };
es.onerror = () => { errors++; report(); };
es.addEventListener("transaction", (e) => {
  received.push({id: e.lastEventId, data: JSON.parse(e.data)});
  report();
});
</script></body></html>
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PageServer:
    """Serves the page and collects the reports it posts."""

    def __init__(self, weasel_port):
        self.reports = queue.Queue()
        page = (PAGE % {"port": weasel_port}).encode()
        reports = self.reports

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                reports.put(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/page.html"

    def next_report_where(self, predicate, what):
        """The next report satisfying `predicate`. The page posts one report per event, so
        this reads reports (a blocking queue) until one matches; the read's bound and the
        report count are failure bounds, not synchronization."""
        for _ in range(10_000):  # bounded-poll: at most this many reports
            try:
                r = self.reports.get(timeout=SOCKET_TIMEOUT_S)  # bounded-poll: failure bound
            except queue.Empty:
                raise AssertionError(f"the browser never reported {what}")
            if predicate(r):
                return r
        raise AssertionError(f"no report showed {what}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-deps.sh test)")
def test_browser_event_source_follows_commits_across_restart():
    port = free_port()
    server = Server(listen=f"127.0.0.1:{port}")
    page = PageServer(port)
    profile = tempfile.TemporaryDirectory(prefix="weaseldb-chromium-")
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-web-security", f"--user-data-dir={profile.name}", "--no-first-run",
         "--remote-debugging-port=0", page.url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page.next_report_where(lambda r: r["opens"] >= 1, "an open stream")
        first = [commit_ok(server, {"operations": [write(f"b{i}", f"v{i}")]}) for i in range(5)]
        page.next_report_where(lambda r: len(r["received"]) >= 5, "the first five commits")

        # The server restarts on the same port; EventSource reconnects by itself with
        # Last-Event-ID and must continue exactly where it was.
        assert server.restart() == 0
        assert server.port == port
        page.next_report_where(lambda r: r["opens"] >= 2, "a reconnect after the restart")
        second = [commit_ok(server, {"operations": [write(f"a{i}", f"w{i}")]}) for i in range(5)]
        final = page.next_report_where(lambda r: len(r["received"]) >= 10, "all ten commits")

        got = final["received"]
        assert [int(e["id"]) for e in got] == first + second
        assert [e["data"]["version"] for e in got] == first + second
        prev = 0
        for e in got:
            assert e["data"]["prev_version"] == prev
            prev = e["data"]["version"]
        assert final["errors"] >= 1  # the restart was seen as a dropped connection
        assert {e["data"]["operations"][0]["key"] for e in got[:5]} == \
            {write(f"b{i}")["key"] for i in range(5)}
    finally:
        browser.kill()
        browser.wait()
        page.close()
        profile.cleanup()
        assert server.stop() == 0, "".join(server.log)
