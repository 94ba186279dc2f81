"""`python -m harness.faultproxy.cli`: a toxiproxy-cli (v2) work-alike for any server that
speaks Toxiproxy's API (the fault proxy, or Shopify's toxiproxy-server).

Same commands, aliases, flags and output as toxiproxy-cli:

    python -m harness.faultproxy.cli [-h URL] list
    python -m harness.faultproxy.cli inspect redis
    python -m harness.faultproxy.cli create -l 127.0.0.1:26379 -u 127.0.0.1:6379 redis
    python -m harness.faultproxy.cli toggle redis
    python -m harness.faultproxy.cli toxic add -t latency -n slow -a latency=100 redis
    python -m harness.faultproxy.cli toxic update -n slow -a jitter=25 redis
    python -m harness.faultproxy.cli toxic remove -n slow redis
    python -m harness.faultproxy.cli delete redis

`-h`/`--host` (or TOXIPROXY_URL) names the server, default http://localhost:8474; help is
`--help`, as in toxiproxy-cli, where `-h` is the host. Flags are also taken in Go's single-dash
spelling (`-toxicName slow`). Two deliberate differences, each for the project's conventions:
a usage error (missing proxy name or flag, bad toxicity) is one line and exit status 2
(toxiproxy-cli: its help text and 1); a refusal by the server stays exit status 1.
`toxic update` without `--toxicity` keeps the toxic's toxicity (toxiproxy-cli sends 1.0).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

from harness.toxiproxy import ProxyInfo, ToxicInfo, Toxiproxy, ToxiproxyError

from .api import VERSION

DEFAULT_URL = "http://localhost:8474"
PROG = "python -m harness.faultproxy.cli"

RED, GREEN, YELLOW, BLUE, PURPLE, NONE = (f"\x1b[{code}m" for code in (31, 32, 33, 34, 35, 0))


class UsageError(Exception):
    """Bad input on the command line: one line, exit status 2."""


class Failed(Exception):
    """The server refused or could not be reached: one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


class Output:
    """What toxiproxy-cli prints, with its colours and hints only on a terminal."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def color(self, code: str) -> str:
        return code if self.tty else ""

    def enabled_color(self, enabled: bool) -> str:
        return self.color(GREEN if enabled else RED)

    def hint(self, message: str) -> None:
        if self.tty:
            print(f"\n{self.color(NONE)}Hint: {message}")

    def width(self, color: str, text: str, tabs: int) -> str:
        # toxiproxy-cli pads with tabs to line columns up on a terminal, not in a pipe.
        pad = max(0, tabs - (len(text) // 8 + 1)) if self.tty else 0
        return f"{self.color(color)}{text}{self.color(NONE)}\t" + "\t" * pad


def _flag(parser: argparse.ArgumentParser, *names: str, **kwargs: Any) -> None:
    """Add a flag under its toxiproxy-cli names: `--name`, `-alias`, and Go's `-name`."""
    spellings: list[str] = []
    for name in names:
        spellings.append(f"-{name}" if len(name) <= 3 else f"--{name}")
        if len(name) > 3:
            spellings.append(f"-{name}")
    parser.add_argument(*spellings, **kwargs)


