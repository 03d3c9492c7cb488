# Managed runtimes: a Python function as a Lambda user writes it (app.py with
# handler(event, context), zipped), served by `hyperfork serve` with runtime python3.11
# (Debian's python3.11 in build/runtimes/python3.11.img, the project's runtime client) and
# called with Debian's awscli: the context object, Lambda's error shape, a timeout, the
# handler's log, fresh random state per invocation although every one starts from the same
# frozen template (random, uuid4), SnapStart's hooks (before the snapshot once, after
# restore in every clone), handlers in subdirectories, and init errors.
. "$(dirname "$0")/lib.sh"

need_linux_guest
AWS=/usr/bin/aws PY=/usr/bin/python3
IMAGES=$TOP/build/runtimes
for t in $AWS $PY; do
	[ -x $t ] || { fail "no $t: run scripts/install-deps.sh"; finish; }
done
[ -f "$IMAGES/python3.11.img" ] || { fail "no runtime image $IMAGES/python3.11.img: make runtimes"; finish; }
export AWS_ACCESS_KEY_ID=hyperfork AWS_SECRET_ACCESS_KEY=hyperfork AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# ---------------------------------------------------------------- the code, zipped
mkdir -p "$RUN/src/lib/deep"
cat > "$RUN/src/app.py" << 'EOF'
import os, random, time, uuid
from snapshot_restore_py import register_before_snapshot, register_after_restore

TABLE = [i * i for i in range(200000)]  # built once, at init, before the snapshot
STATE = {"before": 0, "after": 0, "calls": 0, "init_pid": os.getpid()}


@register_before_snapshot
def before():
    STATE["before"] += 1


def after():
    STATE["after"] += 1


register_after_restore(after)


def handler(event, context):
    STATE["calls"] += 1
    if "raise" in event:
        raise ValueError("asked to raise: %s" % event["raise"])
    if "sleep" in event:
        time.sleep(event["sleep"])
    print("app: invocation", context.aws_request_id)
    return {"event": event, "uuid": str(uuid.uuid4()), "random": random.random(),
            "state": STATE, "table": TABLE[1000], "function_name": context.function_name,
            "memory": context.memory_limit_in_mb, "arn": context.invoked_function_arn,
            "remaining": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "version": context.function_version,
            "group": context.log_group_name, "stream": context.log_stream_name,
            "greeting": os.environ.get("GREETING"), "cwd": os.getcwd(),
            "task_root": os.environ.get("LAMBDA_TASK_ROOT")}
EOF
cat > "$RUN/src/lib/deep/nested.py" << 'EOF'
def handle(event, context):
    return {"nested": True, "name": context.function_name}
EOF
echo 'def handler(event, context): return 1' > "$RUN/src/syntax.py"
echo 'def handler(event, context) return 1' > "$RUN/src/broken.py"
(cd "$RUN/src" && $PY -m zipfile -c "$RUN/app.zip" app.py lib syntax.py broken.py) ||
	{ fail "python3 -m zipfile could not make the zip"; finish; }
echo "not a zip" > "$RUN/notzip.zip"

# Bad configurations are refused before anything starts.
cfg() { # NAME RUNTIME CODE HANDLER [extra JSON]
	echo "{\"functions\":[{\"name\":\"$1\",\"kernel\":\"$BZIMAGE\",\"initrd\":\"$INITRD\",\"runtime\":\"$2\",\"code\":\"$3\",\"handler\":\"$4\"${5:-}}]}"
}
cfg a python2.7 "$RUN/app.zip" app.handler > "$RUN/bad.json"
expect_status 240 "an unknown runtime is refused" -- "$HF" serve --config "$RUN/bad.json" --runtimes "$IMAGES"
expect_in "$RUN/err" 'unknown "runtime" "python2.7": python3.11' "the refusal names the runtimes there are"
cfg a python3.11 "$RUN/notzip.zip" app.handler > "$RUN/bad.json"
expect_status 240 "code that is not a zip is refused" -- "$HF" serve --config "$RUN/bad.json" --runtimes "$IMAGES"
expect_in "$RUN/err" "function a: its code $RUN/notzip.zip is not a zip" "the refusal names the file"
cfg a python3.11 "$RUN/app.zip" app.handler > "$RUN/bad.json"
expect_status 240 "a runtime without its image is refused" -- "$HF" serve --config "$RUN/bad.json" --runtimes "$RUN/none"
expect_in "$RUN/err" "runtime python3.11: no image at $RUN/none/python3.11.img" "the refusal names where it looked"

# ---------------------------------------------------------------- serve
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
fn() { # NAME HANDLER MODE
	echo "{\"name\": \"$1\", \"kernel\": \"$BZIMAGE\", \"initrd\": \"$INITRD\", \"runtime\": \"python3.11\",
	  \"code\": \"$RUN/app.zip\", \"handler\": \"$2\", \"mode\": \"$3\", \"memory\": 256,
	  \"timeout\": $(scaled 3), \"concurrency\": 2, \"pool\": 1, \"environment\": {\"GREETING\": \"hi\"}}"
}
cat > "$RUN/fn.json" << EOF
{"functions": [
  $(fn py app.handler clone),
  $(fn pyfresh app.handler fresh),
  $(fn nested lib/deep/nested.handle clone),
  $(fn nomodule nothere.handler clone),
  $(fn nohandler app.nothere clone),
  $(fn syntax broken.handler clone)
]}
EOF
# (serve finds build/runtimes beside build/hyperfork by itself; a sanitized build is elsewhere)
"$HF" serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --run-dir "$RUN" --runtimes "$IMAGES" \
	> "$RUN/serve.out" 2> "$RUN/serve.err" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; cleanup' EXIT
