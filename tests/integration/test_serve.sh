# serve: `hyperfork serve` behind the AWS Lambda Invoke API, called by clients this project
# did not write: Debian's awscli (`aws lambda invoke --endpoint-url`) and python3-boto3.
# One Linux function (AWS's example shell bootstrap, curl against the Runtime API that
# hf-lambda serves in the guest; its code on an ext2 disk), frozen as a template at its
# first call for an invocation; every invocation runs in its template's state (a worker,
# a clone reset after each answer, or a fresh clone): results, a
# function error, a crash, a timeout, Event and DryRun, Tail logs, client context,
# 404/413/429, two invocations never seeing each other's writes, and what stays behind.
. "$(dirname "$0")/lib.sh"

need_linux_guest
# Debian's clients, by path (a pip-installed aws or python earlier in PATH is not them).
AWS=/usr/bin/aws PY=/usr/bin/python3
for t in $AWS $PY /sbin/mke2fs /usr/bin/curl; do
	[ -x $t ] || { fail "no $t: run scripts/install-deps.sh"; finish; }
done
$PY -c 'import boto3' 2> /dev/null || { fail "no python3-boto3: run scripts/install-deps.sh"; finish; }
if ! grep -qaF usr/bin/curl "$LAMBDA_INITRD" 2> /dev/null; then # (its second archive: cpio -t lists the first)
	fail "the initramfs has no curl (guest/linux/build.sh makes initramfs-lambda.cpio with Debian's /usr/bin/curl): make linux-guest"
	finish
fi
aws_env

# Bad configurations are refused before anything starts.
echo '{"functions":[{"name":"a b","kernel":"k","initrd":"i"}]}' > "$RUN/bad.json"
expect_status 240 "a bad configuration is refused" -- "$HF" serve --config "$RUN/bad.json"
expect_in "$RUN/err" "serve: $RUN/bad.json: function 1: \"name\" must be" "the refusal names the file, the function and the field"
expect_status 240 "a bad --listen is refused" -- "$HF" serve --listen 127.0.0.1 --config "$RUN/bad.json"
expect_in "$RUN/err" "invalid --listen '127.0.0.1'" "the refusal names the address"
echo '{"functions":[{"name":"foo","image":"x.elf","mode":"boot"},{"name":"foo-b1","image":"x.elf"}]}' > "$RUN/collide.json"
expect_status 240 "functions whose VMs' names would meet are refused" -- "$HF" serve --config "$RUN/collide.json"
expect_in "$RUN/err" "functions foo and foo-b1: one's name is what serve names the VMs it boots for the other" \
	"the refusal names both"

# ---------------------------------------------------------------- the function
TASK=$TOP/tests/integration/lambda
mke2fs -q -t ext2 -d "$TASK" "$RUN/code.img" 4M > /dev/null 2>&1 || { fail "mke2fs could not make the code disk"; finish; }
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
cat > "$RUN/fn.json" << EOF
{"functions": [
  {"name": "echo", "kernel": "$BZIMAGE", "initrd": "$LAMBDA_INITRD", "disks": ["$RUN/code.img"],
   "memory": 256, "timeout": $(scaled 3), "concurrency": 8, "pool": 2,
   "handler": "serve.handler", "environment": {"GREETING": "hello from the config"}},
  {"name": "one", "kernel": "$BZIMAGE", "initrd": "$LAMBDA_INITRD", "disks": ["$RUN/code.img"],
   "memory": 256, "timeout": $(scaled 3), "concurrency": 1, "pool": 0, "idle": $(scaled 2),
   "handler": "serve.handler"},
  {"name": "warm", "kernel": "$BZIMAGE", "initrd": "$LAMBDA_INITRD", "disks": ["$RUN/code.img"],
   "memory": 256, "timeout": $(scaled 3), "mode": "warm", "handler": "serve.handler"},
  {"name": "cold", "kernel": "$BZIMAGE", "initrd": "$LAMBDA_INITRD", "disks": ["$RUN/code.img"],
   "memory": 256, "timeout": $(scaled 3), "mode": "boot", "handler": "serve.handler"}
]}
EOF
"$HF" serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --run-dir "$RUN" > "$RUN/serve.out" 2> "$RUN/serve.err" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; cleanup' EXIT
check "serve listens" wait_for 30 grep -q "^serve: listening on $URL" "$RUN/serve.out"
if ! wait_for 600 bash -c "[ \$(grep -c '^serve: function .* ready' '$RUN/serve.out') = 4 ]"; then
	fail "the functions are booted and initialised"
	sed 's/^/  | /' "$RUN/serve.out" "$RUN/serve.err"
	cat "$RUN"/serve.*/echo/echo.console 2> /dev/null | tr -d '\r' | tail -20 | sed 's/^/  | echo console: /'
	finish
