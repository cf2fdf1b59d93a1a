#!/usr/bin/env python3
# `dmasync ls` and `dmasync leaks` against a scripted two-process scenario
# with known objects: exact counts, creators, holders, statuses, the
# kernel's debugfs formats, a leak seen growing, and no broker at all.
# Run under `dmasync run` (this script makes the objects); prints TAP.
import atexit
import fcntl
import json
import os
import shutil
import signal
import struct
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
SET_NAME_B = (1 << 30) | (8 << 16) | (ord("b") << 8) | 1
check = tap.check
me = os.getpid()
comm = open("/proc/self/comm").read().strip()


def tool(*args, env=None):
    e = dict(env or os.environ)
    e.pop("LD_PRELOAD", None)   # the tool as a user runs it
    r = subprocess.run([TOOL, *args], capture_output=True, text=True, env=e)
    if r.returncode:
        print("# " + r.stderr.replace("\n", "\n# "))
    return r


def ls():
    r = tool("ls", "--json")
    return json.loads(r.stdout) if r.returncode == 0 else None


def by_inode(items):
    return {i["inode"]: i for i in items}


def holders(item):
    return sorted(h["pid"] for h in item["holders"])


# The scenario: a timeline with points 1 and 2, their sync files, a named
# heap buffer that waits for point 1 as its writer; a second process holds
# point 2's sync file and the buffer.
tl = os.open(xproc.SW_SYNC, os.O_RDWR | os.O_CLOEXEC)
fa, fb = xproc.fence(tl, 1), xproc.fence(tl, 2)
heap = os.open(xproc.HEAP, os.O_RDWR | os.O_CLOEXEC)
a = bytearray(struct.pack("QIIQ", 4096, 0, os.O_RDWR | os.O_CLOEXEC, 0))
fcntl.ioctl(heap, xproc.HEAP_ALLOC, a)
buf = struct.unpack("QIIQ", a)[1]
fcntl.ioctl(buf, SET_NAME_B, b"scene-buffer\0")
fcntl.ioctl(buf, xproc.IMPORT, struct.pack("Ii", xproc.SYNC_WRITE, fa))
ino = {n: os.fstat(fd).st_ino for n, fd in (("tl", tl), ("fa", fa), ("fb", fb), ("buf", buf))}
rd, wr = os.pipe()
ready_r, ready_w = os.pipe()
child = os.fork()
if child == 0:
    for fd in (tl, fa, heap, wr, ready_r):
        os.close(fd)
    os.write(ready_w, b"r")
    os.read(rd, 1)       # until the parent is done (or killed with it)
    os._exit(0)
os.close(rd)
os.close(ready_w)
os.read(ready_r, 1)      # it holds only what it should now

d = ls()
check(d is not None, "ls --json parses")
tls, sfs, bufs = by_inode(d["timelines"]), by_inode(d["sync_files"]), by_inode(d["buffers"])
t = tls.get(ino["tl"])
check(t and t["value"] == 0 and t["pending"] == [1, 2] and t["name"] == comm,
      f"the timeline: named {comm!r}, value 0, points 1 and 2 pending ({t})")
check(t and t["created_by"]["pid"] == me and holders(t) == [me],
      "made by this process, held by it alone")
sa, sb = sfs.get(ino["fa"]), sfs.get(ino["fb"])
check(sa and sb and sa["status"] == 0 and sb["status"] == 0, "both sync files listed, pending")
check(sa and holders(sa) == [me] and sb and holders(sb) == sorted([me, child]),
      f"point 2's sync file is held by both processes ({sb and sb['holders']})")
check(sb and [h["fds"] for h in sb["holders"] if h["pid"] == me] == [[fb]],
      "with the holder's fd number")
b = bufs.get(ino["buf"])
check(b and b["size"] == 4096 and b["name"] == "scene-buffer" and b["exp_name"] == "system",
      f"the buffer: size, name, exporter ({b and (b['size'], b['name'], b['exp_name'])})")
check(b and [(f["usage"], f["seqno"], f["status"]) for f in b["fences"]] == [("write", 1, 0)],
      f"its fences: the imported writer, pending ({b and b['fences']})")
check(b and holders(b) == sorted([me, child]), "held by both processes")

r = tool("ls", "--format=bufinfo")
lines = r.stdout.split("\n")
row = [ln for ln in lines if ln.endswith("\tscene-buffer")]
check(r.returncode == 0 and "size    \tflags   \tmode    \tcount   \texp_name\tino     \tname" in lines
      and row and row[0] == f"00004096\t00000002\t00080007\t00000002\tsystem\t{ino['buf']:08d}\tscene-buffer",
      f"--format=bufinfo: Linux 6.1's header and row ({row})")
check(f"\twrite fence:sw_sync {comm} seq 1 unsignalled" in lines and
      lines[-2] == f"Total {len(bufs)} objects, {sum(x['size'] for x in bufs.values())} bytes",
      "its fence line and the total")
