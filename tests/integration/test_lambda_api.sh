# The Lambda management API on serve, called by Debian's awscli and boto3 as a Lambda user
# would: create a Python function from a zip, wait for it to be Active, invoke it; update its
# code and its configuration (the next invocation runs the new code, with the new memory,
# timeout and environment); list; (a Node function: test_lambda_node.sh); a handler
# that does not exist (Failed, with the reason);
# bad uploads refused with Lambda's errors and nothing kept; concurrent creates of one name;
# delete (404 after); layers (published with awscli, given to the function by a
# configuration update: its handler imports what they put in /opt, the later layer's files
# over the earlier one's; their versions deleted, it still has them after a restart); and a
# restart of serve, which finds its functions again in its state directory. (A serve killed
# mid-write is tests/unit/test_store.c's.)
. "$(dirname "$0")/lib.sh"

need_linux_guest
AWS=/usr/bin/aws PY=/usr/bin/python3
IMAGES=$TOP/build/runtimes
for t in $AWS $PY; do
	[ -x $t ] || { fail "no $t: run scripts/install-deps.sh"; finish; }
done
$PY -c 'import boto3' 2> /dev/null || { fail "no python3-boto3: run scripts/install-deps.sh"; finish; }
for r in python3.11; do
	[ -f "$IMAGES/$r.img" ] || { fail "no runtime image $IMAGES/$r.img: make runtimes"; finish; }
done
aws_env

# ---------------------------------------------------------------- the code, two versions
for v in 1 2; do
	mkdir -p "$RUN/v$v"
	cat > "$RUN/v$v/app.py" << EOF
import os, sys
try:  # (from the function's layers, once it has them: /opt/python, and its site-packages)
    import helper, sitemod
    HELPER = [helper.VALUE, sitemod.VALUE]
except ImportError:
    HELPER = None

def handler(event, context):
    return {"version": $v, "event": event, "memory": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(), "colour": os.environ.get("COLOUR"),
            "big": len(os.environ.get("BIG", "")), "helper": HELPER,
            "path": [p for p in sys.path if p.startswith(("/opt", "/var/task"))]}
EOF
	(cd "$RUN/v$v" && $PY -m zipfile -c "$RUN/v$v.zip" app.py)
done
# Two layers: the second's helper.py replaces the first's in /opt.
for l in a b; do
	mkdir -p "$RUN/layer-$l/python/lib/python3.11/site-packages"
	echo "VALUE = 'helper from layer $l'" > "$RUN/layer-$l/python/helper.py"
	[ $l = b ] || echo "VALUE = 'site-packages of layer $l'" > "$RUN/layer-$l/python/lib/python3.11/site-packages/sitemod.py"
	(cd "$RUN/layer-$l" && $PY -m zipfile -c "$RUN/layer-$l.zip" python)
done
LAYER=arn:aws:lambda:us-east-1:000000000000:layer

PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
STATE=$RUN/state
start_serve() {
	"$HF" serve --listen 127.0.0.1:$PORT --state-dir "$STATE" --run-dir "$RUN" --runtimes "$IMAGES" \
		--linux "$LINUX_DIR" "$@" > "$RUN/serve.out" 2> "$RUN/serve.err" &
	serve_pid=$!
	wait_for 30 grep -q "^serve: listening on $URL" "$RUN/serve.out"
}
trap 'kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; cleanup' EXIT
check_or_show "serve listens with no functions but its state directory's" "$RUN/serve.err" start_serve
lambda() { timeout 300 $AWS lambda --endpoint-url "$URL" "$@" > "$RUN/cli.out" 2> "$RUN/cli.err"; }
# wait_state NAME STATE: GetFunction (GET /2015-03-31/functions/NAME, by curl) says it.
# awscli's own waiters poll every 5 s, too slowly for a test, and give up after 5 minutes, too
# soon for an emulated host; and each awscli run costs ~20 s of Python starting there, taken
# from the VM booting meanwhile. Most calls below are boto3's (one process for many) or
# curl's for that reason; awscli makes one of each kind (create, update, list, get, delete,
# invoke, publish, a refusal).
wait_state() {
	wait_for 600 bash -c "curl -s -m 30 $URL/2015-03-31/functions/$1 > '$RUN/gf.json' &&
		$PY -c 'import json,sys; c=json.load(open(sys.argv[1]))[\"Configuration\"]; print(c[\"State\"]+\"\t\"+c[\"LastUpdateStatus\"])' '$RUN/gf.json' 2>/dev/null | grep -qx '$2' ||
		{ sleep $(scaled 0.3); false; }"
}
invoke() { aws_invoke "$URL" "$@"; } # NAME PAYLOAD (lib.sh): $RUN/out.json, $st
# hinvoke NAME PAYLOAD: the same invocation by curl (lib.sh's http_invoke: the answer in
# $RUN/c.out, its HTTP status in $code).
hinvoke() { http_invoke "$URL" "$@"; }
# get_function NAME: GetFunction by curl; its HTTP status in $code, the answer in $RUN/gf.json.
get_function() { code=$(curl -s -m 30 -o "$RUN/gf.json" -w '%{http_code}' "$URL/2015-03-31/functions/$1"); }

