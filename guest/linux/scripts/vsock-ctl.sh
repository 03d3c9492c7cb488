# Not a boot script: the handler of vsock.sh's control port 5009, run for each connection
# with the stream as stdin and stdout. It reads one command:
#   to-host   sends /tmp/d.SIZE (1 B, 64 KiB, 16 MiB) to the host: to port 6001, whose
#             listener answers with the sha256 of what it got ("TO-HOST SIZE SENT HOST'S"),
#             and to port 6000, which echoes ("ECHO-FROM-HOST SIZE ok", or what differed);
#             then "TO-HOST-DONE"
#   refused   connects to host port 6999, where nothing listens: "REFUSED STATUS ERROR"
#   hold-out  connects to host port 6002 and holds the connection until it ends, then says
#             so on the console: "HF-VSOCK-OUT-HOLD-END CLONE status STATUS ERROR"
#   flood     sends 64 MiB of zeros to host port 6003 in the background (the host's listener
#             there never reads: the sender waits for credit), then says on the console how
#             it ended: "HF-VSOCK-FLOOD-END CLONE status STATUS ERROR"
#   fork      hf-fork; "HF-VSOCK-FORKED N" on the console of the VM (0) and of clone N
#   id        this VM's clone number
#   cid       this VM's CID, as its kernel has it
read -r cmd
case $cmd in
to-host)
	for s in 1 65536 16777216; do
		f=/tmp/d.$s
		sent=$(busybox sha256sum <$f)
		got=$(hf-vsock connect 2 6001 <$f 2>&1)
		echo "TO-HOST $s ${sent%% *} $got"
		hf-vsock connect 2 6000 <$f >/tmp/back 2>/tmp/back.err
		st=$?
		if busybox cmp -s $f /tmp/back; then
			echo "ECHO-FROM-HOST $s ok"
		else
			echo "ECHO-FROM-HOST $s differs: status $st, $(wc -c </tmp/back) bytes back $(cat /tmp/back.err)"
		fi
		rm -f /tmp/back
	done
	echo "TO-HOST-DONE"
	;;
refused)
	hf-vsock connect 2 6999 </dev/null >/dev/null 2>/tmp/refused.err
	echo "REFUSED $? $(cat /tmp/refused.err)"
	;;
hold-out)
	(
		hf-vsock connect 2 6002 <>/tmp/hold.fifo >/dev/null 2>/tmp/hold.err
		st=$?
		echo "HF-VSOCK-OUT-HOLD-END $(hf-id) status $st $(cat /tmp/hold.err)" >/dev/console
	) </dev/null >/dev/null 2>&1 &
	echo "HOLD-OUT started"
	;;
flood)
	(
		head -c 67108864 /dev/zero | hf-vsock connect 2 6003 >/dev/null 2>/tmp/flood.err
		st=$?
		echo "HF-VSOCK-FLOOD-END $(hf-id) status $st $(cat /tmp/flood.err)" >/dev/console
	) </dev/null >/dev/null 2>&1 &
	echo "FLOOD started"
	;;
fork)
	n=$(hf-fork 2>&1)
	echo "HF-VSOCK-FORKED $n" >/dev/console
	;;
id)
	hf-id
	;;
cid)
	hf-vsock cid 2>&1
	;;
*)
	echo "UNKNOWN '$cmd'"
	;;
esac
