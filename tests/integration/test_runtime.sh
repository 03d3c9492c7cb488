# Managed runtimes: Python and Node.js functions as a Lambda user writes them (app.py with
# handler(event, context); index.js, an ES module, a callback handler), zipped, served by
# `hyperfork serve` with runtimes python3.11 and nodejs18.x (Debian's python3.11 and nodejs
# in build/runtimes/RUNTIME.img, the project's runtime clients) and called with Debian's
# awscli: the context object, Lambda's error shape, a timeout, the handler's log, fresh
# random state per invocation although every one starts from the same frozen template
# (Python: random, uuid4; Node: crypto.randomUUID, randomBytes, randomInt, Math.random),
# the snapshot hooks (before the snapshot once, after restore in every clone), handlers in
# subdirectories, and init errors. (All but the first invocation are made through boto3, in
# one process: below.)
. "$(dirname "$0")/lib.sh"

need_linux_guest
AWS=/usr/bin/aws PY=/usr/bin/python3
IMAGES=$TOP/build/runtimes
for t in $AWS $PY; do
	[ -x $t ] || { fail "no $t: run scripts/install-deps.sh"; finish; }
done
for r in python3.11 nodejs18.x; do
	[ -f "$IMAGES/$r.img" ] || { fail "no runtime image $IMAGES/$r.img: make runtimes"; finish; }
done
aws_env

# ---------------------------------------------------------------- the code, zipped
mkdir -p "$RUN/src/lib/deep"
cat > "$RUN/src/app.py" << 'EOF'
import os, random, time, uuid
from snapshot_restore_py import register_before_snapshot, register_after_restore

TABLE = [i * i for i in range(200000)]  # built once, at init, before the snapshot
# Init moves the guest's wall clock an hour back: every invocation must still see the host's.
time.clock_settime(time.CLOCK_REALTIME, time.time() - 3600)
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
            "remaining": context.get_remaining_time_in_millis(), "now": int(time.time() * 1000),
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

# Node (each function boots Node in a VM of its own, which the emulated host pays dearly
# for: four of them): index.js (CommonJS; its handler returns a promise, or, for an event
# with "callback", calls back as a callback handler does), lib/deep/app.mjs (an ES module in
# a subdirectory). index.js draws from every random generator at init, before the
# snapshot: were nothing reseeded, each clone would go on drawing the same.
mkdir -p "$RUN/node/lib/deep"
cat > "$RUN/node/index.js" << 'EOF'
const crypto = require('crypto');
const { registerBeforeSnapshot, registerAfterRestore } = require('snapshot-restore-node');

const TABLE = Array.from({ length: 200000 }, (_, i) => i * i); // built once, at init
const STATE = { before: [], after: [], calls: 0 };
const INIT = { uuid: crypto.randomUUID(), random: Math.random(), int: crypto.randomInt(2 ** 40),
  bytes: crypto.randomBytes(16).toString('hex') };

registerBeforeSnapshot(() => { STATE.before.push('first'); });
registerBeforeSnapshot(async () => { await new Promise((r) => setTimeout(r, 10)); STATE.before.push('second'); });
registerAfterRestore(() => { STATE.after.push('first'); });
registerAfterRestore((tag) => { STATE.after.push(tag); }, 'second');

// Lambda's Node 18 runtime takes a handler's promise if it returns one, else waits for its
// callback (or, if it never calls back, answers null once the event loop is idle).
function callbackStyle(event, context, callback) {
  context.callbackWaitsForEmptyEventLoop = false;
  if (event.callback === 'fail') return setTimeout(() => callback(new RangeError('called back with an error')), 10);
  if (event.callback === 'none') return undefined;
  setTimeout(() => callback(null, { calledBack: true, waits: context.callbackWaitsForEmptyEventLoop }), 50);
  return undefined;
}

exports.handler = function (event, context, callback) {
  if ('callback' in event) return callbackStyle(event, context, callback);
  return main(event, context);
};

