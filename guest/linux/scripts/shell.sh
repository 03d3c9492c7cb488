# hf.script=shell: an interactive shell on the console (no job control).
echo "HF-SHELL"
exec sh
