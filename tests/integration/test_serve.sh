# serve: `hyperfork serve` behind the AWS Lambda Invoke API, called by clients this project
# did not write: Debian's awscli (`aws lambda invoke --endpoint-url`) and python3-boto3.
# One Linux function (AWS's example shell bootstrap, curl against the Runtime API that
# hf-lambda serves in the guest; its code on an ext2 disk), frozen as a template at its
# first call for an invocation; every invocation runs in a fresh clone: results, a
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
export AWS_ACCESS_KEY_ID=hyperfork AWS_SECRET_ACCESS_KEY=hyperfork AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# Bad configurations are refused before anything starts.
echo '{"functions":[{"name":"a b","kernel":"k","initrd":"i"}]}' > "$RUN/bad.json"
expect_status 240 "a bad configuration is refused" -- "$HF" serve --config "$RUN/bad.json"
expect_in "$RUN/err" "serve: $RUN/bad.json: function 1: \"name\" must be" "the refusal names the file, the function and the field"
expect_status 240 "a bad --listen is refused" -- "$HF" serve --listen 127.0.0.1 --config "$RUN/bad.json"
expect_in "$RUN/err" "invalid --listen '127.0.0.1'" "the refusal names the address"

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
   "memory": 256, "timeout": $(scaled 3), "concurrency": 1, "pool": 1, "handler": "serve.handler"}
]}
EOF
"$HF" serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --run-dir "$RUN" > "$RUN/serve.out" 2> "$RUN/serve.err" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; cleanup' EXIT
check "serve listens" wait_for 30 grep -q "^serve: listening on $URL" "$RUN/serve.out"
if ! wait_for 600 bash -c "[ \$(grep -c '^serve: function .* ready' '$RUN/serve.out') = 2 ]"; then
	fail "both functions are booted, initialised and frozen"
	sed 's/^/  | /' "$RUN/serve.out" "$RUN/serve.err"
	cat "$RUN"/serve.*/echo.console 2> /dev/null | tr -d '\r' | tail -20 | sed 's/^/  | echo console: /'
	finish
fi
pass "both functions are booted, initialised and frozen ($(grep -o 'ready.*' "$RUN/serve.out" | head -1))"
check "/health says ready" bash -c "curl -sf $URL/health | grep -q '\"echo\":\"ready\"'"

# invoke NAME PAYLOAD [aws options...]: aws lambda invoke; its output in $RUN/inv.json,
# the response body in $RUN/out.json, its status in $st.
invoke() {
	local name=$1 payload=$2; shift 2
	rm -f "$RUN/out.json"
	timeout 300 $AWS lambda invoke --endpoint-url "$URL" --function-name "$name" \
		--cli-binary-format raw-in-base64-out --payload "$payload" "$@" "$RUN/out.json" \
		> "$RUN/inv.json" 2> "$RUN/inv.err"
	st=$?
}
field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$RUN/inv.json" "$1" 2> /dev/null; }

# ---------------------------------------------------------------- awscli
invoke echo '{"hello":"world"}'
check "aws lambda invoke: the function's result" test "$st/$(cat "$RUN/out.json")" = '0/{"echo":{"hello":"world"}}'
check "aws lambda invoke: StatusCode 200, ExecutedVersion \$LATEST, no FunctionError" \
	test "$(field StatusCode)/$(field ExecutedVersion)/$(field FunctionError)" = '200/$LATEST/'
invoke echo '{"op":"env"}'
check "the function sees its environment from the config" \
	test "$(cat "$RUN/out.json")" = '{"greeting":"hello from the config","function":"echo"}'

invoke echo '{"op":"mark"}'
first=$(cat "$RUN/out.json")
invoke echo '{"op":"mark"}'
second=$(cat "$RUN/out.json")
check "each invocation runs in a fresh clone that never sees another's writes ($first, $second)" \
	bash -c "echo '$first' | grep -q '\"mark\":\"fresh\"' && echo '$second' | grep -q '\"mark\":\"fresh\"' && [ '$first' != '$second' ]"

