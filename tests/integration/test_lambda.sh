# lambda: the guest side of `hyperfork serve` (include/hyperfork/lambda.h). A Linux guest
# with hf.script=lambda mounts a function's code (an ext2 disk holding an AWS-style shell
# `bootstrap`, curl against $AWS_LAMBDA_RUNTIME_API) and runs it under hf-lambda, the
# Runtime API agent; the host's side is tests/integration/lambda_host.py, speaking the
# protocol serve speaks over the VM's vsock socket (CONNECT 9000, INVOKE, the answer).
#   warm (hf.lambda=warm): invocation after invocation in one VM: results, the Lambda
#     environment and headers as the function sees them, function errors, 1 MiB each way,
#     the Runtime API's refusals (404, 400 InvalidRequestID, 403 InvalidStateTransition,
#     413 forwarded as Function.ResponseSizeTooLarge), chunked answers, malformed INVOKEs
#     closed unanswered, and the runtime dying during an invocation;
#   fork: `run --template` freezes at the bootstrap's first /next; each clone made by
#     `hyperfork fork` answers one invocation on its own socket, from its own state;
#   init errors: a bootstrap posting /init/error, or none at all, ends the VM (status 1)
#     with HF-LAMBDA-INIT-ERROR on its console.
. "$(dirname "$0")/lib.sh"

LH=$TOP/tests/integration/lambda_host.py
need_linux_guest
[ -x /usr/bin/python3 ] || { fail "no /usr/bin/python3 for lambda_host.py: run scripts/install-deps.sh"; finish; }
command -v mke2fs > /dev/null || { fail "no mke2fs: run scripts/install-deps.sh"; finish; }
if ! grep -qaF usr/bin/curl "$LAMBDA_INITRD" 2> /dev/null; then # (its second archive: cpio -t lists the first)
	fail "the initramfs has no curl (guest/linux/build.sh makes initramfs-lambda.cpio with Debian's /usr/bin/curl): apt-get install curl, then make linux-guest"
	finish
fi

# inv SOCKET [lambda_host.py invoke options] [PAYLOAD_FILE]: one invocation; the answer
# in $RUN/ans (line, then body), its status in $st.
inv() { timeout 60 "$LH" invoke "$@" > "$RUN/ans" 2> "$RUN/ans.err"; st=$?; cat "$RUN/ans.err" >> "$RUN/ans"; }
ans_line() { head -n 1 "$RUN/ans"; }
ans_body() { tail -n +2 "$RUN/ans"; }
# answer_is KIND BODY [TYPE]: the last invocation was answered KIND (RESPONSE, ERROR) with
# BODY (and TYPE), its length right.
answer_is() {
	[ "$st" = 0 ] && [ "$(ans_line)" = "$1 ${#2}${3:+ $3}" ] && [ "$(ans_body)" = "$2" ]
}
# cmdline EXTRA: the kernel command line of a function's VM
cmdline() { echo "console=ttyS0 quiet hf.script=lambda $*"; }
console_has() { tr -d '\r' < "$1" | grep -qF -- "$2"; }

# ---------------------------------------------------------------- the functions' code
# The function's code is tests/integration/lambda: AWS's example custom runtime as its
# bootstrap (shared with test_serve) and function.sh, this test's handler. A bootstrap that
# fails its init is made here.
TASK=$TOP/tests/integration/lambda
mkdir -p "$RUN/itask"
cat > "$RUN/itask/bootstrap" << 'EOF'
#!/bin/sh
echo "bootstrap: no handler here" >&2
curl -sS -H "Lambda-Runtime-Function-Error-Type: Runtime.NoSuchHandler" \
  "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error" \
  -d '{"errorMessage":"no handler named nothing.here","errorType":"Runtime.NoSuchHandler"}'
exit 1
EOF
chmod +x "$RUN/itask/bootstrap"
{ mke2fs -q -t ext2 -d "$TASK" "$RUN/fn.img" 4M && mke2fs -q -t ext2 -d "$RUN/itask" "$RUN/ifn.img" 4M; } > /dev/null 2>&1 ||
	{ fail "mke2fs could not make the code disks"; finish; }
ENV64=$(printf 'MY_GREETING=hello world\nMY_EMPTY=\n' | base64 -w0)