fi
pass "the functions are booted and initialised ($(grep -o 'ready.*' "$RUN/serve.out" | head -1))"
check "/health says ready" bash -c "curl -sf $URL/health | grep -q '\"echo\":\"ready\"'"

# cinvoke NAME PAYLOAD [curl options...]: lib.sh's http_invoke (curl) to this serve. awscli
# answers the same requests (below, where its mapping of headers to fields is checked).
cinvoke() { http_invoke "$URL" "$@"; }

invoke() { aws_invoke "$URL" "$@"; } # NAME PAYLOAD [aws options...] (lib.sh)
field() { aws_field "$1"; }

# ---------------------------------------------------------------- awscli
invoke echo '{"hello":"world"}'
check "aws lambda invoke: the function's result" test "$st/$(cat "$RUN/out.json")" = '0/{"echo":{"hello":"world"}}'
check "aws lambda invoke: StatusCode 200, ExecutedVersion \$LATEST, no FunctionError" \
	test "$(field StatusCode)/$(field ExecutedVersion)/$(field FunctionError)" = '200/$LATEST/'
cinvoke echo '{"op":"env"}'
check "the function sees its environment from the config" \
	test "$code/$(cat "$RUN/c.out")" = '200/{"greeting":"hello from the config","function":"echo"}'

# Mode clone: a worker (a clone reset after each answer) takes one invocation after another.
marks=
for i in 1 2 3; do
	cinvoke echo '{"op":"mark"}'
	marks="$marks $(cat "$RUN/c.out")"
done
check "each invocation sees the template's state, never another's files, hostname or processes ($marks )" \
	test "$(echo "$marks" | grep -o '"mark":"fresh"' | wc -l)" = 3
check "each with its own clone number and random bytes" \
	test "$(echo "$marks" | grep -o '"clone":[0-9]*' | sort -u | wc -l)/$(echo "$marks" | grep -o '"rand":"[0-9a-f]*"' | sort -u | wc -l)" = 3/3
check "each told its runtime of a new VM generation (Lambda-Runtime-Vm-Generation)" \
	test "$(echo "$marks" | grep -oE '"gen":"[0-9a-f]{32}"' | sort -u | wc -l)" = 3
# Reset clones are numbered from 1048576 (clone/reset.c): a worker served the later ones.
check "a worker reset after its answer served the next invocation" \
	test "$(echo "$marks" | grep -o '"clone":[0-9]*' | tail -1 | cut -d: -f2)" -ge 1048576
# Between invocations a Linux worker's vCPUs are parked until serve writes to it again.
check "between invocations the worker is idle (hyperfork ls: state idle, its vCPUs parked)" \
	wait_for 10 bash -c "'$HF' ls --run-dir \"\$(echo '$RUN'/serve.*/echo/)\" | grep -Eq '^echo\.[0-9]+ +[0-9]+ +idle '"

invoke echo '{"op":"fail"}'
check "a function error: FunctionError Unhandled (as Lambda says it), the runtime's error document" \
	test "$(field StatusCode)/$(field FunctionError)/$(cat "$RUN/out.json")" = '200/Unhandled/{"errorMessage":"failing on purpose","errorType":"HandlerError"}'
