"""mistral-server with its imports paid once per container: `mistral-server-warm --server ROLE ARGS...`.

A Mistral process spends most of its start importing Mistral, oslo.*, SQLAlchemy, pecan and yaql (about 2 s
of CPU, 4-5 s on a loaded 2-core machine, six processes at once in a lab). This launcher imports
mistral.cmd.launch once, then forks mistral-server's own main() from there: the child parses its config,
connects and serves exactly as `mistral-server` does, with nothing of an earlier run in memory (the launcher
itself never serves, never connects, never reads a message).

Signals: SIGTERM, SIGINT and SIGHUP go to the child (Mistral's own stop and reload: SIGTERM on an executor
still abandons its in-flight actions). The lab's warm restart (`mistral-lab reset`) is two signals: SIGUSR1
SIGKILLs the child's whole process group, as `docker kill` would, and holds (HELD_FILE says so once it is
reaped); SIGUSR2 forks a fresh server. When the child ends by itself (a crash, an RPC fault's crash-after)
the launcher ends the same way, so the container exits as it always did.
"""
from __future__ import annotations

import os
import signal
import sys
import time

RUN = os.environ.get("MISTRAL_LAB_RUN_DIR", "/run")  # another directory only in tests/test_warm_start.py
# What entrypoint.sh clears when a container starts: an in-process fault must not outlive its process.
FRESH_START_FILES = tuple(f"{RUN}/{name}" for name in (
    "lab-rpc/rules.json", "lab-rpc/rules.json.tmp", "lab-rpc/state.json", "lab-clock/strobe.pid"))
PID_FILE = f"{RUN}/mistral-server-warm.pid"
HELD_FILE = f"{RUN}/mistral-server-warm.held"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Taken before Mistral is imported: a release that monkey-patches os (eventlet) must not green the launcher.
_fork, _waitpid, _kill, _killpg, _setpgid = os.fork, os.waitpid, os.kill, os.killpg, os.setpgid


class Launcher:
    def __init__(self, argv: list[str]):
        self.argv = argv
        self.child = 0
        self.hold = False
        self.release = False

    def fork_server(self) -> None:
        for path in (*FRESH_START_FILES, HELD_FILE):
            if os.path.exists(path):
                os.unlink(path)
        pid = _fork()
        if pid == 0:
            self._run_server()
        try:
            _setpgid(pid, pid)  # here too: a hold that comes before the child's own setpgid
        except OSError:
            pass  # the child did it first, or already ended (serve collects its status)
        self.child = pid

    def _run_server(self) -> None:
        """In the child: a process group of its own (a hold kills it whole), then mistral-server's main."""
        code = 1
        try:
            try:
                _setpgid(0, 0)
            except OSError:
                pass
            for signum in (*FORWARDED, signal.SIGUSR1, signal.SIGUSR2):
                signal.signal(signum, signal.SIG_DFL)
            fresh_event_hub()
            from mistral.cmd import launch

            sys.argv = ["mistral-server", *self.argv]
            code = launch.main() or 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def forward(self, signum: int, _frame: object) -> None:
        if self.child:
            _kill(self.child, signum)
        elif signum != signal.SIGHUP:
            raise SystemExit(0)  # stopped while held: nothing runs, so nothing to stop but the launcher

    def on_hold(self, _signum: int, _frame: object) -> None:
        self.hold = True
        if not self.child:
            return
        for kill, target in ((_killpg, self.child), (_kill, self.child)):
            try:
                kill(target, signal.SIGKILL)
                return
            except ProcessLookupError:
                continue  # no group yet, or the child just ended by itself: serve handles both

    def on_release(self, _signum: int, _frame: object) -> None:
        self.release = True

    def serve(self) -> None:
        """Wait for the child; after a hold wait for the release and fork anew, else end as the child ended."""
        while True:
            _, status = _waitpid(self.child, 0)
            if not self.hold:
                self._end_like(status)
            self.child = 0
            with open(HELD_FILE, "w", encoding="utf-8") as held:
                held.write("held\n")
            while not self.release:
                time.sleep(0.05)  # not signal.pause(): a release between the check and the pause would be lost
            self.hold = self.release = False
            print("mistral-server-warm: a fresh mistral-server after a warm restart", file=sys.stderr, flush=True)
            self.fork_server()

    @staticmethod
    def _end_like(status: int) -> None:
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            if signum != signal.SIGKILL:
                signal.signal(signum, signal.SIG_DFL)
            _kill(os.getpid(), signum)
        sys.exit(os.waitstatus_to_exitcode(status))


def fresh_event_hub() -> bool:
    """In a forked child of a release that runs on eventlet (before 21.0.0): a hub of its own.

    The launcher's green sleeps made an eventlet hub (an epoll fd, timers) that a fork would share with the
    child; use_hub() drops it, so the child's first green call builds a new one. True when eventlet is loaded."""
    hubs = sys.modules.get("eventlet.hubs")
    if hubs is None:
        return False
    hubs.use_hub()
    return True


def wait_for_peers(first_start_marker: str = f"{RUN}/mistral-server-warm.started") -> None:
    """At a container's first start only, wait until each MISTRAL_LAB_WAIT_FOR host:port takes a connection.

    `up` starts the Mistral containers beside the broker (not after it is healthy) so their imports overlap its
    boot; the server itself starts once the broker listens. A restart of the container (a kill fault, a heal)
    does not wait: Mistral's own reconnecting is what a fault there tests."""
    import socket

    peers = [p for p in os.environ.get("MISTRAL_LAB_WAIT_FOR", "").split(",") if p]
    if os.path.exists(first_start_marker) or not peers:
        return
    deadline = time.monotonic() + float(os.environ.get("MISTRAL_LAB_WAIT_FOR_S", "180"))
    for peer in peers:
        host, port = peer.rsplit(":", 1)
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
    with open(first_start_marker, "w", encoding="utf-8") as marker:
        marker.write("started\n")


def main() -> None:
    import mistral.cmd.launch  # noqa: F401  the point of this launcher: imported once, before any fork

    launcher = Launcher(sys.argv[1:])
    for signum in FORWARDED:
        signal.signal(signum, launcher.forward)
    signal.signal(signal.SIGUSR1, launcher.on_hold)
    signal.signal(signal.SIGUSR2, launcher.on_release)
    with open(PID_FILE, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    wait_for_peers()
    launcher.fork_server()
    launcher.serve()


if __name__ == "__main__":
    main()