# ---------------------------------------------------------------- awscli
lambda create-function --function-name py --runtime python3.11 --handler app.handler \
	--role arn:aws:iam::000000000000:role/lambda --zip-file "fileb://$RUN/v1.zip" \
	--environment 'Variables={COLOUR=blue}'
check_or_show "aws lambda create-function: 201, State Pending" "$RUN/cli.err" \
	test "$(json_q "$RUN/cli.out" '[d["FunctionName"], d["State"], d["Runtime"], d["Handler"], d["MemorySize"], d["Timeout"]]')" = "['py', 'Pending', 'python3.11', 'app.handler', 128, 3]"
check "its CodeSha256 is the zip's (base64 SHA-256) and CodeSize its size" \
	test "$(json_q "$RUN/cli.out" '[d["CodeSha256"], d["CodeSize"]]')" = "['$(openssl dgst -sha256 -binary "$RUN/v1.zip" | base64)', $(stat -c %s "$RUN/v1.zip")]"
check_or_show "it becomes Active (LastUpdateStatus Successful)" "$RUN/serve.out" wait_state py $'Active\tSuccessful'
invoke py '{"n": 1}'
check_or_show "aws lambda invoke: version 1 answers, with its environment" "$RUN/inv.err" \
	test "$(json_q "$RUN/out.json" '[d["version"], d["event"], d["colour"], d["memory"]]')" = "[1, {'n': 1}, 'blue', '128']"

lambda update-function-code --function-name py --zip-file "fileb://$RUN/v2.zip"
check_or_show "update-function-code: LastUpdateStatus InProgress, the new hash" "$RUN/cli.err" \
	test "$(json_q "$RUN/cli.out" '[d["LastUpdateStatus"], d["CodeSha256"]]')" = "['InProgress', '$(openssl dgst -sha256 -binary "$RUN/v2.zip" | base64)']"
check_or_show "the update succeeds" "$RUN/serve.out" wait_state py $'Active\tSuccessful'
hinvoke py '{"n": 2}'
check_or_show "the next invocation runs the new code" "$RUN/c.out" test "$code/$(json_q "$RUN/c.out" 'd["version"]')" = 200/2

lambda list-functions
check "list-functions: py, Active" test "$(json_q "$RUN/cli.out" '[(f["FunctionName"], f["State"]) for f in d["Functions"]]')" = "[('py', 'Active')]"
lambda create-function --function-name py --runtime python3.11 --handler app.handler --role r \
	--zip-file "fileb://$RUN/v1.zip"
check_or_show "creating it again: ResourceConflictException" "$RUN/cli.err" grep -q 'ResourceConflictException.*Function already exist: py' "$RUN/cli.err"

# boto3 (one process makes many calls: OP below)
cat > "$RUN/boto.py" << 'EOF'
import base64, io, json, sys, threading, time, zipfile
import boto3, botocore
url, run = sys.argv[1], sys.argv[2]
c = boto3.client("lambda", endpoint_url=url, config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=300))
def err(f, **kw):
    try:
        f(**kw)
        return "ok"
    except c.exceptions.ClientError as e:
        return "%s %s: %s" % (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], e.response["Error"]["Message"])
def zipped(entries, links=()):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for n, s in entries:
            z.writestr(n, s)
        for n, t in links:
            i = zipfile.ZipInfo(n); i.create_system = 3; i.external_attr = 0o120777 << 16
            z.writestr(i, t)
    return b.getvalue()
