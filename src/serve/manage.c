/* The Lambda management API (see manage.h). Every field a client sends is checked here or,
 * once turned into a function's configuration, by config.c, which checks the --config
 * file's functions too. */
#include "serve/manage.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "serve/zipcheck.h"
#include "util/log.h"
#include "util/util.h"

#define ARN_PREFIX "arn:aws:lambda:us-east-1:000000000000:function:"
#define DESCRIPTION_MAX 256
#define ROLE_MAX 2048
#define HANDLER_MAX 128
/* What serve gives a function the API made (the --config file's functions choose). */
#define API_CONCURRENCY 10
#define API_POOL 1

/* ---- replies -------------------------------------------------------------------------- */

static void error(struct manage_reply *r, unsigned status, const char *type, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));
static void error(struct manage_reply *r, unsigned status, const char *type, const char *fmt,
		  ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User", "message",
			      msg);
	r->status = status;
	r->error_type = type;
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
}

static void invalid(struct manage_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void invalid(struct manage_reply *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error(r, 400, "InvalidParameterValueException", "%s", msg);
}

static void not_found(struct manage_reply *r, const char *name)
{
	error(r, 404, "ResourceNotFoundException", "Function not found: %s%s",
	      strncmp(name, "arn:", 4) ? ARN_PREFIX : "", name);
}

static void reply_json(struct manage_reply *r, unsigned status, json_t *o)
{
	r->status = status;
	r->error_type = NULL;
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!r->body)
		error(r, 500, "ServiceException", "out of memory");
	json_decref(o);
}

/* ---- a function as the API shows it ------------------------------------------------- */

struct describe {
	json_t *out; /* FunctionConfiguration */
};

static json_t *environment_of(const struct fn_config *c)
{
	json_t *vars = json_object();
	for (const char *p = c->env ? c->env : ""; *p;) {
		const char *nl = strchr(p, '\n'), *eq = strchr(p, '=');
		if (!nl || !eq || eq > nl)
			break;
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
		json_object_set_new(vars, key, json_stringn(eq + 1, (size_t)(nl - eq - 1)));
		p = nl + 1;
	}
	return json_pack("{s:o}", "Variables", vars);
}

static void describe_slot(struct fn_slot *s, void *arg)
{
	struct describe *d = arg;
	/* (a change asked for is what the function is becoming) */
	const struct fn_config *c = s->state == SLOT_CHANGING ? &s->next : &s->cfg;
	json_t *meta = c->meta ? json_loads(c->meta, 0, NULL) : NULL;
	json_t *o = json_object();
	char arn[256];
	snprintf(arn, sizeof(arn), ARN_PREFIX "%s", c->name);
	json_object_set_new(o, "FunctionName", json_string(c->name));
	json_object_set_new(o, "FunctionArn", json_string(arn));
	json_object_set_new(o, "Runtime", json_string(c->runtime ? c->runtime : "provided"));
	if (c->handler)
		json_object_set_new(o, "Handler", json_string(c->handler));
	json_object_set_new(o, "Timeout", json_integer(c->timeout_s));
	json_object_set_new(o, "MemorySize", json_integer(c->memory_mb));
	json_object_set_new(o, "Version", json_string("$LATEST"));
	json_object_set_new(o, "Environment", environment_of(c));
	json_object_set_new(o, "PackageType", json_string("Zip"));
	json_object_set_new(o, "Architectures", json_pack("[s]", "x86_64"));
	json_object_set_new(o, "EphemeralStorage", json_pack("{s:i}", "Size", 512));
	json_object_set_new(o, "TracingConfig", json_pack("{s:s}", "Mode", "PassThrough"));
	static const char *const kept[] = {"Description", "Role", "CodeSha256", "CodeSize",
					   "LastModified", "RevisionId"};
	for (unsigned i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		json_t *v = meta ? json_object_get(meta, kept[i]) : NULL;
		json_object_set_new(o, kept[i], v		? json_incref(v)
						: i == 3 ? json_integer(0)
							 : json_string(""));
	}
	/* Where it is: being made, being changed, up, or failed (and why). */
	/* (A slot NEW or CHANGING is the main thread's to set up: its function is not read.) */
	enum fn_state fs = FN_STARTING;
	char why[sizeof(s->fn.why)] = "";
	if (s->state == SLOT_LIVE) {
		pthread_mutex_lock(&s->fn.lock);
		fs = s->fn.state;
		snprintf(why, sizeof(why), "%s", s->fn.why);
		pthread_mutex_unlock(&s->fn.lock);
	}
	bool updating = s->state == SLOT_CHANGING || (s->changes && fs == FN_STARTING);
	const char *state = fs == FN_READY || (updating && fs != FN_FAILED) ? "Active"
			    : fs == FN_FAILED				   ? "Failed"
									   : "Pending";
	json_object_set_new(o, "State", json_string(state));
	json_object_set_new(o, "LastUpdateStatus",
			    json_string(updating || fs == FN_STARTING ? "InProgress"
					: fs == FN_FAILED		? "Failed"
									: "Successful"));
	if (!strcmp(state, "Pending")) {
		json_object_set_new(o, "StateReason", json_string("The function is being created."));
		json_object_set_new(o, "StateReasonCode", json_string("Creating"));
	} else if (fs == FN_FAILED && !updating) {
		json_object_set_new(o, "StateReason", json_string(why));
		json_object_set_new(o, "StateReasonCode", json_string("FunctionError"));
		json_object_set_new(o, "LastUpdateStatusReason", json_string(why));
		json_object_set_new(o, "LastUpdateStatusReasonCode", json_string("FunctionError"));
	} else if (updating) {
		json_object_set_new(o, "LastUpdateStatusReason",
				    json_string("The function is being updated."));
	}
	json_decref(meta);
	d->out = o;
}

