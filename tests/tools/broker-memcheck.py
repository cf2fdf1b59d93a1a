#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Valgrind's memcheck on both sides of dmasync.

1-2: the broker under memcheck while an unmodified program (the
conformance suite, built as a plain Linux program) runs under `dmasync
run` on it: every request kind, bad arguments included, crosses the
broker.  ASan and UBSan builds cannot see the broker reading memory it
never wrote, or sending it to a client; memcheck can.  The suite must pass,
and memcheck must report no error in the broker (definite leaks at its
exit included).

3: what a developer does with a program of theirs: `dmasync run --
valgrind PROGRAM`.  Memcheck must report nothing of the preload's: no
system call given a bad address on purpose (the library's probes of user
memory stay off under valgrind), and every byte it writes into the
program's memory (revents, FILE_INFO, new fds' numbers...) seen as
written, as memcheck sees the kernel's.  The suite must pass but for the
cases that compare against the fd limit, which valgrind virtualises
(it keeps fds of its own above the limit the program sees; so on Linux).
Prints TAP.

Usage: broker-memcheck.py DMASYNC DMASYNCD PROGRAM
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time



def main():
    dmasync, broker, program = sys.argv[1:4]
    valgrind = shutil.which("valgrind")
    print("1..3")
    if not valgrind:
        for i in (1, 2, 3):
            print("ok %d # SKIP valgrind is not installed" % i)
        return 0
    work = tempfile.mkdtemp(prefix="dmasync-memcheck-")
    try:
        r = run(dmasync, broker, program, valgrind, work)
        return run_program(dmasync, broker, program, valgrind, work) or r
    finally:
        shutil.rmtree(work, ignore_errors=True)


def memcheck_errors(pattern):
    """The error lines of memcheck's logs matching @pattern."""
    errors = []
    for log in sorted(glob.glob(pattern)):
        with open(log) as f:
            errors += [l for l in f.read().splitlines() if re.match(r"==\d+== \S", l)]
    return errors


# Cases whose answer depends on the fd limit the kernel applies, which
# under valgrind is not the one the program set or reads, or on the fds
# /proc/self/fd lists (valgrind's own are there, above that limit: also
# without dmasync).
FD_LIMIT_CASES = ("EMFILE: ", "an array of 5000 entries", "an fd census in /proc/self/fd")


def run_program(dmasync, broker, program, valgrind, work):
    env = dict(os.environ, DMASYNC_DAEMON=broker,
               DMASYNC_SOCKET=os.path.join(work, "broker3"), UAPI_BACKEND="dmasync")
    # Memcheck reports on the program's stderr: a --log-file would be an
    # fd of valgrind's that the program sees (the suite counts its fds).
    r = subprocess.run([dmasync, "run", "--", valgrind, "-q", program, "-v"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
    failed = [l for l in r.stdout.splitlines() if l.startswith("not ok")]
    unexpected = [l for l in failed if not any(c in l for c in FD_LIMIT_CASES)]
    passed = sum(1 for l in r.stdout.splitlines() if l.startswith("ok "))
    errors = [l for l in r.stdout.splitlines() if re.match(r"==\d+== \S", l)]
    if errors or unexpected or passed < 50:
        print("not ok 3 - the conformance suite under memcheck under dmasync run: "
              "%d lines of errors, %d cases passed, %d failed unexpectedly"
              % (len(errors), passed, len(unexpected)))
        for line in errors[:80]:
            print("# " + line)
        for line in r.stdout.splitlines():
            if line.startswith("not ok") or line.startswith("#   line"):
                print("# " + line)
        return 1
    print("ok 3 - the conformance suite under memcheck under dmasync run: no error; "
          "%d cases passed, %d left to valgrind's fd limit" % (passed, len(failed)))
    return 0


def run(dmasync, broker, program, valgrind, work):
    wrapper = os.path.join(work, "dmasyncd")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "echo $$ >> %s/pids\n"
                "exec %s -q --leak-check=full --errors-for-leak-kinds=definite "
                "--log-file=%s/broker.%%p.log %s \"$@\"\n"
                % (work, valgrind, work, broker))
    os.chmod(wrapper, 0o755)
    env = dict(os.environ, DMASYNC_DAEMON=wrapper,
               DMASYNC_SOCKET=os.path.join(work, "broker"), UAPI_BACKEND="dmasync")
    r = subprocess.run([dmasync, "run", "--", program], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    tail = r.stdout.strip().splitlines()[-1:] or ["(no output)"]
    if r.returncode == 0:
        print("ok 1 - the conformance suite on a broker under memcheck: %s" % tail[0])
    else:
        print("not ok 1 - the conformance suite on a broker under memcheck: exit %d" % r.returncode)
        for line in r.stdout.splitlines():
            if line.startswith("not ok") or line.startswith("#   "):
                print("# " + line)
    # The broker leaves once idle; its leak report comes at its exit.
    pids = []
    try:
        with open(os.path.join(work, "pids")) as f:
            pids = [int(p) for p in f.read().split()]
    except OSError:
        pass
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in pids):
        time.sleep(0.2)
    alive = [p for p in pids if os.path.exists("/proc/%d" % p)]
    errors = memcheck_errors(os.path.join(work, "broker.*.log"))
    if not pids:
        print("not ok 2 - memcheck: the broker never started under it")
        return 1
    if errors or alive:
        print("not ok 2 - memcheck: %d lines of errors in the broker%s"
              % (len(errors), ", still running after 60 s" if alive else ""))
        for line in errors[:80]:
            print("# " + line)
        return 1
    print("ok 2 - memcheck: no error in the broker (%d process%s)"
          % (len(pids), "" if len(pids) == 1 else "es"))
    return 0 if r.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
