# hf.script=vsock-bench: the guest of bench/vsock.sh, the same two servers over vsock and,
# if the VM has a network card, over TCP on eth0 (10.0.2.2/24; the host's side of the tap is
# 10.0.2.1):
#   vsock 5000, tcp 7000   echo
#   vsock 5003, tcp 7003   reads to the end of the stream, then answers "done"
# The vsock listeners print "HF-VSOCK-LISTENING PORT" on the console; the TCP ones listen
# once HF-VSOCK-BENCH-NET is printed (or HF-VSOCK-BENCH-NONET without a card).
hf-vsock listen 5000 &
hf-vsock listen 5003 sh -c 'cat >/dev/null; echo done' &
if ip link set eth0 up 2>/dev/null && ip addr add 10.0.2.2/24 dev eth0; then
	nc -ll -p 7000 -e cat &
	nc -ll -p 7003 -e sh -c 'cat >/dev/null; echo done' &
	echo "HF-VSOCK-BENCH-NET"
else
	echo "HF-VSOCK-BENCH-NONET"
fi
exec sleep 2147483647
