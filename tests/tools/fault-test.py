#!/usr/bin/env python3
# Fault injection (dmasync run --fault, dmasync fault) and the never-signal
# watchdog (dmasync run --watchdog, dmasync ls --stuck, dmasync watch),
# observed as a program sees them through the Linux UAPI: FILE_INFO status
# and poll.  Each scenario runs as its own `dmasync run` of a small Python
# program (below), which prints what it saw as JSON.  Prints TAP.
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "preload"))
import tap  # noqa: E402
import xproc  # noqa: E402

TOOL = sys.argv[1]
# A broker of this run's own: its listings and counts are this run's only,
# whatever else runs beside it (set before the first request).
_sockdir = tempfile.mkdtemp(prefix="dmasync-tooltest-")
os.environ["DMASYNC_SOCKET"] = os.path.join(_sockdir, "broker")
atexit.register(shutil.rmtree, _sockdir, True)
check = tap.check
HERE = os.path.dirname(os.path.abspath(__file__))

# The program under test: a timeline, N points, then INC steps; it reports
# each point's status right after the INCs, whether point 1 polled readable
# at once, and when each point became readable.
PROGRAM = r'''
import fcntl, json, os, resource, select, struct, sys, time
sys.path.insert(0, sys.argv[1])
import xproc
args = json.loads(sys.argv[2])
tl = os.open(xproc.SW_SYNC, os.O_RDWR | os.O_CLOEXEC)
n = args.get("points", 1)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < n + 256:    # 1024 is usual
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256 if hard == resource.RLIM_INFINITY
                                                else min(n + 256, hard), hard))
fs = [xproc.fence(tl, v) for v in range(1, n + 1)]
if args.get("announce"):
    print(json.dumps({"pid": os.getpid(), "made": time.monotonic()}), flush=True)
    sys.stdin.readline()            # the test stalls the timeline meanwhile
t0 = time.monotonic()
for _ in range(args.get("incs", n)):
    fcntl.ioctl(tl, xproc.INC, struct.pack("I", 1))
at_once = [xproc.status(f) for f in fs]
readable = []
for f in fs:
    p = select.poll()
    p.register(f, select.POLLIN)
    ok = bool(p.poll(args.get("wait_ms", 3000)))
    readable.append(round(time.monotonic() - t0, 3) if ok else None)
if args.get("announce"):           # the test releases the timeline meanwhile
    print(json.dumps({"polled": readable}), flush=True)
    sys.stdin.readline()
if args.get("hold_s"):
    time.sleep(args["hold_s"])
print(json.dumps({"at_once": at_once, "readable": readable,
                  "final": [xproc.status(f) for f in fs]}), flush=True)
'''


def run(opts, args, stdin=None):
    """`dmasync run OPTS -- python3 PROGRAM ARGS`: (its JSON, stderr)."""
    r = subprocess.run([TOOL, "run", *opts, "--", sys.executable, "-c", PROGRAM,
                        os.path.join(HERE, "..", "preload"), json.dumps(args)],
                       capture_output=True, text=True, timeout=60, input=stdin)
    if r.returncode:
        print("# exit %d: %s" % (r.returncode, r.stderr.replace("\n", "\n# ")))
        return None, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def tool(*args):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    return subprocess.run([TOOL, *args], capture_output=True, text=True, env=e, timeout=30)


EIO, ETIME, ECANCELED = 5, 62, 125

# 1. Every point fails with the chosen errno; it still polls readable.
out, err = run(["--fault=error=1:ECANCELED"], {"points": 4})
check(out and out["at_once"] == [-ECANCELED] * 4,
      "error=1:ECANCELED: every point signals with -ECANCELED (FILE_INFO status)")
check(out and all(t is not None for t in out["readable"]), "an errored point polls readable, as the kernel's")
check(err.count("signaled with -ECANCELED") == 4, "each injected error is reported once on stderr")