cinvoke echo '{"op":"crash"}'
check "a runtime that dies: 200, X-Amz-Function-Error Unhandled, Runtime.ExitError" \
	bash -c "[ '$code/$(http_hdr X-Amz-Function-Error)' = 200/Unhandled ] && grep -q Runtime.ExitError '$RUN/c.out'"
cinvoke echo '{"op":"sleep"}'
check "a function past its timeout: Unhandled, 'Task timed out after $(scaled 3).00 seconds'" \
	bash -c "[ '$(http_hdr X-Amz-Function-Error)' = Unhandled ] && grep -q 'Task timed out after $(scaled 3).00 seconds' '$RUN/c.out'"

cinvoke echo '{"tail":1}' -H 'X-Amz-Log-Type: Tail'
http_hdr X-Amz-Log-Result | base64 -d > "$RUN/tail.log" 2> /dev/null
check "Tail: the end of the clone's console, base64 (the function's stderr)" \
	grep -qF 'serve-test: event {"tail":1} in clone' "$RUN/tail.log"
cinvoke echo '{"ev":1}' -H 'X-Amz-Invocation-Type: Event'
check "Event: 202, answered before the function runs" test "$code" = 202
cinvoke echo '{}' -H 'X-Amz-Invocation-Type: DryRun'
check "DryRun: 204" test "$code" = 204

cinvoke nope '{}'
check_or_show "an unknown function: 404 ResourceNotFoundException naming its ARN" "$RUN/c.out" \
	test "$code/$(http_hdr x-amzn-ErrorType)/$(cat "$RUN/c.out")" = '404/ResourceNotFoundException/{"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"}'
head -c 7000000 /dev/zero | tr '\0' a | sed 's/^/"/; s/$/"/' > "$RUN/big.json"
cinvoke echo "@$RUN/big.json"
check "a payload over 6 MB: 413 RequestTooLargeException" test "$code/$(http_hdr x-amzn-ErrorType)" = 413/RequestTooLargeException
code=$(curl -s -o "$RUN/404.body" -w '%{http_code}' -X POST -d '{}' "$URL/2015-03-31/functions/x")
check_or_show "POST to a functions URL that is no invocation: 404, exactly this body" "$RUN/404.body" \
	test "$code/$(cat "$RUN/404.body")" = '404/{"Type":"User","message":"no such operation: POST /2015-03-31/functions/x"}'
# A body announced over 6 MB is refused on its headers, before a byte of it is read.
timeout 60 python3 - "$PORT" > "$RUN/announced.out" 2>&1 <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(30)
s.sendall(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n"
          b"Content-Length: 7000000\r\n\r\n")
print(s.recv(4096).decode(errors="replace").split("\r\n")[0])
PY
check_or_show "Content-Length over 6 MB: 413 at once, the body never sent" "$RUN/announced.out" \
	grep -q '^HTTP/1.1 413' "$RUN/announced.out"
