"""A real Prometheus (Debian's package) scrapes the server over loopback; the series must
arrive in its TSDB, checked through its HTTP API."""
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from conftest import roundtrip

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port, expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())["data"]["result"]


def test_prometheus_scrapes_metrics(server, tmp_path):
    assert shutil.which(PROMETHEUS), "prometheus is not installed (scripts/install-deps.sh test)"
    for _ in range(3):
        roundtrip(server, "GET", "/v1/version")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: weaseldb
    static_configs:
      - targets: ['127.0.0.1:{server.port}']
""")
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        found = None
        for _ in range(600):  # bounded-poll: Prometheus scrapes on its own 1 s schedule
            try:
                found = query(port, 'weaseldb_http_requests_total{route="version",code="200"}')
            except OSError:
                found = None  # not listening yet
            if found:
                break
            time.sleep(0.1)  # bounded-poll
        assert found, "Prometheus never stored weaseldb_http_requests_total"
        assert float(found[0]["value"][1]) >= 3
        assert query(port, 'up{job="weaseldb"}')[0]["value"][1] == "1"
        assert query(port, "weaseldb_connections")
    finally:
        prom.terminate()
        prom.wait(timeout=30)
