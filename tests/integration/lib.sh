# Shared helpers for the integration tests: each test gets its own run directory, every VM
# it starts (clones included) is killed at the end, and assertions print what differed.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HF="${HF_BIN:-$TOP/build/hyperfork}" # HF_BIN: another build of the VMM (make sanitize)
GUESTS="$TOP/build/guest/examples"
TGUESTS="$TOP/build/tests/guests"
SOCKRAW="$TOP/build/tests/tools/sockraw"
LINUX_DIR="${HF_LINUX_DIR:-$TOP/build/linux}"
VMLINUX="$LINUX_DIR/vmlinux"
BZIMAGE="$LINUX_DIR/bzImage"
INITRD="$LINUX_DIR/initramfs.cpio"
LAMBDA_INITRD="$LINUX_DIR/initramfs-lambda.cpio" # the same with curl, for Lambda functions
export HYPERFORK_RUN_DIR=$(mktemp -d /tmp/hf-test.XXXXXX)
RUN=$HYPERFORK_RUN_DIR
echo "run-dir: $RUN" # run.sh reads it when the suite runs out of time
FAILS=0
# HF_TIME_SCALE (1 natively; scripts/kvm-host.sh sets 10 in its emulated host): the one factor
# by which every wait and safety timeout that assumes native speed is multiplied. What the
# tests assert stays the same.
SCALE=${HF_TIME_SCALE:-1}
scaled() { awk -v t="$1" -v s="$SCALE" 'BEGIN { printf "%g", t * s }'; }
# coreutils timeout [OPTIONS] SECONDS COMMAND... with SECONDS scaled.
timeout() {
	local opts=()
	while [[ $1 == -* ]]; do opts+=("$1"); shift; done
	local t=$1; shift
	command timeout "${opts[@]}" "$(scaled "$t")" "$@"
}

# Kill every VMM process started for this test: they all carry our run directory in their
# environment (clones inherit it), whatever their names.
our_pids() { # (a zombie's environment reads empty: it is not listed)
	local files
	files=$(pgrep -x hyperfork | sed 's|.*|/proc/&/environ|')
	[ -n "$files" ] && grep -lzxF "HYPERFORK_RUN_DIR=$RUN" $files 2>/dev/null | cut -d/ -f3
}
hf_kill_all() { local p; for p in $(our_pids); do kill -9 "$p" 2>/dev/null; done; }
no_vmm_left() { [ -z "$(our_pids)" ]; }
# No exited clone is left unreaped by a VMM (its parent, while that parent lives).
no_zombies() {
	local vmms=" $(pgrep -x hyperfork | tr '\n' ' ') "
	! ps -eo stat=,ppid= | awk '$1 ~ /^Z/ { print $2 }' | while read -r ppid; do
		case "$vmms" in *" $ppid "*) echo "zombie child of VMM $ppid" ;; esac
	done | grep .
}
cleanup() {
	exec 2>/dev/null # no "Killed" notes for our own background VMs
	hf_kill_all
	rm -rf "$RUN"
}
trap cleanup EXIT

