"""What a runbook command does, read from its shell words: the one reader of command text.

`changes_state` decides whether a step acts on a system (a mutating program, a
state-changing sub-command of an operator tool, a curl that sends data, `fuser -k`) or only
reads it; `exported` lists what a pure `export` step sets; `command_words` names the
programs a line runs (what `manual.py` checks); `compose_action` and `acted_services` say
which compose services a step acts on. The runbook parser gives steps their roles with it,
the runner counts remediation steps with it, and `gameday mutate` classifies its survivors
with it, so they never disagree.
"""

from __future__ import annotations

import re
import shlex

_MUTATING_PROGRAMS = frozenset(
    {
        "kill", "pkill", "killall", "cp", "mv", "rm", "rmdir", "mkdir", "export", "unset",
        "vim", "vi", "nano", "emacs", "ed", "reboot", "shutdown", "halt", "truncate",
        "touch", "chmod", "chown", "ln", "tee", "dd", "install", "apt-get", "apt", "yum",
        "pip", "npm", "make-install", "iptables", "tc", "sysctl", "swapoff", "swapon",
        "mount", "umount", "useradd", "userdel", "crontab", "source", ".",
    }
)  # fmt: skip
_OPERATOR_TOOLS = frozenset(
    {
        "docker", "docker-compose", "podman", "kubectl", "helm", "systemctl", "service",
        "supervisorctl", "git", "redis-cli", "psql", "mysql", "nginx", "pg_ctl", "ollama",
    }
)  # fmt: skip
_STATE_WORDS = frozenset(
    {
        "restart", "start", "stop", "up", "down", "kill", "rm", "rmi", "scale", "--scale",
        "delete", "apply", "rollout", "pause", "unpause", "create", "run", "update", "patch",
        "edit", "drain", "cordon", "uncordon", "reload", "enable", "disable", "mask", "pull",
        "push", "reset", "checkout", "revert", "merge", "rebase", "prune", "replace",
        "flushall", "flushdb", "del", "unlink", "set", "expire", "shutdown", "drop", "insert",
        "truncate", "alter", "vacuum", "reindex", "terminate", "pg_terminate_backend",
        "promote", "install", "upgrade", "rollback",
    }
)  # fmt: skip
_SEPARATORS = frozenset({"|", "||", "&", "&&", ";", ";;", "(", ")", "|&", "$"})


def _simple_commands(command: str) -> list[list[str]]:
    text = command.replace("\\\n", " ")
    lex = shlex.shlex(text, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    words: list[str] = []
    out: list[list[str]] = []
    try:
        for tok in lex:
            if tok in _SEPARATORS or (tok and set(tok) <= set("|&;()")):
                if words:
                    out.append(words)
                words = []
            elif tok.startswith("$(") or tok.startswith("`"):
                if words:
                    out.append(words)
                words = [tok.lstrip("$(`")] if tok.lstrip("$(`") else []
            else:
                words.append(tok)
    except ValueError:  # unbalanced quotes: validated earlier, be lenient here
        pass
    if words:
        out.append(words)
    return out


def changes_state(command: str) -> bool:
    """True if `command` (shell text) changes the state of a system (see module doc)."""
    for argv in _simple_commands(command):
        while argv and (argv[0] in {"sudo", "env", "nohup", "time"} or _is_assignment(argv[0])):
            argv = argv[1:]
        if not argv:
            continue
        prog = argv[0].rsplit("/", 1)[-1]
        if prog in _MUTATING_PROGRAMS:
            return True
        if prog in _OPERATOR_TOOLS:
            if {w.lower() for w in argv[1:]} & _STATE_WORDS:
                return True
            # `docker exec x psql -c "DROP TABLE t"`: look inside quoted SQL / args
            inner = " ".join(argv[1:]).lower().split()
            if any(
                w.strip("\"';,") in {"drop", "delete", "insert", "truncate", "alter"} for w in inner
            ):
                return True
        if prog == "curl" and _curl_sends(argv[1:]):
            return True
        if prog == "sed" and any(w.startswith("-i") for w in argv[1:]):
            return True
        if prog == "fuser" and any(w == "-k" or (w.startswith("-") and "k" in w) for w in argv[1:]):
            return True  # kills whatever holds the port
    return False


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _curl_sends(args: list[str]) -> bool:
    for i, w in enumerate(args):
        if w in {"-X", "--request"}:
            method = args[i + 1] if i + 1 < len(args) else ""
        elif w.startswith("-X"):
            method = w[2:]
        elif w.startswith("--request="):
            method = w.partition("=")[2]
        else:
            method = ""
        if method.upper() in _WRITE_METHODS:
            return True
        if w in {"-d", "-F", "--form", "-T", "--upload-file"} or w.startswith(("--data", "-d")):
            return True
    return False


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.isidentifier()


def exported(command: str) -> list[str]:
    """Variables a pure `export A=1 B=2` step sets; [] for anything else."""
    words = command.split()
    if len(words) < 2 or words[0] != "export" or not all("=" in w for w in words[1:]):
        return []
    return [w.split("=", 1)[0] for w in words[1:]]


_LIST_SEPARATORS = frozenset({"&&", "||", ";", "&", ";;", "\n"})


def without_comments(command: str) -> str:
    """The command text without shell comments: from a `#` that starts a word, outside
    quotes, to the end of its line (`curl http://x/#frag` keeps its `#`)."""
    out: list[str] = []
    quote: str | None = None
    in_comment = False
    for i, ch in enumerate(command):
        if in_comment:
            if ch == "\n":
                in_comment = False
                out.append(ch)
            continue
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1] in " \t\n"):
            in_comment = True
            while out and out[-1] in " \t":
                out.pop()
            continue
        out.append(ch)
    return "".join(out)


