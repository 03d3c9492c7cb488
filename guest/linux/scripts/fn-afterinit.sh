# hf.script=fn-afterinit: the function initializes, then its fork point; clones compute.
hf-function afterinit
exec hf-done $?
