# hf.script=clock: /proc/uptime before and after a clone (must not go back), the clocksource
# the clone runs on, and TSC/CLOCK_MONOTONIC pairs (HF-TSCNS) before the fork, right after it
# and a second later, from which the test computes how far kvm-clock and the TSC drifted
# apart across the clone.
mount -t sysfs sysfs /sys
read -r up _ </proc/uptime
echo "HF-UPTIME $up"
echo "HF-TSCNS before $(hf-clock)"
n=$(hf-fork) || { echo "HF-FORK-FAILED"; n=0; }
echo "HF-TSCNS after $(hf-clock)"
read -r up _ </proc/uptime
echo "HF-UPTIME $up"
sleep 1
echo "HF-TSCNS later $(hf-clock)"
read -r cs </sys/devices/system/clocksource/clocksource0/current_clocksource
echo "HF-CLOCKSOURCE $cs"
echo "HF-FORK-RETURNED $n"
[ "$n" -le 239 ] || n=239
exec hf-done "$n"
