# hf.script=lambda: an AWS Lambda function with the `provided` runtime, the guest side of
# `hyperfork serve` (include/hyperfork/lambda.h). Mounts the function's code (ext2 vda,
# read-only) on /var/task, sets the Lambda environment and runs the function's unmodified
# /var/task/bootstrap under hf-lambda, the Runtime API agent, with its output on the
# console. hf-lambda forks the VM at the bootstrap's first GET .../invocation/next (the
# template under serve), or with hf.lambda=warm serves invocation after invocation.
# Command line:
#   hf.fn=NAME        AWS_LAMBDA_FUNCTION_NAME (default "function")
#   hf.handler=H      _HANDLER (unset if not given)
#   hf.mem=MB         AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default: the VM's RAM, from the e820
#                     map the kernel logged)
#   hf.env=BASE64     the function's environment: KEY=VALUE lines, base64-encoded (the
#                     variables Lambda reserves, set below, override it); with hf.runtime,
#   hf.env=@AT+LEN    the same lines, LEN bytes at byte AT (sector-aligned) of vdb, after
#                     the zip and its layers (up to Lambda's 4 KB: more than the command
#                     line has room for)
#   hf.lambda=warm    no fork (read by hf-lambda)
#   hf.runtime=R      a managed runtime (python3.11, nodejs18.x): vda is its root file
#                     system (ext2, read-only, shared by every function of the runtime),
#                     vdb the function's zip, its first hf.code=LEN bytes, unpacked into
#                     /var/task (a tmpfs) there; the runtime's client,
#                     /var/runtime/bootstrap, runs chrooted in it. Without it, vda is the
#                     code (ext2) with a bootstrap.
#   hf.layers=@AT+LEN,...  with hf.runtime: the function's layers, zips of LEN bytes at byte
#                     AT (sector-aligned) of vdb, between the zip and the environment,
#                     unpacked in order into /opt (a tmpfs; a later layer's files replace
#                     an earlier one's)
# A setup failure prints "HF-LAMBDA-INIT-ERROR HyperFork.Setup {...}" and ends the VM
# (hf-done 1), as an init error of the function does.
setup_error() {
	echo "HF-LAMBDA-INIT-ERROR HyperFork.Setup {\"errorMessage\":\"$*\",\"errorType\":\"HyperFork.Setup\"}"
	exec hf-done 1
}

