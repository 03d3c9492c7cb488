# Bare functions (--function, the function ports of ABI version 3): guest/examples/echo-fn.elf
# answers invocations sent to its VM's socket RUN_DIR/NAME.fn with include/hyperfork/lambda.h's
# exchange (no CONNECT line; tests/integration/lambda_host.py --direct is the client): in a
# warm VM (hf.lambda=warm), in a clone made by `hyperfork fork`, in a template's activated
# clones; errors, Function.ResponseSizeTooLarge, 1 MiB both ways, a guest that crashes,
# exits or spins, a client that hangs up, an init error, the time left to the deadline
# (hf_left_ms), and the refusals.
. "$(dirname "$0")/lib.sh"

LH=$TOP/tests/integration/lambda_host.py
FN=$GUESTS/echo-fn.elf
[ -x /usr/bin/python3 ] || { fail "no /usr/bin/python3 for lambda_host.py: run scripts/install-deps.sh"; finish; }

# inv SOCKET [lambda_host.py invoke options] [PAYLOAD_FILE]: one invocation; the answer in
# $RUN/ans (line, then body), lambda_host's status in $st.
inv() { timeout 60 "$LH" invoke --direct "$@" > "$RUN/ans" 2> "$RUN/ans.err"; st=$?; cat "$RUN/ans.err" >> "$RUN/ans"; }
ans_line() { head -n 1 "$RUN/ans"; }
ans_body() { tail -n +2 "$RUN/ans"; }
# answer_is KIND BODY [TYPE]: answered KIND with BODY (and TYPE), its length right.
answer_is() { [ "$st" = 0 ] && [ "$(ans_line)" = "$1 ${#2}${3:+ $3}" ] && [ "$(ans_body)" = "$2" ]; }
# payload P: the payload file holding P
payload() { printf '%s' "$1" > "$RUN/ev"; }
fn_up() { [ -S "$RUN/$1.fn" ]; }
console_has() { grep -qF -- "$2" "$1"; }

# ---------------------------------------------------------------- warm: one VM
"$HF" run --name w --mem 64M --timeout "$(scaled 300)" --function --console "$RUN/w.out" \
	--bare "$FN" --cmdline hf.lambda=warm > /dev/null 2> "$RUN/w.err" &
w_pid=$!
if ! wait_for 20 fn_up w; then
	fail "warm: no socket $RUN/w.fn"; sed 's/^/  | /' "$RUN/w.err" "$RUN/w.out"; finish
fi
pass "warm: the VM listens on RUN_DIR/w.fn"
for i in 1 2 3; do
	payload "{\"n\":$i}"
	inv "$RUN/w.fn" --id "req-$i" "$RUN/ev"
	check_or_show "warm: invocation $i is echoed by the guest" "$RUN/ans" \
		answer_is RESPONSE "{\"echo\":{\"n\":$i},\"clone\":0}"
done
check_or_show "warm: the guest saw the request id" "$RUN/w.out" console_has "$RUN/w.out" "echo-fn: invocation req-2, 7 bytes, clone 0"
payload '{"cmd":"fail"}'
inv "$RUN/w.fn" "$RUN/ev"
check_or_show "warm: the function's error comes back as ERROR with its type" "$RUN/ans" \
	answer_is ERROR '{"errorMessage":"asked to fail","errorType":"Echo.Failed"}' Echo.Failed
payload '{"cmd":"left"}'
inv "$RUN/w.fn" --deadline "$(($(date +%s%3N) + 60000))" "$RUN/ev"
left=$(ans_body | sed -n 's/^{"left":\([0-9]*\)}$/\1/p')
check_or_show "warm: the time left to a deadline 60 s away, 1 s into the invocation (${left:-none} ms)" \
	"$RUN/ans" test "${left:-0}" -gt 30000 -a "${left:-0}" -le 59000
payload '{"cmd":"big"}'
inv "$RUN/w.fn" "$RUN/ev"
check_or_show "warm: a result over 6 MiB is Function.ResponseSizeTooLarge" "$RUN/ans" \
	answer_is ERROR '{"errorMessage":"Response payload size (6291457 bytes) exceeded maximum allowed payload size (6291456 bytes).","errorType":"Function.ResponseSizeTooLarge"}' Function.ResponseSizeTooLarge
