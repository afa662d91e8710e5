"""Start-up, configuration errors, graceful shutdown, and metrics of the real binary."""
import re
import signal
import subprocess

from conftest import BINARY, HttpReader, Server, request_bytes, roundtrip


def run_binary(*args, config_text=None, tmp_path=None):
    argv = [BINARY, *args]
    if config_text is not None:
        cfg = tmp_path / "bad.toml"
        cfg.write_text(config_text)
        argv += ["--config", str(cfg), "--data", str(tmp_path / "data")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_help_and_version():
    r = run_binary("--help")
    assert r.returncode == 0 and "--config" in r.stdout and "--listen" in r.stdout
    v = run_binary("--version")
    assert v.returncode == 0 and re.search(r"\d+\.\d+\.\d+", v.stdout)


def test_bad_config_exits_2_naming_the_key(tmp_path):
    cases = [
        ("[server]\nno_such_key = 1\n", "server.no_such_key"),
        ("[server]\nio_threads = \"two\"\n", "server.io_threads"),
        ("[server]\nio_threads = 0\n", "server.io_threads"),
        ("[server]\nmax_connections = -5\n", "server.max_connections"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ("[metrics]\nenabled = 3\n", "metrics.enabled"),
        ("[server\n", ""),
    ]
    for text, key in cases:
        r = run_binary(config_text=text, tmp_path=tmp_path)
        assert r.returncode == 2, (text, r.returncode, r.stdout, r.stderr)
        assert key in r.stderr, (text, r.stderr)


def test_bad_flags_exit_2(tmp_path):
    assert run_binary("--no-such-flag").returncode == 2
    assert run_binary("--listen", "nonsense").returncode == 2
    assert run_binary("--config", str(tmp_path / "missing.toml")).returncode == 2


def test_startup_logs_effective_config(server):
    assert any("starting" in line and "io_threads" in line for line in server.log)


def test_sigterm_answers_received_requests_then_exits_0():
    s = Server()
    c = s.connect()
    reader = HttpReader(c)
    n = 50
    c.sendall(b"".join(request_bytes("GET", "/v1/version") for _ in range(n)))
    # Once the first answer is here the server has read the pipelined requests.
    statuses = [reader.read_response().status]
    s.proc.send_signal(signal.SIGTERM)
    while len(statuses) < n:
        statuses.append(reader.read_response().status)
    assert statuses == [200] * n
    assert reader.at_eof()
    assert s.stop() == 0
    assert any("shutting down" in line for line in s.log)


def test_sigint_also_stops_cleanly():
    s = Server()
    assert roundtrip(s, "GET", "/health").status == 200
    assert s.stop(signal.SIGINT) == 0


def metric_value(text, name, labels=""):
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_requests_by_route_and_code(server):
    for _ in range(7):
        assert roundtrip(server, "GET", "/v1/version").status == 200
    roundtrip(server, "GET", "/missing")
    r = roundtrip(server, "GET", "/metrics")
    assert r.status == 200
    assert r.header("content-type").startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    assert metric_value(text, "weaseldb_http_requests_total", '{route="version",code="200"}') == 7
    assert metric_value(text, "weaseldb_http_requests_total", '{route="unmatched",code="404"}') == 1
    assert metric_value(text, "weaseldb_http_request_duration_seconds_count",
                        '{route="version"}') == 7
    # This scrape's own connection is open while the gauge is sampled.
    assert metric_value(text, "weaseldb_connections") >= 1
    assert "# TYPE weaseldb_http_request_duration_seconds histogram" in text


def test_metrics_can_be_disabled(make_server):
    s = make_server("[metrics]\nenabled = false\n")
    assert roundtrip(s, "GET", "/metrics").status == 404


def test_commit_and_log_metrics(server):
    for i in range(3):
        r = roundtrip(server, "POST", "/v1/commit",
                      body='{"operations":[{"type":"write","key":"a2V5","value":"dmFsdWU="}]}')
        assert r.status == 200
    version = r.json()["version"]
    text = roundtrip(server, "GET", "/metrics").body.decode()
    assert metric_value(text, "weaseldb_commits_total", '{status="committed"}') == 3
    assert metric_value(text, "weaseldb_committed_version") == version
    assert metric_value(text, "weaseldb_log_oldest_version") == 0
    assert metric_value(text, "weaseldb_log_bytes") > 0
    assert metric_value(text, "weaseldb_commit_batch_size_count") >= 1
    assert metric_value(text, "weaseldb_log_sync_duration_seconds_count") >= 1
    assert metric_value(text, "weaseldb_pipeline_queue_depth", '{stage="persist"}') == 0
