/* `hyperfork serve`'s HTTP side (libmicrohttpd, a thread per connection so that a slow
 * client or a long invocation holds up nobody else): the Lambda Invoke API as the Lambda
 * Runtime Interface Emulator serves it, with the real API's headers and errors, plus
 * /metrics (Prometheus) and /health. Everything a client sends is checked here. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperfork/lambda.h"
#include "serve/function.h"
#include "serve/histogram.h"
#include "serve/http.h"
#include "serve/manage.h"
#include "serve/metrics.h"
#include "serve/sigv4.h"
#include "serve/table.h"
#include "util/admit.h"
#include "util/log.h"

#define INVOKE_PREFIX "/2015-03-31/functions/"
#define INVOKE_SUFFIX "/invocations"
#define ARN_PREFIX "arn:aws:lambda:us-east-1:000000000000:function:"
#define CLIENT_CONTEXT_MAX 3583 /* Lambda's limit, base64 */
/* Request bodies buffered at once, all connections together: a body that would go beyond
 * gets 429 instead of memory (1000 connections of 6 MB each would be 6 GB). */
#define BUFFERED_MAX (256u << 20)
/* Connections one client address may hold open: a client opening many slow ones does not
 * take every connection serve has (1000), while one load generator still drives hundreds of
 * invocations at once. */
#define CONNECTIONS_PER_CLIENT 256u

struct req {
	char *body;
	size_t len, cap, max; /* max: the most this request's body may have */
	bool too_large;
	bool over_budget; /* its body would have gone beyond BUFFERED_MAX: nothing kept */
	/* a RequestResponse invocation: its clone ends once the answer is out (completed) */
	struct function *f;
	struct inv_result r;
};

/* A response carrying body (copied), or NULL. */
static struct MHD_Response *response(const void *body, size_t len)
{
	return MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
}

/* Queue r with status and let go of it. */
static enum MHD_Result send_response(struct MHD_Connection *c, unsigned status,
				     struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Queue a response of status with body and the headers given as name, value pairs ending
 * with NULL. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
			     size_t len, ...)
{
	struct MHD_Response *r = response(body, len);
	va_list ap;
	va_start(ap, len);
	for (const char *name; r && (name = va_arg(ap, const char *));)
		MHD_add_response_header(r, name, va_arg(ap, const char *));
	va_end(ap);
	return send_response(c, status, r);
}

/* An error the way Lambda's API gives it: x-amzn-ErrorType and a JSON body with the
 * message ("Type" User for the caller's mistakes, Service for ours) and, for a 429, why
 * ("Reason"). */
