#!/bin/sh
# redefine.sh OBJCOPY SYMS IN.a OUT.a: IN.a (a thin archive, as meson makes
# them) as a normal archive whose objects call dmasync_real_NAME wherever
# they called a libc NAME listed in SYMS (see real.h).
set -eu
objcopy=$1 syms=$2 in=$3 out=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
for o in $(ar t "$in"); do
	i=$((i + 1))
	"$objcopy" --redefine-syms="$syms" "$o" "$tmp/$i-${o##*/}"
done
rm -f "$out"
ar rcs "$out" "$tmp"/*.o
