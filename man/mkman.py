#!/usr/bin/env python3
# Build a man page from its template and the programs' own --help texts, so
# that the pages and --help never disagree: a line "@HELP PROGRAM ARGS...@"
# in the template becomes that command's --help output, preformatted.
#   mkman.py TEMPLATE OUTPUT VERSION NAME=PATH...
import subprocess
import sys

template, output, version = sys.argv[1:4]
programs = dict(arg.split("=", 1) for arg in sys.argv[4:])


def roff_escape(line):
    line = line.replace("\\", "\\e")
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def help_text(words):
    cmd = [programs.get(words[0], words[0])] + words[1:]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return r.stdout.rstrip("\n").split("\n")


out = []
for line in open(template):
    line = line.rstrip("\n")
    if line.startswith("@HELP ") and line.endswith("@"):
        out += [".PP", ".nf", ".RS 2"]
        out += [roff_escape(h) for h in help_text(line[6:-1].split())]
        out += [".RE", ".fi"]
    else:
        out.append(line.replace("@VERSION@", version))
with open(output, "w") as f:
    f.write("\n".join(out) + "\n")