def _command(
    subparsers: Any, name: str, aliases: Sequence[str], help_text: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, aliases=list(aliases), help=help_text, add_help=False, allow_abbrev=False
    )
    parser.add_argument("--help", action="help", help="show help")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Simulate network and system conditions (toxiproxy-cli work-alike).",
        add_help=False,
        allow_abbrev=False,
    )
    parser.add_argument("--help", action="help", help="show help")
    _flag(
        parser,
        "host",
        "h",
        default=os.environ.get("TOXIPROXY_URL") or DEFAULT_URL,
        help=f"toxiproxy host to connect to (default {DEFAULT_URL}, or $TOXIPROXY_URL)",
    )
    parser.add_argument(
        "--version", "-v", action="version", version=f"toxiproxy-cli version {VERSION}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sub = _command(commands, "list", ["l", "li", "ls"], "list all proxies")
    sub.set_defaults(action=list_proxies)
    sub = _command(commands, "inspect", ["i", "ins"], "inspect a single proxy")
    sub.add_argument("proxy", nargs="?")
    sub.set_defaults(action=inspect_proxy)
    sub = _command(commands, "create", ["c", "new"], "create a new proxy")
    _flag(sub, "listen", "l", help="proxy will listen on this address")
    _flag(sub, "upstream", "u", help="proxy will forward to this address")
    sub.add_argument("proxy", nargs="?")
    sub.set_defaults(action=create_proxy)
    sub = _command(commands, "toggle", ["tog"], "toggle enabled status on a proxy")
    sub.add_argument("proxy", nargs="?")
    sub.set_defaults(action=toggle_proxy)
    sub = _command(commands, "delete", ["d"], "delete a proxy")
    sub.add_argument("proxy", nargs="?")
    sub.set_defaults(action=delete_proxy)

    _toxic_commands(commands)
    return parser


def _toxic_commands(commands: Any) -> None:
    """`toxic add|update|remove`, toxiproxy-cli's flags and aliases."""
    toxic = _command(commands, "toxic", ["t"], "add, remove or update a toxic")
    toxic_commands = toxic.add_subparsers(
        dest="toxic_command", metavar="COMMAND", parser_class=_Parser
    )
    sub = _command(toxic_commands, "add", ["a"], "add a new toxic")
    _flag(sub, "toxicName", "n", help="name of the toxic")
    _flag(sub, "type", "t", help="type of toxic")
    _flag(sub, "toxicity", "tox", help="toxicity of toxic should be a float between 0 and 1")
    _flag(sub, "attribute", "a", action="append", default=[], help="toxic attribute key=value")
    _flag(sub, "upstream", "u", action="store_true", help="add toxic to upstream")
    _flag(sub, "downstream", "d", action="store_true", help="add toxic to downstream")
    sub.add_argument("proxy", nargs="?")
    sub.set_defaults(action=add_toxic)
    sub = _command(toxic_commands, "update", ["u"], "update an enabled toxic")
    _flag(sub, "toxicName", "n", help="name of the toxic")
    _flag(sub, "toxicity", "tox", help="toxicity of toxic should be a float between 0 and 1")
    _flag(sub, "attribute", "a", action="append", default=[], help="toxic attribute key=value")
    sub.add_argument("proxy", nargs="?")
    sub.set_defaults(action=update_toxic)
    sub = _command(toxic_commands, "remove", ["r", "delete", "d"], "remove an enabled toxic")
    _flag(sub, "toxicName", "n", help="name of the toxic")
    sub.add_argument("proxy", nargs="?")
    sub.set_defaults(action=remove_toxic)


# -- commands ----------------------------------------------------------------------------

Action = Callable[[argparse.Namespace, Toxiproxy, Output], None]


def list_proxies(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    proxies = _call(api.proxies, "Failed to retrieve proxies")
    if out.tty:
        print(
            f"{out.color(GREEN)}Name\t\t\t{out.color(BLUE)}Listen\t\t{out.color(YELLOW)}"
            f"Upstream\t\t{out.color(PURPLE)}Enabled\t\t{out.color(RED)}Toxics\n"
            f"{out.color(NONE)}" + "=" * 86
        )
        if not proxies:
            print(f"{out.color(RED)}no proxies{out.color(NONE)}")
            out.hint("create a proxy with `toxiproxy-cli create`")
            return
    for name in sorted(proxies):
        proxy = proxies[name]
        toxics = str(len(proxy["toxics"])) if proxy["toxics"] or not out.tty else "None"
        print(
            out.width(GREEN if proxy["enabled"] else RED, proxy["name"], 3)
            + out.width(BLUE, proxy["listen"], 2)
            + out.width(YELLOW, proxy["upstream"], 3)
            + out.width(PURPLE, _enabled_text(proxy["enabled"]), 2)
            + f"{out.color(RED)}{toxics}{out.color(NONE)}"
        )
    out.hint("inspect toxics with `toxiproxy-cli inspect <proxyName>`")


def inspect_proxy(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    name = _proxy_name(args)
    proxy = _get_proxy(api, name)
    if not out.tty:
        _print_toxics(out, proxy["toxics"], "")
        return
    print(
        f"{out.color(PURPLE)}Name: {out.color(NONE)}{proxy['name']}\t"
        f"{out.color(BLUE)}Listen: {out.color(NONE)}{proxy['listen']}\t"
        f"{out.color(YELLOW)}Upstream: {out.color(NONE)}{proxy['upstream']}"
    )
    print(out.color(NONE) + "=" * 70)
    if not proxy["toxics"]:
        print(f"{out.color(RED)}Proxy has no toxics enabled.{out.color(NONE)}")
    else:
        upstream = [toxic for toxic in proxy["toxics"] if toxic["stream"] == "upstream"]
        downstream = [toxic for toxic in proxy["toxics"] if toxic["stream"] != "upstream"]
        _print_toxics(out, upstream, "Upstream")
        print()
        _print_toxics(out, downstream, "Downstream")
    out.hint("add a toxic with `toxiproxy-cli toxic add`")


def create_proxy(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    name = _proxy_name(args)
    listen = _required(args.listen, "listen")
    upstream = _required(args.upstream, "upstream")
    _call(lambda: api.create_proxy(name, listen, upstream), "Failed to create proxy")
    print(f"Created new proxy {name}")


def toggle_proxy(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    name = _proxy_name(args)
    proxy = _get_proxy(api, name)
    enabled = not proxy["enabled"]
    _call(lambda: api.update_proxy(name, enabled=enabled), f"Failed to toggle proxy {name}")
    color = out.enabled_color(enabled)
    state = f"{color}{_enabled_text(enabled)}{out.color(NONE)}"
    print(f"Proxy {color}{name}{out.color(NONE)} is now {state}")


def delete_proxy(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    name = _proxy_name(args)
    _get_proxy(api, name)
    _call(lambda: api.delete_proxy(name), "Failed to delete proxy")
    print(f"Deleted proxy {name}")


def add_toxic(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    name = _proxy_name(args)
    toxic_type = _required(args.type, "type")
    if args.upstream and args.downstream:
        raise UsageError("Only one should be specified: upstream or downstream.")
    stream = "upstream" if args.upstream else "downstream"
    toxicity = _toxicity(args.toxicity)
    attributes = _attributes(args.attribute)
    toxic = _call(
        lambda: api.add_toxic(
            name,
            toxic_type,
            attributes,
            stream=stream,
            toxicity=1.0 if toxicity is None else toxicity,
            name=args.toxicName or None,
        ),
        "Failed to add toxic",
    )
    print(f"Added {toxic['stream']} {toxic['type']} toxic '{toxic['name']}' on proxy '{name}'")


def update_toxic(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    name = _proxy_name(args)
    toxic_name = args.toxicName or ""
    toxicity = _toxicity(args.toxicity)
    attributes = _attributes(args.attribute)
    toxic = _call(
        lambda: api.update_toxic(name, toxic_name, attributes, toxicity=toxicity),
        "Failed to update toxic",
    )
    print(f"Updated toxic '{toxic['name']}' on proxy '{name}'")


def remove_toxic(args: argparse.Namespace, api: Toxiproxy, out: Output) -> None:
    name = _proxy_name(args)
    toxic_name = args.toxicName or ""
    _call(lambda: api.remove_toxic(name, toxic_name), "Failed to remove toxic")
    print(f"Removed toxic '{toxic_name}' on proxy '{name}'")


# -- helpers -------------------------------------------------------------------------------


def _call(request: Callable[[], Any], failure: str) -> Any:
    try:
        return request()
    except ToxiproxyError as exc:
        raise Failed(f"{failure}: {exc}") from exc


def _get_proxy(api: Toxiproxy, name: str) -> ProxyInfo:
    return cast(ProxyInfo, _call(lambda: api.get_proxy(name), f"Failed to retrieve proxy {name}"))


def _proxy_name(args: argparse.Namespace) -> str:
    if not args.proxy:
        raise UsageError("Proxy name is required as the first argument.")
    return str(args.proxy)


def _required(value: str | None, flag: str) -> str:
    if not value:
        raise UsageError(f"Required argument '{flag}' was empty.")
    return value


def _toxicity(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise UsageError("toxicity should be a float between 0 and 1.")
    return value


def _attributes(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs as toxiproxy-cli sends them: numbers as numbers (whole ones as
    JSON integers, which is how Go writes a whole float64), anything else as a string;
    a pair without `=` is skipped."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            continue
        try:
            number = float(text)
        except ValueError:
            parsed[key] = text
            continue
        parsed[key] = int(number) if number.is_integer() else number
    return parsed


def _enabled_text(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def _print_toxics(out: Output, toxics: list[ToxicInfo], stream: str) -> None:
    if out.tty:
        print(f"{out.color(GREEN)}{stream} toxics:{out.color(NONE)}")
        if not toxics:
            print(f"{out.color(RED)}Proxy has no {stream} toxics enabled.{out.color(NONE)}")
            return
    for toxic in toxics:
        label = f"{out.color(BLUE)}{toxic['name']}:{out.color(NONE)}" if out.tty else toxic["name"]
        attributes = "".join(
            f"\t{key}={value}" for key, value in sorted(toxic["attributes"].items())
        )
        print(
            f"{label}\ttype={toxic['type']}\tstream={toxic['stream']}\t"
            f"toxicity={toxic['toxicity']:.2f}\tattributes=[{attributes}\t]"
        )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        action: Action | None = getattr(args, "action", None)
        if action is None:
            what = "toxic add, update or remove" if args.command else "a command"
            raise UsageError(f"{what} is required; see --help")
        with Toxiproxy(args.host) as api:
            action(args, api, Output(sys.stdout.isatty()))
    except UsageError as exc:
        print(f"toxiproxy-cli: {exc}", file=sys.stderr)
        return 2
    except Failed as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
