#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The broker under valgrind's memcheck while an unmodified program (the
conformance suite, built as a plain Linux program) runs under `dmasync
run` on it: every request kind, bad arguments included, crosses the
broker.  ASan and UBSan builds cannot see the broker reading memory it
never wrote, or sending it to a client; memcheck can.  The suite must pass,
and memcheck must report no error in the broker (definite leaks at its
exit included), apart from the suppressed ones (memcheck.supp: the
library's deliberate probes of unreadable addresses).  Prints TAP.

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

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    dmasync, broker, program = sys.argv[1:4]
    valgrind = shutil.which("valgrind")
    print("1..2")
    if not valgrind:
        print("ok 1 # SKIP valgrind is not installed")
        print("ok 2 # SKIP valgrind is not installed")
        return 0
    work = tempfile.mkdtemp(prefix="dmasync-memcheck-")
    try:
        return run(dmasync, broker, program, valgrind, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(dmasync, broker, program, valgrind, work):
    wrapper = os.path.join(work, "dmasyncd")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "echo $$ >> %s/pids\n"
                "exec %s -q --leak-check=full --errors-for-leak-kinds=definite "
                "--suppressions=%s --log-file=%s/broker.%%p.log %s \"$@\"\n"
                % (work, valgrind, os.path.join(HERE, "memcheck.supp"), work, broker))
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
    errors = []
    for log in sorted(glob.glob(os.path.join(work, "broker.*.log"))):
        with open(log) as f:
            text = f.read()
        errors += [l for l in text.splitlines() if re.match(r"==\d+== \S", l)]
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
