#!/usr/bin/env python3
# An unmodified event loop under `dmasync run`: Python's asyncio waits for a
# sync file and a dma-buf that another process hands it over a Unix socket,
# with each selector it has (epoll, poll, select), as a compositor's loop
# waits for a client's fences.  The other process signals after a delay:
# each callback runs once, after the signal, not before.  While it waits,
# the loop starts a program (subprocess: vfork, close_range, exec), as a
# compositor starts its clients.  Prints TAP.
import asyncio
import fcntl
import os
import selectors
import socket
import struct
import subprocess
import sys
import time

from tap import check, done
from xproc import HEAP, HEAP_ALLOC, IMPORT, INC, SW_SYNC, SYNC_WRITE, fence, status

DELAY = 0.1
SELECTORS = (selectors.EpollSelector, selectors.PollSelector, selectors.SelectSelector)


def waiter(sock):
    """Receives a sync file and a dma-buf per selector; waits in asyncio."""
    failures = []
    for sel in SELECTORS:
        _, (f, buf), _, _ = socket.recv_fds(sock, 16, 2)
        loop = asyncio.SelectorEventLoop(sel())
        hits = {"sync file": [], "dma-buf": []}
        removed = set()
        ready = loop.create_future()
        t0 = time.monotonic()

        def remove(fd, what):
            loop.remove_reader(fd)
            removed.add(what)
            if len(removed) == 2:
                loop.call_later(0.05, ready.set_result, None)

        def fired(fd, what):
            if what in removed:
                failures.append(f"{sel.__name__} {what}: called after remove_reader()")
            hits[what].append(time.monotonic() - t0)
            if len(hits[what]) == 1:
                # stay registered a little (a level-triggered loop calls
                # again), then no call once removed
                loop.call_later(0.02, remove, fd, what)

        loop.add_reader(f, fired, f, "sync file")
        loop.add_reader(buf, fired, buf, "dma-buf")
        if subprocess.run(["true"]).returncode:
            failures.append(f"{sel.__name__}: `true` failed")
        sock.send(b"go")
        try:
            loop.run_until_complete(asyncio.wait_for(ready, 5))
        except asyncio.TimeoutError:
            failures.append(f"{sel.__name__}: timed out, calls: "
                            f"{ {w: len(t) for w, t in hits.items()} }")
        for what, times in hits.items():
            if not times or times[0] < DELAY * 0.9 or times[0] > DELAY + 1.0:
                failures.append(f"{sel.__name__} {what}: woken at {times[:3]}")
        if status(f) != 1:
            failures.append(f"{sel.__name__}: status {status(f)} after the wake-up")
        loop.close()
        os.close(f)
        os.close(buf)
    print("# waiter:", failures or "all woken once each, after the signal",
          file=sys.stderr, flush=True)
    os._exit(1 if failures else 0)


def main():
    tl = os.open(SW_SYNC, os.O_RDWR | os.O_CLOEXEC)
    heap = os.open(HEAP, os.O_RDWR | os.O_CLOEXEC)
    ps, cs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        ps.close()
        waiter(cs)
    cs.close()
    for n, sel in enumerate(SELECTORS, 1):
        a = bytearray(struct.pack("QIIQ", 4096, 0, os.O_RDWR | os.O_CLOEXEC, 0))
        fcntl.ioctl(heap, HEAP_ALLOC, a)
        buf = struct.unpack("QIIQ", a)[1]
        f = fence(tl, n)
        fcntl.ioctl(buf, IMPORT, struct.pack("Ii", SYNC_WRITE, f))
        socket.send_fds(ps, [b"objs"], [f, buf])
        os.close(f)
        os.close(buf)
        check(ps.recv(2) == b"go", f"{sel.__name__}: the other process waits")
        time.sleep(DELAY)
        fcntl.ioctl(tl, INC, struct.pack("I", 1))
    _, code = os.waitpid(pid, 0)
    check(os.WIFEXITED(code) and os.WEXITSTATUS(code) == 0,
          "asyncio with epoll, poll and select: a sync file and a dma-buf woke each "
          "callback after the other process's INC, not before")
    os.close(heap)
    os.close(tl)
    return done()


if __name__ == "__main__":
    sys.exit(main())
