# hf.script=net: virtio-net across a clone. eth0 gets 10.0.2.2/24; the host side of the
# tap is 10.0.2.1. An HTTP server started before the fork goes on serving in the original
# and in the clone, each on its own tap, with the same address: /id answers with the
# clone's number. Prints HF-NET-UP once the host answers, then "HF-NET <n> ok" on each side.
wait_host() {
	i=0
	until ping -c 1 -W 1 10.0.2.1 >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge 90 ]; then
			echo "HF-NET-DOWN"
			exec hf-done 1
		fi
	done
}
ip link set eth0 up || exec hf-done 1
ip addr add 10.0.2.2/24 dev eth0 || exec hf-done 1
mkdir -p /tmp/www
echo 0 >/tmp/www/id
httpd -p 80 -h /tmp/www || exec hf-done 1
wait_host
echo "HF-NET-UP"
n=$(hf-fork) || exec hf-done 1
echo "$n" >/tmp/www/id
wait_host
echo "HF-NET $n ok"
exec sleep 3600
