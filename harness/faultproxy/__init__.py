"""The project's own fault proxy: a TCP proxy that speaks Toxiproxy's v2 REST API.

Run it with `python -m harness.faultproxy -host 127.0.0.1 -port 8474` (toxiproxy-server's
flags, `-config FILE` and the metrics flags included); drive it with
`harness.toxiproxy.Toxiproxy`, the same client that drives a real Toxiproxy, or from a shell
with `python -m harness.faultproxy.cli` (toxiproxy-cli's commands). The local backend uses
it because no Toxiproxy binary installs from a package registry. Where it differs from
Toxiproxy, and why: docs/toxiproxy-conformance.md.

    server.py   the data path (proxies, connections, per-stream toxic pipelines)
    api.py      the REST API (and /metrics)
    cli.py      the toxiproxy-cli work-alike
    toxics/     one module per toxic type, and the registry by type name
"""