async function main(event, context) {
  STATE.calls++;
  if (event.throw) throw new TypeError(`asked to throw: ${event.throw}`);
  console.log('node: invocation', context.awsRequestId);
  console.warn('node: a warning');
  return {
    event, state: STATE, table: TABLE[1000], init: INIT,
    uuid: crypto.randomUUID(), random: Math.random(), int: crypto.randomInt(2 ** 40),
    bytes: crypto.randomBytes(16).toString('hex'),
    context: {
      awsRequestId: context.awsRequestId, functionName: context.functionName,
      functionVersion: context.functionVersion, memoryLimitInMB: context.memoryLimitInMB,
      invokedFunctionArn: context.invokedFunctionArn, logGroupName: context.logGroupName,
      logStreamName: context.logStreamName, clientContext: context.clientContext,
      identity: context.identity === undefined ? 'undefined' : context.identity,
      callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
      remaining: context.getRemainingTimeInMillis(),
    },
    now: Date.now(),
    greeting: process.env.GREETING, cwd: process.cwd(), taskRoot: process.env.LAMBDA_TASK_ROOT,
    commonjs: typeof module === 'object' && typeof require === 'function',
  };
}
EOF
cat > "$RUN/node/lib/deep/app.mjs" << 'EOF'
import { randomUUID } from 'node:crypto';
import { registerAfterRestore } from 'snapshot-restore-node';

let restored = 0;
registerAfterRestore(() => { restored += 1; });

export const handler = async (event, context) => ({
  esm: typeof require === 'undefined', url: import.meta.url, restored,
  name: context.functionName, uuid: randomUUID(),
});
EOF
(cd "$RUN/node" && $PY -m zipfile -c "$RUN/node.zip" index.js lib) ||
	{ fail "python3 -m zipfile could not make the Node zip"; finish; }

# Bad configurations are refused before anything starts.
cfg() { # NAME RUNTIME CODE HANDLER [extra JSON]
	echo "{\"functions\":[{\"name\":\"$1\",\"kernel\":\"$BZIMAGE\",\"initrd\":\"$INITRD\",\"runtime\":\"$2\",\"code\":\"$3\",\"handler\":\"$4\"${5:-}}]}"
}
cfg a python2.7 "$RUN/app.zip" app.handler > "$RUN/bad.json"
expect_status 240 "an unknown runtime is refused" -- "$HF" serve --config "$RUN/bad.json" --runtimes "$IMAGES"
expect_in "$RUN/err" 'unknown "runtime" "python2.7": python3.11 nodejs18.x' "the refusal names the runtimes there are"
cfg a python3.11 "$RUN/notzip.zip" app.handler > "$RUN/bad.json"
expect_status 240 "code that is not a zip is refused" -- "$HF" serve --config "$RUN/bad.json" --runtimes "$IMAGES"
expect_in "$RUN/err" "function a: its code $RUN/notzip.zip is not a zip" "the refusal names the file"
cfg a python3.11 "$RUN/app.zip" app.handler > "$RUN/bad.json"
expect_status 240 "a runtime without its image is refused" -- "$HF" serve --config "$RUN/bad.json" --runtimes "$RUN/none"
expect_in "$RUN/err" "runtime python3.11: no image at $RUN/none/python3.11.img" "the refusal names where it looked"