def pipelines(command: str) -> list[list[list[str]]]:
    """The command's pipelines (split at `;`, `&&`, `||`, `&`), each a list of argv in pipe
    order; comments, `$( … )` and redirections are dropped. `a | b && c` ->
    [[[a], [b]], [[c]]]."""
    text = without_comments(command).replace("\\\n", " ")
    lex = shlex.shlex(text, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = ""  # comments are gone; a `#` left is part of a word
    out: list[list[list[str]]] = [[[]]]
    depth, skip_next = 0, False
    try:
        for tok in lex:
            if tok == "$" or tok.endswith("$"):
                continue
            if tok == "(" or (tok and set(tok) <= {"("}):
                depth += len(tok)
            elif tok and set(tok) <= {")"}:
                depth = max(0, depth - len(tok))
            elif depth or skip_next:
                skip_next = False
            elif tok and set(tok) <= set("<>&") and tok not in {"&", "&&"}:
                skip_next = True  # the redirection's target is no argument
                if out[-1][-1] and out[-1][-1][-1].isdigit():
                    out[-1][-1].pop()  # `2>&1`: the descriptor is no argument either
            elif tok in {"|", "|&"}:
                out[-1].append([])
            elif tok in _LIST_SEPARATORS:
                out.append([[]])
            else:
                out[-1][-1].append(tok)
    except ValueError:  # unbalanced quotes: validated by the parser already
        pass
    cleaned = ([_without_assignments(argv) for argv in p] for p in out)
    return [[argv for argv in p if argv] for p in cleaned if any(p)]


def _without_assignments(argv: list[str]) -> list[str]:
    """`A=1 B=2 cmd x` runs `cmd x`: leading assignments are no command word."""
    i = 0
    while i < len(argv) and re.fullmatch(r"[A-Za-z_]\w*=.*", argv[i]):
        i += 1
    return argv[i:]


_CONTROL = {"|", "||", "&&", ";", "&", "(", ")", "|&", ";;", "\n"}
_PREFIXES = ("$(", "`", "(")


def command_words(command: str) -> list[str]:
    """The first word of every simple command in a shell line, including `$( … )`."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return []
    words, expect = [], True
    for tok in tokens:
        if tok in _CONTROL or set(tok) <= set("|&;()"):
            expect = True
            continue
        for prefix in _PREFIXES:
            while tok.startswith(prefix):
                tok = tok[len(prefix) :]
                expect = True
        if expect and tok and "=" not in tok.split("/")[0]:
            words.append(tok.rstrip(")`"))
            expect = False
        elif expect and "=" in tok:
            continue  # VAR=value prefix
    return words


_COMPOSE_ACTION = re.compile(
    r"^docker-compose\s+(?P<verb>restart|up|start)\b(?P<args>[^|;&#]*)", re.MULTILINE
)
# Which service a data tool acts on, when the step names no service of its own.
_TOOL_SERVICES = {"redis-cli": "redis", "psql": "postgres", "pg_isready": "postgres"}


def compose_action(command: str) -> tuple[str, set[str]] | None:
    """("up", {"testgen"}) for `docker-compose up -d testgen`; an empty set means all."""
    m = _COMPOSE_ACTION.search(command.strip())
    if not m:
        return None
    names = {w for w in m.group("args").split() if not w.startswith("-") and "=" not in w}
    return m.group("verb"), names


def acted_services(command: str) -> set[str]:
    """The compose services a state-changing step acts on ({} if unknown or all)."""
    if not changes_state(command):
        return set()
    targets = compose_action(command)
    if targets is not None:
        return set(targets[1])
    words = command.split()
    return {_TOOL_SERVICES[w] for w in words[:1] if w in _TOOL_SERVICES}


# docker-compose's global options that take a value (`-f FILE`, `-p NAME`, ...): the word after
# one is no subcommand and no service.
COMPOSE_GLOBAL_VALUE_OPTS = frozenset(
    {
        "-f",
        "--file",
        "-p",
        "--project-name",
        "--profile",
        "--env-file",
        "--project-directory",
        "-H",
        "--host",
    }
)