# One client holding 1000 slow connections (headers never finished, from 127.0.0.2) takes
# only its share: another client is still served.
python3 - "$PORT" "$RUN/slow.holding" > "$RUN/slow.out" 2>&1 <<'PY' &
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
held, refused = [], 0
for i in range(1000):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
        s.sendall(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n")
    except OSError:
        refused += 1
    held.append(s)
open(sys.argv[2], "w").write("%d connections, %d refused at once\n" % (len(held), refused))
time.sleep(600)
PY
slowclients=$!
wait_for 120 test -s "$RUN/slow.holding"
cinvoke echo '{"op":"env"}'
check_or_show "1000 slow connections of one client: another client is still served" "$RUN/c.out" \
	test "$code" = 200
kill $slowclients 2>/dev/null
wait $slowclients 2>/dev/null
# Function "one" runs one invocation at a time: a second one meanwhile is throttled.
curl -s -m 300 -o /dev/null -X POST -d '{"op":"sleep"}' "$URL/2015-03-31/functions/one/invocations" &
slow=$!
wait_for 30 bash -c "curl -s $URL/metrics | grep -q 'hyperfork_invocations_active{function=\"one\"} 1'"
cinvoke one '{}'
check "past the function's concurrency: 429 TooManyRequestsException" test "$code/$(http_hdr x-amzn-ErrorType)" = 429/TooManyRequestsException
wait $slow
# A worker of "one", idle past the function's "idle" seconds, ends; the next invocation
# makes another.
cinvoke one '{"op":"mark"}'
check "function one has a worker, idle after its answer" \
	wait_for 10 bash -c "'$HF' ls --run-dir \"\$(echo '$RUN'/serve.*/one/)\" | grep -Eq '^one\.[0-9]+ +[0-9]+ +idle '"
check "a worker idle past the function's \"idle\" ends" \
	wait_for 30 bash -c "! '$HF' ls --run-dir \"\$(echo '$RUN'/serve.*/one/)\" | grep -q '^one\.'"
check "serve says why" grep -q "function one: worker one\.[0-9]* took no invocation for $(scaled 2) s: it ends" "$RUN/serve.err"
cinvoke one '{"op":"mark"}'
check "the next invocation gets a new worker (a fresh clone: numbered below reset ones)" \
	test "$(grep -o '"clone":[0-9]*' "$RUN/c.out" | cut -d: -f2)" -lt 1048576

# ---------------------------------------------------------------- more than one answer, big answers, logs
cinvoke echo '{"op":"twice"}'
check "a function that answers twice: the first answer is the invocation's" test "$code/$(cat "$RUN/c.out")" = '200/{"answer":"first"}'
cinvoke echo '{"op":"big"}'
check "a 5 MB answer arrives whole" test "$code/$(wc -c < "$RUN/c.out")/$(tr -d 'x' < "$RUN/c.out")" = '200/5000010/{"big":""}'
cinvoke echo '{"op":"huge"}'
check "an answer over 6 MB: Unhandled, Function.ResponseSizeTooLarge" \
	bash -c "grep -qi '^X-Amz-Function-Error: Unhandled' '$RUN/c.hdr' && grep -q Function.ResponseSizeTooLarge '$RUN/c.out'"
cinvoke echo '{"op":"log"}' -H 'X-Amz-Log-Type: Tail'
http_hdr X-Amz-Log-Result | base64 -d > "$RUN/tail.log" 2> /dev/null
check "64 KiB of log: Tail gives its last 4 KB, ending with the last line" \
	bash -c "[ \$(wc -c < '$RUN/tail.log') -le 4096 ] && grep -q 'serve-test: the last log line' '$RUN/tail.log' && ! grep -q 'log line 0 of' '$RUN/tail.log'"
check "... and the answer" test "$(cat "$RUN/c.out")" = '{"logged":1024}'

# ---------------------------------------------------------------- clients that stall or leave
# A client that sends its headers and half its body, then stalls, holds up nobody else.
cat > "$RUN/slow.py" << 'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n"
          b"Connection: close\r\nContent-Length: 17\r\n\r\n{\"slow\":")
time.sleep(float(sys.argv[2]))
s.sendall(b"\"client\"}")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(data.decode(errors="replace").splitlines()[-1])
PYEOF
$PY "$RUN/slow.py" "$PORT" "$(scaled 3)" > "$RUN/slow.out" 2>&1 &
slowc=$!
sleep 1
cinvoke echo '{"meanwhile":1}'
check "while a client stalls mid-request, another is answered" test "$code/$(cat "$RUN/c.out")" = '200/{"echo":{"meanwhile":1}}'
check "the stalled client is still waiting meanwhile" kill -0 $slowc
wait $slowc
check "the stalled client is answered once its request is whole" grep -qF '{"echo":{"slow":"client"}}' "$RUN/slow.out"
# A client that hangs up mid-invocation: the invocation still ends.
curl -s -m 1 -X POST --data-binary '{"op":"nap"}' "$URL/2015-03-31/functions/echo/invocations" > /dev/null 2>&1
check "a client that hangs up mid-invocation: the invocation still ends" \
	wait_for 60 bash -c "curl -s $URL/metrics | grep -q '^hyperfork_clones_live{function=\"echo\"} 0'"
