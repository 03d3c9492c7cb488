# hf.script=reset: a Linux guest reset to its template's state (tests/integration/
# test_reset.sh). vda: an ext2 disk (copy-on-write) holding hello.txt, mounted. A vsock
# listener on port 5002 echoes a line, then holds the connection. Then hf-fork freezes the
# VM (a --reusable template); in each clone, and again after each reset of one (which
# returns from hf-fork once more, with a new number), it prints
#   HF-RESET <n> mem=<tmpfs mark> disk=[<files on vda>] env=<HF_STATE> rand=<8 random bytes>
# then changes all of those (and writes 4 MiB of memory) and prints HF-RESET-DIRTIED <n>.
blockdev vda || exec hf-done 1
mkdir -p /mnt
mount -t ext2 /dev/vda /mnt || exec hf-done 1
[ -d /sys/class ] || mount -t sysfs sysfs /sys
read -r majmin </sys/class/misc/vsock/dev && mknod /dev/vsock c "${majmin%:*}" "${majmin#*:}"
hf-vsock listen 5002 sh -c 'read -r l; echo "$l"; cat >/dev/null' &
HF_STATE=template
n=$(hf-fork) || exec hf-done 1
echo 3 >/proc/sys/vm/drop_caches # (the disk read from the device, not the page cache)
disk=$(ls /mnt | grep -v lost+found | tr '\n' ' ')
mem=$(cat /tmp/mark 2>/dev/null || echo none)
rand=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "HF-RESET $n mem=$mem disk=[${disk% }] env=$HF_STATE rand=$rand"
echo "dirty-$n" >/tmp/mark
echo "dirty-$n" >/mnt/dirty-$n
sync
head -c 4194304 /dev/urandom >/tmp/big
HF_STATE=changed-$n
echo "HF-RESET-DIRTIED $n $HF_STATE"
exec sleep 2147483647
