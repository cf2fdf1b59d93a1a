# SPDX-License-Identifier: MIT
"""What the python3 tests run under `dmasync run` share: TAP lines
(check(), then done() for the plan and the exit status) and the kernel's
ioctl request numbers (ioc())."""

_n = 0
_failed = 0


def check(cond, what):
    """One TAP line: @what, passed if @cond."""
    global _n, _failed
    _n += 1
    print(("ok" if cond else "not ok"), _n, "-", what, flush=True)
    _failed += not cond


def done():
    """The plan; the exit status: 1 if any check failed."""
    print("1..%d" % _n, flush=True)
    return 1 if _failed else 0


def ioc(d, t, nr, size):
    """_IOC(dir, type, nr, size): dir 1 write, 2 read, 3 both."""
    return (d << 30) | (size << 16) | (ord(t) << 8) | nr