invoke echo '{"op":"fail"}'
check "a function error: FunctionError Handled, the runtime's error document" \
	test "$(field StatusCode)/$(field FunctionError)/$(cat "$RUN/out.json")" = '200/Handled/{"errorMessage":"failing on purpose","errorType":"HandlerError"}'
invoke echo '{"op":"crash"}'
check "a runtime that dies: FunctionError Unhandled, Runtime.ExitError" \
	bash -c "[ '$(field FunctionError)' = Unhandled ] && grep -q Runtime.ExitError '$RUN/out.json'"
invoke echo '{"op":"sleep"}'
check "a function past its timeout: Unhandled, 'Task timed out after $(scaled 3).00 seconds'" \
	bash -c "[ '$(field FunctionError)' = Unhandled ] && grep -q 'Task timed out after $(scaled 3).00 seconds' '$RUN/out.json'"

invoke echo '{"tail":1}' --log-type Tail
field LogResult | base64 -d > "$RUN/tail.log" 2> /dev/null
check "Tail: the end of the clone's console, base64 (the function's stderr)" \
	grep -qF 'serve-test: event {"tail":1} in clone' "$RUN/tail.log"
invoke echo '{"ev":1}' --invocation-type Event
check "Event: 202, answered before the function runs" test "$st/$(field StatusCode)" = 0/202
invoke echo '{}' --invocation-type DryRun
check "DryRun: 204" test "$st/$(field StatusCode)" = 0/204

invoke nope '{}'
check "an unknown function: ResourceNotFoundException" \
	bash -c "[ $st != 0 ] && grep -q 'ResourceNotFoundException.*Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope' '$RUN/inv.err'"
head -c 7000000 /dev/zero | tr '\0' a | sed 's/^/"/; s/$/"/' > "$RUN/big.json"
invoke echo "fileb://$RUN/big.json"
check "a payload over 6 MB: RequestTooLargeException" bash -c "[ $st != 0 ] && grep -q RequestTooLargeException '$RUN/inv.err'"
# Function "one" runs one invocation at a time: a second one meanwhile is throttled.
timeout 300 $AWS lambda invoke --endpoint-url "$URL" --function-name one --cli-binary-format raw-in-base64-out \
	--payload '{"op":"sleep"}' "$RUN/slow.json" > /dev/null 2>&1 &
slow=$!
wait_for 30 bash -c "curl -s $URL/metrics | grep -q 'hyperfork_invocations_active{function=\"one\"} 1'"
invoke one '{}'
check "past the function's concurrency: TooManyRequestsException" bash -c "[ $st != 0 ] && grep -q TooManyRequestsException '$RUN/inv.err'"
wait $slow

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
check "boto3: a function error" grep -qx 'error 200 Handled HandlerError' "$RUN/boto.out"
check "boto3: an unknown function raises ResourceNotFoundException (404)" grep -qx 'notfound 404' "$RUN/boto.out"
[ "$FAILS" = 0 ] || sed 's/^/  | boto3: /' "$RUN/boto.out"

# ---------------------------------------------------------------- what stays behind
check "/metrics counts the outcomes" bash -c "curl -s $URL/metrics | grep -q 'hyperfork_invocations_total{function=\"echo\",outcome=\"timeout\"} 1'"
check "no clone is left running once its invocation ended" \
	wait_for 60 bash -c "! ls '$RUN'/serve.*/echo.[0-9]*.sock 2>/dev/null | grep -q ."
kill -TERM $serve_pid
wait $serve_pid
check "serve ends on SIGTERM, status 0" test $? = 0
check "its functions' VMs end with it" wait_for 30 no_vmm_left
check "its run directory is removed" test -z "$(find "$RUN" -maxdepth 1 -type d -name 'serve.*')"
finish
