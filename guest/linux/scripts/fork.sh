# hf.script=fork: clone the VM; the original and each clone report and end.
n=$(hf-fork) || { echo "HF-FORK-FAILED"; exec hf-done 1; }
echo "HF-FORK-RETURNED $n"
if [ "$n" = 0 ]; then
	echo "HF-PARENT"
	exec hf-done 0
fi
echo "HF-CLONE $n"
[ "$n" -le 239 ] || n=239 # exit codes above 239 are the VMM's
exec hf-done "$n"
