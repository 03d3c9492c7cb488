# hf.script=ticks: a fork point, then "HF-TICK" lines as fast as the console takes them
# (for timing restores and clones by their first output).
hf-fork > /dev/null
while :; do echo HF-TICK; done
