/* The invocation channel between `hyperfork serve` (host) and hf-lambda, the Lambda Runtime
 * API agent inside a Linux guest, over virtio-vsock. Shared verbatim by both sides.
 *
 * The agent serves the Runtime API (GET .../invocation/next, POST .../invocation/ID/response,
 * .../invocation/ID/error, .../init/error) on 127.0.0.1:9001 to the function's `bootstrap`,
 * and listens on vsock port HF_LAMBDA_PORT before the VM is frozen, so the listener serves
 * in every clone. The first GET .../next is the function's "init done": the agent calls
 * hf-fork there, which freezes the VM into a template under `hyperfork serve`; in each
 * clone hf-fork returns and the agent waits for one invocation. (With hf.lambda=warm on the
 * kernel command line it does not fork: one VM serves invocation after invocation, the
 * warm-start floor of the benchmarks.)
 *
 * serve connects to the clone's vsock socket, writes "CONNECT 9000\n", reads "OK <port>\n",
 * then the exchange is one request and one answer, each a header line and bytes. A worker
 * (a clone of a --reusable template, mode clone) is reached with "WORKER 9000\n" instead
 * and answers "READY <clone id>\n": the agent closes the connection after its answer as
 * ever, and the VMM, keeping serve's socket, resets the VM to the template's state (the
 * agent back before its accept) and says "READY <new clone id>\n" once the agent accepted
 * again (src/devices/vsock/vsock.h). The exchange:
 *
 *   serve -> agent:  "INVOKE <request-id> <deadline-ms> <function-arn> <trace-id>
 *                     <client-context-len> <payload-len> <host-time-us>\n"  (one line,
 *                    fields separated by single spaces, none of them empty or containing
 *                    spaces; "-" for a trace id there is none of; host-time-us the host's
 *                    CLOCK_REALTIME in microseconds when it wrote the line, the deadline
 *                    reckoned from it), then client-context-len bytes of client context (the
 *                    X-Amz-Client-Context header's value, base64, as received) and
 *                    payload-len bytes of payload. The agent sets the guest's wall clock to
 *                    host-time-us where it is behind it or more than 1 s ahead, before
 *                    the runtime gets the invocation: the guest's clock (a clone's, a reset
 *                    worker's, a warm VM's) reads the host's, and the runtime's time left
 *                    (the deadline less its clock) never exceeds the function's timeout.
 *   agent -> serve:  "RESPONSE <len>\n" and the function's result (POST .../response), or
 *                    "ERROR <len> <error-type>\n" and the error body (POST .../error; the
 *                    error type from Lambda-Runtime-Function-Error-Type, "-" if none), or
 *                    "INIT_ERROR <len> <error-type>\n" and the body (POST .../init/error).
 *                    An ERROR of type Runtime.* (Runtime.ExitError: the runtime ended
 *                    during the invocation) or Function.ResponseSizeTooLarge is the
 *                    agent's own (serve counts those as unhandled, the others as handled
 *                    by the runtime; either is Lambda's FunctionError Unhandled).
 *
 * A header line is at most HF_LAMBDA_LINE_MAX bytes with its '\n'; lengths are decimal, a
 * payload or an answer at most HF_LAMBDA_MAX_PAYLOAD bytes. Either side that reads anything
 * else closes the connection. Deadline: milliseconds since the Unix epoch. */
#ifndef HYPERFORK_LAMBDA_H
#define HYPERFORK_LAMBDA_H

#define HF_LAMBDA_PORT 9000u               /* the agent's vsock port */
#define HF_LAMBDA_RUNTIME_API "127.0.0.1:9001"
#define HF_LAMBDA_LINE_MAX 512u
#define HF_LAMBDA_MAX_PAYLOAD (6u * 1024 * 1024) /* Lambda's synchronous limit */

#endif
