# hf.script=disks: as many virtio-blk disks as the board has interrupt lines. Each image
# starts with a line of its own; the guest reads it through each device (so each one's
# interrupt is delivered), then forks and the clone reads them all again. Prints
#   HF-DISKS <n> <count> vda=<first line> vdb=<first line> ...
[ -d /sys/block ] || mount -t sysfs sysfs /sys
read_all() {
	out= count=0
	for b in /sys/block/vd*; do
		d=${b##*/}
		[ -e "/dev/$d" ] || blockdev "$d" || return 1
		line=$(head -n 1 "/dev/$d") || return 1
		out="$out $d=$line" count=$((count + 1))
	done
	echo "HF-DISKS $1 $count$out"
}
read_all 0 || exec hf-done 1
n=$(hf-fork) || exec hf-done 1
echo 3 >/proc/sys/vm/drop_caches
read_all "$n" || exec hf-done 1
[ "$n" -le 239 ] || n=239
exec hf-done "$n"
