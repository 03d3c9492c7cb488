# hf.script=clock: /proc/uptime before and after a clone (must not go back).
read -r up _ </proc/uptime
echo "HF-UPTIME $up"
n=$(hf-fork) || { echo "HF-FORK-FAILED"; n=0; }
read -r up _ </proc/uptime
echo "HF-UPTIME $up"
echo "HF-FORK-RETURNED $n"
[ "$n" -le 239 ] || n=239
exec hf-done "$n"
