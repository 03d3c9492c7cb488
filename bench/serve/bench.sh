# The handler of bench/serve.sh's functions (handler bench.handler), sourced by
# tests/integration/lambda/bootstrap at the function's initialisation.
# The initialisation: INIT_LOOPS rounds of shell arithmetic (the paper's expensive init,
# scaled to what a shell does), paid once per template, or once per invocation when each
# boots its own VM.
i=0
while [ "$i" -lt "${INIT_LOOPS:-0}" ]; do i=$((i + 1)); done
handler() {
  printf '{"echo":%s}' "$1"
}
