# hf.script=clock: /proc/uptime before and after a clone (must not go back), and the
# clocksource the clone runs on.
mount -t sysfs sysfs /sys
read -r up _ </proc/uptime
echo "HF-UPTIME $up"
n=$(hf-fork) || { echo "HF-FORK-FAILED"; n=0; }
read -r up _ </proc/uptime
echo "HF-UPTIME $up"
read -r cs </sys/devices/system/clocksource/clocksource0/current_clocksource
echo "HF-CLOCKSOURCE $cs"
echo "HF-FORK-RETURNED $n"
[ "$n" -le 239 ] || n=239
exec hf-done "$n"