r = tool("ls", "--format=sync-info")
want = f"{comm}: 0\n  fence active: 1 / 0\n  fence active: 2 / 0\n\n"
check(r.returncode == 0 and r.stdout.startswith("objs:\n--------------\n") and want in r.stdout
      and r.stdout.endswith("fences:\n--------------\n"),
      "--format=sync-info: Linux 6.1's objs section")

# A leak: this process makes 5 sync files between two looks.
tool("leaks")
extra = [xproc.fence(tl, 10 + i) for i in range(5)]
r = tool("leaks")
mine = [ln for ln in r.stdout.split("\n") if ln.split()[:1] == [str(me)]]
check(mine and "(+5)" in mine[0], f"leaks: this process's sync files grew by 5 ({mine})")
r = tool("leaks", "--json")
p = [x for x in json.loads(r.stdout)["processes"] if x["pid"] == me]
check(p and p[0]["sync_files"] == 7 and p[0]["change"]["sync_files"] == 0 and
      p[0]["buffers"] == 1 and p[0]["timelines"] == 1,
      f"leaks --json: counts, no change since the last look ({p})")
for fd in extra:
    os.close(fd)

# EXPORT of an idle buffer: the library keeps a copy of the stub's sync
# file for itself (at a high number), which neither tool counts as the
# program's: one export held is one sync file more, none once it is closed.
idle = bytearray(struct.pack("QIIQ", 4096, 0, os.O_RDWR | os.O_CLOEXEC, 0))
fcntl.ioctl(heap, xproc.HEAP_ALLOC, idle)
idle = struct.unpack("QIIQ", idle)[1]
before = [x for x in json.loads(tool("leaks", "--json").stdout)["processes"] if x["pid"] == me]
e = bytearray(struct.pack("Ii", xproc.SYNC_READ, -1))
fcntl.ioctl(idle, xproc.EXPORT, e)
exported = struct.unpack("Ii", e)[1]
held = [x for x in json.loads(tool("leaks", "--json").stdout)["processes"] if x["pid"] == me]
stub = [s for s in ls()["sync_files"] if s["inode"] == os.fstat(exported).st_ino]
check(stub and [h["fds"] for h in stub[0]["holders"] if h["pid"] == me] == [[exported]],
      f"ls: the idle export is held at the program's fd only ({stub and stub[0]['holders']})")
stub_ino = os.fstat(exported).st_ino
os.close(exported)
after = [x for x in json.loads(tool("leaks", "--json").stdout)["processes"] if x["pid"] == me]
check(before and held and after and held[0]["sync_files"] == before[0]["sync_files"] + 1 and
      after[0]["sync_files"] == before[0]["sync_files"],
      f"leaks: an idle export counts while held, not after ({before}, {held}, {after})")
os.close(idle)
# A fork child that has not talked to the broker holds the library's copy
# it inherited, at the same number: not counted either.
kid_r, kid_w = os.pipe()
kid = os.fork()
if kid == 0:
    os.close(kid_w)
    os.read(kid_r, 1)
    os._exit(0)
os.close(kid_r)
stub = [s for s in ls()["sync_files"] if s["inode"] == stub_ino]
check(stub and kid not in holders(stub[0]),
      f"a fork child's inherited copy of the library's fd is not counted ({stub and stub[0]['holders']})")
os.close(kid_w)
os.waitpid(kid, 0)

# Signal point 1; the other process dies.
fcntl.ioctl(tl, xproc.INC, struct.pack("I", 1))
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
# A closed sync file is released when the broker notices its hang-up (a
# timeline's close is synchronous, a sync file's is not): the points of
# the five just closed go with them, soon.
for _ in range(500):
    d = ls()
    if d and d["timelines"] and all(t["pending"] == [2] for t in d["timelines"]
                                    if t["inode"] == ino["tl"]):
        break
    time.sleep(0.01)
tls, sfs, bufs = by_inode(d["timelines"]), by_inode(d["sync_files"]), by_inode(d["buffers"])
check(tls[ino["tl"]]["value"] == 1 and tls[ino["tl"]]["pending"] == [2], "after INC: value 1, point 2 pending")
check(sfs[ino["fa"]]["status"] == 1 and bufs[ino["buf"]]["fences"][0]["status"] == 1 and
      bufs[ino["buf"]]["fences"][0]["timestamp_ns"] > 0, "point 1 signaled, with its timestamp")
check(holders(sfs[ino["fb"]]) == [me] and holders(bufs[ino["buf"]]) == [me],
      "the killed process holds nothing any more")

# No broker: an empty listing, and none is started.
with tempfile.TemporaryDirectory() as tmp:
    sock = os.path.join(tmp, "none")
    env = dict(os.environ, DMASYNC_SOCKET=sock)
    r = tool("ls", "--json", env=env)
    d = json.loads(r.stdout) if r.returncode == 0 else None
    check(d is not None and not d["sync_files"] and not d["buffers"] and not d["timelines"]
          and not os.path.exists(sock), "no broker: nothing listed, nothing started")
r = tool("ls", "--format=nonsense")
check(r.returncode == 2, "a bad option: usage, exit status 2")
os.close(wr)
sys.exit(tap.done())
