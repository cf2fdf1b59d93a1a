#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Under `dmasync run`, what Linux's debugfs shows root about dma-bufs and
# sw_sync timelines reads the same way: /sys/kernel/debug/dma_buf/bufinfo
# and /sys/kernel/debug/sync/info, read-only, listing this process's
# objects as Linux 6.1 prints them.  Prints TAP.
import errno
import fcntl
import os
import stat
import struct
import sys
import time

from tap import check, done, ioc

SW_SYNC = "/sys/kernel/debug/sync/sw_sync"
HEAP = "/dev/dma_heap/system"
BUFINFO = "/sys/kernel/debug/dma_buf/bufinfo"
SYNC_INFO = "/sys/kernel/debug/sync/info"


CREATE_FENCE = ioc(3, "W", 0, 40)
HEAP_ALLOC = ioc(3, "H", 0, 24)
SET_NAME_A = ioc(1, "b", 1, 4)


def read(path):
    with open(path) as f:
        return f.read()


def main():
    tl = os.open(SW_SYNC, os.O_RDWR | os.O_CLOEXEC)
    buf = bytearray(struct.pack("I32si", 5, b"p", -1))
    fcntl.ioctl(tl, CREATE_FENCE, buf)
    f = struct.unpack("I32si", buf)[2]
    heap = os.open(HEAP, os.O_RDONLY | os.O_CLOEXEC)
    a = bytearray(struct.pack("QIIQ", 8192, 0, os.O_RDWR | os.O_CLOEXEC, 0))
    fcntl.ioctl(heap, HEAP_ALLOC, a)
    b = struct.unpack("QIIQ", a)[1]
    fcntl.ioctl(b, SET_NAME_A, b"frame0\0")
    # one the listing tool would inherit (no O_CLOEXEC): counted once
    a = bytearray(struct.pack("QIIQ", 4096, 0, os.O_RDWR, 0))
    fcntl.ioctl(heap, HEAP_ALLOC, a)
    b1 = struct.unpack("QIIQ", a)[1]
    fcntl.ioctl(b1, SET_NAME_A, b"frame1\0")

    for path in (BUFINFO, SYNC_INFO):
        st = os.stat(path)
        check(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444,
              "%s: a regular file, mode 0444 (%o)" % (path, st.st_mode))
        try:
            os.open(path, os.O_WRONLY)
            check(False, "%s: open for writing refused" % path)
        except OSError as e:
            check(e.errno == errno.EACCES, "%s: open for writing: EACCES (%s)" % (path, e))

    for d, want in (("/sys/kernel/debug/sync", ["info", "sw_sync"]),
                    ("/sys/kernel/debug/dma_buf", ["bufinfo"])):
        check(stat.S_ISDIR(os.stat(d).st_mode) and sorted(os.listdir(d)) == want,
              "%s: a directory listing %s (%s)" % (d, want, sorted(os.listdir(d))))

    text = read(BUFINFO)
    lines = text.splitlines()
    check("Dma-buf Objects:" in lines, "bufinfo: its heading")
    row = [l for l in lines if l.startswith("00008192\t")]
    check(len(row) == 1 and "\tsystem\t" in row[0] and row[0].endswith("\tframe0"),
          "bufinfo: our 8 KiB heap buffer, exporter system, its name: %r" % row)
    row = [l.split("\t") for l in lines if l.endswith("\tframe1")]
    check(len(row) == 1 and row[0][3] == "00000001",
          "bufinfo: a buffer's fd without O_CLOEXEC counted once: %r" % row)
    os.close(b1)
    check(any(l.startswith("Total ") and "12288 bytes" in l for l in lines),
          "bufinfo: the total")
    fd = os.open(BUFINFO, os.O_RDONLY)
    try:
        os.write(fd, b"x")
        check(False, "bufinfo: not writable")
    except OSError as e:
        check(e.errno == errno.EBADF, "bufinfo: a read-only fd (%s)" % e)
    os.close(fd)

    text = read(SYNC_INFO)
    name = open("/proc/self/comm").read().strip()
    check(text.startswith("objs:\n--------------\n"), "sync/info: its heading")
    check(("%s: 0\n  fence active: 5 / 0\n" % name) in text,
          "sync/info: our timeline (%s) at 0, its point 5 active" % name)
    os.close(f)
    os.close(b)
    os.close(heap)
    os.close(tl)
    # the objects are gone (the broker hears of a buffer's last close a
    # moment later: nothing to wait on but the listing itself)
    deadline = time.monotonic() + 5
    while True:
        gone = not any(l.startswith("00008192\t") for l in read(BUFINFO).splitlines())
        if gone or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    check(gone, "bufinfo: the buffer gone once closed")
    return done()


if __name__ == "__main__":
    sys.exit(main())
