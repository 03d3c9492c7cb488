# serve reuses clones: a bare function in mode clone runs each invocation in a worker, a
# clone of its template that is reset to the template's state after each answer
# (by its VMM, over the channel serve holds), and tests/guests/statefn.elf reports from inside what it finds: every
# invocation sees the template's memory, counter and SSE register, a number of its own and
# random bytes of its own, while one worker serves them all. Beside it: mode fresh (a new
# clone each time), mode warm (state passes on), workers that crash, spin past their
# timeout or reach their "recycle" count being replaced, and one whose guest answers twice.
. "$(dirname "$0")/lib.sh"

for t in /usr/bin/curl /usr/bin/python3; do [ -x $t ] || { fail "no $t: run scripts/install-deps.sh"; finish; }; done
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
SF=$TGUESTS/statefn.elf
EF=$GUESTS/echo-fn.elf
T=$(scaled 3)
cat > "$RUN/fn.json" << JSON
{"functions": [
  {"name": "st", "image": "$SF", "memory": 128, "timeout": $T, "concurrency": 2, "pool": 1},
  {"name": "stf", "image": "$SF", "memory": 128, "timeout": $T, "mode": "fresh"},
  {"name": "stw", "image": "$SF", "memory": 128, "timeout": $T, "mode": "warm"},
  {"name": "ec", "image": "$EF", "memory": 128, "timeout": $T, "concurrency": 1, "recycle": 3}
]}
JSON
"$HF" serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --run-dir "$RUN" > "$RUN/serve.out" 2> "$RUN/serve.err" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; cleanup' EXIT
if ! wait_for 60 bash -c "[ \$(grep -c '^serve: function .* ready' '$RUN/serve.out') = 4 ]"; then
	fail "the functions are initialised"; sed 's/^/  | /' "$RUN/serve.out" "$RUN/serve.err"; finish
fi
pass "the functions are initialised"
# serve's own threads (its HTTP ones among them) are under its seccomp filter, which no
# exec passes; its VMMs come from the spawner forked before it, yet are serve's children.
check "every thread of serve is under its seccomp filter" \
	bash -c "for t in /proc/$serve_pid/task/*; do grep -q '^Seccomp:[[:space:]]*2' \$t/status || exit 1; done"
check "its VMMs are its own children all the same" \
	bash -c "for p in \$(pgrep -P $serve_pid -x hyperfork); do grep -q -- '^run' <(tr '\\0' '\\n' < /proc/\$p/cmdline | sed -n 2p) && exit 0; done; exit 1"
SDIR=$(sed -n 's/^serve: listening on .*VMs in \([^ ,)]*\).*/\1/p' "$RUN/serve.out")

# inv NAME PAYLOAD: lib.sh's http_invoke (curl) to this serve: the body in $RUN/c.out, the
# HTTP status in $code, the function error header in $ferr.
inv() { http_invoke "$URL" "$1" "$2" -m "$(scaled 30)"; }
jfield() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$RUN/c.out" "$1" 2>/dev/null; }
# The clones of function NAME that serve keeps now (its workers), by name (in the function's
# own run directory, SDIR/NAME).
clones_of() { "$HF" ls --run-dir "$SDIR/$1" 2>/dev/null | awk -v f="$1" 'index($1, f ".") == 1 { print $1 }' | sort | tr '\n' ' '; }
no_clones_of() { [ -z "$(clones_of "$1")" ]; }

# ---------------------------------------------------------------- mode clone: reused
ids="" rands="" all_template=1
for i in 1 2 3 4 5; do
	inv st "{\"n\":$i}"
	if [ "$code" != 200 ] || [ -n "$ferr" ] || [ "$(jfield state)/$(jfield counter)" != template/0 ]; then
		all_template=0
		echo "  | invocation $i: $code $ferr $(cat "$RUN/c.out")"
	fi
	ids="$ids $(jfield clone)"
	rands="$rands $(jfield rand)"
	[ $i = 1 ] && first_worker=$(clones_of st)
done
check "5 invocations, each in the template's state: memory, counter 0, xmm15" test $all_template = 1
check "each with a clone number of its own ($ids )" test "$(echo $ids | tr ' ' '\n' | sort -u | wc -l)" = 5
check "and random bytes of its own" test "$(echo $rands | tr ' ' '\n' | sort -u | wc -l)" = 5
check "one worker ran them all ($first_worker, then $(clones_of st))" \
	test -n "$first_worker" -a "$(clones_of st)" = "$first_worker"
