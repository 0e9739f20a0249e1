#!/usr/bin/env python3
"""Fault injection for the `trajrnn` CLI: the faults of real machines, injected many times.

Run (as root for tmpfs and read-only bind mounts; otherwise, or with --no-mount, it falls back
to `ulimit -f` and chattr +i / chmod):

    python3 tools/fault_inject.py                      # full: 315 injections, ~4 min on 2 cores
    python3 tools/fault_inject.py --quick              # CI-sized: 46 injections, ~20 s
    python3 tools/fault_inject.py --bin PATH --seed 7 --record faults.json

Fault classes (one function each; every injection is one trial):
  disk-full    outputs on a size-limited tmpfs (sizes vary, so the fault hits different files) or
               under `ulimit -f`: train, train --overwrite of a finished run, train --resume of an
               interrupted one, generate, import csv, rollout --out, eval --report; a finished
               checkpoint placed beside must survive, and with room again the run must finish
  signal       SIGTERM / SIGINT / SIGKILL at a random time during `train`, then `--resume`
  concurrent   a second `train --overwrite` / `--resume` on a run dir while the first runs;
               and a stale lock: `kill -9` a run, then `--resume` / `--overwrite` must proceed
  read-only    run dir, --report, rollout --out, import, generate, experiment --out on a
               read-only file system: refused with a clear error before any work
  corrupt      a flipped bit, a replaced byte or a truncation anywhere in best.ckpt / last.ckpt
               (magic, length, JSON header, header checksum, weights, optimiser), then loaded

Columns of the table:
  count        injections of that class
  clear error  trials that ended in one clear line (the problem named: "No space left",
               "File too large", "Read-only", "in use"/pid, the damaged file) or in a success
               where success is correct (the output fitted; the signal came after the end;
               the run after a SIGKILL or a stale lock proceeded). Misses are listed below it.
  data lost    trials where a file that was whole before no longer loads or changed, a
               checkpoint present afterwards does not load, or a resumed run cannot finish.
               Must be 0.
  panics       "panicked at" in stderr, exit 101, or death by a signal we did not send. Must be 0.
  hangs        trials whose command was still running after --timeout seconds (then killed).
  litter       trials leaving `.*.tmp` files or half-written staging folders behind (after the
               failed command for one-shot outputs; after the next successful run for train).
Exit status: 1 when anything was lost, panicked, hung or left litter, else 0 (clear-error misses are only printed).
"""
import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAIN = ["--dataset", "ds", "--members", "1", "--hidden", "8", "--context", "16", "--rollout-steps", "4",
         "--warmup", "10", "--horizons", "1,5", "--patience", "1000", "--split", "episodes"]
SMALL_EPOCHS, LONG_EPOCHS = "3", "40"
Res = namedtuple("Res", "cmd rc out err")  # rc: exit code, -N for death by signal N, or "timeout"
DISK_MSG = re.compile(r"No space left|File too large|os error 2[78]", re.I)
RO_MSG = re.compile(r"Read-only|os error 30|Permission denied|os error 13|Operation not permitted", re.I)
LOCK_MSG = re.compile(r"in use|\bpid\b|lock|already running|another", re.I)
FULL = dict(corrupt=150, signal=60, disk=66, concurrent=15, readonly=24)
QUICK = dict(corrupt=18, signal=6, disk=11, concurrent=3, readonly=8)


