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
#define LAYER_ARN_PREFIX "arn:aws:lambda:us-east-1:000000000000:layer:"
#define LICENSE_MAX 512
#define LAYER_RUNTIMES_MAX 15
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
	json_t *layers = meta ? json_object_get(meta, "Layers") : NULL;
	if (json_array_size(layers)) { /* (what Lambda shows of each: not UnzippedSize) */
		json_t *shown = json_array();
		size_t i;
		json_t *l;
		json_array_foreach(layers, i, l)
			json_array_append_new(shown, json_pack("{s:O?, s:O?}", "Arn",
							       json_object_get(l, "Arn"), "CodeSize",
							       json_object_get(l, "CodeSize")));
		json_object_set_new(o, "Layers", shown);
	}
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

/* A function's name from the path's NAME (a name or its ARN), or NULL. */
static const char *name_of(const char *s)
{
	if (!strncmp(s, ARN_PREFIX, strlen(ARN_PREFIX)))
		s += strlen(ARN_PREFIX);
	return plain_name(s, FN_NAME_MAX) ? s : NULL;
}

/* The zip a request's Code (create, publish) or body (update) gives, decoded and checked
 * as one unpacked at root (/var/task, or /opt for a layer): its unpacked size into
 * *unzipped. */
static unsigned char *zip_of(json_t *code, const char *root, size_t *len, uint64_t *unzipped,
			     struct manage_reply *r)
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
	if (*len > FN_CODE_ZIP_MAX) {
		error(r, 413, "RequestEntityTooLargeException",
		      "Zipped size must be smaller than %u bytes", FN_CODE_ZIP_MAX);
	} else if (zip_check_in(zip, *len, root, unzipped, why, sizeof(why)) < 0) {
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

/* The unpacked size of the zip at path (its directory's word), or -1. */
static long long unzipped_of(const char *path)
{
	uint8_t *data;
	size_t len;
	uint64_t un;
	char why[600];
	if (read_file(path, &data, &len) < 0)
		return -1;
	int rc = zip_check_in(data, len, "/opt", &un, why, sizeof(why));
	free(data);
	return rc < 0 ? -1 : (long long)un;
}

/* A function's layers: the files its new version links (layer1.zip, ...). */
struct layering {
	char src[FN_MAX_LAYERS][4400];
	unsigned n;
};

static const char *layer_name_of(const char *s)
{
	if (!strncmp(s, LAYER_ARN_PREFIX, strlen(LAYER_ARN_PREFIX)))
		s += strlen(LAYER_ARN_PREFIX);
	return plain_name(s, STORE_LAYER_NAME_MAX) ? s : NULL;
}

/* A layer version's ARN (LAYER_ARN_PREFIX NAME:N) into name and *version; false if it is
 * not one. */
static bool layer_arn(const char *arn, char *name, size_t namelen, unsigned *version)
{
	size_t p = strlen(LAYER_ARN_PREFIX);
	const char *colon = strrchr(arn, ':');
	if (strncmp(arn, LAYER_ARN_PREFIX, p) || colon < arn + p ||
	    (size_t)(colon - arn - p) >= namelen || !(*version = store_layer_number(colon + 1)))
		return false;
	snprintf(name, namelen, "%.*s", (int)(colon - arn - p), arn + p);
	return layer_name_of(name) == name;
}

/* Fold a function's layers into fn ("layers": its files) and meta ("Layers": each one's Arn,
 * CodeSize, UnzippedSize), their files into l: those of list (a request's Layers, checked:
 * at most 5 layer versions that exist), or with list NULL those it has (in its version old,
 * NULL for a new function). The function's code unpacked (code_unzipped, or -1: its size
 * in meta, else its code.zip in old) and its layers' together must stay within Lambda's
 * 250 MB. Returns 0, or -1 with r set. */
static int layers_of(struct manage *m, json_t *list, json_t *fn, json_t *meta, const char *old,
		     long long code_unzipped, struct layering *l, struct manage_reply *r)
{
	json_t *had = json_object_get(meta, "Layers");
	json_t *now = json_array();
	l->n = 0;
	if (!list) { /* as they are */
		for (size_t i = 0; old && i < json_array_size(had) && i < FN_MAX_LAYERS; i++) {
			json_array_append(now, json_array_get(had, i));
			snprintf(l->src[l->n++], sizeof(l->src[0]), "%s/layer%zu.zip", old, i + 1);
		}
	} else if (!json_is_array(list) || json_array_size(list) > FN_MAX_LAYERS) {
		invalid(r, json_is_array(list) ? "Cannot reference more than %d layers."
					       : "Layers must be a list of at most %d layer version "
						 "ARNs", FN_MAX_LAYERS);
		goto fail;
	} else {
		size_t i;
		json_t *v;
		json_array_foreach(list, i, v) {
			const char *arn = json_string_value(v);
			char lname[STORE_LAYER_NAME_MAX + 1], dir[4300];
			unsigned version;
			if (!arn || !layer_arn(arn, lname, sizeof(lname), &version)) {
				invalid(r, "Value %.200s at 'layers' failed to satisfy constraint: a "
					   "layer version's ARN (" LAYER_ARN_PREFIX "NAME:VERSION)",
					arn ? arn : "(not a string)");
				goto fail;
			}
			for (size_t j = 0; j < i; j++) {
				char other[STORE_LAYER_NAME_MAX + 1];
				unsigned ov;
				if (layer_arn(json_string_value(json_array_get(list, j)), other,
					      sizeof(other), &ov) && !strcmp(other, lname)) {
					invalid(r, "Two different versions of the same layer are not "
						   "allowed to be referenced in the same function. %s "
						   "and %s are versions of the same layer.",
						json_string_value(json_array_get(list, j)), arn);
					goto fail;
				}
			}
			/* One the function has already: its own copy (the version may be gone
			 * since, as on Lambda the function keeps it). */
			json_t *entry = NULL;
			for (size_t j = 0; old && j < json_array_size(had) && !entry; j++)
				if (!strcmp(json_string_value(json_object_get(json_array_get(had, j),
									    "Arn")) ?: "",
					    arn)) {
					entry = json_incref(json_array_get(had, j));
					snprintf(l->src[l->n], sizeof(l->src[0]), "%s/layer%zu.zip",
						 old, j + 1);
				}
			if (!entry) {
				char path[4400];
				json_t *lj = NULL;
				if (store_layer_version(&m->store, lname, version, dir, sizeof(dir)) == 0) {
					snprintf(path, sizeof(path), "%s/layer.json", dir);
					lj = json_load_file(path, 0, NULL);
				}
				if (!lj) {
					invalid(r, "Layer version %s does not exist.", arn);
					goto fail;
				}
				entry = json_pack("{s:s, s:O?, s:O?}", "Arn", arn, "CodeSize",
						  json_object_get(lj, "CodeSize"), "UnzippedSize",
						  json_object_get(lj, "UnzippedSize"));
				json_decref(lj);
				snprintf(l->src[l->n], sizeof(l->src[0]), "%s/content.zip", dir);
			}
			json_array_append_new(now, entry);
			l->n++;
		}
	}
	/* Within 250 MB unpacked, all together (checked when the code or the layers change). */
	if (list || code_unzipped >= 0) {
		char path[4400];
		long long total = code_unzipped, one;
		if (total < 0) {
			json_t *u = json_object_get(meta, "UnzippedSize");
			snprintf(path, sizeof(path), "%s/code.zip", old ? old : "");
			total = json_is_integer(u) ? (long long)json_integer_value(u)
				: old		   ? unzipped_of(path)
						   : 0;
		}
		for (unsigned i = 0; i < l->n && total >= 0; i++) {
			json_t *u = json_object_get(json_array_get(now, i), "UnzippedSize");
			one = json_is_integer(u) ? (long long)json_integer_value(u)
						 : unzipped_of(l->src[i]);
			total = one < 0 ? -1 : total + one;
		}
		if (total < 0) {
			error(r, 500, "ServiceException", "the function's stored code or layers "
			      "cannot be read");
			goto fail;
		}
		if (total > (long long)ZIP_UNZIPPED_MAX) {
			invalid(r, "Function code combined with layers exceeds the maximum allowed size "
				   "of %u bytes. The actual size is %lld bytes.", ZIP_UNZIPPED_MAX,
				total);
			goto fail;
		}
	}
	json_t *files = json_array();
	for (unsigned i = 0; i < l->n; i++) {
		char f[32];
		snprintf(f, sizeof(f), "layer%u.zip", i + 1);
		json_array_append_new(files, json_string(f));
	}
	if (l->n) {
		json_object_set_new(fn, "layers", files);
		json_object_set_new(meta, "Layers", now);
	} else {
		json_decref(files);
		json_decref(now);
		json_object_del(fn, "layers");
		json_object_del(meta, "Layers");
	}
	return 0;
fail:
	json_decref(now);
	return -1;
}

/* Whether a zip of len bytes fits what all code (functions' and layers') may take
 * (--code-storage), function except's (NULL: none) counted out as the zip replaces it;
 * else false with r set, as Lambda says it. */
static bool storage_left(struct manage *m, const char *except, size_t len,
			 struct manage_reply *r)
{
	unsigned long long others = store_code_bytes(&m->store, except);
	if (len <= m->code_max && others <= m->code_max - len)
		return true;
	error(r, 400, "CodeStorageExceededException",
	      "Code storage limit exceeded: the functions' and layers' code takes %llu bytes, "
	      "this zip %zu, of %llu allowed (serve --code-storage)",
	      others, len, m->code_max);
	return false;
}

/* Keep fn (with meta as its "lambda"), zip and layers (l's files, NULL: none) as name's new
 * version, and its configuration into cfg. Returns 0, or -1 with r set. */
static int keep(struct manage *m, const char *name, json_t *fn, json_t *meta,
		const unsigned char *zip, size_t len, const struct layering *l, bool create,
		struct fn_config *cfg, struct manage_reply *r)
{
	char vdir[4200], why[600];
	json_object_set(fn, "lambda", meta);
	/* Checked before a byte is written, with the code where it will be. */
	if (parse(m, fn, "/", cfg, r) < 0)
		return -1;
	fn_config_free(cfg);
	/* New code must fit what all code may take, less what it replaces. */
	if (zip && !storage_left(m, create ? NULL : name, len, r))
		return -1;
	char *text = json_dumps(fn, JSON_COMPACT | JSON_SORT_KEYS);
	const char *src[FN_MAX_LAYERS];
	for (unsigned i = 0; l && i < l->n; i++)
		src[i] = l->src[i];
	int rc = text ? store_put_layered(&m->store, name, text, zip, len, src, l ? l->n : 0,
					  create, vdir, sizeof(vdir), why, sizeof(why))
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
	if (!name || !plain_name(name, FN_NAME_MAX)) {
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
	uint64_t unzipped = 0;
	unsigned char *zip = NULL;
	struct fn_config cfg = {0};
	struct layering *l = calloc(1, sizeof(*l));
	if (!l) {
		error(r, 500, "ServiceException", "out of memory");
		goto out;
	}
	if (configure(q, fn, meta, r) < 0 || !(zip = zip_of(code, "/var/task", &len, &unzipped, r)))
		goto out;
	stamp(meta, zip, len);
	json_object_set_new(meta, "UnzippedSize", json_integer((json_int_t)unzipped));
	pthread_mutex_lock(&m->lock);
	enum table_found found;
	struct function *there = table_get(m->table, name, &found);
	table_put(there);
	if (found != TABLE_ABSENT) {
		error(r, 409, "ResourceConflictException", "Function already exist: %s", name);
	} else if (layers_of(m, json_object_get(q, "Layers"), fn, meta, NULL, (long long)unzipped,
			     l, r) == 0 &&
		   keep(m, name, fn, meta, zip, len, l, true, &cfg, r) == 0) {
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
	free(l);
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
	uint64_t unzipped = 0;
	unsigned char *zip = NULL;
	json_t *fn = NULL, *meta = NULL;
	struct fn_config cfg = {0};
	struct layering *l = calloc(1, sizeof(*l));
	if (!l) {
		error(r, 500, "ServiceException", "out of memory");
		return;
	}
	if (code && !(zip = zip_of(q, "/var/task", &len, &unzipped, r))) {
		free(l);
		return;
	}
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
		if ((code || configure(q, fn, meta, r) == 0) &&
		    layers_of(m, code ? NULL : json_object_get(q, "Layers"), fn, meta, vdir,
			      code ? (long long)unzipped : -1, l, r) == 0 &&
		    parse(m, fn, "/", &cfg, r) == 0) {
			fn_config_free(&cfg);
			stamp(meta, zip, len);
			if (code)
				json_object_set_new(meta, "UnzippedSize",
						    json_integer((json_int_t)unzipped));
			if (!e.live)
				error(r, 409, "ResourceConflictException", "The operation cannot be "
				      "performed at this time. An update is in progress for resource: "
				      ARN_PREFIX "%s", name);
			else if (keep(m, name, fn, meta, zip, len, l, false, &cfg, r) == 0) {
				if (table_change(m->table, name, &cfg) < 0)
					error(r, 500, "ServiceException", "function %s could not "
					      "be changed: %s", name, strerror(errno));
				else
					reply_json(r, 200, describe(m, name));
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
	free(l);
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

/* ---- layers ------------------------------------------------------------------------- */

/* A layer's name from the path's NAME (a name or its ARN), or NULL. */
/* Layer version name:version as the API shows it: whole (GetLayerVersion,
 * PublishLayerVersion) or as a list's item; NULL if there is none. */
static json_t *layer_describe(struct manage *m, const char *name, unsigned version, bool whole)
{
	char dir[4300], path[4400], arn[256];
	if (store_layer_version(&m->store, name, version, dir, sizeof(dir)) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/layer.json", dir);
	json_t *lj = json_load_file(path, 0, NULL);
	if (!json_is_object(lj)) {
		json_decref(lj);
		return NULL;
	}
	json_t *o = json_object();
	snprintf(arn, sizeof(arn), LAYER_ARN_PREFIX "%s:%u", name, version);
	json_object_set_new(o, "LayerVersionArn", json_string(arn));
	json_object_set_new(o, "Version", json_integer(version));
	static const char *const kept[] = {"Description", "CreatedDate", "CompatibleRuntimes",
					   "LicenseInfo", "CompatibleArchitectures"};
	for (unsigned i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		json_t *v = json_object_get(lj, kept[i]);
		if (v)
			json_object_set(o, kept[i], v);
	}
	if (whole) {
		snprintf(arn, sizeof(arn), LAYER_ARN_PREFIX "%s", name);
		json_object_set_new(o, "LayerArn", json_string(arn));
		json_object_set_new(o, "Content",
				    json_pack("{s:s, s:O?, s:O?}", "Location", "", "CodeSha256",
					      json_object_get(lj, "CodeSha256"), "CodeSize",
					      json_object_get(lj, "CodeSize")));
	}
	json_decref(lj);
	return o;
}

static void layer_not_found(struct manage_reply *r, const char *name, unsigned version)
{
	error(r, 404, "ResourceNotFoundException", "Layer version " LAYER_ARN_PREFIX "%s:%u does "
	      "not exist.", name, version);
}

/* A list of strings of at most max, each one of allowed (space-separated words; NULL: any
 * of [a-z0-9.-], 1 to 32 characters). */
static bool word_list(json_t *v, size_t max, const char *allowed)
{
	if (!json_is_array(v) || json_array_size(v) > max)
		return false;
	size_t i;
	json_t *w;
	json_array_foreach(v, i, w) {
		const char *s = json_string_value(w);
		size_t n = s ? strlen(s) : 0;
		if (!n || n > 32 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != n)
			return false;
		if (allowed) {
			char word[40];
			snprintf(word, sizeof(word), " %s ", s);
			if (!strstr(allowed, word))
				return false;
		}
	}
	return true;
}

static void layer_publish(struct manage *m, const char *name, json_t *q, struct manage_reply *r)
{
	json_t *lj = json_object(), *v;
	if ((v = json_object_get(q, "Description")) &&
	    (!json_is_string(v) || strlen(json_string_value(v)) > DESCRIPTION_MAX)) {
		invalid(r, "Description must be a string of at most %d characters", DESCRIPTION_MAX);
		goto out;
	}
	json_object_set_new(lj, "Description", v ? json_incref(v) : json_string(""));
	if ((v = json_object_get(q, "LicenseInfo"))) {
		if (!json_is_string(v) || strlen(json_string_value(v)) > LICENSE_MAX) {
			invalid(r, "LicenseInfo must be a string of at most %d characters",
				LICENSE_MAX);
			goto out;
		}
		json_object_set(lj, "LicenseInfo", v);
	}
	if ((v = json_object_get(q, "CompatibleRuntimes"))) {
		if (!word_list(v, LAYER_RUNTIMES_MAX, NULL)) {
			invalid(r, "CompatibleRuntimes must be a list of at most %d runtimes' "
				   "identifiers (python3.11, ...)", LAYER_RUNTIMES_MAX);
			goto out;
		}
		json_object_set(lj, "CompatibleRuntimes", v);
	}
	if ((v = json_object_get(q, "CompatibleArchitectures"))) {
		if (!word_list(v, 2, " x86_64 arm64 ")) {
			invalid(r, "CompatibleArchitectures must be a list of at most 2 of x86_64 "
				   "and arm64");
			goto out;
		}
		json_object_set(lj, "CompatibleArchitectures", v);
	}
	json_t *content = json_object_get(q, "Content");
	if (!json_is_object(content)) {
		invalid(r, "Content (ZipFile) is required");
		goto out;
	}
	size_t len = 0;
	uint64_t unzipped = 0;
	unsigned char *zip = zip_of(content, "/opt", &len, &unzipped, r);
	if (!zip)
		goto out;
	char t[64], dir[4300], why[600];
	stamp(lj, zip, len);
	json_object_del(lj, "RevisionId");
	json_object_del(lj, "LastModified");
	now_iso(t, sizeof(t));
	json_object_set_new(lj, "CreatedDate", json_string(t));
	json_object_set_new(lj, "UnzippedSize", json_integer((json_int_t)unzipped));
	char *text = json_dumps(lj, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned version = 0;
	pthread_mutex_lock(&m->lock);
	bool fits = storage_left(m, NULL, len, r);
	if (fits && (!text || store_layer_put(&m->store, name, text, zip, len, &version, dir,
					      sizeof(dir), why, sizeof(why)) < 0)) {
		error(r, 500, "ServiceException", "cannot keep the layer: %s",
		      text ? why : "out of memory");
	} else if (fits) {
		reply_json(r, 201, layer_describe(m, name, version, true));
		pr_info("serve: layer %s version %u published", name, version);
	}
	pthread_mutex_unlock(&m->lock);
	free(text);
	free(zip);
out:
	json_decref(lj);
}

static json_t *layer_versions(struct manage *m, const char *name)
{
	json_t *all = json_array();
	unsigned *v = NULL;
	int n = store_layer_versions(&m->store, name, &v);
	for (int i = n - 1; i >= 0; i--) { /* newest first, as Lambda lists them */
		json_t *o = layer_describe(m, name, v[i], false);
		if (o)
			json_array_append_new(all, o);
	}
	free(v);
	return all;
}

static void list_layer(const char *name, void *arg)
{
	struct {
		struct manage *m;
		json_t *out;
	} *l = arg;
	json_t *versions = layer_versions(l->m, name);
	if (json_array_size(versions)) {
		char arn[256];
		snprintf(arn, sizeof(arn), LAYER_ARN_PREFIX "%s", name);
		json_array_append_new(l->out, json_pack("{s:s, s:s, s:O}", "LayerName", name,
							"LayerArn", arn, "LatestMatchingVersion",
							json_array_get(versions, 0)));
	}
	json_decref(versions);
}

/* GetLayerVersionByArn: GET /2018-10-31/layers?find=LayerVersion&Arn=ARN. */
static void layer_by_arn(struct manage *m, const char *find, const char *arn,
			 struct manage_reply *r)
{
	if (!find || strcmp(find, "LayerVersion")) {
		invalid(r, "find must be LayerVersion (GetLayerVersionByArn), not %.32s",
			find ? find : "(none)");
		return;
	}
	char layer[STORE_LAYER_NAME_MAX + 1];
	unsigned version;
	if (!arn || !layer_arn(arn, layer, sizeof(layer), &version)) {
		invalid(r, "Arn must be a layer version's ARN, " LAYER_ARN_PREFIX "NAME:N, not %.200s",
			arn ? arn : "(none)");
		return;
	}
	pthread_mutex_lock(&m->lock);
	json_t *o = layer_describe(m, layer, version, true);
	if (o)
		reply_json(r, 200, o);
	else
		layer_not_found(r, layer, version);
	pthread_mutex_unlock(&m->lock);
}

/* /2018-10-31/layers[/NAME/versions[/N]]: rest is what follows the prefix; find and arn the
 * query's (GetLayerVersionByArn), or NULL. */
static void layer_request(struct manage *m, const char *method, const char *rest,
			  const char *find, const char *arn, json_t *q, struct manage_reply *r)
{
	if ((!*rest || !strcmp(rest, "/")) && find && !strcmp(method, "GET")) {
		layer_by_arn(m, find, arn, r);
		return;
	}
	if (!*rest || !strcmp(rest, "/")) { /* ListLayers */
		struct {
			struct manage *m;
			json_t *out;
		} l = {m, json_array()};
		pthread_mutex_lock(&m->lock);
		store_layer_each(&m->store, list_layer, &l);
		pthread_mutex_unlock(&m->lock);
		reply_json(r, 200, json_pack("{s:o}", "Layers", l.out));
		return;
	}
	char name[256] = "", number[16] = "";
	const char *slash = strchr(rest + 1, '/');
	size_t n = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
	snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : 0), rest + 1);
	const char *tail = slash ? slash : "";
	const char *layer = layer_name_of(name);
	if (!layer) {
		invalid(r, "%.64s is not a layer's name or ARN (1-%d characters of [A-Za-z0-9_-])",
			name, STORE_LAYER_NAME_MAX);
		return;
	}
	if (!strcmp(tail, "/versions") || !strcmp(tail, "/versions/")) {
		if (!strcmp(method, "POST")) {
			layer_publish(m, layer, q, r);
		} else { /* ListLayerVersions */
			pthread_mutex_lock(&m->lock);
			json_t *all = layer_versions(m, layer);
			pthread_mutex_unlock(&m->lock);
			reply_json(r, 200, json_pack("{s:o}", "LayerVersions", all));
		}
		return;
	}
	snprintf(number, sizeof(number), "%.15s", tail + strlen("/versions/"));
	unsigned version = store_layer_number(number);
	if (!version) {
		invalid(r, "%.15s is not a layer version's number", number);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (!strcmp(method, "DELETE")) { /* as Lambda: a version that is not there is no error */
		if (store_layer_delete(&m->store, layer, version) == 0)
			pr_info("serve: layer %s version %u deleted", layer, version);
		r->status = 204;
	} else {
		json_t *o = layer_describe(m, layer, version, true);
		if (o)
			reply_json(r, 200, o);
		else
			layer_not_found(r, layer, version);
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- routing ------------------------------------------------------------------------ */

/* Whether (method, path) is a layer operation. */
static bool layer_is(const char *method, const char *path)
{
	size_t n = strlen(MANAGE_LAYERS_PREFIX);
	if (strncmp(path, MANAGE_LAYERS_PREFIX, n))
		return false;
	const char *rest = path + n;
	if (!*rest || !strcmp(rest, "/"))
		return !strcmp(method, "GET");
	if (*rest != '/')
		return false;
	const char *tail = strchr(rest + 1, '/');
	if (!tail || strncmp(tail, "/versions", 9))
		return false;
	tail += 9;
	if (!*tail || !strcmp(tail, "/"))
		return !strcmp(method, "GET") || !strcmp(method, "POST");
	return *tail == '/' && tail[1] && !strchr(tail + 1, '/') &&
	       (!strcmp(method, "GET") || !strcmp(method, "DELETE"));
}

bool manage_is(const char *method, const char *path)
{
	if (layer_is(method, path))
		return true;
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

void manage_request(struct manage *m, const char *method, const char *path,
		    manage_query_fn query, void *qctx, const char *body, size_t len,
		    struct manage_reply *r)
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
	if (layer_is(method, path)) {
		layer_request(m, method, path + strlen(MANAGE_LAYERS_PREFIX),
			      query ? query(qctx, "find") : NULL, query ? query(qctx, "Arn") : NULL,
			      q, r);
	} else if (name[0] && !fn) {
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

int manage_open(struct manage *m, unsigned long long code_max, struct fn_table *t,
		const char *state_dir, const char *kernel, const char *initrd, char *err,
		size_t errlen)
{
	m->code_max = code_max;
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