check "its VMM lives on between invocations" \
	bash -c "'$HF' status --run-dir '$SDIR/st' $first_worker | grep -q '^state: *running'"
# Two at once (a slow one keeps its worker busy): a second worker, and never more than the
# function's concurrency (2).
for k in a b; do
	curl -s -o "$RUN/par.$k" -m "$(scaled 30)" -X POST --data-binary "{\"n\":\"$k\"}" \
		"$URL/2015-03-31/functions/st/invocations" &
	eval "par_$k=\$!"
done
wait $par_a $par_b
check "two invocations at once, both in the template's state" \
	bash -c "grep -q '\"state\":\"template\"' '$RUN/par.a' && grep -q '\"state\":\"template\"' '$RUN/par.b'"
check "at most two workers ($(clones_of st))" test "$(clones_of st | wc -w)" -le 2

# ---------------------------------------------------------------- mode fresh; mode warm
inv stf '{"n":1}'; f1="$(jfield state)/$(jfield counter)/$(jfield clone)"
inv stf '{"n":2}'; f2="$(jfield state)/$(jfield counter)/$(jfield clone)"
check "fresh: each invocation in a fresh clone in the template's state ($f1, $f2)" \
	bash -c "[ '${f1%/*}' = template/0 ] && [ '${f2%/*}' = template/0 ] && [ '$f1' != '$f2' ]"
check "fresh: its clones end after their answers" wait_for 10 no_clones_of stf
inv stw '{"n":1}'; w1="$(jfield state)/$(jfield counter)"
inv stw '{"n":2}'; w2="$(jfield state)/$(jfield counter)"
check "warm: state passes on from one invocation to the next ($w1, then $w2)" test "$w2" = changed/1

# ---------------------------------------------------------------- replaced workers
inv ec '{"n":1}'
w=$(clones_of ec)
check "echo: a worker answers ($w: $(cat "$RUN/c.out"))" test "$code" = 200 -a -n "$w"
inv ec '{"cmd":"crash"}'
check "a crash is Unhandled ($ferr)" test "$ferr" = Unhandled
inv ec '{"n":2}'
check_or_show "and the next invocation succeeds, in a new worker ($(clones_of ec))" "$RUN/c.out" \
	bash -c "[ $code = 200 ] && [ -z '$ferr' ] && [ '$(clones_of ec)' != '$w' ]"
w=$(clones_of ec)
inv ec '{"cmd":"spin"}'
check "a guest spinning past its timeout is Unhandled ($ferr: $(cat "$RUN/c.out"))" \
	bash -c "[ '$ferr' = Unhandled ] && grep -q 'Task timed out' '$RUN/c.out'"
inv ec '{"n":3}'
check "and the next succeeds in a new worker" bash -c "[ $code = 200 ] && [ '$(clones_of ec)' != '$w' ]"
# A guest that answers twice: its second answer reaches no one (the worker's VMM is reset
# after the first, or ends the guest for answering with no invocation taken, if the second
# comes before the reset), and the next invocation gets its own answer.
inv ec '{"cmd":"twice"}'
inv ec '{"n":4}'
check_or_show "a guest that answers twice: the next invocation gets its own answer" "$RUN/c.out" \
	bash -c "[ $code = 200 ] && [ -z '$ferr' ] && grep -q '\"n\":4' '$RUN/c.out'"
inv ec '{"cmd":"crash"}'
inv ec '{"n":5}'
w=$(clones_of ec) # a new worker: it has run one invocation
inv ec '{"n":6}'
check "a worker serves again ($w)" test "$(clones_of ec)" = "$w"
inv ec '{"n":7}'
check "and is ended once it has run its recycle count (3)" wait_for 10 no_clones_of ec
inv ec '{"n":8}'
check "a fresh one takes its place" bash -c "[ $code = 200 ] && [ -n '$(clones_of ec)' ] && [ '$(clones_of ec)' != '$w' ]"
check "/metrics: no VM runs an invocation at rest" \
	bash -c "curl -sf $URL/metrics | grep -q '^hyperfork_clones_live{function=\"st\"} 0$'"
