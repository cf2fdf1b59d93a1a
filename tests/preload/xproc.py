#!/usr/bin/env python3
# An unmodified interpreter under `dmasync run`: two Python processes share
# a sw_sync timeline, fences and a dma-buf through the Linux UAPI alone
# (os.open, fcntl.ioctl, socket.send_fds, select.poll/epoll, mmap), as two
# programs on a kernel with sw_sync and dma-heaps would.  Prints TAP.
import errno
import fcntl
import mmap
import os
import select
import socket
import struct
import sys

from tap import check, done, ioc

SW_SYNC = "/sys/kernel/debug/sync/sw_sync"
HEAP = "/dev/dma_heap/system"


CREATE_FENCE = ioc(3, "W", 0, 40)          # struct sw_sync_create_fence_data
INC = ioc(1, "W", 1, 4)
FILE_INFO = ioc(3, ">", 4, 56)             # struct sync_file_info
HEAP_ALLOC = ioc(3, "H", 0, 24)            # struct dma_heap_allocation_data
IMPORT = ioc(1, "b", 3, 8)                 # struct dma_buf_import_sync_file
EXPORT = ioc(3, "b", 2, 8)                 # struct dma_buf_export_sync_file
SYNC_READ, SYNC_WRITE = 1, 2


def fence(tl, value):
    buf = bytearray(struct.pack("I32si", value, b"py", -1))
    fcntl.ioctl(tl, CREATE_FENCE, buf)
    return struct.unpack("I32si", buf)[2]


def status(fd):
    buf = bytearray(56)
    fcntl.ioctl(fd, FILE_INFO, buf)
    return struct.unpack_from("i", buf, 32)[0]


def readable(fd, ms):
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(ms))


def child(sock):
    """The second process: receives the objects, waits, checks, signals."""
    msg, fds, _, _ = socket.recv_fds(sock, 16, 4)
    tl, f, buf = fds[0], fds[1], fds[2]
    res = []
    # the fence is pending here too, and the buffer has it as a writer
    res.append(status(f) == 0)
    res.append(not readable(buf, 0))
    ep = select.epoll()
    ep.register(buf, select.EPOLLIN)
    res.append(ep.poll(0) == [])
    sock.send(b"pending")
    # the parent advances the timeline: everything wakes here
    res.append(readable(f, 5000))
    res.append(status(f) == 1)
    res.append([e for _, e in ep.poll(5) if e & select.EPOLLIN] != [])
    # the buffer's memory is the parent's
    m = mmap.mmap(buf, 4096)
    res.append(m[:5] == b"hello")
    print("# the other process's checks:", res, file=sys.stderr, flush=True)
    m[5:10] = b"world"
    m.close()
    # and this process can make fences on the shared timeline
    g = fence(tl, 5)
    socket.send_fds(sock, [b"g"], [g])
    os._exit(0 if all(res) else 1)


def main():
    tl = os.open(SW_SYNC, os.O_RDWR | os.O_CLOEXEC)
    check(tl >= 0, "open the sw_sync device")
    st = os.stat(HEAP)
    check(st.st_mode & 0o170000 == 0o020000, "stat: the system heap is a character device")
    check("system" in os.listdir("/dev/dma_heap"), "listdir(/dev/dma_heap) lists system")
    heap = os.open(HEAP, os.O_RDWR | os.O_CLOEXEC)
    a = bytearray(struct.pack("QIIQ", 4096, 0, os.O_RDWR | os.O_CLOEXEC, 0))
    fcntl.ioctl(heap, HEAP_ALLOC, a)
    buf = struct.unpack("QIIQ", a)[1]
    check(os.lseek(buf, 0, os.SEEK_END) == 4096, "a heap dma-buf of 4096 bytes")
    m = mmap.mmap(buf, 4096)
    m[:5] = b"hello"
    f = fence(tl, 1)
    check(status(f) == 0 and not readable(f, 0), "a pending fence")
    fcntl.ioctl(buf, IMPORT, struct.pack("Ii", SYNC_WRITE, f))
    check(not readable(buf, 0), "IMPORT: the buffer waits for its writer")
    try:
        os.read(f, 1)
        check(False, "read() of a sync file fails")
    except OSError as e:
        check(e.errno == errno.EINVAL, "read() of a sync file is EINVAL")
    check(os.readlink(f"/proc/self/fd/{f}") == "anon_inode:sync_file", "the sync file's /proc link")

    ps, cs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        ps.close()
        child(cs)
    cs.close()
    socket.send_fds(ps, [b"objs"], [tl, f, buf])
    check(ps.recv(16) == b"pending", "the other process sees the fence pending")
    fcntl.ioctl(tl, INC, struct.pack("I", 1))
    check(readable(buf, 5000), "INC here: the buffer is ready here")
    msg, fds, _, _ = socket.recv_fds(ps, 16, 1)
    g = fds[0]
    check(status(g) == 0, "a fence made by the other process, pending")
    e = bytearray(struct.pack("Ii", SYNC_READ | SYNC_WRITE, -1))
    fcntl.ioctl(buf, EXPORT, e)
    check(status(struct.unpack("Ii", e)[1]) == 1, "EXPORT: everything imported has signaled")
    fcntl.ioctl(tl, INC, struct.pack("I", 4))
    check(readable(g, 5000) and status(g) == 1, "its fence signals on INC here")
    _, code = os.waitpid(pid, 0)
    check(os.WIFEXITED(code) and os.WEXITSTATUS(code) == 0,
          "the other process saw everything change")
    check(m[5:10] == b"world", "its writes reach this mapping")
    os.close(tl)
    # the timeline's last copy is gone: a point still pending signals -ENOENT
    return done()


if __name__ == "__main__":
    sys.exit(main())