# 2. A share, seeded: some fail, some do not, the same ones on every run,
#    whatever else the broker served meanwhile.
a, _ = run(["--fault=error=0.5,seed=7"], {"points": 24})
b, _ = run(["--fault=error=50%,seed=7"], {"points": 24})
c, _ = run(["--fault=error=0.5,seed=8"], {"points": 24})
fails = a and sum(s == -EIO for s in a["at_once"])
check(a and 4 <= fails <= 20 and all(s in (1, -EIO) for s in a["at_once"]),
      "error=0.5: a share of the points fail with -EIO (default), the rest signal (%s of 24)" % fails)
check(a and b and a["at_once"] == b["at_once"], "the same seed gives the same faults on the next run")
check(a and c and a["at_once"] != c["at_once"], "another seed, other faults")

# 3. Not ours to fault: a program run without --fault beside them.
out, err = run([], {"points": 8})
check(out and out["at_once"] == [1] * 8 and not err, "a program without --fault is untouched")

# 4. Delays: nothing signals at the INC, everything in order within MAX.
out, err = run(["--fault=delay=150-250"], {"points": 3})
check(out and out["at_once"] == [0, 0, 0], "delay=150-250: points still pending right after their INCs")
r = out and out["readable"]
check(r and all(t is not None and 0.14 <= t <= 1.5 for t in r),
      "delayed signals arrive after at least MIN ms (%s)" % r)
check(r and r == sorted(r), "delays keep the timeline's order")
check(out and out["final"] == [1, 1, 1], "a delayed point signals without an error")
check("delayed" in err, "each delay is reported")

# 5. A hang and its reset: held for MS, then every held point fails.
out, err = run(["--fault=hang=1:300:EIO"], {"points": 2, "wait_ms": 3000})
r = out and out["readable"]
check(out and out["at_once"] == [0, 0], "hang=1:300: the timeline stalls at the first INC")
check(r and all(t is not None and 0.28 <= t <= 2.0 for t in r), "released after the hang's 300 ms (%s)" % r)
check(out and out["final"] == [-EIO, -EIO], "the held points signal with the hang's errno")
check("hangs at value 0 for 300 ms" in err and "released" in err, "the hang and its release are reported")