# ---------------------------------------------------------------- warm: one VM
"$HF" run --name w --mem 256M --timeout "$(scaled 900)" --vsock 3 --disk "$RUN/fn.img,ro" \
	--kernel "$VMLINUX" --initrd "$LAMBDA_INITRD" --console "$RUN/w.out" \
	--cmdline "$(cmdline hf.lambda=warm hf.fn=greeter hf.handler=function.handler hf.env=$ENV64)" \
	> /dev/null 2> "$RUN/w.err" &
w_pid=$!
if ! wait_for 300 console_has "$RUN/w.out" HF-LAMBDA-READY; then
	fail "warm: the agent did not come up (HF-LAMBDA-READY)"
	tr -d '\r' < "$RUN/w.out" | tail -20 | sed 's/^/  | console: /'
	sed 's/^/  | stderr: /' "$RUN/w.err"
	finish
fi
pass "warm: the agent is up (HF-LAMBDA-READY on the console)"
W=$RUN/w.vsock
for i in 1 2 3; do
	printf '{"op":"echo","n":%d}' $i > "$RUN/ev"
	inv "$W" "$RUN/ev"
	check_or_show "warm: invocation $i returns the function's result" "$RUN/ans" \
		answer_is RESPONSE "echo:$(cat "$RUN/ev")"
done
check_or_show "warm: the bootstrap's output is on the console (the function's log)" "$RUN/w.out" \
	console_has "$RUN/w.out" "bootstrap: initialised in /var/task"

printf '{"op":"env"}' > "$RUN/ev"
inv "$W" "$RUN/ev"
check_or_show "warm: the function's environment: name, memory (the VM's 256 MB), version, region, handler, task and runtime dirs, its own variables (hf.env), cwd" \
	"$RUN/ans" answer_is RESPONSE 'greeter|256|$LATEST|us-east-1|function.handler|/var/task|/var/runtime|hello world||/var/task|'

printf '{"op":"headers"}' > "$RUN/ev"
inv "$W" --id req-plain-1 --deadline 1800000000000 "$RUN/ev"
check_or_show "warm: the headers reach the bootstrap: request id, deadline, ARN (no trace id, no client context when none is given)" \
	"$RUN/ans" answer_is RESPONSE "Lambda-Runtime-Aws-Request-Id: req-plain-1
Lambda-Runtime-Deadline-Ms: 1800000000000
Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:test"
ctx=$(printf '{"custom":{"k":"v"},"env":{"locale":"en"}}' | base64 -w0)
trace='Root=1-5e1b4151-5ac6c58f5b5d2cde4a3b2c1d;Parent=53995c3f42cd8ad8;Sampled=1'
inv "$W" --id 0f3c9a1e-2b4d-4e5f-8a9b-0c1d2e3f4a5b --deadline 1800000000123 \
	--arn arn:aws:lambda:us-east-1:000000000000:function:greeter --trace "$trace" --ctx "$ctx" "$RUN/ev"
check_or_show "warm: with a trace id and a client context, they reach it too (the context decoded from base64)" \
	"$RUN/ans" answer_is RESPONSE "Lambda-Runtime-Aws-Request-Id: 0f3c9a1e-2b4d-4e5f-8a9b-0c1d2e3f4a5b
