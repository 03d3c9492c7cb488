# Admission instead of an OOM: a VM's clones meet --max-clones and the host memory reserve
# (--reserve-memory) with a clear refusal; a template's pool stops refilling below them and
# starts again when they allow.
. "$(dirname "$0")/lib.sh"

avail_mib() { awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo; }
reaped() { ! kill -0 "$1" 2>/dev/null; } # gone, and no zombie left either
template_up() { [ "$(status_field "$1" state 2>/dev/null)" = template ]; }
ticks() { grep -c '^tick' "$RUN/$1.console" 2>/dev/null; }

# --- max clones, on a running VM -------------------------------------------------------
"$HF" run --name ad --mem 64M --timeout $(scaled 120) --console "$RUN/ad.out" --max-clones 2 \
	--reserve-memory 0 --bare "$TGUESTS/ticker.elf" --cmdline 20 > "$RUN/ad.log" 2>&1 &
check "ticker up" wait_for 10 vm_up ad
expect_status 0 "fork 2 clones: at the limit of --max-clones 2" -- "$HF" fork ad --count 2
check "both clones tick" wait_for 10 bash -c "grep -q '^tick' '$RUN/ad.1.console' && grep -q '^tick' '$RUN/ad.2.console'"
expect_status 240 "a third clone is refused" -- "$HF" fork ad
expect_in "$RUN/err" "clone limit reached: 2 live clone\(s\) and 1 more asked for, over the 2 allowed \(hyperfork run --max-clones\)" \
	"the refusal names the limit, the figure and the flag"
expect_status 240 "a request that would pass the limit is refused whole" -- "$HF" fork ad --count 5
expect_in "$RUN/err" "2 live clone\(s\) and 5 more asked for" "it says how many were asked for"
n1=$(ticks ad.1) n2=$(ticks ad.2)
check "the existing clones are unaffected: both tick on" \
	wait_for 10 bash -c "[ \$(grep -c '^tick' '$RUN/ad.1.console') -gt $n1 ] && [ \$(grep -c '^tick' '$RUN/ad.2.console') -gt $n2 ]"
check "and answer" vm_up ad.1
check "the VM itself ticks on" wait_for 10 bash -c "[ \$(grep -c '^tick' '$RUN/ad.out') -gt $(grep -c '^tick' "$RUN/ad.out") ]"
p1=$(status_field ad.1 pid)
expect_status 0 "stop clone 1" -- "$HF" stop ad.1
check "clone 1 ended and was reaped" wait_for 10 reaped "$p1"
expect_status 0 "freeing a clone lets the next fork succeed" -- "$HF" fork ad
expect_in "$RUN/out" "^ad\.3 pid " "it is clone 3"
expect_status 240 "and the limit holds again" -- "$HF" fork ad
p2=$(status_field ad.2 pid)
kill -9 "$p2"
check "a clone killed (SIGKILL) is reaped too" wait_for 10 reaped "$p2"
check "and the socket it could not remove is removed by its parent" wait_for 10 test ! -e "$RUN/ad.2.sock"
expect_status 0 "and its place is free" -- "$HF" fork ad
expect_status 240 "--max-clones takes a number" -- "$HF" run --name bad --max-clones many --bare "$GUESTS/hello.elf"
expect_in "$RUN/err" "invalid --max-clones 'many'" "the bad value is named"
expect_status 240 "--reserve-memory takes MiB" -- "$HF" run --name bad --reserve-memory -1 --bare "$GUESTS/hello.elf"
expect_in "$RUN/err" "invalid --reserve-memory '-1'" "the bad value is named"

# --- max clones, on a template: warm clones count before the pool refills ----------------
"$HF" run --name at --mem 64M --timeout $(scaled 120) --console "$RUN/at.out" --max-clones 2 \
	--reserve-memory 0 --bare "$TGUESTS/ticker.elf" --cmdline 20 > "$RUN/at.log" 2>&1 &
at=$!
check "ticker up" wait_for 10 vm_up at
expect_status 0 "freeze it into a template with a pool of 2" -- "$HF" template at --pool 2
check "2 warm clones wait" wait_for 10 bash -c "[ \$(pgrep -P $at | wc -l) = 2 ]"
expect_status 0 "fork 2 clones of it" -- "$HF" fork at --count 2
expect_status 240 "a third is refused" -- "$HF" fork at
expect_in "$RUN/err" "clone limit reached: 2 live clone\(s\)" "naming the limit"
check "the pool is held, and says so" wait_for 10 grep -q "warm pool held at 0 of 2 clones: clone limit reached" "$RUN/at.log"
check "no warm clone is made beyond the limit" test "$(pgrep -P $at | wc -l)" = 2
expect_status 0 "stop clone 1" -- "$HF" stop at.1
check "a freed clone lets the pool make 1 warm clone again" \
	wait_for 10 bash -c "[ \"\$('$HF' status at | awk '\$1 == \"pool:\" { print \$2 }')\" = 1 ]"