# 6. By hand: stall a timeline of a running program, then release it.
p = subprocess.Popen([TOOL, "run", "--", sys.executable, "-c", PROGRAM,
                      os.path.join(HERE, "..", "preload"),
                      json.dumps({"points": 2, "announce": True, "wait_ms": 400})],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
pid = json.loads(p.stdout.readline())["pid"]
listing = json.loads(tool("ls", "--json").stdout)
ctx = None
for t in listing["timelines"]:
    if t["created_by"]["pid"] == pid:
        ctx = t.get("context")
check(ctx is not None, "dmasync ls --json gives the timeline's fence context")
r = tool("fault", "stall", str(ctx))
check(r.returncode == 0, "dmasync fault stall CONTEXT")
check(tool("fault", "stall", str(ctx)).returncode == 1, "stalling it twice is refused")
p.stdin.write("go\n")
p.stdin.flush()
polled = json.loads(p.stdout.readline())["polled"]     # its INCs and 400 ms polls done
r = tool("fault", "release", str(ctx), "ECANCELED")
check(r.returncode == 0 and r.stdout.strip() == "released: 2 points signaled",
      "dmasync fault release CONTEXT ECANCELED releases what was held (%r)" % r.stdout)
out = json.loads(p.communicate("go\n", timeout=30)[0].strip().splitlines()[-1])
check(out["at_once"] == [0, 0] and polled == [None, None],
      "while stalled, INCs signal nothing")
check(out["final"] == [-ECANCELED, -ECANCELED], "released points signal with the errno given")
check(tool("fault", "release", str(ctx)).returncode == 1, "releasing a timeline not stalled fails")
check(tool("fault", "stall", "999999999").returncode == 1, "stalling an unknown context fails")

# 7. The watchdog: a point pending beyond the limit is reported once,
#    within the limit plus a second, with what waits on it; ls --stuck
#    lists it while pending.
with tempfile.TemporaryDirectory() as d:
    log = os.path.join(d, "reports")
    p = subprocess.Popen([TOOL, "run", "--watchdog=0.5", "--log=" + log, "--",
                          sys.executable, "-c", PROGRAM, os.path.join(HERE, "..", "preload"),
                          json.dumps({"points": 2, "incs": 1, "wait_ms": 0, "hold_s": 2.5,
                                      "announce": True})],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    hello = json.loads(p.stdout.readline())
    pid, made = hello["pid"], hello["made"]     # CLOCK_MONOTONIC, as the reports
    p.stdin.write("go\n")
    p.stdin.flush()
    p.stdout.readline()              # its INC done (wait_ms 0)
    p.stdin.write("go\n")
    p.stdin.flush()
    time.sleep(1.8)
    stuck = json.loads(tool("ls", "--stuck", "--json").stdout)["stuck"]
    mine = [s for s in stuck if s["timeline"]["created_by"]["pid"] == pid]
    check(len(mine) == 1 and mine[0]["seqno"] == 2 and mine[0]["reported"],
          "ls --stuck lists the reported point (seqno 2), not the signaled one")
    check(mine and [w["kind"] for w in mine[0]["waiters"]] == ["sync_file"] and
          mine[0]["waiters"][0]["holders"][0]["pid"] == pid,
          "with what waits on it: its sync file, held by the program")
    aged = json.loads(tool("ls", "--stuck=1", "--json").stdout)["stuck"]
    check(any(s["timeline"]["created_by"]["pid"] == pid and s["pending_s"] >= 1 for s in aged),
          "ls --stuck=SECONDS lists points pending that long")
    text = tool("ls", "--stuck").stdout
    check("seqno 2: pending" in text and "waited on by sync_file" in text, "ls --stuck as a table")
    p.communicate(timeout=30)
    lines = [ln for ln in open(log) if "watchdog:" in ln]
    check(len(lines) == 1 and "seqno 2 pending" in lines[0] and "waited on by sync_file" in lines[0],
          "reported once, with the timeline, seqno and waiters (%d reports)" % len(lines))
    when = lines and float(lines[0].split("[")[1].split("]")[0])
    check(lines and 0.45 <= when - made <= 0.5 + 1.0,
          "within the limit plus a second (%.2f s after the point was made)" % (when - made if lines else -1))

mine = [s for s in json.loads(tool("ls", "--stuck", "--json").stdout)["stuck"]
        if s["timeline"]["created_by"]["pid"] == pid]
check(not mine, "a stuck point gone (its timeline closed) is no longer listed")

# 7b. Reports never block the broker: a program whose stderr is a pipe
#     nobody reads, with more reports than the pipe holds, still finishes,
#     and so does another program meanwhile.
#     1500 where the fd limits allow (a report is ~90 bytes: 64 KiB of pipe
#     hold ~740), else as many as a hard RLIMIT_NOFILE of 1024 leaves room
#     for (~900: the library keeps its own fds in the top 64).
import resource
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
many = 1500 if hard == resource.RLIM_INFINITY else max(1, min(1500, hard - 128))
p = subprocess.Popen([TOOL, "run", "--fault=error=1", "--", sys.executable, "-c", PROGRAM,
                      os.path.join(HERE, "..", "preload"), json.dumps({"points": many, "wait_ms": 0})],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
try:
    rc = p.wait(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    rc = None
check(rc == 0, "%d error reports to a stderr pipe nobody reads: the program finishes (%s)" % (many, rc))
out, _ = run([], {"points": 2})
check(out and out["final"] == [1, 1], "and the broker serves others")
p.stdout.close()
p.stderr.close()

# 8. dmasync watch, not on a terminal: one view after another.
r = tool("watch", "--count", "2", "--interval", "0.1")
check(r.returncode == 0 and r.stdout.count("dmasync watch") == 2 and "SYNC FILES" in r.stdout,
      "dmasync watch prints its views")
check(tool("run", "--fault=error=2", "--", "true").returncode == 2 and
      tool("run", "--fault=hang=0.5", "--", "true").returncode == 2 and
      tool("run", "--watchdog=x", "--", "true").returncode == 2,
      "bad --fault and --watchdog values are refused with status 2")

sys.exit(tap.done())
