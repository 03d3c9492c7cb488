# vsock. So far the guest side: hf-vsock (guest/tools/hf-vsock.c, in the guest's
# initramfs), a static program that also runs on the host, checked here over the host's own
# vsock loopback (CID 1; the emulated KVM host loads vsock_loopback). The virtio-vsock
# device that takes these streams into guests and clones is not built yet.
. "$(dirname "$0")/lib.sh"

VS=$LINUX_DIR/tools/hf-vsock
[ -x "$VS" ] || { fail "no $VS: run 'make linux-guest'"; finish; }
modprobe vsock_loopback 2>/dev/null
"$VS" listen 7000 > /dev/null 2> "$RUN/echo.err" &
echo_pid=$!
trap 'kill $echo_pid $sum_pid 2>/dev/null' EXIT
wait_for 5 grep -q "HF-VSOCK-LISTENING 7000" "$RUN/echo.err" ||
	not_run "hf-vsock cannot listen here: $(cat "$RUN/echo.err")"
printf x | timeout 10 "$VS" connect 1 7000 > "$RUN/probe" 2>&1
[ "$(cat "$RUN/probe")" = x ] || not_run "no vsock loopback (CID 1) on this host: $(cat "$RUN/probe")"

# Streams of 1 byte, 64 KiB and 16 MiB go to an echo listener and come back unchanged
# (both directions at once: the sender must not stall on an echo it does not read).
for size in 1 65536 16777216; do
	head -c $size /dev/urandom > "$RUN/in"
	timeout 120 "$VS" connect 1 7000 < "$RUN/in" > "$RUN/back" 2> "$RUN/err"
	check "$size bytes come back from the echo listener unchanged" cmp -s "$RUN/in" "$RUN/back"
done
check "the echo listener still serves" kill -0 $echo_pid

# A listener running a command per connection: it checksums what it receives.
"$VS" listen 7001 sha256sum > /dev/null 2> "$RUN/sum.err" &
sum_pid=$!
wait_for 5 grep -q "HF-VSOCK-LISTENING 7001" "$RUN/sum.err"
head -c 16777216 /dev/urandom > "$RUN/in"
timeout 120 "$VS" connect 1 7001 < "$RUN/in" > "$RUN/sum"
check "16 MiB reach a command listener intact (checksum)" \
	test "$(awk '{ print $1 }' "$RUN/sum")" = "$(sha256sum < "$RUN/in" | awk '{ print $1 }')"

# Refusals name the cause.
expect_status 1 "connecting to a port nobody listens on fails" -- timeout 20 "$VS" connect 1 7999
expect_in "$RUN/err" "hf-vsock: connect to CID 1 port 7999: " "the failure names CID and port"
expect_status 1 "a bad port is refused with the usage" -- "$VS" connect 1 x
expect_in "$RUN/err" "usage: hf-vsock connect CID PORT" "the usage is shown"
expect_status 1 "a port in use is refused" -- timeout 10 "$VS" listen 7000
expect_in "$RUN/err" "hf-vsock: bind/listen: Address (already )?in use" "the port in use is named"
finish
