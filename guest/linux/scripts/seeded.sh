# hf.script=seeded: whether the kernel's random number generator was ready before /init
# ran (a seed from the VMM does this at once; otherwise the kernel gathers entropy slowly).
if dmesg | grep -q 'random: crng init done'; then
	echo "HF-CRNG ready"
else
	echo "HF-CRNG not-ready"
fi