static enum MHD_Result error_reply(struct MHD_Connection *c, unsigned status, const char *type,
				   const char *reason, const char *fmt, va_list ap)
{
	char msg[600], body[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (char *p = msg; *p; p++) /* the message goes into a JSON string */
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '\'';
	int n = snprintf(body, sizeof(body), "{\"Type\":\"%s\",\"message\":\"%s\"%s%s%s}",
			 status >= 500 ? "Service" : "User", msg, reason ? ",\"Reason\":\"" : "",
			 reason ? reason : "", reason ? "\"" : "");
	return reply(c, status, body, (size_t)n, "x-amzn-ErrorType", type, "Content-Type",
		     "application/json", NULL);
}

static enum MHD_Result api_error(struct MHD_Connection *c, unsigned status, const char *type,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result api_error(struct MHD_Connection *c, unsigned status, const char *type,
				 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result r = error_reply(c, status, type, NULL, fmt, ap);
	va_end(ap);
	return r;
}

/* 429 TooManyRequestsException, for reason. */
static enum MHD_Result too_many(struct MHD_Connection *c, const char *reason, const char *fmt,
				...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result too_many(struct MHD_Connection *c, const char *reason, const char *fmt,
				...)
{
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result r = error_reply(c, 429, "TooManyRequestsException", reason, fmt, ap);
	va_end(ap);
	return r;
}

/* Into name (len bytes), the NAME of an invocation's URL, "/2015-03-31/functions/NAME/
 * invocations" (NAME a name or its ARN). Returns false for another URL, or a NAME too
 * long; name is then empty. */
static bool url_function_name(const char *url, char *name, size_t len)
{
	const char *p = url + strlen(INVOKE_PREFIX);
	size_t n = strlen(p), sfx = strlen(INVOKE_SUFFIX);
	name[0] = 0;
	if (n <= sfx || strcmp(p + n - sfx, INVOKE_SUFFIX) || n - sfx >= len)
		return false;
	memcpy(name, p, n - sfx);
	name[n - sfx] = 0;
	return true;
}


static bool valid_base64(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '+' || *s == '/' || *s == '='))
			return false;
	return true;
}

struct event {
	struct function *f;
	struct invocation inv;
	char *payload;
	char *client_context;
};

/* An Event invocation, after its 202: run to its end in the background. */
static void *event_thread(void *arg)
{
	struct event *e = arg;
	struct inv_result r;
	function_invoke(e->f, &e->inv, &r);
	function_release(e->f, &r);
	if (r.outcome != INV_OK)
		pr_warn("serve: event invocation %s of %s: %s", e->inv.request_id, e->f->cfg->name,
			r.outcome == INV_SERVICE ? r.error : r.body ? r.body : "failed");
	inv_result_free(&r);
	function_leave(e->f);
	table_put(e->f);
	free(e->payload);
	free(e->client_context);
	free(e);
	return NULL;
}

/* Invoke f (held: the reference goes to whoever runs the invocation on, else it is given
 * back on return, *held false). */
static enum MHD_Result invoke_held(struct serve_http *h, struct MHD_Connection *c,
				   struct function *f, struct req *rq, bool *held);

static enum MHD_Result invoke(struct serve_http *h, struct MHD_Connection *c, const char *url,
			      struct req *rq)
{
	char name[256];
	if (!url_function_name(url, name, sizeof(name)))
		return api_error(c, 404, "UnknownOperationException", "no such operation: POST %.200s",
				 url);
	enum table_found found;
	struct function *f = table_get(h->table, name, &found);
	if (found == TABLE_CHANGING)
		return api_error(c, 409, "ResourceConflictException",
				 "The operation cannot be performed at this time. The function is "
				 "currently in the following state: Pending (being created or "
				 "updated)");
	if (!f)
		return api_error(c, 404, "ResourceNotFoundException", "Function not found: %s%.200s",
				 strncmp(name, "arn:", 4) ? ARN_PREFIX : "", name);
	bool held = false;
	enum MHD_Result ret = invoke_held(h, c, f, rq, &held);
	if (!held)
		table_put(f);
	return ret;
}

static enum MHD_Result invoke_held(struct serve_http *h, struct MHD_Connection *c,
				   struct function *f, struct req *rq, bool *held)
{
	if (rq->over_budget)
		return too_many(c, "ConcurrentInvocationLimitExceeded",
				"Rate Exceeded: serve is holding too many request bodies; try again");
	if (rq->too_large)
		return api_error(c, 413, "RequestTooLargeException",
				 "Request must be smaller than %u bytes for the InvokeFunction "
				 "operation", HF_LAMBDA_MAX_PAYLOAD);
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Invocation-Type");
	const char *log = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Log-Type");
	const char *ctx = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Client-Context");
	if (!type)
		type = "RequestResponse";
	if (strcmp(type, "RequestResponse") && strcmp(type, "Event") && strcmp(type, "DryRun"))
		return api_error(c, 400, "InvalidParameterValueException",
				 "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, "
				 "not %.64s", type);
	if (log && strcmp(log, "None") && strcmp(log, "Tail"))
		return api_error(c, 400, "InvalidParameterValueException",
				 "X-Amz-Log-Type must be None or Tail, not %.64s", log);
	if (ctx && (strlen(ctx) > CLIENT_CONTEXT_MAX || !valid_base64(ctx)))
		return api_error(c, 400, "InvalidParameterValueException",
				 "X-Amz-Client-Context must be base64 of at most %d characters",
				 CLIENT_CONTEXT_MAX);
	if (!strcmp(type, "DryRun"))
		return reply(c, 204, "", 0, NULL);
	pthread_mutex_lock(&f->lock);
	enum fn_state state = f->state;
	char why[sizeof(f->why)];
	snprintf(why, sizeof(why), "%s", f->why);
	pthread_mutex_unlock(&f->lock);
	if (state != FN_READY)
		return api_error(c, 409, "ResourceConflictException",
				 "The operation cannot be performed at this time. The function is "
				 "currently in the following state: %s%s%s",
				 state == FN_STARTING ? "Pending" : "Failed", why[0] ? ": " : "", why);
	/* The same decision as the template's own before each clone (it is passed the same
	 * reserve), made here too so that a function booting a VM per invocation meets it: on
	 * what the host had available at the last tick. */
	struct clone_limits lim = {.reserve_bytes = h->reserve_bytes};
	char refused[256];
	if (admit_clones(&lim, 0, 1, __atomic_load_n(&h->mem_available, __ATOMIC_RELAXED), refused,
			 sizeof(refused)) != ADMIT_OK) {
		function_throttled(f);
		return too_many(c, "ServiceMemoryReserveReached", "Rate Exceeded: %s", refused);
	}
	if (!function_enter(f))
		return too_many(c, "ReservedFunctionConcurrentInvocationLimitExceeded",
				"Rate Exceeded.");

	struct invocation inv = {.payload = rq->body, .payload_len = rq->len,
				 .client_context = ctx, .tail = log && !strcmp(log, "Tail")};
	request_id_new(inv.request_id);
	if (!strcmp(type, "Event")) { /* the event thread owns what it is given */
		struct event *e = calloc(1, sizeof(*e));
		pthread_t t;
		if (e) {
			e->f = f;
			e->inv = inv;
			e->inv.tail = false;
			e->payload = rq->body;
			rq->body = NULL;
			e->client_context = ctx ? strdup(ctx) : NULL;
			e->inv.client_context = e->client_context;
		}
		if (!e || (ctx && !e->client_context) ||
		    pthread_create(&t, NULL, event_thread, e) != 0) {
			if (e) {
				free(e->payload);
				free(e->client_context);
			}
			free(e);
			function_leave(f);
			return api_error(c, 500, "ServiceException", "cannot start the invocation");
		}
		pthread_detach(t);
		*held = true; /* the event thread's */
		return reply(c, 202, "", 0, "x-amzn-RequestId", inv.request_id, NULL);
	}
	uint64_t t0 = now_ns();
	struct inv_result *r = &rq->r;
	rq->f = f; /* completed() ends its clone, gives back its slot and the function */
	*held = true;
	function_invoke(f, &inv, r);
	pthread_mutex_lock(&f->lock);
	hist_observe(&f->stats.duration, now_ns() - t0);
	pthread_mutex_unlock(&f->lock);
	if (r->outcome == INV_SERVICE)
		return api_error(c, 500, "ServiceException", "%s", r->error);
	struct MHD_Response *resp = response(r->body ? r->body : "", r->body_len);
	if (resp) {
		MHD_add_response_header(resp, "x-amzn-RequestId", inv.request_id);
		MHD_add_response_header(resp, "X-Amz-Executed-Version", "$LATEST");
		MHD_add_response_header(resp, "Content-Type", "application/json");
		/* Lambda says Unhandled for every function error: one its runtime reported
		 * (the handler raised), a runtime that died, a timeout. */
		if (r->outcome != INV_OK)
			MHD_add_response_header(resp, "X-Amz-Function-Error", "Unhandled");
		if (r->log_tail_b64)
			MHD_add_response_header(resp, "X-Amz-Log-Result", r->log_tail_b64);
	}
	return send_response(c, 200, resp);
}

static enum MHD_Result metrics(struct serve_http *h, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	struct function *fns[FN_MAX_FUNCTIONS];
	unsigned n = table_hold_all(h->table, fns, FN_MAX_FUNCTIONS);
	int got = serve_metrics(fns, n, &buf, &len);
	for (unsigned i = 0; i < n; i++)
		table_put(fns[i]);
	if (got < 0) {
		free(buf);
		return api_error(c, 500, "ServiceException", "cannot gather the metrics");
	}
	enum MHD_Result r = reply(c, 200, buf, len, "Content-Type",
				  "text/plain; version=0.0.4; charset=utf-8", NULL);
	free(buf);
	return r;
}

static enum MHD_Result health(struct serve_http *h, struct MHD_Connection *c)
{
	char body[8192];
	size_t n = (size_t)snprintf(body, sizeof(body), "{\"functions\":{");
	bool all = true;
	struct function *fns[FN_MAX_FUNCTIONS];
	unsigned nfns = table_hold_all(h->table, fns, FN_MAX_FUNCTIONS);
	for (unsigned i = 0; i < nfns && n < sizeof(body) - 128; i++) {
		struct function *f = fns[i];
		pthread_mutex_lock(&f->lock);
		enum fn_state st = f->state;
		pthread_mutex_unlock(&f->lock);
		all &= st == FN_READY;
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"%s\":\"%s\"", i ? "," : "",
				      f->cfg->name,
				      st == FN_READY ? "ready" : st == FN_STARTING ? "starting" : "failed");
	}
	for (unsigned i = 0; i < nfns; i++)
		table_put(fns[i]);
	n += (size_t)snprintf(body + n, sizeof(body) - n, "}}\n");
	return reply(c, all ? 200 : 503, body, n, "Content-Type", "application/json", NULL);
}