static json_t *describe(struct manage *m, const char *name)
{
	struct describe d = {NULL};
	return table_with(m->table, name, describe_slot, &d) == 0 ? d.out : NULL;
}

/* ---- what a request gives ---------------------------------------------------------- */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > FN_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* A function's name from the path's NAME (a name or its ARN), or NULL. */
static const char *name_of(const char *s)
{
	if (!strncmp(s, ARN_PREFIX, strlen(ARN_PREFIX)))
		s += strlen(ARN_PREFIX);
	return valid_name(s) ? s : NULL;
}

/* The zip a request's Code (create) or body (update) gives, decoded and checked. */
static unsigned char *zip_of(json_t *code, size_t *len, struct manage_reply *r)
{
	json_t *v = json_object_get(code, "ZipFile");
	if (json_object_get(code, "S3Bucket") || json_object_get(code, "ImageUri")) {
		invalid(r, "serve takes a function's code as ZipFile only (no S3Bucket, no "
			   "ImageUri)");
		return NULL;
	}
	const char *b64 = json_string_value(v);
	size_t n = b64 ? strlen(b64) : 0;
	if (!n || n % 4) {
		invalid(r, "ZipFile must be the zip, base64-encoded");
		return NULL;
	}
	unsigned char *zip = malloc(n / 4 * 3 + 1);
	int got = zip ? EVP_DecodeBlock(zip, (const unsigned char *)b64, (int)n) : -1;
	if (got < 0) {
		free(zip);
		invalid(r, "ZipFile must be the zip, base64-encoded");
		return NULL;
	}
	got -= (b64[n - 1] == '=') + (b64[n - 2] == '='); /* (DecodeBlock counts padding) */
	*len = (size_t)got;
	char why[600];
	uint64_t unzipped;
	if (*len > FN_CODE_ZIP_MAX) {
		error(r, 413, "RequestEntityTooLargeException",
		      "Zipped size must be smaller than %u bytes", FN_CODE_ZIP_MAX);
	} else if (zip_check(zip, *len, &unzipped, why, sizeof(why)) < 0) {
		invalid(r, "%s", why);
	} else {
		return zip;
	}
	free(zip);
	return NULL;
}