# 1 MiB of payload both ways.
head -c 786432 /dev/urandom | base64 -w0 > "$RUN/big.b64"
printf '"%s"' "$(cat "$RUN/big.b64")" > "$RUN/ev"
inv "$RUN/w.fn" "$RUN/ev" --body "$RUN/big.out"
printf '{"echo":"%s","clone":0}' "$(cat "$RUN/big.b64")" > "$RUN/big.want"
check_or_show "warm: 1 MiB of payload comes back whole" "$RUN/ans" \
	bash -c "[ $st = 0 ] && cmp -s '$RUN/big.out' '$RUN/big.want'"
payload '{"cmd":"print"}'
inv "$RUN/w.fn" "$RUN/ev"
check_or_show "warm: a function printing 1 MiB still answers" "$RUN/ans" \
	answer_is RESPONSE '{"echo":{"cmd":"print"},"clone":0}'
check "warm: its 16384 lines are on the console" \
	bash -c "[ \$(grep -c '^x\{63\}\$' '$RUN/w.out') -ge 16384 ]"
# A client that gives up (hangs up) before the answer: the late answer is dropped quietly.
payload '{"cmd":"slow"}'
inv "$RUN/w.fn" --timeout 0.5 "$RUN/ev"
check_or_show "warm: a client giving up after 0.5 s has no answer" "$RUN/ans" test "$st" = 4
payload '{"n":"after"}'
inv "$RUN/w.fn" "$RUN/ev"
check_or_show "warm: the next invocation is served (the late answer went nowhere)" "$RUN/ans" \
	answer_is RESPONSE '{"echo":{"n":"after"},"clone":0}'
printf 'CONNECT 9000\n' | timeout 20 "$LH" raw --direct --timeout 10 "$RUN/w.fn" > "$RUN/raw" 2>&1
check_or_show "warm: a bad line is closed without an answer" "$RUN/raw" bash -c "[ $? = 0 ] && [ ! -s '$RUN/raw' ]"

# ---------------------------------------------------------------- a clone by hyperfork fork
"$HF" fork w > "$RUN/fork.out" 2>&1
check_or_show "fork: w.1 made" "$RUN/fork.out" grep -q "w\.1" "$RUN/fork.out"
check "fork: w.1 listens on RUN_DIR/w.1.fn" fn_up w.1
payload '{"where":"clone"}'
inv "$RUN/w.1.fn" "$RUN/ev"
check_or_show "fork: the clone answers as clone 1" "$RUN/ans" answer_is RESPONSE '{"echo":{"where":"clone"},"clone":1}'
payload '{"where":"original"}'
inv "$RUN/w.fn" "$RUN/ev"
check_or_show "fork: the original answers as itself" "$RUN/ans" answer_is RESPONSE '{"echo":{"where":"original"},"clone":0}'
payload '{"cmd":"crash"}'
inv "$RUN/w.1.fn" "$RUN/ev"
check_or_show "fork: a clone that crashes ends its client's connection without an answer" "$RUN/ans" test "$st" = 4
check "fork: the crashed clone's VMM is gone" wait_for 10 bash -c "! '$HF' status w.1 > /dev/null 2>&1"
check_or_show "fork: the VMM reports the crash on the clone's console file" "$RUN/w.1.console" \
	wait_for 10 grep -q "triple fault" "$RUN/w.1.console"
check "fork: the crashed clone's socket is gone" bash -c "[ ! -e '$RUN/w.1.fn' ]"
payload '{"n":"still"}'
inv "$RUN/w.fn" "$RUN/ev"
check_or_show "fork: the original serves on" "$RUN/ans" answer_is RESPONSE '{"echo":{"n":"still"},"clone":0}'
"$HF" stop w > /dev/null 2>&1
wait $w_pid
check "warm: stopped (status 244)" test $? = 244
check "warm: its socket is removed with it" bash -c "[ ! -e '$RUN/w.fn' ]"

# ---------------------------------------------------------------- a template's clones
"$HF" run --name t --mem 64M --timeout "$(scaled 300)" --function --template --pool 2 \
	--console "$RUN/t.out" --bare "$FN" > /dev/null 2> "$RUN/t.err" &
t_pid=$!
tpl() { [ "$(status_field t state)" = template ]; }
if ! wait_for 30 tpl; then
	fail "template: t did not freeze at its first next"; sed 's/^/  | /' "$RUN/t.err" "$RUN/t.out"; finish
fi
pass "template: frozen at the function's first call for an invocation"
for k in 1 2 3; do
	"$HF" fork t > /dev/null 2>&1
	payload "{\"k\":$k}"
	inv "$RUN/t.$k.fn" "$RUN/ev"
	check_or_show "template: activated clone t.$k takes its invocation" "$RUN/ans" \
		answer_is RESPONSE "{\"echo\":{\"k\":$k},\"clone\":$k}"
