# hf.script=persist: a persistent disk (--disk FILE,persist). Writes /note on ext2 vda and
# unmounts (the writes reach the image), then asks for a clone, which the VMM must refuse:
# prints HF-PERSIST fork-refused (or HF-PERSIST forked).
blockdev vda || exec hf-done 1
mkdir -p /mnt
mount -t ext2 /dev/vda /mnt || exec hf-done 1
echo persisted >/mnt/note
umount /mnt || exec hf-done 1
if hf-fork >/dev/null 2>&1; then
	echo "HF-PERSIST forked"
else
	echo "HF-PERSIST fork-refused"
fi
exec hf-done 0