Lambda-Runtime-Client-Context: {\"custom\":{\"k\":\"v\"},\"env\":{\"locale\":\"en\"}}
Lambda-Runtime-Deadline-Ms: 1800000000123
Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:greeter
Lambda-Runtime-Trace-Id: $trace"

printf '{"op":"fail"}' > "$RUN/ev"
inv "$W" "$RUN/ev"
check_or_show "warm: a function error (the bootstrap posts .../error) comes back as ERROR with its type" \
	"$RUN/ans" answer_is ERROR '{"errorMessage":"failing on purpose","errorType":"HandlerError"}' HandlerError

# 1 MiB each way (the answer, over 1 MiB, is sent by curl with Expect: 100-continue)
{ printf '{"op":"echo","data":"'; head -c 1048576 /dev/zero | tr '\0' a; printf '"}'; } > "$RUN/big"
{ printf 'echo:'; cat "$RUN/big"; } > "$RUN/big.want"
inv "$W" --body "$RUN/big.got" "$RUN/big"
check_or_show "warm: a 1 MiB payload reaches the function and its 1 MiB answer comes back unchanged" \
	"$RUN/ans" bash -c "[ '$st' = 0 ] && [ \"\$(cat '$RUN/ans')\" = 'RESPONSE $(stat -c %s "$RUN/big.want")' ] && cmp -s '$RUN/big.want' '$RUN/big.got'"

printf '{"op":"api"}' > "$RUN/ev"
inv "$W" --id api-1 "$RUN/ev"
check_or_show "warm: the Runtime API answers an unknown path 404 and another request id 400 InvalidRequestID; an answer sent chunked arrives" \
	"$RUN/ans" answer_is RESPONSE 'api: 404=404 400={"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"} 400'
check_or_show "warm: a second answer to one invocation is refused: 403 InvalidStateTransition" "$RUN/w.out" \
	wait_for 30 console_has "$RUN/w.out" 'LAMBDA-TEST api second answer: {"errorMessage":"State transition to InvocationResponse failed for runtime: no invocation awaits an answer","errorType":"InvalidStateTransition"} 403'

printf '{"op":"huge"}' > "$RUN/ev"
inv "$W" "$RUN/ev"
check_or_show "warm: an answer over 6 MiB: the invocation fails with Function.ResponseSizeTooLarge" \
	"$RUN/ans" answer_is ERROR '{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291456 bytes).","errorType":"Function.ResponseSizeTooLarge"}' Function.ResponseSizeTooLarge
check_or_show "warm: and the runtime gets 413" "$RUN/w.out" \
	wait_for 30 console_has "$RUN/w.out" 'LAMBDA-TEST huge: 413 {"errorMessage":"Exceeded maximum allowed payload size (6291456 bytes).","errorType":"RequestEntityTooLarge"}'

# Malformed INVOKEs: each connection is closed without an answer; the agent serves on.
n=0
while IFS= read -r bad; do
	n=$((n + 1))
	printf '%b' "$bad" | timeout 60 "$LH" raw "$W" > "$RUN/raw" 2> "$RUN/raw.err"
	rst=$?
	check_or_show "warm: a malformed INVOKE ($bad) is closed unanswered" "$RUN/raw.err" \
		test "$rst:$(wc -c < "$RUN/raw")" = 0:0
done << 'EOF'
INVOKE r 1 arn - 0 1\nx
INVOKE r 1 arn - 0 1 1 extra\nx
INVOKE r 1 arn - 0 1 now\nx
INVOKE  r 1 arn - 0 1 1\nx
INVOKE r/1 1 arn - 0 1 1\nx
INVOKE r 01 arn - 0 1 1\nx
INVOKE r 1 arn - 4 1 1\n@@@@x
INVOKE r 1 arn - 0 6291457 1\n
HELLO\n
EOF
printf '{"op":"echo","n":4}' > "$RUN/ev"
inv "$W" "$RUN/ev"
check_or_show "warm: then a good invocation is served" "$RUN/ans" \
	answer_is RESPONSE 'echo:{"op":"echo","n":4}'

# The runtime dies during an invocation: it fails with Runtime.ExitError, the VM ends.
printf '{"op":"crash"}' > "$RUN/ev"
inv "$W" --id crash-1 "$RUN/ev"
check_or_show "warm: the runtime dying during an invocation: ERROR Runtime.ExitError" \
	"$RUN/ans" answer_is ERROR '{"errorMessage":"RequestId: crash-1 Error: Runtime exited with error: signal: killed","errorType":"Runtime.ExitError"}' Runtime.ExitError
check "warm: and the VM ends" wait_for 60 pid_gone $w_pid
wait $w_pid
wst=$?
check_or_show "warm: with status 1 (got $wst) and HF-LAMBDA-RUNTIME-EXIT on its console" "$RUN/w.out" \
	bash -c "[ $wst = 1 ] && grep -q 'HF-LAMBDA-RUNTIME-EXIT signal: killed' '$RUN/w.out'"

# ---------------------------------------------------------------- fork: a template's clones
"$HF" run --name t --mem 256M --timeout "$(scaled 900)" --vsock 3 --template --pool 1 \
	--disk "$RUN/fn.img,ro" --kernel "$VMLINUX" --initrd "$LAMBDA_INITRD" --console "$RUN/t.out" \
	--cmdline "$(cmdline hf.fn=greeter hf.handler=function.handler)" > /dev/null 2> "$RUN/t.err" &
template() { [ "$(status_field t state 2>/dev/null)" = template ]; }
check_or_show "fork: the VM freezes into a template at the bootstrap's first /next" "$RUN/t.out" \
	wait_for 300 template
check_or_show "fork: it had initialised (the bootstrap's log) and announced the agent" "$RUN/t.out" \
	bash -c "grep -q 'bootstrap: initialised' '$RUN/t.out' && grep -q HF-LAMBDA-READY '$RUN/t.out'"
"$HF" fork t > "$RUN/f1" 2>&1
expect_in "$RUN/f1" "^t\.1 pid [0-9]+ " "fork: hyperfork fork makes clone t.1"
"$HF" fork t > "$RUN/f2" 2>&1
expect_in "$RUN/f2" "^t\.2 pid [0-9]+ " "fork: and clone t.2"
check "fork: each has its own vsock socket (t.vsock.1, t.vsock.2)" \
	wait_for 60 test -S "$RUN/t.vsock.1" -a -S "$RUN/t.vsock.2"
printf '{"op":"mark"}' > "$RUN/ev"
inv "$RUN/t.vsock.2" "$RUN/ev"
check_or_show "fork: an invocation through t.vsock.2 is answered by clone 2, from the template's state" \
	"$RUN/ans" answer_is RESPONSE "fresh clone=2"
inv "$RUN/t.vsock.1" "$RUN/ev"
check_or_show "fork: one through t.vsock.1 by clone 1, which does not see the file clone 2's invocation wrote" \
	"$RUN/ans" answer_is RESPONSE "fresh clone=1"
check_or_show "fork: each invocation's log is on its clone's console" "$RUN/t.1.console" \
	bash -c "grep -q 'LAMBDA-TEST mark in clone 1' '$RUN/t.1.console' && grep -q 'LAMBDA-TEST mark in clone 2' '$RUN/t.2.console' &&
		! grep -q 'LAMBDA-TEST mark' '$RUN/t.out'"
inv "$RUN/t.vsock.1" "$RUN/ev"
check_or_show "fork: a clone serves one invocation: a second finds nothing listening (closed without OK)" \
	"$RUN/ans" test "$st" = 3
"$HF" fork t > "$RUN/f3" 2>&1
expect_in "$RUN/f3" "^t\.3 pid [0-9]+ " "fork: a third clone"
wait_for 60 test -S "$RUN/t.vsock.3"
inv "$RUN/t.vsock.3" "$RUN/ev"
check_or_show "fork: it answers too, fresh" "$RUN/ans" answer_is RESPONSE "fresh clone=3"
for v in t.3 t.2 t.1 t; do "$HF" stop $v > /dev/null 2>&1; done

# ---------------------------------------------------------------- init errors
timeout 600 "$HF" run --name ie --mem 256M --timeout "$(scaled 600)" --vsock 3 --template --pool 1 \
	--disk "$RUN/ifn.img,ro" --kernel "$VMLINUX" --initrd "$LAMBDA_INITRD" --console "$RUN/ie.out" \
	--cmdline "$(cmdline hf.fn=broken)" > /dev/null 2> "$RUN/ie.err"
st=$?
check_or_show "init error: a bootstrap posting /init/error ends the VM with status 1 (got $st)" "$RUN/ie.err" test $st = 1
check_or_show "init error: HF-LAMBDA-INIT-ERROR with its type and body on the console" "$RUN/ie.out" \
	console_has "$RUN/ie.out" 'HF-LAMBDA-INIT-ERROR Runtime.NoSuchHandler {"errorMessage":"no handler named nothing.here","errorType":"Runtime.NoSuchHandler"}'
timeout 600 "$HF" run --name nb --mem 256M --timeout "$(scaled 600)" --vsock 3 --template --pool 1 \
	--kernel "$VMLINUX" --initrd "$LAMBDA_INITRD" --console "$RUN/nb.out" \
	--cmdline "$(cmdline hf.fn=nothing)" > /dev/null 2> "$RUN/nb.err"
st=$?
check_or_show "init error: no code disk, no bootstrap: status 1 (got $st) and Runtime.InvalidEntrypoint" "$RUN/nb.out" \
	bash -c "[ $st = 1 ] && grep -qF 'HF-LAMBDA-INIT-ERROR Runtime.InvalidEntrypoint {\"errorMessage\":\"fork/exec /var/task/bootstrap: no such file or directory\"' '$RUN/nb.out'"
check "no zombie processes" no_zombies
finish
