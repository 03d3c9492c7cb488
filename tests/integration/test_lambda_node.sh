#!/usr/bin/env bash
# A Node.js function through the Lambda management API, as a user makes one: a zip of
# index.js created with awscli (runtime nodejs18.x, an environment), Active once its template
# is frozen, invoked twice (its result, environment and context; a crypto.randomUUID() of its
# own in each invocation's clone, the one drawn at init the same), then deleted, its state
# and VMs gone. (Apart from test_lambda_api so that the two run side by side: each Node boot
# costs minutes in an emulated host.)
. "$(dirname "$0")/lib.sh"

need_linux_guest
AWS=/usr/bin/aws PY=/usr/bin/python3
IMAGES=$TOP/build/runtimes
for t in $AWS $PY; do
	[ -x $t ] || { fail "no $t: run scripts/install-deps.sh"; finish; }
done
[ -f "$IMAGES/nodejs18.x.img" ] || { fail "no runtime image $IMAGES/nodejs18.x.img: make runtimes"; finish; }
aws_env

# A Node handler (one Node VM: each boots Node, which an emulated host pays minutes for). What
# it draws at init is drawn once, in the template; what it draws in an invocation, in that
# invocation's clone.
mkdir -p "$RUN/node"
cat > "$RUN/node/index.js" << 'EOF'
const crypto = require('crypto');
const INIT = crypto.randomUUID();
exports.handler = async (event, context) => ({
  uuid: crypto.randomUUID(), init: INIT, event, colour: process.env.COLOUR,
  name: context.functionName, memory: context.memoryLimitInMB, node: process.version,
});
EOF
(cd "$RUN/node" && $PY -m zipfile -c "$RUN/node.zip" index.js)

STATE=$RUN/state
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
start_serve() {
	"$HF" serve --listen 127.0.0.1:$PORT --state-dir "$STATE" --run-dir "$RUN" --runtimes "$IMAGES" \
		--linux "$LINUX_DIR" "$@" > "$RUN/serve.out" 2> "$RUN/serve.err" &
	serve_pid=$!
	wait_for 30 grep -q "^serve: listening on $URL" "$RUN/serve.out"
}
trap 'kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; cleanup' EXIT
check_or_show "serve listens with no functions but its state directory's" "$RUN/serve.err" start_serve
lambda() { timeout 300 $AWS lambda --endpoint-url "$URL" "$@" > "$RUN/cli.out" 2> "$RUN/cli.err"; }
invoke() { aws_invoke "$URL" "$@"; } # NAME PAYLOAD (lib.sh): $RUN/out.json, $st

lambda create-function --function-name node --runtime nodejs18.x --handler index.handler \
	--role arn:aws:iam::000000000000:role/lambda --zip-file "fileb://$RUN/node.zip" \
	--environment 'Variables={COLOUR=red}'
check_or_show "create-function of a Node function (nodejs18.x): Pending" "$RUN/cli.err" \
	test "$(json_q "$RUN/cli.out" '[d["FunctionName"], d["State"], d["Runtime"], d["Handler"]]')" = "['node', 'Pending', 'nodejs18.x', 'index.handler']"

# (serve says when its template is frozen or failed; then GetFunction once: awscli polled in
# a loop would take the emulated host's one CPU from the booting VM)
# (GetFunction by curl: each awscli run costs ~20 s of the emulated host's one CPU)
wait_for 600 grep -qE '^serve: function node (ready|failed)' "$RUN/serve.out"
curl -s -m 30 "$URL/2015-03-31/functions/node" > "$RUN/gf.json"
check_or_show "the Node function becomes Active (LastUpdateStatus Successful)" "$RUN/serve.out" \
	test "$(json_q "$RUN/gf.json" '[d["Configuration"][k] for k in ("State", "LastUpdateStatus", "Runtime")]')" = "['Active', 'Successful', 'nodejs18.x']"
invoke node '{"n": 1}'
check_or_show "aws lambda invoke of the Node function: its result, environment and context" "$RUN/inv.err" \
	test "$(json_q "$RUN/out.json" '[d["event"], d["colour"], d["name"], d["memory"], d["node"][:4]]')" = "[{'n': 1}, 'red', 'node', '128', 'v18.']"
http_invoke "$URL" node '{"n": 2}'
check_or_show "a second invocation (curl) answers" "$RUN/c.out" test "$(json_q "$RUN/c.out" 'd["event"]')" = "{'n': 2}"
uuids="$(json_q "$RUN/out.json" 'd["uuid"]') and $(json_q "$RUN/c.out" 'd["uuid"]')"
check "two invocations draw different crypto.randomUUID() ($uuids)" \
	test "$(json_q "$RUN/c.out" 'd["uuid"]')" != "$(json_q "$RUN/out.json" 'd["uuid"]')" -a -n "$(json_q "$RUN/c.out" 'd["uuid"]')"
check "both come from one template: the UUID drawn at init is the same" \
	test "$(json_q "$RUN/c.out" 'd["init"]')" = "$(json_q "$RUN/out.json" 'd["init"]')" -a -n "$(json_q "$RUN/c.out" 'd["init"]')"
check_or_show "delete-function of the Node function" "$RUN/cli.err" lambda delete-function --function-name node
check "the Node function's state and its VMs go" wait_for 120 bash -c "[ ! -e '$STATE/functions/node' ] && grep -q 'function node deleted' '$RUN/serve.out'"
kill $serve_pid
wait $serve_pid
check "serve ends cleanly" test $? = 0
finish