# ---------------------------------------------------------------- serve
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
fn() { # NAME HANDLER MODE [RUNTIME ZIP]
	echo "{\"name\": \"$1\", \"kernel\": \"$BZIMAGE\", \"initrd\": \"$INITRD\", \"runtime\": \"${4:-python3.11}\",
	  \"code\": \"${5:-$RUN/app.zip}\", \"handler\": \"$2\", \"mode\": \"$3\", \"memory\": 256,
	  \"timeout\": $(scaled 3), \"concurrency\": 2, \"pool\": 1, \"environment\": {\"GREETING\": \"hi\"}}"
}
cat > "$RUN/fn.json" << EOF
{"functions": [
  $(fn py app.handler clone),
  $(fn pyfresh app.handler fresh),
  $(fn nested lib/deep/nested.handle clone),
  $(fn nomodule nothere.handler clone),
  $(fn nohandler app.nothere clone),
  $(fn syntax broken.handler clone),
  $(fn node index.handler clone nodejs18.x "$RUN/node.zip"),
  $(fn nodeesm lib/deep/app.handler clone nodejs18.x "$RUN/node.zip"),
  $(fn nodenomodule nothere.handler clone nodejs18.x "$RUN/node.zip"),
  $(fn nodenohandler index.nothere clone nodejs18.x "$RUN/node.zip")
]}
EOF
# (serve finds build/runtimes beside build/hyperfork by itself; a sanitized build is elsewhere.
# Ten functions boot at once: in an emulated host sharing the machine with another, none
# finished its init within serve's default 300 s once, so that wait is scaled like the rest.)
"$HF" serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --run-dir "$RUN" --runtimes "$IMAGES" \
	--init-timeout "$(scaled 300)" > "$RUN/serve.out" 2> "$RUN/serve.err" &
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
if ! wait_for 900 bash -c "[ \$(grep -cE '^serve: function (node|nodeesm) ready' '$RUN/serve.out') = 2 ] &&
	[ \$(grep -cE '^serve: function (nodenomodule|nodenohandler) failed' '$RUN/serve.out') = 2 ]"; then
	fail "the Node functions are booted and initialised, the broken ones fail"
	sed 's/^/  | /' "$RUN/serve.out" "$RUN/serve.err"
	cat "$RUN"/serve.*/node/node.console 2> /dev/null | tr -d '\r' | tail -20 | sed 's/^/  | node console: /'
	finish
fi
pass "the Node functions are booted and initialised, the broken ones fail"

invoke() { aws_invoke "$URL" "$@"; } # NAME PAYLOAD [aws options...] (lib.sh)
field() { aws_field "$1"; }
out() { json_q "$RUN/out.json" "$1"; }

t0=$(date +%s%3N)
invoke py '{"x": 1}'
st1=$st
t1=$(date +%s%3N)
cp "$RUN/out.json" "$RUN/py1.json"
cp "$RUN/inv.err" "$RUN/py1.err"
# The first Python invocation is awscli's; the rest, Python's and Node's, are made by one
# boto3 process, one invocation after another (each awscli run costs seconds of Python
# starting, ~20 s in the emulated host): TAG NAME PAYLOAD [client context], each answer kept
# as aws_invoke keeps it (TAG.inv.json: StatusCode, FunctionError, LogResult; TAG.out.json:
# the payload; TAG.inv.err: the error), with the Tail log. use TAG puts one where invoke
# would, for the checks.
cat > "$RUN/invoke.py" << 'EOF'
import base64, json, sys
import boto3, botocore
c = boto3.client("lambda", endpoint_url=sys.argv[1], config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=300))
run = sys.argv[2]
for line in sys.stdin:
    tag, name, payload, *cc = line.rstrip("\n").split("\t")
    kw = dict(FunctionName=name, Payload=payload.encode(), LogType="Tail")
    if cc:
        kw["ClientContext"] = cc[0]
    inv = {}
    try:
        r = c.invoke(**kw)
        inv = {k: r[k] for k in ("StatusCode", "FunctionError", "LogResult", "ExecutedVersion") if k in r}
        open(f"{run}/{tag}.out.json", "wb").write(r["Payload"].read())
        open(f"{run}/{tag}.inv.err", "w").close()
    except botocore.exceptions.ClientError as e:
        open(f"{run}/{tag}.inv.err", "w").write(str(e) + "\n")
    json.dump(inv, open(f"{run}/{tag}.inv.json", "w"))