class Ctx:
    def __init__(self, args):
        self.bin, self.rng, self.trials, self.mounts = str(Path(args.bin).resolve()), random.Random(args.seed), [], []
        self.work = Path(tempfile.mkdtemp(prefix="trajrnn-faults-"))
        self.n, self.can_mount, self.timeout = 0, False, args.timeout

    def run(self, args, preexec=None):
        cmd = [self.bin] + [str(a) for a in args]
        try:
            p = subprocess.run(cmd, cwd=self.work, capture_output=True, text=True, preexec_fn=preexec, timeout=self.timeout)
            return Res(cmd, p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            return Res(cmd, "timeout", str(e.stdout or ""), str(e.stderr or "") + "\n(timed out)")

    def spawn(self, args, name):
        cmd = [self.bin] + [str(a) for a in args]
        with open(self.work / f"{name}.out", "w") as out, open(self.work / f"{name}.err", "w") as err:
            p = subprocess.Popen(cmd, cwd=self.work, stdout=out, stderr=err)
        p.cmd, p.name = cmd, name
        return p

    def collect(self, p):
        try:
            rc = p.wait(self.timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "timeout"
        read = lambda s: (self.work / f"{p.name}.{s}").read_text(errors="replace")
        return Res(p.cmd, rc, read("out"), read("err"))

    # -- mounts: every one is undone in `cleanup`, whatever happens ----------------------------
    def mount(self, target, opts, bind_from=None):
        target.mkdir(parents=True, exist_ok=True)
        cmd = ["mount", "--bind", str(bind_from), str(target)] if bind_from else ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)]
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            return False
        self.mounts.append(target)
        if bind_from and subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], capture_output=True).returncode != 0:
            self.umount(target)
            return False
        return True

    def remount(self, target, opts):
        return subprocess.run(["mount", "-o", f"remount,{opts}", str(target)], capture_output=True).returncode == 0

    def umount(self, target):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
        if target in self.mounts:
            self.mounts.remove(target)

    @contextlib.contextmanager
    def place(self, opts=None):
        """A fresh folder `d`, yielded as (fs, d): with `opts`, a tmpfs mounted there when
        possible (fs is d), else a plain folder (fs is None)."""
        self.n += 1
        d = self.work / f"t{self.n}"
        mounted = opts is not None and self.can_mount and self.mount(d, opts)
        d.mkdir(exist_ok=True)
        try:
            yield d if mounted else None, d
        finally:
            if mounted:
                self.umount(d)
            shutil.rmtree(d, ignore_errors=True)

    def cleanup(self, keep):
        for m in reversed(list(self.mounts)):
            self.umount(m)
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- checks ---------------------------------------------------------------------------------
    def bad_ckpts(self, root):
        """Checkpoints under `root` that do not load (`eval` is the cheapest full load)."""
        return [str(c) for c in sorted(Path(root).rglob("*.ckpt"))
                if self.run(["eval", "--checkpoint", c, "--dataset", "ds"]).rc != 0]

    def record(self, fault, variant, res, clear, lost=False, panic=None, litter=False, note="", sent=None):
        panic = panicked(res, sent) if panic is None else panic
        self.trials.append(dict(fault=fault, variant=variant, command=" ".join(res.cmd[1:]) if res else "",
                                rc=res.rc if res else None, stderr=first_line(res.err) if res else "",
                                clear_error=bool(clear), data_lost=bool(lost), panic=bool(panic),
                                litter=bool(litter), hang=res is not None and res.rc == "timeout", note=note))


def panicked(res, sent=None):
    if res is None:
        return False
    died = isinstance(res.rc, int) and res.rc < 0 and res.rc != -(sent or 0)
    return "panicked at" in res.err or res.rc == 101 or died


def first_line(err):
    """The error line of stderr (else its first line)."""
    lines = [l for l in err.splitlines() if l.strip()]
    return next((l for l in lines if l.startswith("error") or "panicked" in l), lines[0] if lines else "")


def clear(res, pattern):
    return res.rc == 1 and bool(pattern.search(first_line(res.err))) and "panicked" not in res.err


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def litter_in(root):
    """Temporary files (`.name.pid.rand.tmp`) and hidden staging folders (`.gen.XXXX`) left behind."""
    return [str(p) for p in Path(root).rglob(".*") if p.name.endswith(".tmp") or p.is_dir()]