static void now_iso(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char s[32];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ld+0000", s, ts.tv_nsec / 1000000);
}

/* The code's hash and size, a new revision and the time, into meta. */
static void stamp(json_t *meta, const unsigned char *zip, size_t len)
{
	char t[64], rev[40];
	if (zip) {
		unsigned char h[SHA256_DIGEST_LENGTH];
		char b64[64];
		SHA256(zip, len, h);
		EVP_EncodeBlock((unsigned char *)b64, h, sizeof(h));
		json_object_set_new(meta, "CodeSha256", json_string(b64));
		json_object_set_new(meta, "CodeSize", json_integer((json_int_t)len));
	}
	request_id_new(rev);
	json_object_set_new(meta, "RevisionId", json_string(rev));
	now_iso(t, sizeof(t));
	json_object_set_new(meta, "LastModified", json_string(t));
}

/* Fold the configuration fields of request q into fn (a function in the --config file's
 * form) and meta. Returns 0, or -1 with r set. */
static int configure(json_t *q, json_t *fn, json_t *meta, struct manage_reply *r)
{
	json_t *v;
	if ((v = json_object_get(q, "Runtime"))) {
		const char *s = json_string_value(v);
		char word[40] = "";
		if (s && strlen(s) < 32)
			snprintf(word, sizeof(word), " %s ", s);
		if (!word[0] || !strstr(" " FN_RUNTIMES " ", word)) {
			invalid(r, "Value %.32s at 'runtime' failed to satisfy constraint: Member "
				   "must satisfy enum value set: [" FN_RUNTIMES "]",
				s ? s : "(not a string)");
			return -1;
		}
		json_object_set(fn, "runtime", v);
	}
	if ((v = json_object_get(q, "Handler"))) {
		const char *s = json_string_value(v);
		if (!s || !*s || strlen(s) > HANDLER_MAX || strpbrk(s, " \t\r\n")) {
			invalid(r, "Handler must be at most %d characters without spaces",
				HANDLER_MAX);
			return -1;
		}
		json_object_set(fn, "handler", v);
	}
	if ((v = json_object_get(q, "MemorySize"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 128 ||
		    json_integer_value(v) > 10240) {
			invalid(r, "MemorySize must be a whole number of MB from 128 to 10240");
			return -1;
		}
		json_object_set(fn, "memory", v);
	}
	if ((v = json_object_get(q, "Timeout"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 900) {
			invalid(r, "Timeout must be a whole number of seconds from 1 to 900");
			return -1;
		}
		json_object_set(fn, "timeout", v);
	}
	if ((v = json_object_get(q, "Environment"))) {
		json_t *vars = json_object_get(v, "Variables");
		if (!json_is_object(v) || (vars && !json_is_object(vars))) {
			invalid(r, "Environment must be {\"Variables\": {NAME: VALUE, ...}}");
			return -1;
		}
		json_object_set(fn, "environment", vars ? vars : json_object());
	}
	static const char *const text[] = {"Description", "Role"};
	static const size_t max[] = {DESCRIPTION_MAX, ROLE_MAX};
	for (unsigned i = 0; i < 2; i++) {
		if (!(v = json_object_get(q, text[i])))
			continue;
		if (!json_is_string(v) || strlen(json_string_value(v)) > max[i]) {
			invalid(r, "%s must be a string of at most %zu characters", text[i], max[i]);
			return -1;
		}
		json_object_set(meta, text[i], v);
	}
	if ((v = json_object_get(q, "Layers")) && json_array_size(v)) {
		invalid(r, "serve does not take layers yet");
		return -1;
	}
	if ((v = json_object_get(q, "PackageType")) &&
	    (!json_is_string(v) || strcmp(json_string_value(v), "Zip"))) {
		invalid(r, "serve takes PackageType Zip only");
		return -1;
	}
	if ((v = json_object_get(q, "Architectures")) &&
	    (json_array_size(v) != 1 || !json_is_string(json_array_get(v, 0)) ||
	     strcmp(json_string_value(json_array_get(v, 0)), "x86_64"))) {
		invalid(r, "serve runs functions on x86_64 only");
		return -1;
	}
	return 0;
}

/* fn (the --config form) as a function's configuration, its code's path taken from vdir;
 * checked by config.c. Returns 0, or -1 with r set. */
static int parse(struct manage *m, json_t *fn, const char *vdir, struct fn_config *out,
		 struct manage_reply *r)
{
	json_t *full = json_deep_copy(fn);
	json_object_set_new(full, "kernel", json_string(m->kernel));
	json_object_set_new(full, "initrd", json_string(m->initrd));
	json_t *wrap = json_pack("{s:[o]}", "functions", full);
	char *text = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
	json_decref(wrap);
	static struct serve_config one; /* (large; under m->lock) */
	char why[600];
	int rc = text ? serve_config_parse(text, strlen(text), vdir, &one, why, sizeof(why)) : -1;
	free(text);
	if (rc < 0) {
		invalid(r, "%s", text ? why : "out of memory");
		return -1;
	}
	*out = one.fns[0];
	memset(&one.fns[0], 0, sizeof(one.fns[0]));
	serve_config_free(&one);
	return 0;
}

/* Keep fn (with meta as its "lambda") and zip as name's new version, and its configuration
 * into cfg. Returns 0, or -1 with r set. */
static int keep(struct manage *m, const char *name, json_t *fn, json_t *meta,
		const unsigned char *zip, size_t len, bool create, struct fn_config *cfg,
		struct manage_reply *r)
{
	char vdir[4200], why[600];
	json_object_set(fn, "lambda", meta);
	/* Checked before a byte is written, with the code where it will be. */
	if (parse(m, fn, "/", cfg, r) < 0)
		return -1;
	fn_config_free(cfg);
	char *text = json_dumps(fn, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = text ? store_put(&m->store, name, text, zip, len, create, vdir, sizeof(vdir), why,
				  sizeof(why))
		      : -1;
	free(text);
	if (rc < 0) {
		if (errno == EEXIST)
			error(r, 409, "ResourceConflictException", "Function already exist: %s", name);
		else
			error(r, 500, "ServiceException", "cannot keep the function: %s",
			      text ? why : "out of memory");
		return -1;
	}
	if (parse(m, fn, vdir, cfg, r) < 0) { /* (it parsed above: out of memory) */
		if (create)
			store_delete(&m->store, name);
		return -1;
	}
	return 0;
}

/* ---- the operations ----------------------------------------------------------------- */

static void create(struct manage *m, json_t *q, struct manage_reply *r)
{
	const char *name = json_string_value(json_object_get(q, "FunctionName"));
	if (!name || !valid_name(name)) {
		invalid(r, "FunctionName must be 1-%d characters of [A-Za-z0-9_-]", FN_NAME_MAX);
		return;
	}
	if (!json_object_get(q, "Runtime") || !json_object_get(q, "Handler")) {
		invalid(r, "Runtime and Handler are required for a function of PackageType Zip");
		return;
	}
	json_t *code = json_object_get(q, "Code");
	if (!json_is_object(code)) {
		invalid(r, "Code (ZipFile) is required");
		return;
	}
	/* Lambda's defaults: 128 MB, 3 s. */
	json_t *fn = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i}", "name", name, "code", "code.zip",
			       "concurrency", API_CONCURRENCY, "pool", API_POOL, "memory", 128,
			       "timeout", 3);
	json_t *meta = json_object();
	size_t len = 0;
	unsigned char *zip = NULL;
	struct fn_config cfg = {0};
	if (configure(q, fn, meta, r) < 0 || !(zip = zip_of(code, &len, r)))
		goto out;
	stamp(meta, zip, len);
	pthread_mutex_lock(&m->lock);
	enum table_found found;
	struct function *there = table_get(m->table, name, &found);
	table_put(there);
	if (found != TABLE_ABSENT) {
		error(r, 409, "ResourceConflictException", "Function already exist: %s", name);
	} else if (keep(m, name, fn, meta, zip, len, true, &cfg, r) == 0) {
		char why[600];
		if (table_add(m->table, &cfg, false, why, sizeof(why)) < 0) {
			store_delete(&m->store, name);
			if (errno == EEXIST)
				error(r, 409, "ResourceConflictException", "%s", why);
			else
				error(r, 500, "ServiceException", "%s", why);
		} else {
			reply_json(r, 201, describe(m, name));
			pr_info("serve: function %s created", name);
		}
	}
	pthread_mutex_unlock(&m->lock);
out:
	fn_config_free(&cfg);
	free(zip);
	json_decref(fn);
	json_decref(meta);
}

struct editable {
	bool live, from_file;
};

static void editable_slot(struct fn_slot *s, void *arg)
{
	struct editable *e = arg;
	e->live = s->state == SLOT_LIVE;
	e->from_file = s->from_file;
}

/* Update name's code (zip q's) or configuration. */
static void update(struct manage *m, const char *name, json_t *q, bool code,
		   struct manage_reply *r)
{
	char vdir[4200], path[4300];
	struct editable e = {0};
	size_t len = 0;
	unsigned char *zip = NULL;
	json_t *fn = NULL, *meta = NULL;
	struct fn_config cfg = {0};
	if (code && !(zip = zip_of(q, &len, r)))
		return;
	pthread_mutex_lock(&m->lock);
	if (table_with(m->table, name, editable_slot, &e) < 0) {
		not_found(r, name);
	} else if (e.from_file) {
		error(r, 409, "ResourceConflictException", "function %s comes from serve's "
		      "configuration file: change it there", name);
	} else if (store_version(&m->store, name, vdir, sizeof(vdir)) < 0 ||
		   (snprintf(path, sizeof(path), "%s/function.json", vdir),
		    !(fn = json_load_file(path, 0, NULL)))) {
		error(r, 500, "ServiceException", "function %s's stored configuration is gone",
		      name);
	} else {
		meta = json_object_get(fn, "lambda");
		meta = json_is_object(meta) ? json_incref(meta) : json_object();
		/* What the request asks is checked before whether it may be done now. */
		if ((code || configure(q, fn, meta, r) == 0) && parse(m, fn, "/", &cfg, r) == 0) {
			fn_config_free(&cfg);
			stamp(meta, zip, len);
			if (!e.live)
				error(r, 409, "ResourceConflictException", "The operation cannot be "
				      "performed at this time. An update is in progress for resource: "
				      ARN_PREFIX "%s", name);
			else if (keep(m, name, fn, meta, zip, len, false, &cfg, r) == 0) {
				if (table_change(m->table, name, &cfg) < 0)
					error(r, 500, "ServiceException", "function %s could not "
					      "be changed: %s", name, strerror(errno));
				else
					reply_json(r, 200, describe(m, name));
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
	fn_config_free(&cfg);
	free(zip);
	json_decref(fn);
	json_decref(meta);
}

static void delete(struct manage *m, const char *name, struct manage_reply *r)
{
	pthread_mutex_lock(&m->lock);
	if (table_delete(m->table, name) < 0) {
		if (errno == EPERM)
			error(r, 409, "ResourceConflictException", "function %s comes from serve's "
			      "configuration file: change it there", name);
		else if (errno == EBUSY)
			error(r, 409, "ResourceConflictException", "The operation cannot be "
			      "performed at this time. An update is in progress for resource: "
			      ARN_PREFIX "%s", name);
		else
			not_found(r, name);
	} else {
		store_delete(&m->store, name);
		r->status = 204;
		pr_info("serve: function %s deleted: it ends once its invocations have", name);
	}
	pthread_mutex_unlock(&m->lock);
}

static void list_one(struct fn_slot *s, void *arg)
{
	struct describe d = {NULL};
	describe_slot(s, &d);
	json_array_append_new(arg, d.out);
}

/* ---- routing ------------------------------------------------------------------------ */

bool manage_is(const char *method, const char *path)
{
	size_t n = strlen(MANAGE_PREFIX);
	if (strncmp(path, MANAGE_PREFIX, n))
		return false;
	const char *rest = path + n;
	if (!*rest || !strcmp(rest, "/"))
		return !strcmp(method, "POST") || !strcmp(method, "GET");
	if (*rest != '/')
		return false;
	const char *tail = strchr(rest + 1, '/');
	if (!tail) /* /NAME */
		return !strcmp(method, "GET") || !strcmp(method, "DELETE");
	return (!strcmp(tail, "/code") && !strcmp(method, "PUT")) ||
	       (!strcmp(tail, "/configuration") &&
		(!strcmp(method, "PUT") || !strcmp(method, "GET")));
}

void manage_request(struct manage *m, const char *method, const char *path, const char *body,
		    size_t len, struct manage_reply *r)
{
	memset(r, 0, sizeof(*r));
	const char *rest = path + strlen(MANAGE_PREFIX);
	char name[256] = "";
	const char *tail = "";
	if (*rest == '/' && rest[1]) {
		const char *slash = strchr(rest + 1, '/');
		size_t n = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : 0), rest + 1);
		tail = slash ? slash : "";
	}
	json_t *q = NULL;
	if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
		json_error_t je;
		q = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(q)) {
			json_decref(q);
			error(r, 400, "InvalidRequestContentException",
			      "Could not parse request body into json: %s", je.text);
			return;
		}
	}
	const char *fn = name[0] ? name_of(name) : NULL;
	if (name[0] && !fn) {
		invalid(r, "%.64s is not a function's name or ARN", name);
	} else if (!fn && !strcmp(method, "POST")) {
		create(m, q, r);
	} else if (!fn) { /* GET: ListFunctions */
		json_t *all = json_array();
		table_each(m->table, list_one, all);
		reply_json(r, 200, json_pack("{s:o}", "Functions", all));
	} else if (!strcmp(method, "DELETE")) {
		delete(m, fn, r);
	} else if (!strcmp(method, "PUT")) {
		update(m, fn, q, !strcmp(tail, "/code"), r);
	} else { /* GET the function, or its configuration */
		json_t *c = describe(m, fn);
		if (!c)
			not_found(r, fn);
		else if (!strcmp(tail, "/configuration"))
			reply_json(r, 200, c);
		else
			reply_json(r, 200, json_pack("{s:o, s:{s:s, s:s}, s:{}}", "Configuration", c,
						     "Code", "RepositoryType", "S3", "Location",
						     "", "Tags"));
	}
	json_decref(q);
}

