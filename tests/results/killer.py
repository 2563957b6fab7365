"""A fork server for crash tests: ``lazyact`` runs in their own processes, signalled by strace.

Importing lazyact takes seconds; a kill sweep needs dozens of runs. :func:`serve` imports
the CLI once (and warms numba's typing context, without starting its thread pool, so
that forking stays safe), then for each request forks a child that runs
``lazyact.cli.main(argv)`` exactly as ``python -m lazyact`` would (its own process,
ending with a normal interpreter exit), or a snippet of Python. Before the child starts,
``strace -p`` attaches to it and injects a signal (SIGKILL, SIGINT, SIGSTOP) at its
``at``-th call of ``syscall`` (counted in the child's main thread, which does all the
writing), or counts those calls.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.
``{"argv": [...] | "code": str, "cwd": str, "log": str, "syscall": "pwrite64", "at": int | null,
"signal": "SIGKILL", "count": bool, "setup": str, "wait": bool}`` -> ``{"rc", "signal", "calls"}``
(or ``{"pid"}`` when ``wait`` is false; then ``{"wait": pid}`` -> ``{"rc", "signal"}``).
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time


def _attach(pid: int, args: list[str]) -> subprocess.Popen:
    """strace attached to ``pid`` (returns once the kernel shows it as the tracer)."""
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


def _child(req: dict, go_r: int) -> None:
    try:  # let a sibling (strace) trace us under Yama's ptrace_scope=1
        import ctypes

        ctypes.CDLL(None).prctl(0x59616D61, ctypes.c_ulong(-1), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover
        pass
    os.read(go_r, 1)
    os.close(go_r)
    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.chdir(req["cwd"])
    sys.stdin = open(os.devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    if req.get("setup"):
        exec(req["setup"], {})
    if req.get("code") is not None:
        exec(req["code"], {"__name__": "__main__"})
        raise SystemExit(0)
    from lazyact import cli

    raise SystemExit(cli.main(req["argv"]))  # leaves the server's loop: a normal interpreter exit


def _status(status: int) -> dict:
    return {"rc": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}


def serve() -> None:
    import numba

    import lazyact.cli  # noqa: F401
    import anndata  # noqa: F401

    numba.njit(lambda x: x + 1)(1)  # numba's typing context, without its (fork-unsafe) thread pool
    print(json.dumps({"ready": os.getpid()}), flush=True)
    tracers: dict[int, subprocess.Popen | None] = {}
    for line in sys.stdin:
        req = json.loads(line)
        if "wait" in req and isinstance(req["wait"], int) and not isinstance(req["wait"], bool):
            pid = req["wait"]
            _, status = os.waitpid(pid, 0)
            tracer = tracers.pop(pid, None)
            if tracer is not None:
                tracer.wait(timeout=60)
                tracer.stderr.close()
            print(json.dumps(_status(status)), flush=True)
            continue
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            _child(req, go_r)
        os.close(go_r)
        sc = req.get("syscall", "pwrite64")
        trace_file = req["log"] + ".strace"
        tracer = None
        if req.get("count"):
            tracer = _attach(pid, ["-e", f"trace={sc}", "-o", trace_file])
        elif req.get("at"):
            sig = req.get("signal", "SIGKILL")
            tracer = _attach(pid, ["-o", trace_file, "-e", f"trace={sc}",
                                   "-e", f"inject={sc}:signal={sig}:when={int(req['at'])}"])
        os.write(go_w, b"g")
        os.close(go_w)
        if req.get("wait", True) is False:
            tracers[pid] = tracer
            print(json.dumps({"pid": pid}), flush=True)
            continue
        _, status = os.waitpid(pid, 0)
        if tracer is not None:
            tracer.wait(timeout=60)
            tracer.stderr.close()
        reply = _status(status)
        if req.get("count"):
            with open(trace_file) as f:
                reply["calls"] = sum(1 for ln in f if ln.startswith(sc + "("))
        if os.path.exists(trace_file):
            os.unlink(trace_file)
        print(json.dumps(reply), flush=True)


class Killer:
    """Client of :func:`serve` in a subprocess (a context manager); replies time out after ``timeout`` s."""

    def __init__(self, env: dict | None = None, timeout: float = 300):
        self.timeout = timeout
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        self._reply()

    def _reply(self) -> dict:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(self.timeout):
                raise TimeoutError(f"the fork server gave no reply within {self.timeout} s")
        finally:
            sel.close()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server died")
        return json.loads(line)

    def _send(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def run(self, argv=None, *, cwd, log, code: str | None = None, at: int | None = None, sig: str = "SIGKILL",
            count: bool = False, syscall: str = "pwrite64", setup: str = "", wait: bool = True) -> dict:
        """Run ``lazyact ARGV`` (or ``code``) in a child; see the module docstring."""
        return self._send({"argv": None if argv is None else [str(a) for a in argv], "code": code, "cwd": str(cwd),
                           "log": str(log), "at": at, "signal": sig, "count": count, "syscall": syscall,
                           "setup": setup, "wait": wait})

    def wait(self, pid: int) -> dict:
        return self._send({"wait": int(pid)})

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
