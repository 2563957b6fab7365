"""Crash safety of the writers with real processes, signals and file systems (issue 12).

* A kill sweep: ``lazyact run`` killed by strace (SIGKILL injected at a system call) at
  30+ of its pwrite64 calls, before each rename and some fsyncs, and again while the
  rerun resumes, for .h5 and .h5ad; every rerun gives the uninterrupted file.
* A real full disk (a tmpfs, as root) at four free-space levels, with the free-space
  check and without it (HDF5 then meets ENOSPC inside a flush): exit 1 with one line,
  never a signal; freeing space and rerunning gives the uninterrupted file.
* A second writer is refused while the first runs (two processes); Ctrl-C keeps the
  finished blocks and the rerun says where it resumes; truncated partials; a pickled
  activity whose input file was replaced; ``close()`` under concurrent readers; a
  results file replaced under an open ``StoredActivity``.

The runs are forked from a server that imported lazyact once (``killer.py``); reruns
happen in this process. strace is required in CI (``.ci/run`` installs it).
"""
from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lazyact
from lazyact.array import journal as journal_mod
from lazyact.cli import main
from lazyact.results.stored import ResultsFileChangedError

from .helpers import assert_same_file
from .killer import Killer

IN_CI = os.environ.get("LAZYACT_CI") == "1"  # set by .ci/run
N_SAMPLES, BLOCK = 80, 10  # 8 write blocks


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (required in CI: .ci/run installs strace and runs as root)")
    pytest.skip(reason)


# --------------------------------------------------------------------------- inputs, runs
def _inputs(d: Path, n_cells: int, seed: int = 12) -> None:
    """A 60-gene x 5-protein signature and a counts .h5ad of ``n_cells`` cells (60 + 20 genes)."""
    import anndata
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(60)]
    sig = pd.DataFrame(rng.standard_normal((60, 5)), index=pd.Index(genes, name="gene"),
                       columns=[f"P{j}" for j in range(5)])
    sig.to_csv(d / "sig.tsv", sep="\t")
    X = sp.random(n_cells, 80, density=0.3, format="csr", random_state=rng, data_rvs=lambda k: rng.poisson(3, k) + 1.0)
    anndata.AnnData(X=X.astype(np.float32), obs=pd.DataFrame(index=[f"c{i}" for i in range(n_cells)]),
                    var=pd.DataFrame(index=genes + [f"O{i}" for i in range(20)])).write_h5ad(d / "in.h5ad")


