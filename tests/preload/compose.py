#!/usr/bin/env python3
# dmasync's preload library with another one (fakeroot's) in the same
# processes, in either order: each keeps its effect (fakeroot: root and
# remembered ownership; dmasync: the devices and xproc.py's two-process
# checks).  Prints TAP.
import os
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xproc  # noqa: E402

check = xproc.check
maps = open("/proc/self/maps").read()
check("libdmasync-preload" in maps and "libfakeroot" in maps,
      "both preload libraries are mapped")
check(os.getuid() == 0 and os.geteuid() == 0, "fakeroot: the program is root")
with tempfile.NamedTemporaryFile() as t:
    os.chown(t.name, 1234, 4321)
    st = os.stat(t.name)
    check((st.st_uid, st.st_gid) == (1234, 4321), "fakeroot: chown is remembered")
st = os.stat("/dev/udmabuf")
check(stat.S_ISCHR(st.st_mode), "dmasync: /dev/udmabuf is a character device")
r = subprocess.run(["sh", "-c", "id -u; test -e /dev/dma_heap/system && echo heap"],
                   capture_output=True, text=True)
check(r.stdout.split() == ["0", "heap"], f"a child has both ({r.stdout.split()})")
# fstat through both libraries: fakeroot's fstat() calls __fxstat(), which
# dmasync's library defines too (it recursed forever, then answered the
# library's own fstat() as the kernel would and broke its mmap()).
tl = os.open(xproc.SW_SYNC, os.O_RDWR | os.O_CLOEXEC)
f = xproc.fence(tl, 1)
st = os.fstat(f)
check(stat.S_IFMT(st.st_mode) == 0 and stat.S_IMODE(st.st_mode) == 0o600,
      f"fstat of a sync file: an anonymous inode, 0600 ({oct(st.st_mode)})")
check(stat.S_ISREG(os.fstat(tl).st_mode), "fstat of the timeline: the debugfs file")
os.close(f)
os.close(tl)
sys.exit(xproc.main())
