# hf.script=fn-afterboot: fork point right after boot; each clone runs the whole function.
hf-fork > /dev/null || exec hf-done 1
hf-function full
exec hf-done $?
