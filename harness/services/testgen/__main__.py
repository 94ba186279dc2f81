"""`python -m harness.services.testgen`: validate the environment, bind, serve.

Exit status: 0 after SIGTERM/SIGINT (graceful), 78 on a configuration error, 98 when the
port is taken, 71 on any other bind failure. A refusal is one line on stderr,
`testgen: refusing to start: <reason>`, plus an ERROR line in TESTGEN_LOG_FILE if set.
"""

from __future__ import annotations

import os
import sys

from .server import BindError, bind, install_exit_handlers, serve

GRACEFUL_SHUTDOWN_S = 5


def refuse(reason: str, status: int) -> int:
    from .log import write_refusal

    print(f"testgen: refusing to start: {reason}", file=sys.stderr, flush=True)
    write_refusal(os.environ.get("TESTGEN_LOG_FILE", "").strip(), reason)
    return status


def main() -> int:
    install_exit_handlers()
    from .config import EX_CONFIG, Config, ConfigError

    try:
        config = Config.from_env()
    except ConfigError as exc:
        return refuse(str(exc), EX_CONFIG)
    try:
        sock = bind(config.host, config.port)
    except BindError as exc:
        return refuse(str(exc), exc.status)

    from . import log as logsetup

    try:
        log = logsetup.setup(config.log_file, config.secrets())
    except OSError as exc:
        sock.close()
        return refuse(f"cannot open log file {config.log_file}: {exc.strerror}", EX_CONFIG)
    log.info("testgen starting %s", logsetup.kv(pid=os.getpid(), host=config.host,
                                                  port=config.port))
    from .app import create_app

    try:
        serve(create_app(config, log), sock, GRACEFUL_SHUTDOWN_S)
    finally:
        log.info("testgen stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
