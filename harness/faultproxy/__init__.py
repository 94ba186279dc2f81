"""The project's own fault proxy: a TCP proxy that speaks Toxiproxy's v2 REST API.

Run it with `python -m harness.faultproxy --host 127.0.0.1 --port 8474`; drive it with
`harness.toxiproxy.Toxiproxy`, the same client that drives a real Toxiproxy. The local
backend uses it because no Toxiproxy binary installs from a package registry.

    server.py   the data path (proxies, connections, per-stream toxic pipelines)
    api.py      the REST API
    toxics/     one module per toxic type, and the registry by type name
"""