cinvoke echo '{"after":1}'
check "... and serve goes on" test "$code/$(cat "$RUN/c.out")" = '200/{"echo":{"after":1}}'

# ---------------------------------------------------------------- modes: a warm VM, a boot per invocation
cinvoke warm '{"op":"mark"}'
w1=$(cat "$RUN/c.out")
cinvoke warm '{"op":"mark"}'
w2=$(cat "$RUN/c.out")
# (What the workers' invocations never saw, a warm VM's second does: the marks show it.)
check "mode warm: one VM serves every invocation, so state passes ($w1, then $w2)" \
	bash -c "echo '$w1' | grep -q '\"mark\":\"fresh\"' && echo '$w2' | grep -q '\"mark\":\"file hostname process\"'"
g1=$(grep -oE '"gen":"[0-9a-f]{32}"' <<< "$w1"); g2=$(grep -oE '"gen":"[0-9a-f]{32}"' <<< "$w2")
check "mode warm: its VM generation stays ($g1, $g2): no copy of its memory was made" \
	test -n "$g1" -a "$g1" = "$g2"
cinvoke cold '{"op":"mark"}'
check "mode boot: an invocation in a VM booted for it ($(cat "$RUN/c.out"))" grep -q '"mark":"fresh"' "$RUN/c.out"
# Function code calling hf-fork makes no VM: not in a warm VM, a booted one or a worker.
for fn in warm cold echo; do
	cinvoke $fn '{"op":"fork"}'
	check_or_show "mode $fn: the function's hf-fork is refused" "$RUN/c.out" \
		grep -q '"fork":"refused"' "$RUN/c.out"
done
check "mode boot: the VM is gone after its invocation" \
	wait_for 30 bash -c "! ls '$RUN'/serve.*/cold/cold-b*.sock 2>/dev/null | grep -q . && curl -s $URL/metrics | grep -q '^hyperfork_clones_live{function=\"cold\"} 0'"

# Below the host memory serve keeps in reserve, invocations are refused with a 429 (a second
# serve that keeps more in reserve than any host has; its one function boots per invocation,
# so it is ready at once and no VM is ever started).
echo "{\"functions\": [{\"name\": \"r\", \"kernel\": \"$BZIMAGE\", \"initrd\": \"$LAMBDA_INITRD\", \"mode\": \"boot\"}]}" > "$RUN/r.json"
"$HF" serve --listen 127.0.0.1:$((PORT + 1)) --config "$RUN/r.json" --run-dir "$RUN" --reserve-memory 100000000 > "$RUN/r.out" 2>&1 &
rserve=$!
wait_for 30 grep -q "function r ready" "$RUN/r.out"
code=$(curl -s -o "$RUN/c.out" -w '%{http_code}' -X POST --data-binary '{}' "http://127.0.0.1:$((PORT + 1))/2015-03-31/functions/r/invocations")
check "below the memory reserve: 429 TooManyRequestsException naming the reserve" \
	bash -c "[ '$code' = 429 ] && grep -q 'below the 100000000 MiB kept in reserve (--reserve-memory)' '$RUN/c.out' && grep -q ServiceMemoryReserveReached '$RUN/c.out'"
check "... counted as throttled, and no VM started" \
	bash -c "curl -s http://127.0.0.1:$((PORT + 1))/metrics | grep -q 'hyperfork_invocations_total{function=\"r\",outcome=\"throttled\"} 1' && ! ls '$RUN'/serve.*/r/r-b*.sock 2>/dev/null | grep -q ."
kill $rserve; wait $rserve

