# The handler of test_lambda's function (handler function.handler): what it does depends
# on the event. Its output on stderr is the function's log.
api=http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime
handler() {
  EVENT=$1
  case $EVENT in
  '{"op":"echo"'*) printf 'echo:%s' "$EVENT" ;;
  '{"op":"headers"}') grep -i '^Lambda-Runtime-' "$HEADERS" | grep -vi '^Lambda-Runtime-Vm-Generation:' | tr -d '\r' | sort ;;
  '{"op":"generation"}') grep -i '^Lambda-Runtime-Vm-Generation:' "$HEADERS" | tr -d '\r' | cut -d' ' -f2 ;;
  '{"op":"env"}') printf '%s|' "$AWS_LAMBDA_FUNCTION_NAME" "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE" \
      "$AWS_LAMBDA_FUNCTION_VERSION" "$AWS_REGION" "$_HANDLER" "$LAMBDA_TASK_ROOT" \
      "$LAMBDA_RUNTIME_DIR" "${MY_GREETING:-}" "${MY_EMPTY-unset}" "$(pwd)" ;;
  '{"op":"fail"}') printf 'failing on purpose'; return 1 ;;
  '{"op":"mark"}')
    if [ -e /tmp/mark ]; then seen=seen; else seen=fresh; fi
    echo "clone $(hf-id)" > /tmp/mark
    echo "LAMBDA-TEST mark in clone $(hf-id)" >&2
    printf '%s clone=%s' "$seen" "$(hf-id)" ;;
  '{"op":"api"}')
    # The Runtime API's refusals as the runtime sees them; the answer sent chunked; a second
    # answer refused.
    nf=$(curl -s -o /dev/null -w '%{http_code}' "$api/nope")
    bad=$(curl -s -w ' %{http_code}' "$api/invocation/not-$REQUEST_ID/response" -d x)
    printf 'api: 404=%s 400=%s' "$nf" "$bad" |
      curl -sS -o /dev/null -H 'Transfer-Encoding: chunked' "$api/invocation/$REQUEST_ID/response" --data-binary @-
    again=$(curl -s -w ' %{http_code}' "$api/invocation/$REQUEST_ID/response" -d again)
    echo "LAMBDA-TEST api second answer: $again" >&2
    return 3 ;;
  '{"op":"huge"}')
    head -c 7340032 /dev/zero | tr '\0' x > /tmp/huge
    code=$(curl -s -o /tmp/huge.out -w '%{http_code}' "$api/invocation/$REQUEST_ID/response" --data-binary @/tmp/huge)
    echo "LAMBDA-TEST huge: $code $(cat /tmp/huge.out)" >&2
    rm -f /tmp/huge /tmp/huge.out
    return 3 ;;
  '{"op":"crash"}') echo "LAMBDA-TEST crashing" >&2; kill -9 $$ ;;
  *) printf 'unknown event'; return 1 ;;
  esac
}
