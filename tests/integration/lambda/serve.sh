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
    # Each invocation runs in the template's state (a fresh clone, or a worker reset after
    # its last answer): it never sees what another one wrote, in files (8 MB of them, in
    # the guest's RAM), the kernel (the hostname), or processes left behind; its clone
    # number and random bytes are its own.
    seen=
    [ -e /tmp/mark ] && seen="$seen file"
    [ "$(hostname)" = marked ] && seen="$seen hostname"
    cat /proc/[0-9]*/cmdline 2> /dev/null | tr '\0' ' ' | grep -q '[s]leep 9999' && seen="$seen process"
    rand=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    gen=$(grep -i '^Lambda-Runtime-Vm-Generation:' "$HEADERS" | tr -d '\r' | cut -d' ' -f2)
    echo "written by clone $(hf-id)" > /tmp/mark
    dd if=/dev/zero of=/tmp/big bs=1M count=8 2> /dev/null
    hostname marked
    (sleep 9999 > /dev/null 2>&1 &)
    seen=${seen# }
    printf '{"mark":"%s","clone":%s,"rand":"%s","gen":"%s"}' "${seen:-fresh}" "$(hf-id)" "$rand" "$gen" ;;
  '{"op":"nap"}') sleep 2 ; printf '{"napped":true}' ;;
  '{"op":"fork"}')
    # Function code asks its VMM for a clone of its VM: serve's VMs refuse.
    n=$(hf-fork 2> /dev/null)
    printf '{"fork":"%s"}' "${n:-refused}" ;;
  '{"op":"twice"}')
    # Answers twice: the first answer is the invocation's, the second is refused.
    for a in first second; do
      printf '{"answer":"%s"}' $a | curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" --data-binary @- > /dev/null
    done
    return 3 ;;
  '{"op":"big"}') printf '{"big":"'; head -c 5000000 /dev/zero | tr '\0' x; printf '"}' ;;
  '{"op":"huge"}') printf '{"huge":"'; head -c 7000000 /dev/zero | tr '\0' x; printf '"}' ;;
  '{"op":"log"}')
    # 64 KiB of log lines, then the last one.
    i=0; while [ $i -lt 1024 ]; do echo "serve-test: log line $i of 1024 ......................................" >&2; i=$((i + 1)); done
    echo "serve-test: the last log line" >&2
    printf '{"logged":1024}' ;;
  '{"op":"env"}') printf '{"greeting":"%s","function":"%s"}' "${GREETING:-}" "$AWS_LAMBDA_FUNCTION_NAME" ;;
  *) printf '{"echo":%s}' "$EVENT" ;;
  esac
}
