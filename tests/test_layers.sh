#!/usr/bin/env bash
# The house check (tests/layers.py) on small trees of its own: a clean one passes, one with
# an include running upward and one with a circle fail, naming the include and the circle.
# Then the real tree.
set -u
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fails=0
check() { # DESCRIPTION EXPECTED_STATUS PATTERN
	out=$(python3 "$here/layers.py" "$t" 2>&1)
	rc=$?
	if [ "$rc" = "$2" ] && grep -q -- "$3" <<< "$out"; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (status $rc, expected $2 and '$3'):"
		sed 's/^/  | /' <<< "$out"
		fails=$((fails + 1))
	fi
}
mkdir -p "$t/src/low" "$t/src/high"
printf 'src/low\nsrc/high\n' > "$t/src/LAYERS"
printf '#include "low/a.h"\n' > "$t/src/high/b.c"
printf '#include <stdio.h>\n' > "$t/src/low/a.h"
printf '#include "low/a.h"\n#include "low/c.h"\n' > "$t/src/low/a.c"
printf '\n' > "$t/src/low/c.h"
check "a clean tree passes" 0 "no circles"
printf '#include "high/b.h"\n' >> "$t/src/low/c.h"
printf '\n' > "$t/src/high/b.h"
check "an include from a lower layer to a higher one fails, named" 1 \
	"src/low/c.h:2: includes src/high/b.h: upward, from layer src/low to layer src/high"
printf '\n' > "$t/src/low/c.h"
printf '#include "a.h"\n' > "$t/src/low/c.c"
printf '#include "c.h"\n' >> "$t/src/low/a.h"
check "two modules including each other fail as a circle" 1 "circle: src/low/a -> src/low/c"
printf '\n' > "$t/src/low/a.h"
rm "$t/src/low/c.c"
check "the circle undone, the tree passes again" 0 "no circles"
printf '#include "nowhere/d.h"\n' > "$t/src/high/b.c"
mkdir -p "$t/src/nowhere" && printf '\n' > "$t/src/nowhere/d.h"
check "an include of a file in no layer fails" 1 "which is in no layer"
echo "== the tree"
python3 "$here/layers.py" "$here/.." || fails=$((fails + 1))
[ "$fails" = 0 ]