/* ---- the state directory at start ---------------------------------------------------- */

struct loading {
	struct manage *m;
	unsigned n;
};

static void load_one(const char *name, const char *vdir, void *arg)
{
	struct loading *l = arg;
	char path[4300], why[600];
	snprintf(path, sizeof(path), "%s/function.json", vdir);
	json_t *fn = json_load_file(path, 0, NULL);
	struct fn_config cfg = {0};
	struct manage_reply r = {0};
	if (!fn || parse(l->m, fn, vdir, &cfg, &r) < 0 || strcmp(cfg.name, name)) {
		pr_warn("serve: the state directory's function %s does not load: %s", name,
			r.body ? r.body : "its function.json is not its");
	} else if (table_add(l->m->table, &cfg, false, why, sizeof(why)) < 0) {
		pr_warn("serve: the state directory's function %s: %s", name, why);
	} else {
		l->n++;
	}
	free(r.body);
	fn_config_free(&cfg);
	json_decref(fn);
}

int manage_open(struct manage *m, struct fn_table *t, const char *state_dir, const char *kernel,
		const char *initrd, char *err, size_t errlen)
{
	m->table = t;
	m->kernel = kernel;
	m->initrd = initrd;
	pthread_mutex_init(&m->lock, NULL);
	if (store_open(&m->store, state_dir, err, errlen) < 0)
		return -1;
	struct loading l = {m, 0};
	store_each(&m->store, load_one, &l);
	if (l.n)
		printf("serve: %u function(s) from the state directory %s\n", l.n, state_dir);
	return 0;
}
