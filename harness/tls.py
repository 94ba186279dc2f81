"""The one TLS context every httpx client of the harness shares.

The harness speaks plain HTTP on loopback almost everywhere, yet each httpx client built
with the default `verify=True` loads the CA bundle again (~25 ms of CPU): the probes, the
load, the stack's health checks and proxy population build hundreds per gameday. One
context, made at first use, keeps certificate verification for any https URL and pays
that cost once per process.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def shared_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
