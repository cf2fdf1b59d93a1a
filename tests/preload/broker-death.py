#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An unmodified program's sync files when the broker dies (SIGKILL).

The program (this file with --program, python3 under `dmasync run`, on a
broker of its own) holds a pending and a signaled sync file; the broker is
killed.  What the program must see, as for a fence signaled with an error
on Linux: poll() shows POLLIN alone (never POLLERR or POLLHUP, which
libsync's sync_wait(), and so Mesa, takes for a failed wait: the device
would be lost), select() shows it readable and never writable,
SYNC_IOC_FILE_INFO says -ENOLINK for the pending one, 1 for the signaled
one, and none of it blocks.  Prints TAP.

Usage: broker-death.py DMASYNC DMASYNCD
"""
import errno
import fcntl
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

from tap import check, done
from xproc import INC, SW_SYNC, fence, status


def program():
    tl = os.open(SW_SYNC, os.O_RDWR)
    signaled, pending = fence(tl, 1), fence(tl, 5)
    fcntl.ioctl(tl, INC, struct.pack("I", 1))
    p = select.poll()
    p.register(signaled, select.POLLIN)
    before = p.poll(0)
    print("READY", flush=True)
    sys.stdin.readline()            # the broker is dead now
    for name, fd, st in (("pending", pending, -errno.ENOLINK), ("signaled", signaled, 1)):
        p = select.poll()
        p.register(fd, select.POLLIN)
        t0 = time.monotonic()
        got = p.poll(5000)
        check(got == [(fd, select.POLLIN)] and time.monotonic() - t0 < 4,
              "%s sync file of a dead broker: poll shows POLLIN alone (got %r)" % (name, got))
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLOUT)
        got = p.poll(0)
        check(got == [(fd, select.POLLIN)], "%s: POLLIN|POLLOUT asked: POLLIN (got %r)"
              % (name, got))
        r, w, x = select.select([fd], [fd], [fd], 0)
        check((r, w, x) == ([fd], [], []),
              "%s: select: readable, not writable (got %r)" % (name, (r, w, x)))
        try:
            s = status(fd)
        except OSError as e:
            s = "errno %d" % e.errno
        check(s == st, "%s: FILE_INFO status %r (want %d)" % (name, s, st))
        got = p.poll(0)
        check(got == [(fd, select.POLLIN)], "%s: the same after FILE_INFO (got %r)"
              % (name, got))
    check(before == [(signaled, select.POLLIN)], "signaled before the death: POLLIN")
    return done()


def broker_pid(sock):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if sock.encode() in args and any(a.endswith(b"dmasyncd") for a in args):
            return int(pid)
    return None


def main():
    dmasync, broker = sys.argv[1:3]
    work = tempfile.mkdtemp(prefix="dmasync-death-")
    sock = os.path.join(work, "broker")
    env = dict(os.environ, DMASYNC_DAEMON=broker, DMASYNC_SOCKET=sock)
    proc = subprocess.Popen([dmasync, "run", "--", sys.executable, os.path.abspath(__file__),
                             "--program"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        pid = broker_pid(sock) if line.strip() == "READY" else None
        if pid is None:
            print("1..1\nnot ok 1 - the program started on a broker of its own (%r)" % line)
            return 1
        os.kill(pid, signal.SIGKILL)
        while os.path.exists("/proc/%d" % pid) and broker_pid(sock):
            time.sleep(0.01)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=60)
        sys.stdout.write(out)
        return proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(program() if sys.argv[1:] == ["--program"] else main())