done
payload '{"n":1}'
inv "$RUN/t.fn" "$RUN/ev"
check_or_show "template: its own socket serves nobody (its guest does not run)" "$RUN/ans" test "$st" = 4
"$HF" fork t > /dev/null 2>&1
payload '{"cmd":"spin"}'
start=$SECONDS
inv "$RUN/t.4.fn" --timeout "$(scaled 1)" "$RUN/ev"
check_or_show "template: a clone spinning past the client's timeout gives no answer" "$RUN/ans" test "$st" = 4
check "template: the spinning clone can be stopped" bash -c "'$HF' stop t.4 > /dev/null 2>&1"
"$HF" fork t > /dev/null 2>&1
payload '{"cmd":"exit"}'
inv "$RUN/t.5.fn" "$RUN/ev"
check_or_show "template: a clone exiting without an answer ends its client's connection" "$RUN/ans" test "$st" = 4
"$HF" fork t > /dev/null 2>&1
payload '{"cmd":"twice"}'
inv "$RUN/t.6.fn" "$RUN/ev"
check_or_show "template: the first answer of a clone answering twice arrives" "$RUN/ans" \
	answer_is RESPONSE '{"echo":{"cmd":"twice"},"clone":6}'
check_or_show "template: the second is reported as the guest's error" "$RUN/t.6.console" \
	wait_for 10 grep -q "response with no invocation taken" "$RUN/t.6.console"
"$HF" stop t > /dev/null 2>&1
wait $t_pid
# Activated clones outlive their template; they end with their sockets.
for k in 1 2 3 6; do "$HF" stop t.$k > /dev/null 2>&1; done
check "template: stopped clones leave no socket" wait_for 10 bash -c "[ -z \"\$(ls '$RUN'/t*.fn 2>/dev/null)\" ]"

# ---------------------------------------------------------------- init error, refusals
expect_status 1 "init error: the VM ends with code 1" -- timeout 20 "$HF" run --name ie --mem 64M \
	--function --bare "$FN" --cmdline "echo.init=fail hf.lambda=warm"
expect_in "$RUN/out" '^HF-LAMBDA-INIT-ERROR Echo.InitFailed \{"errorMessage":"asked to fail its init","errorType":"Echo.InitFailed"\}$' \
	"init error: HF-LAMBDA-INIT-ERROR with its type and body on the console"
expect_status 241 "without --function the function ports are unknown" -- timeout 20 "$HF" run --name nf \
	--mem 64M --bare "$FN" --cmdline hf.lambda=warm
expect_in "$RUN/err" "unknown I/O port 0xe9" "the missing port is named"
expect_status 240 "--function is refused for a Linux guest" -- "$HF" run --name lx --function --kernel "$FN"
expect_in "$RUN/err" "--function is for bare guests \(--bare\)" "the refusal names the option"
expect_status 240 "--function takes no argument" -- "$HF" run --name x --function=yes --bare "$FN"
"$HF" run --name dup --mem 64M --function --console none --bare "$FN" --cmdline hf.lambda=warm > /dev/null 2>&1 &
dup_pid=$!
wait_for 20 fn_up dup
expect_status 240 "a second VM of the same name cannot take its socket" -- timeout 20 "$HF" run --name dup \
	--mem 64M --function --console none --bare "$FN" --cmdline hf.lambda=warm
expect_in "$RUN/err" "function: cannot listen on .*/dup.fn: a running VM listens there" "the live socket is named"
kill $dup_pid; wait $dup_pid 2>/dev/null