EOF
cc=$(printf '{"custom": {"k": "v"}}' | base64 -w0)
printf '%s\t%s\t%s\t%s\n' py2 py '{"x": 2}' "" fresh1 pyfresh '{}' "" fresh2 pyfresh '{}' "" \
	raise py '{"raise": "boom"}' "" sleep py '{"sleep": 100}' "" py3 py '{"x": 3}' "" nested nested '{}' "" \
	nomodule nomodule '{}' "" nohandler nohandler '{}' "" syntax syntax '{}' "" \
	first node '{"x": 1}' "$cc" second node '{"x": 2}' "" throw node '{"throw": "boom"}' "" \
	esm nodeesm '{}' "" cbok node '{"callback": "ok"}' "" cbfail node '{"callback": "fail"}' "" \
	cbnone node '{"callback": "none"}' "" nodenomodule nodenomodule '{}' "" nodenohandler nodenohandler '{}' "" |
	sed 's/\t$//' | timeout 900 $PY "$RUN/invoke.py" "$URL" "$RUN" 2> "$RUN/boto.err"
check_or_show "boto3 made the other invocations, one after another" "$RUN/boto.err" test $? = 0
t2=$(date +%s%3N)
# within T0 T1: the handler's wall clock (ms) read between the host's T0 and T1
within() { test "$(out "$1 <= d['now'] <= $2")" = True; }
use() { # TAG
	rm -f "$RUN/out.json"
	cp "$RUN/$1.inv.json" "$RUN/inv.json" && cp "$RUN/$1.inv.err" "$RUN/inv.err" &&
		{ [ ! -e "$RUN/$1.out.json" ] || cp "$RUN/$1.out.json" "$RUN/out.json"; }
	if [ -s "$RUN/inv.err" ]; then st=254; else st=0; fi # as aws's status: 0 if it answered
}

cp "$RUN/py1.json" "$RUN/out.json"
cp "$RUN/py1.err" "$RUN/inv.err"
st=$st1
check_or_show "aws lambda invoke: the handler's result" "$RUN/inv.err" test "$st/$(out 'd["event"]')" = "0/{'x': 1}"
check "the context: function name, memory, version, log group and stream" \
	test "$(out '[d["function_name"], d["memory"], d["version"], d["group"], d["stream"]]')" = "['py', '256', '\$LATEST', '/aws/lambda/py', 'hyperfork']"
check "the context: the invoked ARN names the function" bash -c "[[ '$(out 'd["arn"]')' == arn:aws:lambda:*:function:py ]]"
check "the context: a request id" test -n "$(out 'd["request_id"]')"
# (The deadline is the host's, the guest's clock set to the host's with each invocation,
# although the function's init moved it an hour back.)
check "the guest's wall clock is the host's ($(out 'd["now"]') in $t0..$t1)" within "$t0" "$t1"
check "the context: time remaining within the timeout ($(out 'd["remaining"]') ms of $(scaled 3) s)" \
	test "$(out '0 < d["remaining"] <= '"$(scaled 3)"' * 1000')" = True
check "the environment, the task root as cwd" test "$(out '[d["greeting"], d["cwd"], d["task_root"]]')" = "['hi', '/var/task', '/var/task']"
check "what init built is there (the table)" test "$(out 'd["table"]')" = 1000000
check "the before-snapshot hook ran once, the after-restore hook once in this clone" \
	test "$(out '[d["state"]["before"], d["state"]["after"], d["state"]["calls"]]')" = "[1, 1, 1]"
cp "$RUN/out.json" "$RUN/first.json"
use py2
check "the next invocation starts from the template again (one call, one after-restore)" \
	test "$(out '[d["state"]["before"], d["state"]["after"], d["state"]["calls"]]')" = "[1, 1, 1]"
first() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$RUN/first.json" "$1"; }
check "uuid4() differs between two invocations from one template" test "$(out 'd["uuid"]')" != "$(first uuid)"
check "random.random() differs too (reseeded at the new generation)" test "$(out 'd["random"]')" != "$(first random)"
use fresh1
cp "$RUN/out.json" "$RUN/first.json"
use fresh2
check "mode fresh: uuid4() and random differ between two fresh clones" \
	test "$(out 'd["uuid"]') $(out 'd["random"]')" != "$(first uuid) $(first random)"