# Each line ends with the seconds since the suite began ([s]), to show where a suite's time goes.
fail() { echo "FAIL: $* [${SECONDS}s]"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $* [${SECONDS}s]"; }
# check DESCRIPTION COMMAND...: pass if the command succeeds
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# check_or_show DESCRIPTION FILE COMMAND...: check, and on failure show the end of FILE.
check_or_show() {
	local d=$1 f=$2; shift 2
	if "$@"; then pass "$d"; else fail "$d"; tr -d '\r' < "$f" 2>/dev/null | tail -15 | sed 's/^/  | /'; fi
}

# expect_status WANT DESC -- COMMAND...: run it, compare its exit status
expect_status() {
	local want=$1 desc=$2; shift 3
	"$@" > "$RUN/out" 2> "$RUN/err"
	local got=$?
	if [ "$got" = "$want" ]; then pass "$desc (status $got)"; else
		fail "$desc: status $got, expected $want"; sed 's/^/  | /' "$RUN/out" "$RUN/err" | head -20; fi
}
# expect_in FILE PATTERN DESC: the file contains a line matching the extended regex
expect_in() {
	if grep -Eq -- "$2" "$1"; then pass "$3"; else
		fail "$3: no /$2/ in $1"; sed 's/^/  | /' "$1" | tail -20; fi
}
expect_not_in() {
	if ! grep -Eq -- "$2" "$1"; then pass "$3"; else
		fail "$3: /$2/ found in $1"; grep -E -- "$2" "$1" | sed 's/^/  | /' | head; fi
}
# wait_for SECONDS COMMAND...: poll until the command succeeds
wait_for() {
	local t; t=$(scaled "$1"); t=${t%.*}; shift
	local end=$((SECONDS + t))
	while [ $SECONDS -lt $end ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}
# The VM's control socket is up.
vm_up() { [ -S "$RUN/$1.sock" ] && "$HF" status "$1" >/dev/null 2>&1; }
# A process is gone or a zombie of someone else: not running as ours.
pid_gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }
no_sockets() { [ -z "$(ls "$RUN"/*.sock 2>/dev/null)" ]; }
status_field() { "$HF" status "$1" | awk -v k="$2:" '$1 == k { print $2 }'; }

# Tests that boot Linux guests start with this: without the guest kernel they fail at once.
need_linux_guest() {
	if [ ! -f "$VMLINUX" ] || [ ! -f "$INITRD" ]; then
		fail "no guest kernel in $LINUX_DIR: run 'make linux-guest'"
		finish
	fi
}

# not_run REASON: what this test needs is missing here; it ends as not run (status 77),
# which tests/integration/run.sh reports as NOT RUN, never as passed.
not_run() {
	echo "NOT RUN: $*"
	exit 77
}

finish() {
	if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
	exit 0
}

# http_invoke URL NAME PAYLOAD [curl options...]: an invocation as plain HTTP (curl; PAYLOAD
# @FILE reads a file): the answer in $RUN/c.out, its headers in $RUN/c.hdr, its HTTP status
# in $code, its X-Amz-Function-Error in $ferr. (Each awscli run costs ~20 s of Python starting
# in the emulated host: the suites make one of each kind of call with it, the rest so.)
http_invoke() {
	local url=$1 name=$2 payload=$3
	shift 3
	code=$(curl -s -m 300 -o "$RUN/c.out" -D "$RUN/c.hdr" -w '%{http_code}' "$@" \
		-X POST --data-binary "$payload" "$url/2015-03-31/functions/$name/invocations")
	ferr=$(http_hdr X-Amz-Function-Error)
}
# http_hdr NAME: that header of the last http_invoke's answer ("" if none).
http_hdr() { tr -d '\r' < "$RUN/c.hdr" 2> /dev/null | sed -n "s/^$1: *//Ip" | tail -1; }
# aws_invoke URL NAME PAYLOAD [aws options...]: Debian's `aws lambda invoke` against serve at
# URL (a pip-installed aws earlier in PATH is not it); its output in $RUN/inv.json, the
# response body in $RUN/out.json, its stderr in $RUN/inv.err, its status in $st.
# aws_field KEY: a field of that output.
aws_invoke() {
	local url=$1 name=$2 payload=$3; shift 3
	rm -f "$RUN/out.json"
	timeout 300 /usr/bin/aws lambda invoke --endpoint-url "$url" --function-name "$name" \
		--cli-binary-format raw-in-base64-out --payload "$payload" "$@" "$RUN/out.json" \
		> "$RUN/inv.json" 2> "$RUN/inv.err"
	st=$?
}
aws_field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$RUN/inv.json" "$1" 2> /dev/null; }
# aws_env: awscli and boto3 for a serve on this machine: dummy keys, us-east-1, no config
# files of the user, no metadata service.
aws_env() {
	export AWS_ACCESS_KEY_ID=hyperfork AWS_SECRET_ACCESS_KEY=hyperfork AWS_DEFAULT_REGION=us-east-1
	export AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
}
# json_q FILE EXPR: the Python expression EXPR over FILE's JSON document (d), printed.
json_q() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$1" "$2" 2> /dev/null; }
