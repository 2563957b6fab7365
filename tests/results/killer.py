"""A fork server for kill tests: ``lazyact`` CLI runs killed by strace at a chosen system call.

Importing lazyact takes seconds; a kill sweep needs dozens of runs. This script imports
the CLI once, then for each request forks a child that runs ``lazyact.cli.main(argv)``
exactly as ``python -m lazyact`` would (its own process, a normal interpreter exit).
Before the child starts, ``strace -p`` attaches to it and injects SIGKILL at its
``kill_at``-th call of ``syscall`` (counted in the child's main thread, which does all
the writing), or counts those calls.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.
Request ``{"argv": [...], "cwd": str, "log": str, "syscall": "pwrite64",
"kill_at": int | null, "count": bool}``; reply ``{"rc": int | null, "signal": int | null,
"calls": int | null}``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _attach(pid: int, args: list[str]) -> subprocess.Popen:
    """strace attached to ``pid`` (waits until the kernel shows it as the tracer)."""
    tracer = subprocess.Popen(["strace", "-qq", *args, "-p", str(pid)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as f:
            if any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in f):
                return tracer
        if tracer.poll() is not None:
            raise RuntimeError(f"strace could not attach: {tracer.stderr.read().decode()}")
        time.sleep(0.002)
    raise RuntimeError("strace did not attach within 30 s")


def serve() -> None:
    from lazyact import cli

    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: wait for the tracer, then be `python -m lazyact ARGV`
            os.close(go_w)
            os.read(go_r, 1)
            os.close(go_r)
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.chdir(req["cwd"])
            sys.stdin = open(os.devnull)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w", buffering=1)
            raise SystemExit(cli.main(req["argv"]))  # leaves the loop: a normal interpreter exit
        os.close(go_r)
        sc = req.get("syscall", "pwrite64")
        trace_file = req["log"] + ".strace"
        tracer = None
        if req.get("count"):
            tracer = _attach(pid, ["-e", f"trace={sc}", "-o", trace_file])
        elif req.get("kill_at"):
            tracer = _attach(pid, ["-o", os.devnull, "-e", f"trace={sc}",
                                   "-e", f"inject={sc}:signal=SIGKILL:when={int(req['kill_at'])}"])
        os.write(go_w, b"g")
        os.close(go_w)
        _, status = os.waitpid(pid, 0)
        if tracer is not None:
            tracer.wait(timeout=60)
            tracer.stderr.close()
        calls = None
        if req.get("count"):
            with open(trace_file) as f:
                calls = sum(1 for ln in f if ln.startswith(sc + "("))
            os.unlink(trace_file)
        reply = {"rc": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
                 "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "calls": calls}
        print(json.dumps(reply), flush=True)


class Killer:
    """Client of :func:`serve` in a subprocess (a context manager)."""

    def __init__(self, env: dict | None = None):
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError("the fork server did not start")

    def run(self, argv: list[str], cwd, log, *, kill_at: int | None = None, count: bool = False,
            syscall: str = "pwrite64") -> dict:
        req = {"argv": [str(a) for a in argv], "cwd": str(cwd), "log": str(log), "kill_at": kill_at,
               "count": count, "syscall": syscall}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the fork server died")
        return json.loads(reply)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self) -> "Killer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    serve()
