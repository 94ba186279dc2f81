"""The stand-in for `docker`, `docker-compose`, `curl`, `redis-cli`, `psql`, `pg_isready`.

Installed as executables on the operator shell's PATH. It forwards its argv, working
directory and environment to the harness's bridge server over a Unix socket, then either
prints the answer and exits with its status, or execs the real tool with the stack's real
addresses. Standard library only, started with `python -S`, so each call costs little.
"""

import base64
import json
import os
import socket
import sys


def main() -> None:
    path = os.environ.get("GAMEDAY_BRIDGE")
    name = os.path.basename(sys.argv[0])
    if not path:
        sys.stderr.write(f"{name}: gameday bridge not configured (GAMEDAY_BRIDGE unset)\n")
        sys.exit(127)
    request = {"argv": [name, *sys.argv[1:]], "cwd": os.getcwd(), "env": dict(os.environ)}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    answer = json.loads(b"".join(chunks))
    if "exec" in answer:
        sys.stdout.flush()
        os.execve(answer["exec"][0], answer["exec"], answer["env"])
    sys.stdout.buffer.write(base64.b64decode(answer["stdout"]))
    sys.stderr.buffer.write(base64.b64decode(answer["stderr"]))
    sys.stdout.flush()
    sys.exit(answer["rc"])


if __name__ == "__main__":
    main()