good = zipped([("app.py", "def handler(e, c): return 1\n")])
mk = dict(Runtime="python3.11", Role="r", Handler="app.handler")
op = sys.argv[3]
if op == "config":
    # (BIG: an environment of 3.9 KB, Lambda's 4 KB and more than a kernel command line has)
    layer = "arn:aws:lambda:us-east-1:000000000000:layer:"
    r = c.update_function_configuration(FunctionName="py", MemorySize=512, Timeout=7,
                                        Environment={"Variables": {"COLOUR": "green", "BIG": "x" * 3900}},
                                        Layers=[layer + "helper-a:1", layer + "helper-b:1"])
    print("update", r["MemorySize"], r["Timeout"], r["Environment"]["Variables"]["COLOUR"], r["LastUpdateStatus"])
    print("layers", [(l["Arn"].split(":", 6)[6], l["CodeSize"]) for l in r["Layers"]])
    print("toobig", err(c.update_function_configuration, FunctionName="py",
                        Environment={"Variables": {"BIG": "x" * 4200}}))
elif op == "bad":
    print("notzip", err(c.create_function, FunctionName="b1", Code={"ZipFile": b"not a zip"}, **mk))
    print("dotdot", err(c.create_function, FunctionName="b2", Code={"ZipFile": zipped([("../evil.py", "x")])}, **mk))
    print("absolute", err(c.create_function, FunctionName="b3", Code={"ZipFile": zipped([("/etc/evil.py", "x")])}, **mk))
    print("symlink", err(c.create_function, FunctionName="b4", Code={"ZipFile": zipped([("app.py", "x")], [("lib/passwd", "../../etc/passwd")])}, **mk))
    print("bomb", err(c.create_function, FunctionName="b5", Code={"ZipFile": zipped([("zeros", b"\0" * (251 << 20))])}, **mk))
    import os
    print("huge", err(c.create_function, FunctionName="b6", Code={"ZipFile": zipped([("r", os.urandom(52 << 20))])}, **mk))
    print("runtime", err(c.create_function, FunctionName="b7", Code={"ZipFile": good}, **dict(mk, Runtime="python2.7")))
    print("name", err(c.create_function, FunctionName="a/b", Code={"ZipFile": good}, **mk))
    # (boto3 checks this one itself: sent as it would be, raw)
    import urllib.request
    rq = urllib.request.Request(url + "/2015-03-31/functions/py/configuration", method="PUT",
                                data=b'{"MemorySize": 64}')
    try:
        urllib.request.urlopen(rq)
        print("memory ok")
    except urllib.error.HTTPError as e:
        print("memory", e.code, e.headers["x-amzn-ErrorType"] + ":", json.load(e)["message"])
    print("missing", err(c.get_function, FunctionName="nothere"))
    layer = "arn:aws:lambda:us-east-1:000000000000:layer:"
    print("nolayer", err(c.create_function, FunctionName="b8", Code={"ZipFile": good}, Layers=[layer + "helper-a:1", layer + "nope:3"], **mk))
    print("sixlayers", err(c.create_function, FunctionName="b9", Code={"ZipFile": good}, Layers=[layer + "l%d:1" % i for i in range(6)], **mk))
    print("evillayer", err(c.publish_layer_version, LayerName="evil", Content={"ZipFile": zipped([("../x.py", "x")])}))