check "mode fresh: the after-restore hook ran in this clone" test "$(out 'd["state"]["after"]')" = 1

use raise
check_or_show "a handler that raises: FunctionError Unhandled" "$RUN/inv.json" test "$(field FunctionError)" = Unhandled
check "Lambda's error shape: errorType, errorMessage, requestId" \
	test "$(out '[d["errorType"], d["errorMessage"], bool(d["requestId"])]')" = "['ValueError', 'asked to raise: boom', True]"
check "and a stack trace naming the handler's file and line" \
	bash -c "[[ '$(out 'd["stackTrace"][-1].split(chr(10))[0]')' == *'File \"/var/task/app.py\", line'*'in handler' ]]"

use sleep
check_or_show "a handler past its timeout: Unhandled, Task timed out" "$RUN/out.json" \
	bash -c "[ '$(field FunctionError)' = Unhandled ] && grep -q 'Task timed out after' '$RUN/out.json'"
use py3
check "the function answers again after a timeout" test "$(out 'd["event"]["x"]')" = 3
check "a reset worker's wall clock is the host's again ($(out 'd["now"]') in $t1..$t2)" within "$t1" "$t2"
check "Tail: the handler's print is in the log" bash -c \
	"base64 -d <<< '$(field LogResult)' | grep -q '^app: invocation $(out 'd["request_id"]')'"

use nested
check_or_show "a handler in a subdirectory (lib/deep/nested.handle)" "$RUN/inv.err" \
	test "$(cat "$RUN/out.json")" = '{"nested": true, "name": "nested"}'

for f in nomodule:Runtime.ImportModuleError:"Unable to import module 'nothere'" \
	nohandler:Runtime.HandlerNotFound:"Handler 'nothere' missing on module 'app'" \
	syntax:Runtime.UserCodeSyntaxError:"Syntax error in module 'broken'"; do
	IFS=: read -r name type msg <<< "$f"
	use "$name"
	check_or_show "init failed ($name): the invocation is refused with $type: $msg" "$RUN/inv.err" \
		bash -c "grep -q ResourceConflictException '$RUN/inv.err' && grep -qF '$type' '$RUN/inv.err' && grep -qF \"$msg\" '$RUN/inv.err'"
done

# ---------------------------------------------------------------- Node.js
# The Tail log: a line of the handler's console.log as Lambda's Node runtime writes it.
tail_has() { # LEVEL TEXT: a line "TIME<tab>REQUEST-ID<tab>LEVEL<tab>TEXT" with this invocation's id
	base64 -d <<< "$(field LogResult)" | tr -d '\r' |
		grep -qP "^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t$(out 'd["context"]["awsRequestId"]')\t$1\t$2\$"
}
use first
check_or_show "Node, CommonJS index.handler: the handler's result" "$RUN/inv.err" \
	test "$st/$(out 'd["event"]')/$(out 'd["commonjs"]')" = "0/{'x': 1}/True"
check "the context: function name, memory, version, log group and stream" \
	test "$(out '[d["context"][k] for k in ("functionName", "memoryLimitInMB", "functionVersion", "logGroupName", "logStreamName")]')" = \
	"['node', '256', '\$LATEST', '/aws/lambda/node', 'hyperfork']"
check "the context: the invoked ARN names the function, a request id" \
	bash -c "[[ '$(out 'd["context"]["invokedFunctionArn"]')' == arn:aws:lambda:*:function:node ]] && [ -n '$(out 'd["context"]["awsRequestId"]')' ]"
check "the context: the client context given, no identity, callbackWaitsForEmptyEventLoop true" \
	test "$(out '[d["context"]["clientContext"], d["context"]["identity"], d["context"]["callbackWaitsForEmptyEventLoop"]]')" = \
	"[{'custom': {'k': 'v'}}, 'undefined', True]"
check "the context: time remaining within the timeout ($(out 'd["context"]["remaining"]') ms of $(scaled 3) s)" \
	test "$(out '0 < d["context"]["remaining"] <= '"$(scaled 3)"' * 1000')" = True