def fsize_limit(limit):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def used_kib(path):
    return sum(-(-f.stat().st_size // 4096) * 4 for f in Path(path).rglob("*") if f.is_file())


# ---------------------------------------------------------------------------------------------
def train_cmd(run, *extra, epochs=SMALL_EPOCHS):
    return ["train", *TRAIN, "--epochs", epochs, "--run-dir", run, *extra]


def output_cmd(kind, rel):
    """The command that writes output `kind` under the folder `rel`."""
    return {"train": train_cmd(rel / "run"), "new-run": train_cmd(rel / "new"),
            "overwrite": train_cmd(rel / "run", "--seed", "1", "--overwrite"), "resume": ["train", "--resume", rel / "run"],
            "generate": ["generate", "--out", rel / "gen", "--episodes", "8"], "import": ["import", "csv", "csvsrc", rel / "imp"],
            "rollout": ["rollout", "--checkpoint", "done/best.ckpt", "--dataset", "ds", "--horizon", "5", "--out", rel / "x.rrd"],
            "report": ["eval", "--checkpoint", "done/best.ckpt", "--dataset", "ds", "--report", rel / "rep.json"],
            "experiment": ["experiment", "memory", "--quick", "--synthetic", REPO / "datasets/synthetic_pick_place",
                           "--out", rel / "exp"]}[kind]


def disk_full(ctx, n):
    kinds = ["train", "train", "overwrite", "resume", "generate", "import", "rollout", "report",
             "ulimit-train", "ulimit-resume", "ulimit-rollout"]
    sizes = {"train": 244, "overwrite": 200, "resume": 200, "generate": 100, "import": 150, "rollout": 600, "report": 8}
    before = {"overwrite": "done_small", "resume": "interrupted"}  # a run placed there first
    for i in range(n):
        kind = kinds[i % len(kinds)] if ctx.can_mount else kinds[-3:][i % 3]
        what = kind.replace("ulimit-", "")
        keep = what in ("train", "report") and ctx.rng.random() < 0.5  # a finished checkpoint beside
        if kind.startswith("ulimit"):
            limit = ctx.rng.randrange(200, 4096) if ctx.rng.random() < 0.3 else \
                ctx.rng.randrange(4, {"train": 80, "resume": 80}.get(what, 500)) * 1024  # config.toml: ~1 KiB
            opts, pre, note = None, fsize_limit(limit), f"RLIMIT_FSIZE {limit} bytes"
        else:
            kib = ctx.rng.randrange(0, sizes[what], 4) + (52 if keep else 0)
            kib = max(4, kib + (used_kib(ctx.work / before[what]) if what in before else 0))
            opts, pre, note = f"size={kib}k", None, f"tmpfs {kib} KiB"
        with ctx.place(opts) as (fs, d):
            if keep:
                shutil.copy(ctx.done / "best.ckpt", d / "keep.ckpt")
                keep_hash = sha(d / "keep.ckpt")
            if what in before:
                shutil.copytree(ctx.work / before[what], d / "run")
            if what == "report" and fs:  # fill what is left, so that the report meets a full disk
                with open(d / "filler", "wb") as f, contextlib.suppress(OSError):
                    f.write(b"\0" * (1 << 20))
            rel = d.relative_to(ctx.work)
            r = ctx.run(output_cmd(what, rel), preexec=pre)
            ok, extra_panic = r.rc == 0 or clear(r, DISK_MSG), False
            lost = bool(ctx.bad_ckpts(d)) or (keep and sha(d / "keep.ckpt") != keep_hash)
            out_dir = {"generate": "gen", "import": "imp"}.get(what)  # a dataset folder must be whole or absent
            half = out_dir is not None and r.rc != 0 and (d / out_dir).exists()
            if what in ("train", "overwrite", "resume"):  # with room again, the next run there must succeed
                if fs:
                    ctx.remount(d, "size=16m")
                again = ctx.run(output_cmd("resume", rel) if what == "resume" else train_cmd(rel / "run", "--overwrite"))
                extra_panic = panicked(again)
                if again.rc != 0:
                    ok, note = False, note + f"; with room again, `{' '.join(again.cmd[1:])}` failed: {first_line(again.err)}"
                    lost = lost or what == "resume"  # the interrupted run can no longer be finished
            note += "; a half-written dataset folder is left" if half else ""
            ctx.record("disk-full", kind, r, ok, lost, panicked(r) or extra_panic, bool(litter_in(d)) or half, note)


def signals(ctx, n):
    sigs = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
    for i in range(n):
        sig = sigs[i % 3]
        with ctx.place() as (_, d):
            rel = d.relative_to(ctx.work) / "run"
            delay = ctx.rng.uniform(0.05, ctx.t_long)
            p = ctx.spawn(train_cmd(rel, epochs=LONG_EPOCHS), f"sig{i}")
            time.sleep(delay)
            sent = p.poll() is None
            if sent:
                p.send_signal(sig)
            r = ctx.collect(p)
            note = f"{sig.name} after {delay:.2f} s" + ("" if sent else " (the run had ended)")
            bad = ctx.bad_ckpts(d)
            run = ctx.work / rel
            if (run / "last.ckpt").exists():
                again = ctx.run(["train", "--resume", rel])
                lost = bool(bad) or again.rc != 0  # a run that cannot be resumed is lost
            else:  # killed before the first checkpoint: nothing existed yet; start again
                again = ctx.run(train_cmd(rel, "--overwrite"))
                lost = bool(bad)
            if again.rc != 0:
                note += f"; recovery `{' '.join(again.cmd[1:])}` failed: {first_line(again.err)}"
            if r.rc == -sig and sig != signal.SIGKILL:
                note += "; died of the signal itself (before its handler was installed?)"
            # SIGTERM/SIGINT: exit 130 with a line naming last.ckpt (or death by the signal itself
            # before the handler is installed); SIGKILL has nothing to say: the recovery must work.
            named = sig == signal.SIGKILL or r.rc in (0, -sig) or (r.rc == 130 and "last.ckpt" in r.out + r.err)
            ok = named and again.rc == 0
            ctx.record("signal", sig.name, r, ok, lost, panicked(r, sig if sent else None) or panicked(again),
                       bool(litter_in(run)), note, sent=sig if sent else None)


def concurrent(ctx, n):
    for i in range(n):
        with ctx.place() as (_, d):
            rel = d.relative_to(ctx.work) / "run"
            run = ctx.work / rel
            first = ctx.spawn(train_cmd(rel, epochs=LONG_EPOCHS), f"con{i}")
            deadline = time.time() + 60
            while not (run / "last.ckpt").exists() and first.poll() is None and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(ctx.rng.uniform(0, ctx.t_long / 4))
            if i % 3 == 2:  # stale lock: the holder dies; the next run must go ahead
                first.send_signal(signal.SIGKILL)
                ctx.collect(first)
                args = ["train", "--resume", rel] if ctx.rng.random() < 0.5 else \
                       train_cmd(rel, "--overwrite")
                r = ctx.run(args)
                ctx.record("concurrent", "stale lock", r, r.rc == 0, bool(ctx.bad_ckpts(run)),
                           litter=bool(litter_in(run)), note="" if r.rc == 0 else "refused after the holder was killed")
                continue
            alive = first.poll() is None
            args = (train_cmd(rel, "--overwrite", epochs=LONG_EPOCHS) if i % 3 == 0
                    else ["train", "--resume", rel])
            r = ctx.run(args)
            f = ctx.collect(first)
            line = first_line(r.err)
            refused = r.rc != 0 and "in use" in line and f"pid {first.pid}," in line
            bad = ctx.bad_ckpts(run)
            lost = bool(bad) or not (run / "best.ckpt").exists() or (refused and f.rc != 0)
            note = ("" if alive else "the first run had ended before the second started; ") + \
                   ("refused" if refused else f"NOT refused (second exit {r.rc}, first exit {f.rc})")
            ctx.record("concurrent", args[1] if args[1] == "--resume" else "--overwrite", r, refused, lost,
                       panicked(r) or panicked(f), bool(litter_in(run)), note)


def read_only(ctx, n):
    kinds = ["new-run", "resume", "overwrite", "report", "rollout", "import", "generate", "experiment"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        ctx.n += 1
        d = ctx.work / f"ro{ctx.n}"
        src = ctx.work / f"ro{ctx.n}-src"
        shutil.copytree(ctx.done, src / "run")
        before = {p.name: sha(p) for p in (src / "run").iterdir()}
        undo = make_read_only(ctx, src, d)
        if undo is None:
            ctx.record("read-only", kind, None, False, note="skipped: no way to make a read-only folder here")
            continue
        try:
            rel = d.relative_to(ctx.work)
            cmd = output_cmd(kind, rel)
            r = ctx.run(cmd)
            worked = "epoch   1" in r.out  # training started before the check
            after = {p.name: sha(p) for p in (d / "run").iterdir()}
            ctx.record("read-only", kind, r, clear(r, RO_MSG) and not worked, after != before,
                       note="work began before the refusal" if worked else "")
        finally:
            undo()
            shutil.rmtree(src, ignore_errors=True)


def make_read_only(ctx, src, target):
    """`target` shows `src` read-only: a read-only bind mount, else chattr +i, else chmod (non-root)."""
    if ctx.can_mount and ctx.mount(target, "", bind_from=src):
        return lambda: (ctx.umount(target), shutil.rmtree(target, ignore_errors=True))
    shutil.copytree(src, target, dirs_exist_ok=True)
    if os.geteuid() != 0:
        for p in [target, *target.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return lambda: (subprocess.run(["chmod", "-R", "u+w", str(target)]), shutil.rmtree(target, ignore_errors=True))
    if subprocess.run(["chattr", "-R", "+i", str(target)], capture_output=True).returncode == 0:
        return lambda: (subprocess.run(["chattr", "-R", "-i", str(target)]), shutil.rmtree(target, ignore_errors=True))
    shutil.rmtree(target, ignore_errors=True)
    return None


def corrupt(ctx, n):
    sources = {name: (ctx.done / name).read_bytes() for name in ("best.ckpt", "last.ckpt")}
    for i in range(n):
        name = ("best.ckpt", "last.ckpt")[i % 2]
        data = bytearray(sources[name])
        hlen = int.from_bytes(data[8:16], "little")
        sections = json.loads(data[16:16 + hlen])["sections"]
        regions = {"magic": (0, 8), "length": (8, 16), "header": (16, 16 + hlen), "checksum": (16 + hlen, 24 + hlen)}
        at = 24 + hlen
        for s in sections:
            regions[s["name"]] = (at, at + s["bytes"])
            at += s["bytes"]
        mode = ctx.rng.choice(["bit", "byte", "truncate"])
        if mode == "truncate":
            cut = ctx.rng.randrange(0, len(data))
            region = next((k for k, (a, b) in regions.items() if a <= cut < b), "tail")
            data, what = data[:cut], f"truncated to {cut} of {len(sources[name])} bytes ({region})"
        else:
            region = ctx.rng.choice(sorted(regions))
            off = ctx.rng.randrange(*regions[region])
            data[off] ^= (1 << ctx.rng.randrange(8)) if mode == "bit" else ctx.rng.randrange(1, 256)
            what = f"{mode} at {off} ({region})"
        path = ctx.work / "corrupt" / f"c{i}-{name}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes(data))
        rel = path.relative_to(ctx.work)
        if i % 5 == 4:
            r = ctx.run(["rollout", "--checkpoint", rel, "--dataset", "ds", "--horizon", "5", "--out", "corrupt/x.rrd"])
        else:
            r = ctx.run(["eval", "--checkpoint", rel, "--dataset", "ds"])
        ok = r.rc == 1 and rel.name in first_line(r.err)
        note = what + ("; loaded as if whole" if r.rc == 0 else "")
        ctx.record("corrupt", f"{name} {region}", r, ok, note=note)
        path.unlink()


# ---------------------------------------------------------------------------------------------
def setup(ctx, no_mount):
    w = ctx.work
    r = ctx.run(["generate", "--out", "ds", "--episodes", "8"])
    if r.rc != 0:
        sys.exit(f"cannot generate the dataset: {r.err}")
    (w / "csvsrc").mkdir()
    for f in sorted((w / "ds/episodes").glob("*.csv")):
        rows = [",".join(l.split(",")[:10]) for l in f.read_text().splitlines()]  # without the phase column
        (w / "csvsrc" / f.name).write_text("\n".join(rows) + "\n")
    t0 = time.time()
    r = ctx.run(train_cmd("done", epochs=LONG_EPOCHS))
    ctx.t_long = time.time() - t0
    r2 = ctx.run(train_cmd("done_small"))
    if r.rc != 0 or r2.rc != 0:
        sys.exit(f"cannot train the reference runs: {first_line(r.err + r2.err)}")
    ctx.done, ctx.done_small = w / "done", w / "done_small"
    p = ctx.spawn(train_cmd("interrupted", epochs=LONG_EPOCHS), "interrupted")  # stopped halfway, for --resume
    while not (w / "interrupted/last.ckpt").exists() and p.poll() is None:
        time.sleep(0.02)
    time.sleep(0.1)  # a few epochs in
    p.send_signal(signal.SIGTERM)
    if ctx.collect(p).rc != 130:
        sys.exit("cannot make an interrupted run (SIGTERM did not stop `train` with exit 130)")
    if not no_mount:  # a tmpfs needs root (or CAP_SYS_ADMIN)
        ctx.can_mount = ctx.mount(w / "mount-probe", "size=64k")
        ctx.umount(w / "mount-probe")


def summarise(trials):
    rows = []
    for fault in ["disk-full", "signal", "concurrent", "read-only", "corrupt"]:
        ts = [t for t in trials if t["fault"] == fault]
        rows.append(dict(fault=fault, count=len(ts), clear_error=sum(t["clear_error"] for t in ts),
                         data_lost=sum(t["data_lost"] for t in ts), panics=sum(t["panic"] for t in ts),
                         litter=sum(t["litter"] for t in ts), hangs=sum(t["hang"] for t in ts)))
    total = {k: sum(r[k] for r in rows) for k in ("count", "clear_error", "data_lost", "panics", "litter", "hangs")}
    return rows + [dict(fault="total", **total)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=str(REPO / "target/debug/trajrnn"), help="the trajrnn binary")
    ap.add_argument("--seed", type=int, default=0, help="seed of every random choice (times, sizes, offsets)")
    ap.add_argument("--quick", action="store_true", help="CI-sized: >= 40 injections")
    ap.add_argument("--record", help="write every trial and the summary as JSON here")
    ap.add_argument("--no-mount", action="store_true", help="use the fallbacks (ulimit -f, chattr/chmod)")
    ap.add_argument("--timeout", type=float, default=30, help="seconds after which a command counts as hung")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    counts = QUICK if args.quick else FULL
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"no executable at {args.bin} (build it, or pass --bin)")
    ctx = Ctx(args)
    start = time.time()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` unmounts
    try:
        setup(ctx, args.no_mount)
        print(f"work {ctx.work}; a {LONG_EPOCHS}-epoch run takes {ctx.t_long:.2f} s; "
              f"mounts {'available' if ctx.can_mount else 'unavailable: ulimit -f and chattr/chmod instead'}", flush=True)
        for fn, key in [(corrupt, "corrupt"), (read_only, "readonly"), (disk_full, "disk"),
                        (concurrent, "concurrent"), (signals, "signal")]:
            t = time.time()
            fn(ctx, counts[key])
            print(f"  {key}: {counts[key]} injections in {time.time() - t:.1f} s", flush=True)
    finally:
        ctx.cleanup(args.keep)
    rows = summarise(ctx.trials)
    print("\n| fault | count | clear error | data lost | panics | hangs | litter |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['fault']} | {r['count']} | {r['clear_error']} | {r['data_lost']} | {r['panics']} | {r['hangs']} | {r['litter']} |")
    print(f"\n{time.time() - start:.0f} s, seed {args.seed}, {ctx.bin}")
    misses = [t for t in ctx.trials if not t["clear_error"] or t["data_lost"] or t["panic"] or t["hang"] or t["litter"]]
    if misses:
        print("\nTrials without a clear error, or with loss, panic or litter:")
    for t in misses:
        flags = [k for k in ("data_lost", "panic", "hang", "litter") if t[k]] + ([] if t["clear_error"] else ["no clear error"])
        print(f"- [{t['fault']} / {t['variant']}] {', '.join(flags)}; {t['note']}\n    $ trajrnn {t['command']}\n"
              f"    exit {t['rc']}: {t['stderr']}")
    if args.record:
        Path(args.record).write_text(json.dumps(dict(seed=args.seed, bin=ctx.bin, seconds=round(time.time() - start, 1),
                                                     summary=rows, trials=ctx.trials), indent=1))
    sys.exit(1 if rows[-1]["data_lost"] or rows[-1]["panics"] or rows[-1]["hangs"] or rows[-1]["litter"] else 0)


if __name__ == "__main__":
    main()