kill $serve_pid
wait $serve_pid
check "SIGTERM ends serve, its templates and workers" wait_for 10 no_vmm_left
check "no function socket is left" bash -c "[ -z \"\$(ls '$RUN'/*.fn 2>/dev/null)\" ]"

# ---------------------------------------------------------------- signed invocations
# serve --credentials: invocations must be signed (AWS Signature Version 4) with a key the
# file holds, as Debian's aws signs them; anything else gets Lambda's 403. Beyond loopback
# serve listens only so.
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null
printf '# serve test keys\nAKIDHYPERFORKTEST s3cr3t/K7MDENG+bPxRfiCY\n' > "$RUN/keys"
echo '{"functions": [{"name": "sig", "image": "'"$EF"'", "memory": 128, "pool": 1}]}' > "$RUN/sig.json"
expect_status 240 "serve beyond loopback without --credentials is refused" -- \
	"$HF" serve --listen 0.0.0.0:$PORT --config "$RUN/sig.json" --run-dir "$RUN"
expect_in "$RUN/err" "serve: --listen 0.0.0.0:$PORT is beyond loopback: give --credentials FILE" "the need for keys is named"
printf 'AKID only-one-word-too-many x\n' > "$RUN/badkeys"
expect_status 240 "a malformed key file is refused" -- \
	"$HF" serve --credentials "$RUN/badkeys" --config "$RUN/sig.json" --run-dir "$RUN"
expect_in "$RUN/err" "badkeys:1: expected ACCESS_KEY_ID SECRET_ACCESS_KEY" "its line is named"
"$HF" serve --listen 127.0.0.1:$PORT --credentials "$RUN/keys" --config "$RUN/sig.json" --run-dir "$RUN" \
	> "$RUN/sig.out" 2> "$RUN/sig.err" &
serve_pid=$!
sig_ready() { grep -q '^serve: function sig ready' "$RUN/sig.out" || ! kill -0 $serve_pid 2> /dev/null; }
wait_for 60 sig_ready
check "serve --credentials: the function is initialised" grep -q '^serve: function sig ready' "$RUN/sig.out"
[ "$FAILS" = 0 ] || sed 's/^/  | /' "$RUN/sig.out" "$RUN/sig.err"
AWS_ACCESS_KEY_ID=AKIDHYPERFORKTEST AWS_SECRET_ACCESS_KEY=s3cr3t/K7MDENG+bPxRfiCY \
	aws_invoke "$URL" sig '{"signed":1}'
check "aws lambda invoke signed with the key: answered ($(cat "$RUN/out.json" "$RUN/inv.err" 2> /dev/null))" \
	grep -qE '^\{"echo":\{"signed":1\},"clone":[1-9][0-9]*\}$' "$RUN/out.json"
AWS_ACCESS_KEY_ID=AKIDHYPERFORKTEST AWS_SECRET_ACCESS_KEY=not-the-secret aws_invoke "$URL" sig '{}'
check "signed with another secret: 403 InvalidSignatureException" \
	grep -q 'InvalidSignatureException.*The request signature we calculated does not match' "$RUN/inv.err"
AWS_ACCESS_KEY_ID=AKIDNOSUCHKEY AWS_SECRET_ACCESS_KEY=s3cr3t/K7MDENG+bPxRfiCY aws_invoke "$URL" sig '{}'
check "an access key serve was not given: 403 UnrecognizedClientException" \
	grep -q 'UnrecognizedClientException' "$RUN/inv.err"
curl -s -D "$RUN/h" -o "$RUN/b" -X POST "$URL/2015-03-31/functions/sig/invocations" -d '{}'
check "unsigned: 403 MissingAuthenticationTokenException ($(head -1 "$RUN/h" | tr -d '\r'), $(cat "$RUN/b"))" \
	bash -c "head -1 '$RUN/h' | grep -q ' 403' && grep -qi '^x-amzn-ErrorType: MissingAuthenticationTokenException' '$RUN/h' && grep -q 'Missing Authentication Token' '$RUN/b'"
check "no refused request reached the function" \
	test "$(curl -s $URL/metrics | grep -o '^hyperfork_invocations_total{function="sig",outcome="ok"} [0-9]*' | cut -d' ' -f2)" = 1
check "/health needs no signature" curl -sf "$URL/health"
kill $serve_pid
wait $serve_pid
check "serve --credentials ends on SIGTERM" wait_for 10 no_vmm_left
finish