check "serve listens" wait_for 30 grep -q "^serve: listening on $URL" "$RUN/serve.out"
if ! wait_for 900 bash -c "[ \$(grep -cE '^serve: function (py|pyfresh|nested) ready' '$RUN/serve.out') = 3 ] &&
	[ \$(grep -cE '^serve: function (nomodule|nohandler|syntax) failed' '$RUN/serve.out') = 3 ]"; then
	fail "the Python functions are booted and initialised, the broken ones fail"
	sed 's/^/  | /' "$RUN/serve.out" "$RUN/serve.err"
	cat "$RUN"/serve.*/py/py.console 2> /dev/null | tr -d '\r' | tail -20 | sed 's/^/  | py console: /'
	finish
fi
pass "the Python functions are booted and initialised, the broken ones fail"

invoke() { aws_invoke "$URL" "$@"; } # NAME PAYLOAD [aws options...] (lib.sh)
field() { aws_field "$1"; }
out() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$RUN/out.json" "$1" 2> /dev/null; }

invoke py '{"x": 1}'
check_or_show "aws lambda invoke: the handler's result" "$RUN/inv.err" test "$st/$(out 'd["event"]')" = "0/{'x': 1}"
check "the context: function name, memory, version, log group and stream" \
	test "$(out '[d["function_name"], d["memory"], d["version"], d["group"], d["stream"]]')" = "['py', '256', '\$LATEST', '/aws/lambda/py', 'hyperfork']"
check "the context: the invoked ARN names the function" bash -c "[[ '$(out 'd["arn"]')' == arn:aws:lambda:*:function:py ]]"
check "the context: a request id" test -n "$(out 'd["request_id"]')"
# (The deadline is the host's; the guest's clock can lag it by a clone's making where KVM
# has no KVM_CLOCK_REALTIME, up to ~0.2 s in the emulated host: README, Known limits.)
check "the context: time remaining within the timeout ($(out 'd["remaining"]') ms of $(scaled 3) s)" \
	test "$(out '0 < d["remaining"] <= '"$(scaled 3)"' * 1000 + 1000')" = True
check "the environment, the task root as cwd" test "$(out '[d["greeting"], d["cwd"], d["task_root"]]')" = "['hi', '/var/task', '/var/task']"
check "what init built is there (the table)" test "$(out 'd["table"]')" = 1000000
check "the before-snapshot hook ran once, the after-restore hook once in this clone" \
	test "$(out '[d["state"]["before"], d["state"]["after"], d["state"]["calls"]]')" = "[1, 1, 1]"
cp "$RUN/out.json" "$RUN/first.json"
invoke py '{"x": 2}'
check "the next invocation starts from the template again (one call, one after-restore)" \
	test "$(out '[d["state"]["before"], d["state"]["after"], d["state"]["calls"]]')" = "[1, 1, 1]"
first() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$RUN/first.json" "$1"; }
check "uuid4() differs between two invocations from one template" test "$(out 'd["uuid"]')" != "$(first uuid)"
check "random.random() differs too (reseeded at the new generation)" test "$(out 'd["random"]')" != "$(first random)"
invoke pyfresh '{}'
cp "$RUN/out.json" "$RUN/first.json"
invoke pyfresh '{}'
check "mode fresh: uuid4() and random differ between two fresh clones" \
	test "$(out 'd["uuid"]') $(out 'd["random"]')" != "$(first uuid) $(first random)"
check "mode fresh: the after-restore hook ran in this clone" test "$(out 'd["state"]["after"]')" = 1

invoke py '{"raise": "boom"}'
check_or_show "a handler that raises: FunctionError Unhandled" "$RUN/inv.json" test "$(field FunctionError)" = Unhandled
check "Lambda's error shape: errorType, errorMessage, requestId" \
	test "$(out '[d["errorType"], d["errorMessage"], bool(d["requestId"])]')" = "['ValueError', 'asked to raise: boom', True]"
check "and a stack trace naming the handler's file and line" \
	bash -c "[[ '$(out 'd["stackTrace"][-1].split(chr(10))[0]')' == *'File \"/var/task/app.py\", line'*'in handler' ]]"

invoke py '{"sleep": 100}'
check_or_show "a handler past its timeout: Unhandled, Task timed out" "$RUN/out.json" \
	bash -c "[ '$(field FunctionError)' = Unhandled ] && grep -q 'Task timed out after' '$RUN/out.json'"
invoke py '{"x": 3}' --log-type Tail
check "the function answers again after a timeout" test "$(out 'd["event"]["x"]')" = 3
check "Tail: the handler's print is in the log" bash -c \
	"base64 -d <<< '$(field LogResult)' | grep -q '^app: invocation $(out 'd["request_id"]')'"

invoke nested '{}'
check_or_show "a handler in a subdirectory (lib/deep/nested.handle)" "$RUN/inv.err" \
	test "$(cat "$RUN/out.json")" = '{"nested": true, "name": "nested"}'

for f in nomodule:Runtime.ImportModuleError:"Unable to import module 'nothere'" \
	nohandler:Runtime.HandlerNotFound:"Handler 'nothere' missing on module 'app'" \
	syntax:Runtime.UserCodeSyntaxError:"Syntax error in module 'broken'"; do
	IFS=: read -r name type msg <<< "$f"
	invoke "$name" '{}'
	check_or_show "init failed ($name): the invocation is refused with $type: $msg" "$RUN/inv.err" \
		bash -c "grep -q ResourceConflictException '$RUN/inv.err' && grep -qF '$type' '$RUN/inv.err' && grep -qF \"$msg\" '$RUN/inv.err'"
done

kill $serve_pid
wait $serve_pid
check "serve ends cleanly" test $? = 0
finish