# ---------------------------------------------------------------- through hyperfork serve
# Debian's clients, by path (a pip-installed aws earlier in PATH is not them).
AWS=/usr/bin/aws PY=/usr/bin/python3
if [ -x $AWS ] && $PY -c 'import boto3' 2> /dev/null; then
	aws_env
	echo "{\"functions\":[{\"name\":\"b\",\"image\":\"$FN\",\"kernel\":\"k\",\"initrd\":\"i\"}]}" > "$RUN/bad.json"
	expect_status 240 "serve: a function with both image and kernel is refused" -- "$HF" serve --config "$RUN/bad.json"
	expect_in "$RUN/err" 'function b: "image" \(a bare guest\) goes without "kernel"' "serve: the refusal names the function and the fields"
	PORT=$((20000 + $$ % 20000))
	URL=http://127.0.0.1:$PORT
	cat > "$RUN/fn.json" << JSON
{"functions": [
  {"name": "bare", "image": "$FN", "memory": 128, "timeout": $(scaled 3), "pool": 2},
  {"name": "bwarm", "image": "$FN", "memory": 128, "timeout": $(scaled 3), "mode": "warm"},
  {"name": "binit", "image": "$FN", "memory": 128, "cmdline": "echo.init=fail"}
]}
JSON
	"$HF" serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --run-dir "$RUN" > "$RUN/serve.out" 2> "$RUN/serve.err" &
	serve_pid=$!
	if ! wait_for 60 bash -c "[ \$(grep -c '^serve: function .* \(ready\|failed\)' '$RUN/serve.out') = 3 ]"; then
		fail "serve: the bare functions are initialised"; sed 's/^/  | /' "$RUN/serve.out" "$RUN/serve.err"
	else
		pass "serve: the bare functions are initialised"
	fi
	check_or_show "serve: the init error is the function's failure" "$RUN/serve.out" \
		grep -qF "serve: function binit failed: the function's VM ended during its initialisation (status 1): HF-LAMBDA-INIT-ERROR Echo.InitFailed" "$RUN/serve.out"
	sinv() { aws_invoke "$URL" "$@"; } # NAME PAYLOAD [aws options] (lib.sh)
	field() { aws_field "$1"; }
	sinv bare '{"hello":"world"}'
	first=$(cat "$RUN/out.json")
	check_or_show "serve: aws lambda invoke runs the bare function in a clone ($first)" "$RUN/inv.err" \
		bash -c "[ $st = 0 ] && echo '$first' | grep -qE '^\{\"echo\":\{\"hello\":\"world\"\},\"clone\":[1-9][0-9]*\}$' && [ -z '$(field FunctionError)' ]"
	# The rest by curl (lib.sh's http_invoke: the answer in $RUN/c.out; boto3's below).
	cinv() { http_invoke "$URL" "$@"; }
	cinv bare '{"hello":"again"}'
	second=$(cat "$RUN/c.out")
	check "serve: the next invocation runs in another clone ($second)" \
		test "${first##*clone}" != "${second##*clone}"
	cinv bare '{"cmd":"fail"}'
	check_or_show "serve: the function's error is Unhandled (as Lambda says it), with its document" "$RUN/c.out" \
		test "$code/$ferr/$(cat "$RUN/c.out")" = '200/Unhandled/{"errorMessage":"asked to fail","errorType":"Echo.Failed"}'
	cinv bare '{"cmd":"crash"}'
	check_or_show "serve: a crashing function is Unhandled, Runtime.ExitError" "$RUN/c.out" \
		bash -c "[ '$ferr' = Unhandled ] && grep -q Runtime.ExitError '$RUN/c.out'"
	cinv bare '{"cmd":"spin"}'
	check_or_show "serve: a function spinning past its timeout: 'Task timed out after $(scaled 3).00 seconds'" "$RUN/c.out" \
		bash -c "[ '$ferr' = Unhandled ] && grep -q 'Task timed out after $(scaled 3).00 seconds' '$RUN/c.out'"
	for i in 1 2; do
		cinv bwarm "{\"w\":$i}"
		check_or_show "serve: warm mode, invocation $i in the one VM" "$RUN/c.out" \
			test "$code/$(cat "$RUN/c.out")" = "200/{\"echo\":{\"w\":$i},\"clone\":0}"
	done
	cat > "$RUN/boto.py" << 'PY'
import json, sys, boto3
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="x")
r = c.invoke(FunctionName="bare", Payload=json.dumps({"from": "boto3"}))
print(r["StatusCode"], r.get("FunctionError", "-"), r["Payload"].read().decode())
PY
	$PY "$RUN/boto.py" "$URL" > "$RUN/boto.out" 2>&1
	check_or_show "serve: boto3 invokes the bare function" "$RUN/boto.out" \
		grep -qE '^200 - \{"echo":\{"from": "boto3"\},"clone":[0-9]+\}$' "$RUN/boto.out"
	kill $serve_pid; wait $serve_pid
	check "serve: SIGTERM ends serve and its VMs" wait_for 10 no_vmm_left
else
	fail "serve: no /usr/bin/aws or python3-boto3: run scripts/install-deps.sh"
fi

check "no function socket is left" bash -c "[ -z \"\$(ls '$RUN'/*.fn 2>/dev/null)\" ]"
check "no VMM process is left" wait_for 10 no_vmm_left
finish
