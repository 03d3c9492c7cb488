# hf.script=fn-full: the function benchmark, initialization and computation.
hf-function full
exec hf-done $?