/* ---- authentication ---------------------------------------------------------------- */

static const char *header_of(void *arg, const char *name)
{
	return MHD_lookup_connection_value(arg, MHD_HEADER_KIND, name);
}

#define QUERY_MAX 16

/* A request's query parameter (manage_query_fn): ctx is its connection. */
static const char *query_value(void *ctx, const char *key)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

struct query {
	const char *kv[2 * QUERY_MAX];
	unsigned n;
	bool too_many;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct query *q = cls;
	(void)kind;
	if (q->n == QUERY_MAX) {
		q->too_many = true;
		return MHD_NO;
	}
	q->kv[2 * q->n] = key;
	q->kv[2 * q->n + 1] = value ? value : "";
	q->n++;
	return MHD_YES;
}

/* Whether the request on c (its body in rq) was signed with one of serve's keys; if not,
 * its 403 is queued into *ret. */
static bool signed_ok(struct serve_http *h, struct MHD_Connection *c, const char *url,
		      const char *method, struct req *rq, enum MHD_Result *ret)
{
	struct query q = {0};
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	struct sigv4_request sr = {.method = method, .path = url, .query = q.kv, .nquery = q.n,
				   .header = header_of, .arg = c, .body = rq->body,
				   .body_len = rq->len, .now = time(NULL)};
	char why[400];
	enum sigv4_verdict v = q.too_many ? SIGV4_INCOMPLETE : sigv4_check(&sr, h->keys, why,
									     sizeof(why));
	if (v == SIGV4_OK)
		return true;
	if (q.too_many)
		snprintf(why, sizeof(why), "more than %u query parameters", QUERY_MAX);
	*ret = api_error(c, 403, sigv4_error_type(v), "%s", why);
	return false;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct serve_http *h = cls;
	struct req *rq = *con_cls;
	(void)version;
	if (!rq) { /* the headers are in: the body follows */
		rq = calloc(1, sizeof(*rq));
		*con_cls = rq;
		if (!rq)
			return MHD_NO;
		/* A function's code comes in a management request: more than an invocation's
		 * payload. */
		bool manage = manage_is(method, url);
		rq->max = manage ? MANAGE_BODY_MAX : HF_LAMBDA_MAX_PAYLOAD;
		/* A body announced too large is refused before a byte of it is read. */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > rq->max)
			return api_error(c, 413, manage ? "RequestEntityTooLargeException"
							: "RequestTooLargeException",
					 "Request must be smaller than %zu bytes for the %s "
					 "operation", rq->max, manage ? "CreateFunction" : "InvokeFunction");
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->len + *upload_size > rq->max) {
			rq->too_large = true; /* read on to the end, keep nothing */
		} else if (!rq->too_large && !rq->over_budget) {
			if (rq->len + *upload_size > rq->cap) {
				size_t cap = rq->cap ? rq->cap : 4096;
				while (cap < rq->len + *upload_size)
					cap *= 2;
				if (cap > rq->max)
					cap = rq->max;
				/* Held against the budget of all connections from here on. */
				uint64_t was = __atomic_fetch_add(&h->buffered, cap - rq->cap,
								  __ATOMIC_RELAXED);
				if (was + (cap - rq->cap) > BUFFERED_MAX) {
					__atomic_fetch_sub(&h->buffered, cap - rq->cap,
							   __ATOMIC_RELAXED);
					rq->over_budget = true; /* read on, keep nothing */
					*upload_size = 0;
					return MHD_YES;
				}
				char *b = realloc(rq->body, cap);
				if (!b) {
					__atomic_fetch_sub(&h->buffered, cap - rq->cap,
							   __ATOMIC_RELAXED);
					return MHD_NO;
				}
				rq->body = b;
				rq->cap = cap;
			}
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (manage_is(method, url)) {
		enum MHD_Result ret;
		if (h->keys && !rq->too_large && !rq->over_budget &&
		    !signed_ok(h, c, url, method, rq, &ret))
			return ret;
		if (rq->too_large)
			return api_error(c, 413, "RequestEntityTooLargeException",
					 "Request must be smaller than %zu bytes for the operation",
					 rq->max);
		if (rq->over_budget)
			return too_many(c, "ConcurrentInvocationLimitExceeded",
					"Rate Exceeded: serve is holding too many request bodies");
		struct manage_reply mr;
		manage_request(h->manage, method, url, query_value, c, rq->body, rq->len, &mr);
		struct MHD_Response *resp = response(mr.body ? mr.body : "",
						     mr.body ? strlen(mr.body) : 0);
		if (resp) {
			MHD_add_response_header(resp, "Content-Type", "application/json");
			if (mr.error_type)
				MHD_add_response_header(resp, "x-amzn-ErrorType", mr.error_type);
		}
		free(mr.body);
		return send_response(c, mr.status, resp);
	}
	if (!strncmp(url, INVOKE_PREFIX, strlen(INVOKE_PREFIX))) {
		enum MHD_Result ret;
		/* (A body not kept whole gets its 413 or 429 first: there is nothing to check.) */
		if (h->keys && !rq->too_large && !rq->over_budget &&
		    !signed_ok(h, c, url, method, rq, &ret))
			return ret;
		if (strcmp(method, "POST"))
			return api_error(c, 405, "InvalidRequestContentException",
					 "%s is not allowed here: invoke with POST", method);
		return invoke(h, c, url, rq);
	}
	if (!strcmp(url, "/metrics") && !strcmp(method, "GET"))
		return metrics(h, c);
	if (!strcmp(url, "/health") && !strcmp(method, "GET"))
		return health(h, c);
	return api_error(c, 404, "UnknownOperationException", "no such operation: %.8s %.200s",
			 method, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct serve_http *h = cls;
	struct req *rq = *con_cls;
	(void)c, (void)toe;
	if (rq) {
		if (rq->f) { /* the answer is out (or the client gone): end the clone */
			function_release(rq->f, &rq->r);
			function_leave(rq->f);
			inv_result_free(&rq->r);
			table_put(rq->f);
		}
		__atomic_fetch_sub(&h->buffered, rq->cap, __ATOMIC_RELAXED);
		free(rq->body);
		free(rq);
	}
	*con_cls = NULL;
}

void serve_http_refresh(struct serve_http *h)
{
	if (h->reserve_bytes)
		__atomic_store_n(&h->mem_available, host_mem_available(), __ATOMIC_RELAXED);
}

int serve_http_start(struct serve_http *h)
{
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
		0, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&h->listen,
		MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, CONNECTIONS_PER_CLIENT, MHD_OPTION_END);
	if (!d) {
		pr_err("serve: cannot listen on %s:%u: %s", inet_ntoa(h->listen.sin_addr),
		       ntohs(h->listen.sin_port), strerror(errno));
		return -1;
	}
	h->daemon = d;
	return 0;
}

void serve_http_stop(struct serve_http *h)
{
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	h->daemon = NULL;
}
