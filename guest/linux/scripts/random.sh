# hf.script=random: the kernel's random number generator and the address-space layout of
# new processes, across clones. The original forks twice: clone 1 with
# `hf-fork --no-reseed`, clone 2 with plain `hf-fork` (which reseeds from the host). The
# original and each clone print
#   RND <noreseed|reseed> <hf-fork's answer> <16 bytes of /dev/urandom> <a new process's stack>
report() {
	r=$(hexdump -n 16 -e '16/1 "%02x"' /dev/urandom)
	# shellcheck disable=SC2046
	set -- "$1" "$2" "$r" $(grep '\[stack\]' /proc/self/maps)
	echo "RND $1 $2 $3 $4"
}
# Reseed now, so that no periodic reseed falls due while the clones are compared.
hf-reseed || exec hf-done 1
n=$(hf-fork --no-reseed) || exec hf-done 1
report noreseed "$n"
[ "$n" = 0 ] || exec hf-done 0
n=$(hf-fork) || exec hf-done 1
report reseed "$n"
exec hf-done 0