# (Node's clock was left alone at init: within 1 s ahead of the host's it is left as it is.)
check "Node: the guest's wall clock is the host's ($(out 'd["now"]') in $t1..$t2 + 1 s)" within "$t1" "$((t2 + 1000))"
check "the environment, the task root as cwd, what init built" \
	test "$(out '[d["greeting"], d["cwd"], d["taskRoot"], d["table"]]')" = "['hi', '/var/task', '/var/task', 1000000]"
check "the before-snapshot hooks ran once (in reverse order), the after-restore hooks once in this clone (in order)" \
	test "$(out '[d["state"]["before"], d["state"]["after"], d["state"]["calls"]]')" = "[['second', 'first'], ['first', 'second'], 1]"
check "Tail: console.log's line with its time, request id and level" tail_has INFO "node: invocation $(out 'd["context"]["awsRequestId"]')"
check "Tail: console.warn's, level WARN" tail_has WARN "node: a warning"
cp "$RUN/out.json" "$RUN/first.json"
use second
check_or_show "the next invocation starts from the template again (one call, each hook once)" "$RUN/out.json" \
	test "$(out '[d["event"]["x"], d["state"]["before"], d["state"]["after"], d["state"]["calls"]]')" = "[2, ['second', 'first'], ['first', 'second'], 1]"
earlier() { json_q "$RUN/first.json" "$1"; }
check "both clones come from one template: what init drew is the same in both" \
	test "$(out 'd["init"]')" = "$(earlier 'd["init"]')"
for k in uuid bytes int random; do
	check "what each clone draws differs: $k ($(out "d['$k']") and $(earlier "d['$k']"))" \
		test "$(out "d['$k']")" != "$(earlier "d['$k']")"
done

use throw
check_or_show "a handler that throws: FunctionError Unhandled" "$RUN/inv.json" test "$(field FunctionError)" = Unhandled
check "Lambda's error shape: errorType, errorMessage, trace" \
	test "$(out '[d["errorType"], d["errorMessage"], d["trace"][0]]')" = "['TypeError', 'asked to throw: boom', 'TypeError: asked to throw: boom']"
check "and the trace names the handler's file" test "$(out 'any("/var/task/index.js:" in l for l in d["trace"])')" = True

use esm
check_or_show "an ES module in a subdirectory (lib/deep/app.handler: app.mjs), its hook imported" "$RUN/inv.err" \
	test "$(out '[d["esm"], d["url"], d["name"], d["restored"]]')" = "[True, 'file:///var/task/lib/deep/app.mjs', 'nodeesm', 1]"

use cbok
check_or_show "a handler calling back (no promise): what it called back with" "$RUN/inv.err" \
	test "$(cat "$RUN/out.json")" = '{"calledBack":true,"waits":false}'
use cbfail
check_or_show "a handler calling back with an error: Unhandled, the error's type and message" "$RUN/out.json" \
	test "$(field FunctionError) $(out '[d["errorType"], d["errorMessage"]]')" = "Unhandled ['RangeError', 'called back with an error']"
use cbnone
check_or_show "a handler that neither returns a promise nor calls back: null once it has nothing left to do" "$RUN/inv.err" \
	test "$st/$(cat "$RUN/out.json")" = "0/null"

for f in nodenomodule:Runtime.ImportModuleError:"Error: Cannot find module 'nothere'" \
	nodenohandler:Runtime.HandlerNotFound:"index.nothere is undefined or not exported"; do
	IFS=: read -r name type msg <<< "$f"
	use "$name"
	check_or_show "init failed ($name): the invocation is refused with $type: $msg" "$RUN/inv.err" \
		bash -c "grep -q ResourceConflictException '$RUN/inv.err' && grep -qF '$type' '$RUN/inv.err' && grep -qF \"$msg\" '$RUN/inv.err'"
done

kill $serve_pid
wait $serve_pid
check "serve ends cleanly" test $? = 0
finish
