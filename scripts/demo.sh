#!/usr/bin/env bash
# The demo: a bare guest and a Linux guest boot and print their markers, then each is
# cloned by fork and the clone reports in (the Linux one with a copy-on-write disk).
set -u
cd "$(dirname "$0")/.." || exit 1
HF=build/hyperfork
export HYPERFORK_RUN_DIR=${HYPERFORK_RUN_DIR:-/run/hyperfork}
mkdir -p "$HYPERFORK_RUN_DIR"
rc=0
step() { printf '\n== %s\n' "$*"; }

step "bare guest: hello (64 MiB, 1 vCPU)"
start=$(date +%s%N)
$HF run --name demo-bare --mem 64M --timeout 10 --bare build/guest/examples/hello.elf || rc=1
echo "(launch to exit: $(( ($(date +%s%N) - start) / 1000000 )) ms)"

step "bare guest: clone at a fork point (512 MiB); the guest times its own fork"
$HF run --name demo-clock --mem 512M --timeout 10 --bare build/tests/guests/clock.elf || rc=1
for i in $(seq 50); do grep -q clock "$HYPERFORK_RUN_DIR/demo-clock.1.console" 2>/dev/null && break; sleep 0.1; done
cat "$HYPERFORK_RUN_DIR/demo-clock.1.console" || rc=1

if [ -f build/linux/vmlinux ]; then
	step "Linux guest: boot to /init (256 MiB); the kernel is emulated on this host, be patient"
	start=$(date +%s%N)
	$HF run --name demo-linux --mem 256M --timeout 300 --kernel build/linux/vmlinux \
		--initrd build/linux/initramfs.cpio --cmdline "console=ttyS0 quiet" || rc=1
	echo "(launch to exit: $(( ($(date +%s%N) - start) / 1000000 )) ms)"

	step "Linux guest with a disk: hf-fork in userspace clones the VM; parent and clone write their own files"
	img=$(mktemp -d)
	mkdir "$img/root"
	echo "hello from the image" > "$img/root/hello.txt"
	mke2fs -q -t ext2 -d "$img/root" "$img/disk.img" 8M > /dev/null 2>&1 || rc=1
	sum=$(sha256sum < "$img/disk.img")
	$HF run --name demo-lfork --mem 256M --timeout 300 --kernel build/linux/vmlinux \
		--initrd build/linux/initramfs.cpio --disk "$img/disk.img" --disk "$img/disk.img,ro" \
		--cmdline "console=ttyS0 quiet hf.script=disk" || rc=1
	for i in $(seq 600); do grep -q "HF-DISK 1" "$HYPERFORK_RUN_DIR/demo-lfork.1.console" 2>/dev/null && break; sleep 0.1; done
	echo "-- the clone's console:"
	cat "$HYPERFORK_RUN_DIR/demo-lfork.1.console" || rc=1
	grep -q "HF-DISK 1 before hello.txt side side=side 1" "$HYPERFORK_RUN_DIR/demo-lfork.1.console" || rc=1
	if [ "$(sha256sum < "$img/disk.img")" = "$sum" ]; then
		echo "(the image file is unchanged: each VM's writes stayed in that VM)"
	else
		echo "the image file changed"; rc=1
	fi
	rm -rf "$img"

	step "hyperfork serve: a Python function from a zip, made with aws lambda create-function; each invocation in the template's state (a worker: a clone reset after each answer)"
	fn=$(mktemp -d)
	cat > "$fn/app.py" <<-'EOF'
	import os, uuid
	TABLE = [i * i for i in range(100000)]  # built once, before the template is frozen
	def handler(event, context):
	    seen = os.path.exists("/tmp/mark")  # left by an earlier invocation?
	    open("/tmp/mark", "w").write("x")
	    return {"hello": event.get("name"), "fresh": not seen, "uuid": str(uuid.uuid4()),
	            "request": context.aws_request_id, "table": TABLE[300]}
	EOF
	(cd "$fn" && python3 -m zipfile -c app.zip app.py) || rc=1
	export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
	aws="/usr/bin/aws lambda --endpoint-url http://127.0.0.1:9321"
	$HF serve --listen 127.0.0.1:9321 --state-dir "$fn/state" > "$fn/serve.out" 2>&1 &
	serve=$!
	for i in $(seq 100); do grep -q "listening" "$fn/serve.out" && break; sleep 0.1; done
	echo "\$ aws lambda create-function --function-name hello --runtime python3.11 --handler app.handler --zip-file fileb://app.zip ..."
	$aws create-function --function-name hello --runtime python3.11 --handler app.handler \
		--role arn:aws:iam::000000000000:role/demo --zip-file "fileb://$fn/app.zip" \
		--timeout 60 --query '[FunctionName,Runtime,State]' --output text || rc=1
	for i in $(seq 1200); do grep -q "function hello ready\|function hello failed" "$fn/serve.out" && break; sleep 0.5; done
	cat "$fn/serve.out"
	echo "\$ aws lambda get-function --function-name hello: $($aws get-function --function-name hello --query Configuration.State --output text)"
	for i in 1 2; do
		$aws invoke --function-name hello --cli-binary-format raw-in-base64-out \
			--payload '{"name":"demo"}' "$fn/out.json" > /dev/null || rc=1
		echo "-- the function answered: $(cat "$fn/out.json" 2>/dev/null)"
		grep -q '"fresh": true' "$fn/out.json" 2>/dev/null || rc=1
	done
	echo "(each answer says \"fresh\": every invocation ran in the template's state, none saw the other's file; each has its own uuid4)"
	kill $serve; wait $serve
	rm -rf "$fn"
else
	echo "build/linux/vmlinux missing: run 'make linux-guest'"; rc=1
fi
[ $rc = 0 ] && printf '\ndemo: all steps passed\n' || printf '\ndemo: a step FAILED\n'
exit $rc