def argv(work: Path, out: Path, *extra: str, block: int = BLOCK, data: str = "in.h5ad") -> list[str]:
    fmt = ["--h5ad"] if out.suffix == ".h5ad" else []
    return ["run", str(work / data), "-s", str(work / "sig.tsv"), "--preprocess", "scrnaseq", "--n-rand", "10",
            "--block", str(block), "-o", str(out), *fmt, *extra]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The inputs, on a memory file system when there is one (fsync is free there)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="lazyact-crash-", dir=shm))
    else:
        d = tmp_path_factory.mktemp("crash")
    _inputs(d, N_SAMPLES)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def killer():
    if shutil.which("strace") is None:
        _unavailable("strace is not installed (apt-get install strace)")
    src = str(Path(lazyact.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    with Killer(env=env) as k:
        yield k


@pytest.fixture(scope="module")
def reference(work):
    """Uninterrupted runs, in this process."""
    refs = {}
    for ext in ("h5", "h5ad"):
        refs[ext] = work / f"ref.{ext}"
        assert main(argv(work, refs[ext], "-q")) == 0
    return refs


@pytest.fixture
def chatty(monkeypatch):
    """Progress output on (the rerun's "resuming ..." line), as in a terminal."""
    monkeypatch.setenv("LAZYACT_PROGRESS", "1")
    monkeypatch.setattr(lazyact.array.config, "progress", True)


def _leftovers(d: Path, name: str) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith(name) and p.name != name)


def _rerun(work, out, capsys) -> str:
    """Run the same command again in this process: it succeeds; returns its stderr and warnings."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        assert main(argv(work, out)) == 0, capsys.readouterr().err
    err = capsys.readouterr().err + "".join(f"\n{w.category.__name__}: {w.message}" for w in warned)
    assert "another process" not in err
    return err


# --------------------------------------------------------------------------- the kill sweep
@pytest.mark.parametrize("ext", ["h5", "h5ad"])
def test_kill_sweep_then_rerun_gives_the_uninterrupted_file(ext, work, killer, reference, chatty, capsys):
    d = work / f"sweep_{ext}"
    d.mkdir()
    total = killer.run(argv(work, d / f"count.{ext}", "-q"), cwd=d, log=d / "count.log", count=True)["calls"]
    assert total > 40
    kills = [("pwrite64", int(n)) for n in np.unique(np.linspace(1, total, 32).round())]
    kills += [("rename", 1), ("rename", 2), ("rename", 3), ("fsync", 5), ("fsync", 12)]
    again = {len(kills) // 2, len(kills) - 8}  # these are killed again (twice) while resuming
    seen = {"resumed": 0}

    def start(i):
        sc, n = kills[i]
        (d / str(i)).mkdir()
        return killer.run(argv(work, d / str(i) / f"out.{ext}", "-q"), cwd=d, log=d / str(i) / "log", at=n,
                          syscall=sc, wait=False)["pid"]

    pid = start(0)
    for i, (sc, n) in enumerate(kills):
        status = killer.wait(pid)
        if i + 1 < len(kills):
            pid = start(i + 1)  # the next kill runs while this one is rerun here
        out = d / str(i) / f"out.{ext}"
        assert status["signal"] == signal.SIGKILL, (sc, n, status, (d / str(i) / "log").read_text())
        assert not out.exists()
        stale_lock = (d / str(i) / f"out.{ext}.lock").exists()  # the killed writer's, not locked any more
        if i in again:
            for sc2, n2 in (("pwrite64", 4), ("rename", 2)):  # during the copy; before the new partial's move
                st = killer.run(argv(work, out, "-q"), cwd=d, log=d / str(i) / "log2", at=n2, syscall=sc2)
                assert st["signal"] == signal.SIGKILL, (sc2, n2, st)
        journaled = journal_mod.Journal.read(d / str(i) / f"out.{ext}.journal")
        err = _rerun(work, out, capsys)
        assert_same_file(out, reference[ext])
        assert _leftovers(d / str(i), f"out.{ext}") == [] and stale_lock
        if journaled and journaled.blocks:  # finished blocks: kept, or recomputed saying why
            seen["resumed"] += "resuming" in err
            assert "resuming" in err or "did not read back" in err or "Starting over" in err, err
    assert seen["resumed"] >= len(kills) // 2  # most kills keep finished blocks


# --------------------------------------------------------------------------- a full disk
@pytest.fixture(scope="module")
def tmpfs(tmp_path_factory):
    """A 5 MiB tmpfs (mounting needs root)."""
    if os.geteuid() != 0:
        _unavailable("a real full disk needs root to mount a tmpfs")
    d = tmp_path_factory.mktemp("tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode:
        _unavailable(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Inputs whose results take about 0.9 MiB (3000 samples), and the uninterrupted results."""
    d = tmp_path_factory.mktemp("big")
    _inputs(d, 3000, seed=5)
    refs = {}
    for ext in ("h5", "h5ad"):
        refs[ext] = d / f"ref.{ext}"
        assert main(argv(d, refs[ext], "-q", block=300)) == 0
    return d, refs


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until ``leave`` bytes are free."""
    for p in disk.iterdir():
        (shutil.rmtree if p.is_dir() else os.unlink)(p)
    st = os.statvfs(disk)
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize - leave)
    finally:
        os.close(fd)


def _one_clean_line(log: Path) -> str:
    lines = log.read_text().splitlines()
    errors = [ln for ln in lines if ln.startswith("lazyact run: error:")]
    assert len(errors) == 1 and errors == lines[-1:], lines
    assert not any(w in ln for ln in lines for w in ("Traceback", "HDF5-DIAG", "Segmentation", "decrement"))
    return errors[0]


@pytest.mark.parametrize("ext, check", [("h5", True), ("h5ad", False)], ids=["h5", "h5ad-inside-hdf5"])
def test_full_disk_stops_cleanly_and_rerun_completes(ext, check, tmpfs, big, killer, capsys):
    d, refs = big
    size = refs[ext].stat().st_size
    setup = "" if check else "import lazyact.array.journal as j; j.preflight = False"
    for leave in (16 << 10, size // 3, (2 * size) // 3, size + (96 << 10)):
        _fill(tmpfs, leave)
        out = tmpfs / f"out.{ext}"
        st = killer.run(argv(d, out, "-q", block=300), cwd=d, log=d / "disk.log", setup=setup)
        if st["rc"] == 0:  # enough space after all (the last level without the check)
            assert leave > size
        else:
            assert st == {"rc": 1, "signal": None}, (leave, st, (d / "disk.log").read_text())
            assert leave < size or not check
            line = _one_clean_line(d / "disk.log")
            assert "space" in line.lower() and "run the same command again" in line, line
            assert not out.exists()
            os.unlink(tmpfs / "filler")  # free space, rerun
            assert main(argv(d, out, "-q", block=300)) == 0, capsys.readouterr().err
        assert_same_file(out, refs[ext])
        assert _leftovers(tmpfs, out.name) == []


def test_full_disk_in_python_raises_a_clear_oserror(tmpfs, big, killer):
    d, refs = big
    _fill(tmpfs, 200 << 10)
    code = f"""
import errno, lazyact, lazyact.array.journal as j
j.preflight = False  # meet ENOSPC inside HDF5's flush
act = lazyact.activity({str(d / 'in.h5ad')!r}, {str(d / 'sig.tsv')!r}, preprocess="scrnaseq", n_rand=10)
try:
    act.to_hdf5({str(tmpfs / 'api.h5')!r}, block=300, progress=False)
except OSError as e:
    print("caught", e.errno == errno.ENOSPC, e)
"""
    st = killer.run(code=code, cwd=d, log=d / "api.log")
    text = (d / "api.log").read_text()
    assert st == {"rc": 0, "signal": None}, text  # no crash at interpreter exit
    assert "caught True" in text and "No space left on device" in text and "resume" in text
    assert "decrement" not in text and "Traceback" not in text


# --------------------------------------------------------------------------- concurrency, Ctrl-C, truncation
def test_second_writer_is_refused_never_overtakes(work, killer, reference, capsys):
    d = work / "two"
    d.mkdir()
    out = d / "out.h5"
    pid = killer.run(argv(work, out, "-q"), cwd=d, log=d / "a.log", at=30, sig="SIGSTOP", wait=False)["pid"]
    trace, deadline = d / "a.log.strace", time.monotonic() + 60
    while not (trace.exists() and "stopped by SIGSTOP" in trace.read_text()):  # in the middle of its writes
        assert time.monotonic() < deadline, (d / "a.log").read_text()
        time.sleep(0.01)
    part = d / "out.h5.partial"
    inode = part.stat().st_ino
    for extra in (("--no-resume",), ()):
        assert main(argv(work, out, "-q", *extra)) == 1
        err = capsys.readouterr().err
        assert f"is being written by another process (pid {pid}" in err and err.count("error") == 1, err
    assert part.stat().st_ino == inode and not out.exists()
    os.kill(pid, signal.SIGCONT)
    assert killer.wait(pid) == {"rc": 0, "signal": None}
    assert_same_file(out, reference["h5"])


def test_ctrl_c_keeps_finished_blocks_and_the_rerun_says_where(work, killer, reference, chatty, capsys):
    d = work / "ctrl_c"
    d.mkdir()
    out = d / "out.h5"
    # SIGINT at the fsync of block 4 (fsyncs: 5 to set up the partial and journal, then 2 per block)
    st = killer.run(argv(work, out, "-q"), cwd=d, log=d / "log", at=14, syscall="fsync", sig="SIGINT")
    log = (d / "log").read_text()
    assert st == {"rc": 130, "signal": None}, log
    assert "interrupted: 4 of 8 column blocks are saved in" in log and "run the same command again" in log
    err = _rerun(work, out, capsys)
    assert "resuming out.h5: 4 of 8 blocks already saved" in err
    assert_same_file(out, reference["h5"])


@pytest.mark.parametrize("cut", [0, 100, 0.5])
def test_truncated_partial_resumes_or_starts_over(cut, work, killer, reference, chatty, capsys):
    d = work / f"trunc{cut}"
    d.mkdir()
    out = d / "out.h5"
    assert killer.run(argv(work, out, "-q"), cwd=d, log=d / "log", at=40)["signal"] == signal.SIGKILL
    part = d / "out.h5.partial"
    with open(part, "r+b") as f:
        f.truncate(int(cut * part.stat().st_size) if isinstance(cut, float) else cut)
    err = _rerun(work, out, capsys)
    assert "Starting over" in err or "did not read back" in err, err
    assert "open in another" not in err and "open for writing" not in err
    assert_same_file(out, reference["h5"])


# --------------------------------------------------------------------------- replaced inputs and results
def test_pickled_activity_refuses_a_replaced_input_file(work, killer):
    d = work / "pickled"
    d.mkdir()
    _inputs(d, 40, seed=1)
    act = lazyact.activity(d / "in.h5ad", str(d / "sig.tsv"), preprocess="scrnaseq", n_rand=10)
    (d / "act.pkl").write_bytes(pickle.dumps(act))
    code = f"""
import pickle
act = pickle.loads(open({str(d / 'act.pkl')!r}, 'rb').read())
try:
    print("computed", act.zscore[:, :3].shape)
except OSError as e:
    print(type(e).__name__, e)
"""
    killer.run(code=code, cwd=d, log=d / "ok.log")  # a worker process, the same file: computes
    assert "computed (5, 3)" in (d / "ok.log").read_text()
    new = d / "new"
    new.mkdir()
    _inputs(new, 40, seed=2)  # same shape and names, other counts
    os.replace(new / "in.h5ad", d / "in.h5ad")
    killer.run(code=code, cwd=d, log=d / "replaced.log")
    text = (d / "replaced.log").read_text()
    assert "InputChangedError" in text and "changed since the activity was built" in text, text


def test_close_is_safe_under_concurrent_readers(reference):
    res = lazyact.open(reference["h5"], cache_bytes=0)
    want = res.zscore[:, :]
    errors: list[BaseException] = []
    stop = threading.Event()

    def read(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(60):
                j = int(rng.integers(0, N_SAMPLES - 4))
                assert np.array_equal(res.zscore[:, j:j + 4], want[:, j:j + 4])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def close():
        while not stop.is_set():
            res.close()

    readers = [threading.Thread(target=read, args=(s,)) for s in range(4)]
    closer = threading.Thread(target=close)
    closer.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    closer.join()
    assert errors == []


def test_replaced_results_file_is_refused_not_mixed(work, reference):
    d = work / "replaced"
    d.mkdir()
    path = d / "r.h5"
    shutil.copy(reference["h5"], path)
    res = lazyact.open(path, cache_bytes=0)
    before = res.beta[:, :5]
    blob = pickle.dumps(res)
    other = lazyact.open(reference["h5"]).to_hdf5(d / "other.h5", progress=False, block=7)  # other chunks
    with lazyact.open(other) as o:
        o.to_hdf5(d / "scaled.h5", progress=False)
    import h5py

    with h5py.File(d / "scaled.h5", "r+") as f:
        f["beta"][:, :] = f["beta"][:, :] * 2
    os.replace(d / "scaled.h5", path)
    assert np.array_equal(res.beta[:, :5], before)  # the open handle still reads the file it opened
    res.close()
    with pytest.raises(ResultsFileChangedError, match="replaced or modified since it was opened"):
        res.beta[:, :5]
    with pytest.raises(ResultsFileChangedError):
        pickle.loads(blob).beta[:, :5]  # what a dask worker gets
    assert np.array_equal(lazyact.open(path).beta[:, :5], 2 * before)