# ---------------------------------------------------------------- boto3
cat > "$RUN/boto.py" << 'EOF'
import base64, json, sys
import boto3, botocore
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="x")
r = c.invoke(FunctionName="echo", Payload=b'{"from":"boto3"}', LogType="Tail",
             ClientContext=base64.b64encode(b'{"custom":{"a":1}}').decode())
print("result", r["StatusCode"], r["Payload"].read().decode(), "FunctionError" in r)
print("log", "serve-test: event" in base64.b64decode(r["LogResult"]).decode())
r = c.invoke(FunctionName="echo", Payload=b'{"op":"fail"}')
print("error", r["StatusCode"], r.get("FunctionError"), json.loads(r["Payload"].read())["errorType"])
try:
    c.invoke(FunctionName="nope", Payload=b"{}")
except c.exceptions.ResourceNotFoundException as e:
    print("notfound", e.response["ResponseMetadata"]["HTTPStatusCode"])
EOF
timeout 300 $PY "$RUN/boto.py" "$URL" > "$RUN/boto.out" 2>&1
check "boto3: the result" grep -qx 'result 200 {"echo":{"from":"boto3"}} False' "$RUN/boto.out"
check "boto3: the Tail log" grep -qx 'log True' "$RUN/boto.out"
check "boto3: a function error" grep -qx 'error 200 Unhandled HandlerError' "$RUN/boto.out"
check "boto3: an unknown function raises ResourceNotFoundException (404)" grep -qx 'notfound 404' "$RUN/boto.out"
[ "$FAILS" = 0 ] || sed 's/^/  | boto3: /' "$RUN/boto.out"

# ---------------------------------------------------------------- what stays behind
curl -s $URL/metrics > "$RUN/metrics.txt"
check "/metrics counts the outcomes" grep -q 'hyperfork_invocations_total{function="echo",outcome="timeout"} 1' "$RUN/metrics.txt"
check "/metrics: end-to-end and activation latency histograms" \
	bash -c "grep -q '^hyperfork_invocation_duration_seconds_count{function=\"echo\"} [1-9]' '$RUN/metrics.txt' && grep -q '^hyperfork_clone_activation_seconds_bucket{function=\"echo\",le=\"+Inf\"} [1-9]' '$RUN/metrics.txt'"
check "/metrics: a function without a pool makes its clones on demand" \
	grep -q '^hyperfork_clones_on_demand_total{function="one"} [1-9]' "$RUN/metrics.txt"
check "/metrics: the function's memory" grep -q '^hyperfork_function_memory_bytes{function="echo"} [1-9]' "$RUN/metrics.txt"
check "/metrics: the pool is kept full (2 warm clones)" \
	wait_for 60 bash -c "curl -s $URL/metrics | grep -q '^hyperfork_pool_warm_clones{function=\"echo\"} 2'"
if [ -x /usr/bin/promtool ]; then
	check "promtool check metrics accepts /metrics" bash -c "promtool check metrics < '$RUN/metrics.txt' > '$RUN/promtool.out' 2>&1"
	[ "$FAILS" = 0 ] || sed 's/^/  | promtool: /' "$RUN/promtool.out"
else
	fail "no promtool (Debian's prometheus package): run scripts/install-deps.sh"
fi
# What stays at rest: echo's workers (at most its concurrency, 8) and its pool (2).
check "no more clones are left at rest than workers and the pool ($(ls "$RUN"/serve.*/echo/echo.[0-9]*.sock 2>/dev/null | wc -l))" \
	wait_for 60 bash -c "[ \$(ls '$RUN'/serve.*/echo/echo.[0-9]*.sock 2>/dev/null | wc -l) -le 10 ]"
kill -TERM $serve_pid
wait $serve_pid
check "serve ends on SIGTERM, status 0" test $? = 0
check "its functions' VMs end with it" wait_for 30 no_vmm_left
check "its run directory is removed" test -z "$(find "$RUN" -maxdepth 1 -type d -name 'serve.*')"
finish
