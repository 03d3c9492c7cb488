# The handler of test_serve's function (handler serve.handler): what it does depends on the
# event. What it prints on stderr is the function's log (X-Amz-Log-Type: Tail).
handler() {
  EVENT=$1
  echo "serve-test: event $EVENT in clone $(hf-id)" >&2
  case $EVENT in
  '{"op":"fail"}') printf 'failing on purpose'; return 1 ;;
  '{"op":"sleep"}') sleep 600 ;;
  '{"op":"crash"}') kill -9 $$ ;;
  '{"op":"mark"}')
    # Each invocation runs in a fresh clone: it never sees what another one wrote.
    if [ -e /tmp/mark ]; then seen=seen; else seen=fresh; fi
    echo "written by clone $(hf-id)" > /tmp/mark
    printf '{"mark":"%s","clone":%s}' "$seen" "$(hf-id)" ;;
  '{"op":"env"}') printf '{"greeting":"%s","function":"%s"}' "${GREETING:-}" "$AWS_LAMBDA_FUNCTION_NAME" ;;
  *) printf '{"echo":%s}' "$EVENT" ;;
  esac
}
