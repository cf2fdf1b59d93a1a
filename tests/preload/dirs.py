#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Under `dmasync run`, paths relative to the emulated directories
# (/dev/dma_heap, /sys/kernel/debug/sync) name what they name on Linux:
# openat() of "system" in a directory fd of /dev/dma_heap is the heap,
# chdir() into it works and getcwd() says so, "." and ".." are resolved
# there, and a relative stat sees the device; paths that enter them from a
# real directory ("udmabuf" in a directory fd of /dev) and absolute paths
# with "//", "." or ".." in them do too.  Prints TAP.
import errno
import fcntl
import os
import stat
import struct
import sys

from tap import check, done, ioc

HEAP_ALLOC = ioc(3, "H", 0, 24)


def is_heap(fd):
    """Whether @fd allocates as the system heap does (a 4 KiB buffer)."""
    arg = bytearray(struct.pack("QIIQ", 4096, 0, os.O_RDWR | os.O_CLOEXEC, 0))
    try:
        fcntl.ioctl(fd, HEAP_ALLOC, arg)
    except OSError:
        return False
    buf = struct.unpack("QIIQ", arg)[1]
    size = os.lseek(buf, 0, os.SEEK_END)
    os.close(buf)
    return size == 4096


def link(fd):
    return os.readlink("/proc/self/fd/%d" % fd)


def from_real_parents():
    """Paths that enter the emulated nodes from real directories, first of
    all (before the program holds any emulated directory)."""
    top = os.getcwd()
    dev = os.open("/dev", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    u = os.open("udmabuf", os.O_RDWR | os.O_CLOEXEC, dir_fd=dev)
    check(link(u) == "/dev/udmabuf", "openat(fd of /dev, \"udmabuf\") is udmabuf")
    os.close(u)
    h = os.open("dma_heap/system", os.O_RDWR | os.O_CLOEXEC, dir_fd=dev)
    check(is_heap(h), "openat(fd of /dev, \"dma_heap/system\") is the heap")
    os.close(h)
    check(stat.S_ISDIR(os.stat("dma_heap", dir_fd=dev).st_mode) and
          stat.S_ISCHR(os.stat("dma_heap/system", dir_fd=dev).st_mode),
          "fstatat(fd of /dev, \"dma_heap\"...) are a directory and a device")
    hd = os.open("dma_heap", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dev)
    st = os.fstat(hd)
    check(link(hd) == "/dev/dma_heap" and stat.S_ISDIR(st.st_mode) and
          st.st_ino == os.stat("/dev/dma_heap").st_ino and os.listdir(hd) == ["system"],
          "openat(fd of /dev, \"dma_heap\"): its link, fstat() and listing are Linux's")
    os.close(hd)
    os.close(dev)
    os.chdir("/dev")
    h = os.open("./dma_heap/../dma_heap/system", os.O_RDWR | os.O_CLOEXEC)
    check(is_heap(h), "chdir(\"/dev\"), then \"./dma_heap/../dma_heap/system\" is the heap")
    os.close(h)
    check(os.access("udmabuf", os.R_OK | os.W_OK), "access(\"udmabuf\") in /dev")
    os.chdir("dma_heap")
    check(os.getcwd() == "/dev/dma_heap", "chdir(\"dma_heap\") from /dev")
    os.chdir(top)
    k = os.open("/sys/kernel", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    t = os.open("debug/sync/sw_sync", os.O_RDWR | os.O_CLOEXEC, dir_fd=k)
    check(link(t) == "/sys/kernel/debug/sync/sw_sync",
          "openat(fd of /sys/kernel, \"debug/sync/sw_sync\") is a timeline")
    os.close(t)
    os.close(k)
    for path in ("/dev//udmabuf", "/dev/./udmabuf", "/dev/dma_heap/../udmabuf",
                 "/sys/kernel/debug//sync/./sw_sync"):
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        check(link(fd) in ("/dev/udmabuf", "/sys/kernel/debug/sync/sw_sync"),
              "open(\"%s\")" % path)
        os.close(fd)
    for path in ("/dev/udmabuf/", "/dev/dma_heap/system/."):
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
            check(False, "open(\"%s\") fails" % path)
        except OSError as e:
            check(e.errno == errno.ENOTDIR, "open(\"%s\"): ENOTDIR (%s)" % (path, e.strerror))


def main():
    from_real_parents()
    d = os.open("/dev/dma_heap", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    check(sorted(os.listdir(d)) == ["system"], "a directory fd of /dev/dma_heap lists system")
    ents = list(os.scandir("/dev/dma_heap"))
    check(len(ents) == 1 and not ents[0].is_file(follow_symlinks=False) and
          not ents[0].is_dir(follow_symlinks=False) and
          ents[0].inode() == os.stat("/dev/dma_heap/system").st_ino,
          "readdir(): system is no file or directory (DT_CHR), its d_ino stat()'s")
    h = os.open("system", os.O_RDONLY | os.O_CLOEXEC, dir_fd=d)
    check(os.readlink("/proc/self/fd/%d" % h) == "/dev/dma_heap/system" and is_heap(h),
          "openat(its fd, \"system\") is the heap")
    os.close(h)
    st = os.stat("system", dir_fd=d)
    check(stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat("/dev/dma_heap/system").st_rdev,
          "fstatat(its fd, \"system\") is the character device")
    try:
        os.open("nothing", os.O_RDONLY, dir_fd=d)
        check(False, "openat(its fd, \"nothing\") fails")
    except OSError as e:
        check(e.errno == errno.ENOENT, "openat(its fd, \"nothing\"): ENOENT (%s)" % e.strerror)
    os.close(d)

    top = os.getcwd()
    os.chdir("/dev/dma_heap")
    check(os.getcwd() == "/dev/dma_heap", "chdir(\"/dev/dma_heap\"), getcwd() says so")
    h = os.open("system", os.O_RDWR | os.O_CLOEXEC)
    check(is_heap(h), "open(\"system\") there is the heap")
    os.close(h)
    h = os.open("./system", os.O_RDWR | os.O_CLOEXEC)
    check(is_heap(h), "open(\"./system\") too")
    os.close(h)
    check(os.listdir(".") == ["system"], "opendir(\".\") lists system")
    check(os.access("system", os.R_OK | os.W_OK), "access(\"system\")")
    check(stat.S_ISDIR(os.stat(".").st_mode), "stat(\".\") is a directory")
    n_ = os.open("../null", os.O_WRONLY | os.O_CLOEXEC)
    check(os.readlink("/proc/self/fd/%d" % n_) == "/dev/null", "\"../null\" is /dev/null")
    os.close(n_)
    os.chdir("..")
    check(os.getcwd() == "/dev", "chdir(\"..\") goes to /dev")
    check(os.path.exists("null"), "relative paths in /dev are /dev's")

    os.chdir("/sys/kernel/debug/sync")
    t = os.open("sw_sync", os.O_RDWR | os.O_CLOEXEC)
    check(os.readlink("/proc/self/fd/%d" % t) == "/sys/kernel/debug/sync/sw_sync",
          "chdir(\"/sys/kernel/debug/sync\"), then open(\"sw_sync\") is a timeline")
    os.close(t)
    os.chdir(top)
    check(os.getcwd() == top, "chdir() back to %s" % top)
    return done()


if __name__ == "__main__":
    sys.exit(main())
