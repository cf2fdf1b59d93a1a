#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Test of dmasync-present: runs every mode for a few frames and checks the
results (JSON), the Chrome trace (parsed, every span balanced, no partial
overlaps on a track), the SVG (parsed) and the handling of misuse.
Prints TAP.  Usage: dmasync-present-test.py path/to/dmasync-present"""

import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict

MODES = ["sync-file", "dummy-submit", "implicit-wait", "no-sync"]
SYNCED = MODES[:3]
FRAMES = 24          # enough for the SVG to show frames 10-19
EPS = 1e-6           # microseconds; timestamps are exact to the ns

exe = sys.argv[1]
results = []


def ok(cond, name, diag=""):
    results.append(bool(cond))
    print("%s %d - %s" % ("ok" if cond else "not ok", len(results), name))
    if not cond and diag:
        for line in str(diag).splitlines()[-30:]:
            print("# " + line)
    sys.stdout.flush()
    return cond


def run(args, cwd, timeout=600):
    env = dict(os.environ)
    env.pop("DMASYNC_TRACE", None)
    return subprocess.run([exe] + args, capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=cwd)


def check_trace(path):
    """Return a list of problems (empty if the trace is valid)."""
    problems = []
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return ["not valid JSON: %s" % e], None
    events = data.get("traceEvents")
    if not isinstance(events, list) or not events:
        return ["no traceEvents"], None

    stacks = defaultdict(list)      # (pid, tid) -> open B names
    last_ts = defaultdict(float)    # (pid, tid) -> last B/E ts
    async_open = {}                 # (cat, id) -> name
    xs = defaultdict(list)          # (pid, tid) -> [(ts, end, name)]
    for e in events:
        ph = e.get("ph")
        if ph not in ("B", "E", "X", "i", "b", "e", "M", "C"):
            problems.append("unknown phase %r" % ph)
            continue
        if ph == "M":
            continue
        ts = e.get("ts")
        if not isinstance(ts, (int, float)) or ts < 0:
            problems.append("bad ts in %r" % e)
            continue
        key = (e.get("pid"), e.get("tid"))
        if ph in ("B", "E"):
            if ts + EPS < last_ts[key]:
                problems.append("B/E out of order on %r at %s" % (key, ts))
            last_ts[key] = ts
            if ph == "B":
                stacks[key].append(e.get("name"))
            elif not stacks[key]:
                problems.append("E without B on %r: %r" % (key, e.get("name")))
            else:
                opened = stacks[key].pop()
                if e.get("name") not in (None, opened):
                    problems.append("E %r closes B %r" % (e.get("name"), opened))
        elif ph == "X":
            dur = e.get("dur")
            if not isinstance(dur, (int, float)) or dur < 0:
                problems.append("bad dur in %r" % e)
            else:
                xs[key].append((ts, ts + dur, e.get("name")))
        elif ph == "b":
            k = (e.get("cat"), e.get("id"))
            if k in async_open:
                problems.append("async %r begun twice" % (k,))
            async_open[k] = e.get("name")
        elif ph == "e":
            k = (e.get("cat"), e.get("id"))
            if k not in async_open:
                problems.append("async end without begin %r" % (k,))
            else:
                del async_open[k]
    for key, st in stacks.items():
        if st:
            problems.append("unclosed B on %r: %r" % (key, st))
    if async_open:
        problems.append("unclosed async spans: %r" % list(async_open)[:5])
    # Complete events on one track may nest but never partially overlap.
    for key, spans in xs.items():
        spans.sort(key=lambda s: (s[0], -s[1]))
        open_ends = []
        for t0, t1, name in spans:
            while open_ends and open_ends[-1] <= t0 + EPS:
                open_ends.pop()
            if open_ends and t1 > open_ends[-1] + EPS:
                problems.append("X %r [%s, %s] overlaps its neighbour on %r" % (name, t0, t1, key))
                break
            open_ends.append(t1)
    return problems, events


def main():
    tmp = tempfile.mkdtemp(prefix="dmasync-present-test-")
    trace = os.path.join(tmp, "trace.json")
    svg = os.path.join(tmp, "timeline.svg")
    res_json = os.path.join(tmp, "results.json")

    # ---- one run of every mode, with every output ----
    p = run(["--frames", str(FRAMES), "--refresh-ms", "4", "--client-ms", "0.3",
             "--size", "320x180", "--trace", trace, "--svg", svg, "--json", res_json], tmp)
    ok(p.returncode == 0, "all modes: exit status 0 (the program's own checks passed)",
       p.stdout + p.stderr)
    try:
        with open(res_json) as f:
            res = json.load(f)["modes"]
    except (OSError, ValueError, KeyError) as e:
        res = {}
        ok(False, "results JSON readable", e)
    for m in MODES:
        ok(m in res, "%s: ran" % m)
    for m in SYNCED:
        r = res.get(m, {})
        ok(r.get("displayed") == FRAMES and r.get("display_order") == list(range(FRAMES)),
           "%s: every frame displayed exactly once and in order" % m,
           "order: %r" % r.get("display_order"))
        ok(r.get("once_in_order") is True, "%s: display counted each frame once" % m)
        ok(r.get("torn") == 0 and r.get("stale") == 0 and r.get("display_mismatch") == 0,
           "%s: zero torn or stale frames" % m, r)
    ns = res.get("no-sync", {})
    ok(ns.get("torn", 0) + ns.get("stale", 0) == FRAMES,
       "no-sync: every frame detected torn or stale (the check can fail)", ns)
    ok("HELD" in p.stdout or "DID NOT HOLD" in p.stdout,
       "summary states whether the claims held", p.stdout)
    ok(re.search(r"^sync-file\s+%d\s" % FRAMES, p.stdout, re.M) is not None,
       "table has a row per mode", p.stdout)

    problems, events = check_trace(trace)
    ok(not problems, "trace: valid JSON, B/E and b/e balanced, no overlaps on a track",
       "\n".join(problems[:20]))
    events = events or []
    names = [e.get("name", "") for e in events]
    ok(any(re.match(r"^\d+:\d+$", n) for n in names) and "pending" in names
       and "signaled" in names, "trace: dma_fence lifetimes on fence tracks")
    tracks = {e["args"]["name"] for e in events
              if e.get("ph") == "M" and e.get("name") == "thread_name"}
    ok(any(t.startswith("fence ctx") and "gpu-queue" in t for t in tracks)
       and any(t.startswith("fence ctx") and "compositor" in t for t in tracks),
       "trace: fence contexts named after their timelines", sorted(tracks)[:20])
    for actor in ("client", "gpu queue", "compositor", "display"):
        ok(all(("%s [%s]" % (actor, m)) in tracks for m in MODES),
           "trace: a %s track per mode" % actor, sorted(tracks))
    ok(any(n.startswith("render ") for n in names)
       and any(n.startswith("verify + composite ") for n in names)
       and any(n.startswith("scanout ") for n in names), "trace: the demo's spans")
    ok(any(n.startswith("dma_fence_wait ") for n in names), "trace: dma_fence waits")
    ok(sum(1 for e in events if e.get("ph") == "b") == len(MODES) * FRAMES,
       "trace: one present-to-display async span per frame")

    try:
        root = ET.parse(svg).getroot()
        ns_svg = "{http://www.w3.org/2000/svg}"
        ok(root.tag == ns_svg + "svg", "svg: well-formed, <svg> root")
        panels = [g.get("id") for g in root.iter(ns_svg + "g")]
        ok(panels == MODES, "svg: one panel per mode", panels)
        rects = sum(1 for _ in root.iter(ns_svg + "rect"))
        ok(rects > len(MODES) * 4 * 10, "svg: spans drawn (%d rects)" % rects)
    except (OSError, ET.ParseError) as e:
        ok(False, "svg: well-formed", e)

    # ---- mode selection ----
    p = run(["--mode", "implicit-wait", "--frames", "5", "--size", "64x64", "--refresh-ms", "2",
             "--client-ms", "0", "--no-trace", "--no-svg", "--json", res_json], tmp)
    with open(res_json) as f:
        sel = json.load(f)["modes"]
    ok(p.returncode == 0 and list(sel) == ["implicit-wait"], "--mode runs only that mode",
       p.stdout + p.stderr)

    # ---- misuse: a clear message and a non-zero exit ----
    missing = os.path.join(tmp, "no-such-dir", "x")
    for args, what, expect in [
        (["--mode", "bogus"], "unknown mode", "unknown mode"),
        (["--frames", "0"], "zero frames", "--frames"),
        (["--frames", "ten"], "a non-number", "--frames"),
        (["--svg", missing], "unwritable --svg path", "cannot write"),
        (["--trace", missing], "unwritable --trace path", "cannot write"),
        (["--json", missing], "unwritable --json path", "cannot write"),
        (["--refresh-ms", "-1"], "negative refresh", "--refresh-ms"),
        (["stray"], "a stray argument", "unexpected argument"),
    ]:
        p = run(["--no-trace", "--no-svg"] + args, tmp)
        ok(p.returncode == 2 and expect in p.stderr and "Traceback" not in p.stderr,
           "misuse: %s is refused with a message" % what,
           "status %d, stderr: %s" % (p.returncode, p.stderr))
    ok(sorted(os.listdir(tmp)) == ["results.json", "timeline.svg", "trace.json"],
       "misuse: no stray files were created", os.listdir(tmp))

    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
