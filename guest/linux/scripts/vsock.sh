# hf.script=vsock: virtio-vsock in the VM and its clones (tests/integration/test_vsock.sh).
# Listeners started before any fork, so each serves in the VM and in every clone:
#   5000  echo
#   5001  answers with the sha256 of what it received (sha256sum's line)
#   5002  echoes the first line, then holds the connection until it ends and says so on the
#         console: "HF-VSOCK-IN-HOLD-END CLONE cat STATUS"
#   5009  control: one command per connection, answered on it (vsock-ctl.sh)
# Each prints "HF-VSOCK-LISTENING PORT" on the console once it listens. The data the guest
# sends to the host (vsock-ctl.sh to-host) is made here: /tmp/d.SIZE, random; and /dev/vsock.
for s in 1 65536 16777216; do head -c $s /dev/urandom >/tmp/d.$s; done
mknod /tmp/hold.fifo p
# /dev/vsock, for hf-vsock cid (no devtmpfs here)
[ -d /sys/class ] || mount -t sysfs sysfs /sys
read -r majmin </sys/class/misc/vsock/dev && mknod /dev/vsock c "${majmin%:*}" "${majmin#*:}"
hf-vsock listen 5000 &
hf-vsock listen 5001 busybox sha256sum &
hf-vsock listen 5002 sh -c 'read -r l; echo "$l"; cat >/dev/null; st=$?
	echo "HF-VSOCK-IN-HOLD-END $(hf-id) cat $st" >/dev/console' &
hf-vsock listen 5009 sh /etc/hf/vsock-ctl.sh &
exec sleep 2147483647
