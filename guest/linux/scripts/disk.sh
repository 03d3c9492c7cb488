# hf.script=disk: virtio-blk disks across a clone. vda: an ext2 disk holding hello.txt;
# vdb: the same image, read-only. Writes a file, forks, then each side writes its own and
# reads the disk back from the device (caches dropped). Prints
#   HF-DISK-READ <hello.txt>   HF-DISK-RO <vdb's read-only flag>
#   HF-DISK <n> <the files on vda, sorted> side=<contents of /mnt/side>
blockdev vda && blockdev vdb || exec hf-done 1
mkdir -p /mnt
mount -t ext2 /dev/vda /mnt || exec hf-done 1
read -r hello </mnt/hello.txt
echo "HF-DISK-READ $hello"
read -r ro </sys/block/vdb/ro
echo "HF-DISK-RO $ro"
echo before >/mnt/before
n=$(hf-fork) || exec hf-done 1
echo "side $n" >/mnt/side
umount /mnt || exec hf-done 1
echo 3 >/proc/sys/vm/drop_caches
mount -t ext2 /dev/vda /mnt || exec hf-done 1
read -r side </mnt/side
files=$(ls /mnt | grep -v lost+found)
echo "HF-DISK $n" $files "side=$side"
umount /mnt
[ "$n" -le 239 ] || n=239
exec hf-done "$n"