elif op == "twins":  # two creates of one name at once: one is made
    out = []
    def one():
        out.append(err(c.create_function, FunctionName="twin", Code={"ZipFile": good}, **mk))
    ts = [threading.Thread(target=one) for _ in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print("twins", sorted(out))
    print("delete", err(c.delete_function, FunctionName="twin"))
elif op == "nohandler":
    print("create", err(c.create_function, FunctionName="nohandler", Code={"ZipFile": good}, **dict(mk, Handler="app.nothere")))
elif op in ("layers", "layersgone"):  # each answer (or error) in RUN/TAG.json
    def keep(tag, f, **kw):
        try:
            r = f(**kw)
            r.pop("ResponseMetadata", None)
        except c.exceptions.ClientError as e:
            r = {"Error": e.response["Error"]}
        json.dump(r, open(f"{run}/{tag}.json", "w"), default=str)
    layer = "arn:aws:lambda:us-east-1:000000000000:layer:"
    b = open(f"{run}/layer-b.zip", "rb").read()
    if op == "layers":
        keep("pubb", c.publish_layer_version, LayerName="helper-b", Content={"ZipFile": b})
        keep("puba2", c.publish_layer_version, LayerName="helper-a", Content={"ZipFile": b})
        keep("get1", c.get_layer_version, LayerName="helper-a", VersionNumber=1)
        keep("byarn", c.get_layer_version_by_arn, Arn=layer + "helper-a:1")
        keep("list", c.list_layers)
        keep("versions", c.list_layer_versions, LayerName="helper-a")
        keep("get9", c.get_layer_version, LayerName="helper-a", VersionNumber=9)
    else:
        keep("delb", c.delete_layer_version, LayerName="helper-b", VersionNumber=1)
        keep("gone", c.get_layer_version, LayerName="helper-a", VersionNumber=1)
        keep("list", c.list_layers)
elif op == "state":
    f = c.get_function_configuration(FunctionName=sys.argv[4])
    print(f["State"], f.get("StateReasonCode"), f.get("StateReason"))
EOF
boto() { timeout 600 $PY "$RUN/boto.py" "$URL" "$RUN" "$@" > "$RUN/boto.out" 2> "$RUN/boto.err"; }

# ---------------------------------------------------------------- layers
lambda publish-layer-version --layer-name helper-a --description "the first" \
	--compatible-runtimes python3.11 --compatible-architectures x86_64 --license-info MIT \
	--zip-file "fileb://$RUN/layer-a.zip"
check_or_show "aws lambda publish-layer-version: version 1, its ARNs, size and hash" "$RUN/cli.err" \
	test "$(json_q "$RUN/cli.out" '[d["LayerArn"], d["LayerVersionArn"], d["Version"], d["Content"]["CodeSize"], d["Content"]["CodeSha256"], d["Description"], d["CompatibleRuntimes"], d["LicenseInfo"]]')" = \
	"['$LAYER:helper-a', '$LAYER:helper-a:1', 1, $(stat -c %s "$RUN/layer-a.zip"), '$(openssl dgst -sha256 -binary "$RUN/layer-a.zip" | base64)', 'the first', ['python3.11'], 'MIT']"
# (the rest by boto3, one process: each answer in $RUN/TAG.json, as awscli prints it)
boto layers
check_or_show "boto3 made the layer calls" "$RUN/boto.err" test $? = 0
check_or_show "publishing again makes version 2 (versions are immutable)" "$RUN/puba2.json" \
	test "$(json_q "$RUN/puba2.json" 'd["LayerVersionArn"]')" = "$LAYER:helper-a:2"
check_or_show "get-layer-version: version 1 as it was published" "$RUN/get1.json" \
	test "$(json_q "$RUN/get1.json" '[d["Version"], d["Description"], d["Content"]["CodeSize"]]')" = "[1, 'the first', $(stat -c %s "$RUN/layer-a.zip")]"
check_or_show "get-layer-version-by-arn: the same" "$RUN/byarn.json" \
	test "$(json_q "$RUN/byarn.json" '[d["LayerVersionArn"], d["Description"]]')" = "['$LAYER:helper-a:1', 'the first']"
check_or_show "list-layers: both, with their latest versions" "$RUN/list.json" \
	test "$(json_q "$RUN/list.json" '[(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in d["Layers"]]')" = "[('helper-a', 2), ('helper-b', 1)]"
check_or_show "list-layer-versions: newest first" "$RUN/versions.json" \
	test "$(json_q "$RUN/versions.json" '[v["Version"] for v in d["LayerVersions"]]')" = "[2, 1]"
check_or_show "get-layer-version of a version there is not: ResourceNotFoundException" "$RUN/get9.json" \
	test "$(json_q "$RUN/get9.json" '[d["Error"]["Code"], d["Error"]["Message"]]')" = "['ResourceNotFoundException', 'Layer version $LAYER:helper-a:9 does not exist.']"

# ---------------------------------------------------------------- boto3
boto config
check_or_show "boto3 update_function_configuration: the new memory, timeout and environment, InProgress" "$RUN/boto.err" \
	grep -qx 'update 512 7 green InProgress' "$RUN/boto.out"
check_or_show "and its two layers, with their sizes" "$RUN/boto.out" \
	grep -qx "layers \[('helper-a:1', $(stat -c %s "$RUN/layer-a.zip")), ('helper-b:1', $(stat -c %s "$RUN/layer-b.zip"))\]" "$RUN/boto.out"
check_or_show "the update succeeds" "$RUN/serve.out" wait_state py $'Active\tSuccessful'
hinvoke py '{"n": 3}'
check_or_show "an environment over Lambda's 4 KB: refused" "$RUN/boto.out" \
	grep -q "^toobig 400 InvalidParameterValueException: .*the environment is larger than 4096 bytes" "$RUN/boto.out"
check_or_show "the next invocation has 512 MB, the new environment (3.9 KB of it), a 7 s deadline" "$RUN/c.out" \
	test "$(json_q "$RUN/c.out" '[d["version"], d["memory"], d["colour"], d["big"], 0 < d["remaining"] <= 8000]')" = "[2, '512', 'green', 3900, True]"
check_or_show "its handler imports from its layers in /opt (the second's helper.py over the first's)" "$RUN/c.out" \
	test "$(json_q "$RUN/c.out" 'd["helper"]')" = "['helper from layer b', 'site-packages of layer a']"
check_or_show "sys.path as Lambda's: /var/task, then the layers' site-packages, then /opt/python" "$RUN/c.out" \
	test "$(json_q "$RUN/c.out" 'd["path"]')" = "['/var/task', '/opt/python/lib/python3.11/site-packages', '/opt/python']"
lambda get-function-configuration --function-name py
check_or_show "get-function-configuration: Layers, each its Arn and CodeSize" "$RUN/cli.err" \
	test "$(json_q "$RUN/cli.out" '[(l["Arn"], l["CodeSize"]) for l in d["Layers"]]')" = "[('$LAYER:helper-a:1', $(stat -c %s "$RUN/layer-a.zip")), ('$LAYER:helper-b:1', $(stat -c %s "$RUN/layer-b.zip"))]"

boto bad
expect() { check_or_show "$1" "$RUN/boto.out" grep -qF "$2" "$RUN/boto.out"; }
expect "not a zip: InvalidParameterValueException" "notzip 400 InvalidParameterValueException: Could not unzip uploaded file"
expect "an entry with ../: refused" "dotdot 400 InvalidParameterValueException: the zip's entry ../evil.py would be unpacked outside /var/task"
expect "an absolute entry: refused" "absolute 400 InvalidParameterValueException: the zip's entry /etc/evil.py would be unpacked outside"
expect "a link out of /var/task: refused" "symlink 400 InvalidParameterValueException: the zip's link lib/passwd points out of /var/task"
expect "a zip bomb (251 MiB of zeros): refused" "bomb 400 InvalidParameterValueException: Unzipped size must be smaller than 262144000 bytes"
expect "a zip over 50 MB: RequestEntityTooLargeException" "huge 413 RequestEntityTooLargeException"
expect "an unknown runtime: refused" "runtime 400 InvalidParameterValueException: Value python2.7 at 'runtime'"
expect "a bad memory size: refused" "memory 400 InvalidParameterValueException: MemorySize must be"
expect "GetFunction of nothing: ResourceNotFoundException" "missing 404 ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:nothere"
expect "a layer version there is not: InvalidParameterValueException naming it" "nolayer 400 InvalidParameterValueException: Layer version $LAYER:nope:3 does not exist."
expect "six layers: InvalidParameterValueException" "sixlayers 400 InvalidParameterValueException: Cannot reference more than 5 layers."
expect "a layer's zip with ../: refused" "evillayer 400 InvalidParameterValueException: the zip's entry ../x.py would be unpacked outside /opt"
check "nothing was kept of the refused ones" test "$(ls "$STATE/functions")" = py
check "nor written outside the state directory" test ! -e "$RUN/evil.py" -a ! -e /etc/evil.py

boto twins
check_or_show "two creates of one name at once: one made, one ResourceConflictException" "$RUN/boto.out" \
	grep -qx "twins \['409 ResourceConflictException: Function already exist: twin', 'ok'\]" "$RUN/boto.out"
check_or_show "and it is deleted (while it still boots)" "$RUN/boto.out" grep -qx 'delete ok' "$RUN/boto.out"
check "its state and its VMs go" wait_for 120 bash -c "[ ! -e '$STATE/functions/twin' ] && grep -q 'function twin deleted' '$RUN/serve.out'"

boto nohandler
check_or_show "a handler that does not exist: created" "$RUN/boto.err" grep -qx 'create ok' "$RUN/boto.out"
check_or_show "then Failed, with the runtime's reason" "$RUN/serve.out" wait_state nohandler $'Failed\tFailed'
boto state nohandler
check_or_show "StateReason names Runtime.HandlerNotFound" "$RUN/boto.out" \
	grep -q "^Failed FunctionError .*Runtime.HandlerNotFound.*Handler 'nothere' missing on module 'app'" "$RUN/boto.out"

check_or_show "aws lambda delete-function" "$RUN/cli.err" lambda delete-function --function-name nohandler
get_function nohandler
check_or_show "get-function after: 404" "$RUN/gf.json" test "$code" = 404
hinvoke nohandler '{}'
check_or_show "invoke after: 404 ResourceNotFoundException" "$RUN/c.out" test "$code/$(http_hdr x-amzn-ErrorType)" = 404/ResourceNotFoundException

# ---------------------------------------------------------------- layer versions deleted
check_or_show "aws lambda delete-layer-version" "$RUN/cli.err" lambda delete-layer-version --layer-name helper-a --version-number 1
boto layersgone
check_or_show "and the other layer's (boto3)" "$RUN/delb.json" test "$(json_q "$RUN/delb.json" 'd')" = "{}"
check_or_show "get-layer-version after: ResourceNotFoundException" "$RUN/gone.json" \
	test "$(json_q "$RUN/gone.json" 'd["Error"]["Code"]')" = ResourceNotFoundException
check_or_show "list-layers: helper-b (no version left) is gone, helper-a's version 2 stays" "$RUN/list.json" \
	test "$(json_q "$RUN/list.json" '[(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in d["Layers"]]')" = "[('helper-a', 2)]"
hinvoke py '{"n": 5}'
check_or_show "py still runs with them" "$RUN/c.out" test "$(json_q "$RUN/c.out" 'd["helper"][0]')" = "helper from layer b"

# ---------------------------------------------------------------- a restart
kill $serve_pid
wait $serve_pid
check "serve ends cleanly" test $? = 0
# (now with 1 MB for all functions' code: py's zip is a few hundred bytes)
check_or_show "serve starts again" "$RUN/serve.err" start_serve --code-storage 1
check_or_show "and finds py in its state directory" "$RUN/serve.out" grep -q '^serve: 1 function(s) from the state directory' "$RUN/serve.out"
check_or_show "py is Active again" "$RUN/serve.out" wait_state py $'Active\tSuccessful'
hinvoke py '{"n": 4}'
check_or_show "with its new code and configuration" "$RUN/c.out" \
	test "$(json_q "$RUN/c.out" '[d["version"], d["memory"], d["colour"], d["big"]]')" = "[2, '512', 'green', 3900]"
check_or_show "and its layers, its own copies (their versions were deleted before the restart)" "$RUN/c.out" \
	test "$(json_q "$RUN/c.out" 'd["helper"]')" = "['helper from layer b', 'site-packages of layer a']"
# A zip that would take the functions' code past --code-storage: refused, nothing kept.
mkdir -p "$RUN/big" && head -c 1000000 /dev/urandom > "$RUN/big/blob" && cp "$RUN/v1/app.py" "$RUN/big/"
(cd "$RUN/big" && $PY -m zipfile -c "$RUN/big.zip" app.py blob)
lambda create-function --function-name toobig --runtime python3.11 --handler app.handler \
	--role arn:aws:iam::000000000000:role/x --zip-file "fileb://$RUN/big.zip"
check_or_show "past --code-storage: CodeStorageExceededException" "$RUN/cli.err" \
	grep -q "CodeStorageExceededException.*Code storage limit exceeded" "$RUN/cli.err"
get_function toobig
check_or_show "and the function is not made (GetFunction: 404)" "$RUN/gf.json" test "$code" = 404
kill $serve_pid
wait $serve_pid
check "serve ends cleanly" test $? = 0
finish