expect_in "$RUN/at.log" "warm pool refilling again" "the refill is reported"
expect_status 0 "and the next fork succeeds" -- "$HF" fork at
check "its clone runs" wait_for 10 grep -q "^tick .* clone 3$" "$RUN/at.3.console"

# --- the host memory reserve -----------------------------------------------------------
# A reserve just above what the host has available now: no clone, no warm clone.
reserve=$(($(avail_mib) + 64))
"$HF" run --name ar --mem 64M --timeout $(scaled 120) --console "$RUN/ar.out" --reserve-memory $reserve \
	--bare "$TGUESTS/ticker.elf" > /dev/null 2>&1 &
check "a VM keeping ${reserve} MiB in reserve" wait_for 10 vm_up ar
expect_status 240 "a fork is refused below the reserve" -- "$HF" fork ar
expect_in "$RUN/err" "host memory reserve reached: the host has [0-9]+ MiB of memory available, below the $reserve MiB kept in reserve \(--reserve-memory\)" \
	"the refusal names the reserve, what is available and the flag"
check "no clone was made" test ! -e "$RUN/ar.1.sock"

"$HF" run --name tr --mem 64M --timeout $(scaled 120) --console "$RUN/tr.out" --template --pool 2 \
	--reserve-memory $reserve --bare "$TGUESTS/clock.elf" > "$RUN/tr.log" 2>&1 &
tr=$!
check "a template with that reserve freezes" wait_for 10 template_up tr
expect_in "$RUN/tr.log" "warm pool held at 0 of 2 clones: host memory reserve reached" "its pool is held, and says so"
sleep "$(scaled 0.5)"
check "no warm clone is made" test "$(pgrep -P $tr | wc -l)" = 0
expect_status 240 "a fork of the template is refused" -- "$HF" fork tr
expect_in "$RUN/err" "below the $reserve MiB kept in reserve" "naming the reserve"
sleep 2 # the pool is retried every second
check "the hold is logged once, not at every retry" test "$(grep -c 'warm pool held' "$RUN/tr.log")" = 1

# Memory taken by another process pushes the host below the reserve; when it is given back,
# the pool refills by itself. The reserve is set 400 MiB above what is available while the
# 1200 MiB are held, so that what else the host's memory does meanwhile may take up to 400
# MiB either way (a PVM host's MemAvailable was seen 440 MiB lower after a 600 MiB hog
# ended than before it began). (Needs room for the hog.)
a=$(avail_mib)
if [ "$a" -lt 2500 ]; then
	fail "the host has only $a MiB available: the reserve-recovery check needs 2500"
else
	python3 -c 'import sys, time; b = b"x" * (1200 << 20); print("held", flush=True); time.sleep(600)' > "$RUN/hog" &
	hog=$!
	check "a process takes 1200 MiB" wait_for 60 grep -q held "$RUN/hog"
	reserve=$(($(avail_mib) + 400))
	"$HF" run --name tm --mem 64M --timeout $(scaled 120) --console "$RUN/tm.out" --template --pool 1 \
		--reserve-memory $reserve --bare "$TGUESTS/clock.elf" > "$RUN/tm.log" 2>&1 &
	tm=$!
	check "template up" wait_for 10 template_up tm
	check "its pool is held below the reserve ($reserve MiB; $(avail_mib) available)" \
		wait_for 10 grep -q "warm pool held at 0 of 1 clones: host memory reserve reached" "$RUN/tm.log"
	check "no warm clone" test "$(pgrep -P $tm | wc -l)" = 0
	kill "$hog"; wait "$hog" 2>/dev/null
	check "the memory back, the pool refills by itself ($(avail_mib) MiB available)" \
		wait_for 10 bash -c "[ \$(pgrep -P $tm | wc -l) = 1 ]"
	expect_in "$RUN/tm.log" "warm pool refilling again" "and says so"
	expect_status 0 "a fork succeeds" -- "$HF" fork tm
fi

for v in ad at ar tr tm; do "$HF" stop "$v" > /dev/null 2>&1; done
check "no zombie processes" no_zombies
finish
