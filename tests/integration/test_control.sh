# The control socket: status, pause, resume, stop, ls against a live VM; malformed
# messages are answered with an error and do not disturb the VM.
. "$(dirname "$0")/lib.sh"

"$HF" run --name live --mem 64M --cpus 2 --timeout $(scaled 60) --console "$RUN/live.console" \
	--bare "$TGUESTS/ticker.elf" --cmdline 20 > "$RUN/live.out" 2>&1 &
vm=$!
check "the VM's socket comes up" wait_for 10 vm_up live
ticks() { grep -c '^tick ' "$RUN/live.console"; }

"$HF" status live > "$RUN/status" 2>&1
expect_in "$RUN/status" "^name: +live$" "status names the VM"
expect_in "$RUN/status" "^pid: +$vm$" "status gives the VMM's pid"
expect_in "$RUN/status" "^state: +running$" "status says running"
expect_in "$RUN/status" "^kind: +bare$" "status gives the kind"
expect_in "$RUN/status" "^cpus: +2$" "status gives the vCPU count"
expect_in "$RUN/status" "^memory: +64 MiB$" "status gives the guest RAM"
expect_in "$RUN/status" "^rss: +[1-9][0-9]* KiB$" "status gives the RSS"
expect_in "$RUN/status" "^pss: +[1-9][0-9]* KiB$" "status gives the PSS"
expect_in "$RUN/status" "^console: +file $RUN/live.console$" "status gives the console"
"$HF" status live --json > "$RUN/status.json"
expect_in "$RUN/status.json" '^\{"ok":true,"vm":\{.*"name":"live".*"state":"running"' "status --json is one JSON line"

wait_for 10 bash -c "[ \$(grep -c '^tick ' '$RUN/live.console') -ge 3 ]"
expect_status 0 "pause" -- "$HF" pause live
check "status says paused" test "$(status_field live state)" = paused
before=$(ticks); sleep 0.5; after=$(ticks)
check "a paused guest makes no progress ($before -> $after ticks)" test "$before" = "$after"
expect_status 0 "pause twice is harmless" -- "$HF" pause live
expect_status 0 "resume" -- "$HF" resume live
check "status says running again" test "$(status_field live state)" = running
check "a resumed guest makes progress" wait_for 5 bash -c "[ \$(grep -c '^tick ' '$RUN/live.console') -gt $after ]"

# Its files are its user's alone, and its control socket takes no other user's command
# (even if its mode let one through).
check "the console file is its user's alone ($(stat -c %a "$RUN/live.console"))" \
	test "$(stat -c %a "$RUN/live.console")" = 600
check "the control socket is its user's alone ($(stat -c %a "$RUN/live.sock"))" \
	test "$(stat -c %a "$RUN/live.sock")" = 700
chmod 777 "$RUN/live.sock"
chmod 711 "$RUN"
setpriv --reuid 4242 --regid 4242 --clear-groups "$HF" pause live > "$RUN/other" 2>&1
expect_in "$RUN/other" "not this VM's user" "another user's command is refused"
chmod 700 "$RUN"
check "and the VM still runs" test "$(status_field live state)" = running
"$HF" ls > "$RUN/ls" 2>&1
expect_in "$RUN/ls" "^NAME +PID +STATE +PARENT +CPUS +MEM_MIB +RSS_KIB +PSS_KIB +UPTIME_S$" "ls prints its header"
expect_in "$RUN/ls" "^live +$vm +running +- +2 +64 +[0-9]+ +[0-9]+ " "ls lists the VM"

# Malformed control messages: an error answer each, and the VM goes on.
while IFS='|' read -r msg words; do
	printf '%s\n' "$msg" | "$SOCKRAW" "$RUN/live.sock" > "$RUN/raw" 2>&1
	expect_in "$RUN/raw" "^\{\"ok\":false,\"error\":\"bad request: $words" "malformed '$msg' is refused"
done <<'MSGS'
not json|malformed JSON
{"cmd":|malformed JSON
[1,2]|message is not a JSON object
{}|request has no \\"cmd\\" string
{"cmd":42}|request has no \\"cmd\\" string
{"cmd":"reboot"}|unknown command \\"reboot\\"
{"cmd":"fork","count":0}|\\"count\\" must be an integer from 1 to 1024
{"cmd":"fork","count":"3"}|\\"count\\" must be an integer
{"cmd":"fork","console":"tty"}|\\"console\\" must be
{"cmd":"status","x":1}|unexpected field \\"x\\"
{"cmd":"stop"} trailing|malformed JSON
{"cmd":"stop","cmd":"stop"}|malformed JSON
MSGS
head -c 5000 /dev/zero | tr '\0' 'x' | "$SOCKRAW" "$RUN/live.sock" > "$RUN/raw" 2>&1
expect_in "$RUN/raw" '"error":"request too long"' "an over-long request is refused"
printf '{"cmd":"status"}\n{"cmd":"status"}\n' | "$SOCKRAW" "$RUN/live.sock" > "$RUN/raw" 2>&1
check "two requests on one connection get two answers" test "$(grep -c '"ok":true' "$RUN/raw")" = 2
# A fork waits for the top of the VMM's loop; what the client sent after it is answered
# after it, in order.
printf '{"cmd":"fork","console":"none"}\n{"cmd":"status"}\n' | "$SOCKRAW" "$RUN/live.sock" > "$RUN/raw" 2>&1
check "a fork and a status on one connection get two answers" test "$(grep -c '"ok":true' "$RUN/raw")" = 2
check "the fork is answered first, with its clone" bash -c "head -1 '$RUN/raw' | grep -q '\"clones\":\[{\"name\":\"live.1\"'"
check "then the status, counting the clone" bash -c "sed -n 2p '$RUN/raw' | grep -q '\"clones\":1'"
expect_status 0 "the clone is stopped" -- "$HF" stop live.1
check "the VM survived the bad messages" vm_up live

"$HF" wait live > "$RUN/wait.out" 2>&1 &
waiter=$!
sleep 0.2
check "hyperfork wait blocks while the VM runs" kill -0 $waiter
expect_status 0 "stop" -- "$HF" stop live
wait $waiter
check "hyperfork wait returns 0 once the VM has ended" test $? = 0
wait $vm
check "the stopped VM exits with status 244" test $? = 244
expect_in "$RUN/live.out" "stopped through the control socket" "the stop is reported"
check "its socket is removed" test ! -e "$RUN/live.sock"

# SIGTERM stops a VM the same way.
"$HF" run --name term --mem 16M --timeout $(scaled 60) --bare "$TGUESTS/ticker.elf" > /dev/null 2>&1 &
t=$!
wait_for 10 vm_up term
kill -TERM $t
wait $t
check "SIGTERM stops the VM with status 244" test $? = 244
check "no socket is left" no_sockets
finish
