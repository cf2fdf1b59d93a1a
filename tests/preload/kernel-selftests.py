#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Linux kernel's own userspace selftests for this UAPI, unmodified,
under `dmasync run`: tools/testing/selftests/sync (sync_test, stress tests
included), drivers/dma-buf/udmabuf and dmabuf-heaps/dmabuf-heap, taken
from Debian's linux-source-6.1 package (scripts/deps installs it), built
here as ordinary dynamically linked programs (upstream builds dmabuf-heap
statically, which no preload can reach), and run one by one.  Each must
exit 0 and print exactly what it printed on Linux 6.1 in the kernel VM
(kernel-selftests/linux-6.1-NAME.out).  Prints TAP.

Usage: kernel-selftests.py DMASYNC WORKDIR
"""
import difflib
import glob
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = "linux-source-6.1"
WANT = [
    "tools/testing/selftests/kselftest.h",
    "tools/testing/selftests/sync/*",
    "tools/testing/selftests/dmabuf-heaps/dmabuf-heap.c",
    "tools/testing/selftests/drivers/dma-buf/udmabuf.c",
    "include/uapi/drm/drm.h",
    "include/uapi/drm/drm_mode.h",
]
SYNC = ["sync_test", "sync", "sync_alloc", "sync_fence", "sync_merge", "sync_wait",
        "sync_stress_parallelism", "sync_stress_consumer", "sync_stress_merge"]


def extract(work):
    """The sources, once per work directory.  Return: the tree, or None."""
    tree = os.path.join(work, TOP)
    stamp = os.path.join(work, "extracted")
    if os.path.exists(stamp):
        return tree
    tarballs = sorted(glob.glob("/usr/src/linux-source-6.1.tar.*"))
    if not tarballs:
        return None
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["tar", "-xaf", tarballs[0], "-C", work, "--wildcards"] +
                   [TOP + "/" + w for w in WANT], check=True)
    open(stamp, "w").close()
    return tree


def build(tree, work):
    st = os.path.join(tree, "tools/testing/selftests")
    # <drm/drm.h> as the kernel exports it: __user is for the kernel only.
    inc = os.path.join(work, "include")
    os.makedirs(os.path.join(inc, "drm"), exist_ok=True)
    for h in ("drm.h", "drm_mode.h"):
        with open(os.path.join(tree, "include/uapi/drm", h)) as f:
            text = f.read().replace("__user", "")
        with open(os.path.join(inc, "drm", h), "w") as f:
            f.write(text)
    progs = {
        "sync_test": ["gcc", "-O2", "-std=gnu89", "-pthread", "-o", None] +
                     [os.path.join(st, "sync", s + ".c") for s in SYNC] + ["-lpthread"],
        "udmabuf": ["gcc", "-O2", "-o", None, os.path.join(st, "drivers/dma-buf/udmabuf.c")],
        "dmabuf-heap": ["gcc", "-O2", "-I" + inc, "-o", None,
                        os.path.join(st, "dmabuf-heaps/dmabuf-heap.c")],
    }
    out = {}
    for name, cmd in progs.items():
        exe = os.path.join(work, name)
        cmd[cmd.index(None)] = exe
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out[name] = exe if r.returncode == 0 else r.stdout
    return out


def main():
    dmasync, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    tree = extract(work)
    if tree is None:
        print("1..0 # SKIP linux-source-6.1 is not installed (scripts/deps installs it)")
        return 0
    built = build(tree, work)
    print("1..%d" % len(built), flush=True)
    failed = 0
    for n, (name, exe) in enumerate(built.items(), 1):
        if not os.path.isabs(exe):
            print("not ok %d - %s: does not build" % (n, name))
            for line in exe.splitlines()[-20:]:
                print("#   " + line)
            failed += 1
            continue
        with open(os.path.join(HERE, "kernel-selftests", "linux-6.1-%s.out" % name)) as f:
            want = f.read()
        t0 = time.monotonic()
        r = subprocess.run([dmasync, "run", "--", exe], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=240, cwd=work)
        secs = time.monotonic() - t0
        got = r.stdout + r.stderr	# the VM's console had both (each test writes one)
        ok = r.returncode == 0 and got == want
        print("%s %d - %s (%.1f s)" % ("ok" if ok else "not ok", n, name, secs))
        if not ok:
            failed += 1
            print("#   exit status %d; output against Linux 6.1's:" % r.returncode)
            for line in difflib.unified_diff(want.splitlines(), got.splitlines(),
                                             "linux-6.1", "dmasync", lineterm=""):
                print("#   " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
