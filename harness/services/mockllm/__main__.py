"""`python -m harness.services.mockllm --host H --port P`."""

from __future__ import annotations

import argparse
import sys

from ..testgen.server import BindError, bind, install_exit_handlers, serve


def main(argv: list[str] | None = None) -> int:
    install_exit_handlers()
    parser = argparse.ArgumentParser(prog="python -m harness.services.mockllm",
                                     description="Mock OpenAI/Anthropic/Ollama provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    try:
        sock = bind(args.host, args.port)
    except BindError as exc:
        print(f"mockllm: refusing to start: {exc}", file=sys.stderr, flush=True)
        return exc.status
    from .app import create_app, log

    log("INFO", f"mockllm listening on {args.host}:{args.port}")
    try:
        serve(create_app(), sock, graceful_timeout=1)
    finally:
        log("INFO", "mockllm stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