# vdb_slice WHAT AT LEN FILE: LEN bytes of vdb (the code's disk) at byte AT into FILE, the
# numbers (from the command line) checked: whole, in range, AT sector-aligned, all there.
vdb_slice() {
	case $2 in '' | *[!0-9]*) setup_error "$1: not @AT+LEN (numbers)" ;; esac
	case $3 in '' | *[!0-9]*) setup_error "$1: not @AT+LEN (numbers)" ;; esac
	[ ${#2} -le 12 ] && [ ${#3} -le 9 ] && [ "$3" -le 52428800 ] || setup_error "$1: out of range"
	[ $(($2 % 512)) = 0 ] || setup_error "$1 is not sector-aligned"
	dd if=/dev/vdb of="$4" bs=65536 iflag=skip_bytes,count_bytes skip="$2" count="$3" \
		2>/dev/null || setup_error "cannot read $1 from vdb"
	[ "$(stat -c %s "$4")" = "$3" ] || setup_error "$1: vdb is shorter than the command line says"
}

# The kernel keeps 2047 bytes of its command line (x86's COMMAND_LINE_SIZE): a longer one,
# cut, would lose or garble what comes last.
[ ${#cmdline} -lt 2047 ] || setup_error "the kernel command line is over 2047 bytes: cut by the kernel"
fn=function handler= mem= env64= runtime= code= layers=
for arg in $cmdline; do
	case $arg in
	hf.runtime=*) runtime=${arg#hf.runtime=} ;;
	hf.code=*) code=${arg#hf.code=} ;;
	hf.layers=*) layers=${arg#hf.layers=} ;;
	hf.fn=*) fn=${arg#hf.fn=} ;;
	hf.handler=*) handler=${arg#hf.handler=} ;;
	hf.mem=*) mem=${arg#hf.mem=} ;;
	hf.env=*) env64=${arg#hf.env=} ;;
	esac
done

# The Runtime API is on 127.0.0.1.
ip link set lo up || setup_error "cannot bring up lo"

# The function's code.
[ -d /sys/block ] || mount -t sysfs sysfs /sys
bootstrap=/var/task/bootstrap
if [ -n "$runtime" ]; then
	case $code in '' | *[!0-9]*) setup_error "hf.code is not a number of bytes" ;; esac
	blockdev vda && blockdev vdb || setup_error "runtime $runtime: no disks vda and vdb"
	mount -t ext2 -o ro /dev/vda /rt || setup_error "cannot mount the runtime $runtime (vda)"
	mount -t tmpfs -o mode=0755 task /rt/var/task &&
		mount -t tmpfs -o mode=1777 tmp /rt/tmp &&
		mount -t proc proc /rt/proc && mount -o bind /dev /rt/dev ||
		setup_error "cannot mount /var/task, /tmp, /proc and /dev in the runtime"
	vdb_slice "the code" 0 "$code" /tmp/code.zip
	unzip -qo /tmp/code.zip -d /rt/var/task >/tmp/unzip.out 2>&1 ||
		setup_error "the function's code is not a zip unzip can read: $(head -c 200 /tmp/unzip.out)"
	rm -f /tmp/code.zip /tmp/unzip.out
	# Its layers, in order, into /opt.
	mount -t tmpfs -o mode=0755 opt /rt/opt || setup_error "cannot mount /opt in the runtime"
	case $layers in *[!0-9@+,]*) setup_error "hf.layers: not @AT+LEN,... (numbers)" ;; esac
	n=0
	for layer in $(echo "$layers" | tr , ' '); do
		n=$((n + 1))
		case $layer in @*+*) ;; *) setup_error "hf.layers: layer $n is not @AT+LEN" ;; esac
		at=${layer#@} len=${at#*+} at=${at%+*}
		vdb_slice "hf.layers' layer $n" "$at" "$len" /tmp/layer.zip
		unzip -qo /tmp/layer.zip -d /rt/opt >/tmp/unzip.out 2>&1 ||
			setup_error "layer $n is not a zip unzip can read: $(head -c 200 /tmp/unzip.out)"
		rm -f /tmp/layer.zip /tmp/unzip.out
	done
	bootstrap="chroot /rt /var/runtime/bootstrap"
elif [ -e /sys/block/vda ]; then
	blockdev vda || setup_error "cannot make /dev/vda"
	mount -t ext2 -o ro /dev/vda /var/task || setup_error "cannot mount /dev/vda (ext2) on /var/task"
fi

# The VM's RAM: the sum of the usable e820 ranges, rounded up to MiB (what the VMM leaves
# out, the EBDA to 1 MiB, is less than 1 MiB); MemTotal if the kernel's log lost them.
if [ -z "$mem" ]; then
	ram=0
	for r in $(dmesg | sed -n 's/.*BIOS-e820: \[mem 0x\([0-9a-f]*\)-0x\([0-9a-f]*\)\] usable.*/\1-\2/p'); do
		ram=$((ram + 0x${r#*-} - 0x${r%-*} + 1))
	done
	if [ "$ram" -gt 0 ]; then
		mem=$(((ram + 1048575) / 1048576))
	else
		while read -r k v _; do [ "$k" = MemTotal: ] && mem=$((v / 1024)); done </proc/meminfo
	fi
fi
case $mem in '' | *[!0-9]*) setup_error "hf.mem is not a number of MB" ;; esac

# The function's own environment first, so that Lambda's reserved variables override it.
if [ -n "$env64" ]; then
	case $env64 in
	@*+*)
		at=${env64#@} len=${at#*+} at=${at%+*}
		vdb_slice "hf.env" "$at" "$len" /tmp/env
		envs=$(cat /tmp/env) && rm -f /tmp/env
		;;
	*) envs=$(printf '%s' "$env64" | base64 -d) || setup_error "hf.env is not base64" ;;
	esac
	while IFS= read -r line; do
		case $line in
		'') ;;
		[A-Za-z_]*=*)
			key=${line%%=*}
			case $key in *[!A-Za-z0-9_]*) setup_error "hf.env: bad variable name" ;; esac
			export "$line"
			;;
		*) setup_error "hf.env: a line is not KEY=VALUE" ;;
		esac
	done <<EOF
$envs
EOF
	unset envs line key
fi

export AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 LAMBDA_TASK_ROOT=/var/task \
	LAMBDA_RUNTIME_DIR=/var/runtime AWS_LAMBDA_FUNCTION_NAME="$fn" \
	AWS_LAMBDA_FUNCTION_MEMORY_SIZE="$mem" AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
	AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
	AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/$fn" AWS_LAMBDA_LOG_STREAM_NAME=hyperfork \
	TZ=:UTC PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin \
	LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
if [ -n "$handler" ]; then export _HANDLER="$handler"; else unset _HANDLER; fi
unset fn handler mem env64 ram r k v arg runtime code at len layers layer n

cd /var/task || setup_error "no /var/task"
# shellcheck disable=SC2086 # (a command and its arguments)
hf-lambda $bootstrap </dev/null >/dev/console 2>&1
exec hf-done 1 # hf-lambda ends the VM itself; here only if it could not start
