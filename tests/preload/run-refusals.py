#!/usr/bin/env python3
# `dmasync run` refuses what LD_PRELOAD cannot reach, saying why (TAP).
import os
import shutil
import socket
import subprocess
import sys
import tempfile

dmasync, static = sys.argv[1], sys.argv[2]
# A sanitizer build's preload library cannot load into a program built
# without that sanitizer (sh): those cases are skipped there.
sanitized = "--sanitized" in sys.argv[3:]
n = failed = 0


def check(cond, what):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok"), n, "-", what, flush=True)
    failed += not cond


def run(*args):
    return subprocess.run([dmasync, "run", "--", *args], capture_output=True, text=True)


r = run(static)
check(r.returncode == 126 and "statically linked" in r.stderr,
      f"a static binary: 126 and a reason ({r.returncode}: {r.stderr.strip()})")
with tempfile.TemporaryDirectory() as d:
    suid = os.path.join(d, "true-suid")
    shutil.copy(shutil.which("true"), suid)
    os.chmod(suid, 0o4755)
    r = run(suid)
    check(r.returncode == 126 and "set-user-ID" in r.stderr,
          f"a set-user-ID binary: 126 and a reason ({r.returncode}: {r.stderr.strip()})")
r = run("no-such-program-dmasync")
check(r.returncode == 127 and "not found" in r.stderr, "a missing program: 127")
# A path that is there but cannot be run is 126, as env(1) and shells say.
with tempfile.TemporaryDirectory() as d:
    plain = os.path.join(d, "not-executable")
    open(plain, "w").close()
    for path, code, why in ((plain, 126, "Permission denied"), (d, 126, "Permission denied"),
                            (os.path.join(plain, "x"), 126, "Not a directory"),
                            (os.path.join(d, "missing"), 127, "No such file")):
        r = run(path)
        check(r.returncode == code and why in r.stderr,
              f"{os.path.basename(path)}: {code} and '{why}' ({r.returncode}: {r.stderr.strip()})")
if sanitized:
    for what in ("the program and its children get the preload library",
                 "the program's exit status is dmasync run's",
                 "the output ends with the program, not with the broker it started"):
        n += 1
        print(f"ok {n} - {what} # SKIP sanitizer build: sh cannot load its preload library")
else:
    r = run("sh", "-c", 'case ":$LD_PRELOAD:" in *libdmasync-preload*) exit 7;; esac; exit 1')
    check(r.returncode == 7, "the program and its children get the preload library")
    r = run("sh", "-c", "exit 3")
    check(r.returncode == 3, "the program's exit status is dmasync run's")
    # A broker the program starts keeps none of its stdio: reading the
    # program's output to its end ends when the program does, while the
    # broker lingers (it leaves 2 s after its last client).
    with tempfile.TemporaryDirectory() as d:
        sock = os.path.join(d, "broker")
        env = dict(os.environ, DMASYNC_SOCKET=sock)
        r = subprocess.run([dmasync, "run", "--", "sh", "-c", "exec 3</dev/udmabuf && echo opened"],
                           capture_output=True, text=True, env=env)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        lingering = s.connect_ex(sock) == 0
        s.close()
        check(r.returncode == 0 and r.stdout == "opened\n" and lingering,
              "the output ends with the program, not with the broker it started "
              f"({r.returncode}, {r.stdout!r}, broker still there: {lingering})")
# A program that closed its stdin and stdout before its first dmasync call
# starts the broker with those numbers free: the broker must still serve
# it, and the programs after it.
PROG = r"""
import fcntl, os, struct, sys
sys.path.insert(0, %r)
from xproc import CREATE_FENCE, INC, SW_SYNC, fence, status
tl = os.open(SW_SYNC, os.O_RDWR)
f = fence(tl, 1)
before = status(f)
fcntl.ioctl(tl, INC, struct.pack("I", 1))
os.write(2, b"%%d %%d\n" %% (before, status(f)))
""" % os.path.dirname(os.path.abspath(__file__))
if sanitized:
    n += 1
    print(f"ok {n} - a program with stdin and stdout closed starts a working broker"
          " # SKIP sanitizer build: sh cannot load its preload library")
else:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, DMASYNC_SOCKET=os.path.join(d, "broker"))
        got = []
        for _ in range(2):
            r = subprocess.run([dmasync, "run", "--", "sh", "-c",
                                'exec 0<&- 1>&-; exec "$0" -c "$1"', sys.executable, PROG],
                               capture_output=True, text=True, env=env)
            got.append((r.returncode, r.stderr.strip()))
        check(got == [(0, "0 1")] * 2,
              "a program with stdin and stdout closed starts a working broker,"
              f" and the next program uses it ({got})")
print(f"1..{n}")
sys.exit(1 if failed else 0)
