"""No orphans: when a govflow command dies, however (``kill -9`` too), the processes it started end.

`guard()` marks this process's environment with a token (every process it starts inherits it, as
Prefect's ephemeral server does) and starts a small watcher in its own session, holding the read
end of a pipe whose write end only this process holds. When this process ends, for any reason, the
kernel closes the pipe; the watcher then ends every process still carrying the token (SIGTERM,
SIGKILL after a grace period) and exits. A server govflow starts on purpose to be reused
(`govflow.prefect_server`) is started without the token.

The watcher is plain standard-library Python started with ``-S -I`` (a few milliseconds).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

TOKEN_ENV = "GOVFLOW_COMMAND_TOKEN"
GRACE_SECONDS = 3.0

WATCHER = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
token = sys.argv[1].encode()
grace = float(sys.argv[2])
while os.read(0, 65536):
    pass
def marked():
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if token in f.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            pass
    return found
for sig in (signal.SIGTERM, signal.SIGKILL):
    pids = marked()
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = marked()
    if not pids:
        break
"""

_guarded: list[int] = []  # the pid that started the watcher (a forked child starts its own)


def guard() -> None:
    """Start the watcher once per process (no-op where /proc is missing, i.e. not Linux)."""
    if _guarded == [os.getpid()] or not os.path.isdir("/proc"):
        return
    token = f"{os.getpid()}-{secrets.token_hex(8)}"
    read_end, write_end = os.pipe()  # both non-inheritable: only the watcher gets the read end, as stdin
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    try:
        watcher = subprocess.Popen([sys.executable, "-S", "-I", "-c", WATCHER, f"{TOKEN_ENV}={token}", str(GRACE_SECONDS)],
                         stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                         start_new_session=True)  # Ctrl-C to the command's group does not stop it
    except OSError:
        os.close(write_end)
        return
    finally:
        os.close(read_end)
    os.environ[TOKEN_ENV] = token
    _keep[:] = [write_end, watcher]  # the pipe held open until this process ends
    _guarded[:] = [os.getpid()]


_keep: list[object] = []
