/* Control protocol codec: one JSON object per line (libjansson). Pure: no sockets. */
#include "api/proto.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const char *const cmd_names[] = {
	[CMD_STATUS] = "status", [CMD_PAUSE] = "pause", [CMD_RESUME] = "resume",
	[CMD_STOP] = "stop",     [CMD_FORK] = "fork",     [CMD_TEMPLATE] = "template",
	[CMD_RESET] = "reset",
};

const char *proto_cmd_name(enum hf_cmd cmd)
{
	return (unsigned)cmd < ARRAY_SIZE(cmd_names) ? cmd_names[cmd] : "?";
}

int proto_cmd_parse(const char *name, enum hf_cmd *cmd)
{
	for (unsigned i = 0; i < ARRAY_SIZE(cmd_names); i++)
		if (!strcmp(name, cmd_names[i])) {
			*cmd = (enum hf_cmd)i;
			return 0;
		}
	return -1;
}

static json_t *load(const char *line, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	if (len > PROTO_MAX_LINE) {
		errf(err, errlen, "message too long (%zu bytes)", len);
		return NULL;
	}
	/* JSON_REJECT_DUPLICATES: an ambiguous message is a malformed one. */
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &je);
	if (!j) {
		errf(err, errlen, "malformed JSON: %s", je.text);
		return NULL;
	}
	/* Only trailing whitespace may follow the object. */
	for (size_t i = je.position; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n') {
			json_decref(j);
			errf(err, errlen, "malformed JSON: trailing data after the object");
			return NULL;
		}
	}
	if (!json_is_object(j)) {
		json_decref(j);
		errf(err, errlen, "message is not a JSON object");
		return NULL;
	}
	return j;
}

/* A JSON string for s. Paths and names may hold bytes that are not UTF-8, which JSON
 * strings cannot: those bytes become '?'. NULL only when out of memory. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *t = malloc(n + 1);
	if (!t)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		t[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_string(t);
	free(t);
	return j;
}

static char *dump_line(json_t *j)
{
	if (!j)
		return NULL;
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = 0;
	return line;
}

int proto_parse_request(const char *line, size_t len, struct hf_request *req, char *err,
			size_t errlen)
{
	memset(req, 0, sizeof(*req));
	req->count = 1;
	req->pool = PROTO_POOL_DEFAULT;
	json_t *j = load(line, len, err, errlen);
	if (!j)
		return -1;
	int rc = -1;
	json_t *cmd = json_object_get(j, "cmd");
	if (!json_is_string(cmd)) {
		errf(err, errlen, "request has no \"cmd\" string");
		goto out;
	}
	const char *name = json_string_value(cmd);
	if (proto_cmd_parse(name, &req->cmd) < 0) {
		errf(err, errlen, "unknown command \"%.32s\"", name);
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(j, key, val)
	{
		if (!strcmp(key, "cmd"))
			continue;
		if (req->cmd == CMD_FORK && !strcmp(key, "count")) {
			if (!json_is_integer(val) || json_integer_value(val) < 1 ||
			    json_integer_value(val) > PROTO_FORK_MAX) {
				errf(err, errlen, "\"count\" must be an integer from 1 to %u",
				     PROTO_FORK_MAX);
				goto out;
			}
			req->count = (unsigned)json_integer_value(val);
		} else if (req->cmd == CMD_TEMPLATE && !strcmp(key, "pool")) {
			if (!json_is_integer(val) || json_integer_value(val) < 0 ||
			    json_integer_value(val) > PROTO_POOL_MAX) {
				errf(err, errlen, "\"pool\" must be an integer from 0 to %u",
				     PROTO_POOL_MAX);
				goto out;
			}
			req->pool = (unsigned)json_integer_value(val);
		} else if (req->cmd == CMD_RESET && !strcmp(key, "id")) {
			if (!json_is_integer(val) || json_integer_value(val) < 1 ||
			    json_integer_value(val) > UINT32_MAX) {
				errf(err, errlen, "\"id\" must be an integer from 1 to %u", UINT32_MAX);
				goto out;
			}
			req->id = (unsigned)json_integer_value(val);
		} else if (req->cmd == CMD_FORK && !strcmp(key, "console")) {
			const char *c = json_string_value(val);
			if (!c || (strcmp(c, "file") && strcmp(c, "pty") && strcmp(c, "none"))) {
				errf(err, errlen, "\"console\" must be \"file\", \"pty\" or \"none\"");
				goto out;
			}
			snprintf(req->console, sizeof(req->console), "%s", c);
		} else {
			errf(err, errlen, "unexpected field \"%.32s\" for command %s", key, name);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

char *proto_format_request(const struct hf_request *req)
{
	json_t *j = json_pack("{s:s}", "cmd", proto_cmd_name(req->cmd));
	if (j && req->cmd == CMD_FORK) {
		json_object_set_new(j, "count", json_integer(req->count));
		if (req->console[0])
			json_object_set_new(j, "console", jstr(req->console));
	}
	if (j && req->cmd == CMD_TEMPLATE)
		json_object_set_new(j, "pool", json_integer(req->pool));
	if (j && req->cmd == CMD_RESET && req->id)
		json_object_set_new(j, "id", json_integer(req->id));
	return dump_line(j);
}

static json_t *status_to_json(const struct hf_vm_status *s)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
			 "s:I,s:I}",
			 "name", jstr(s->name), "parent", jstr(s->parent), "state", jstr(s->state),
			 "kind", jstr(s->kind), "console", jstr(s->console), "console_path",
			 jstr(s->console_path), "net", jstr(s->net), "pid", s->pid,
			 "cpus", (json_int_t)s->cpus, "clone_id", (json_int_t)s->clone_id,
			 "clones", (json_int_t)s->clones, "mem_bytes", (json_int_t)s->mem_bytes,
			 "uptime_ms", (json_int_t)s->uptime_ms, "rss_kb", (json_int_t)s->rss_kb,
			 "pss_kb", (json_int_t)s->pss_kb, "private_kb",
			 (json_int_t)s->private_kb, "pool_ready", (json_int_t)s->pool_ready,
			 "pool_target", (json_int_t)s->pool_target, "on_demand",
			 (json_int_t)s->on_demand);
}

char *proto_format_response(enum hf_cmd cmd, const struct hf_response *r)
{
	if (!r->ok)
		return dump_line(json_pack("{s:b,s:o}", "ok", 0, "error", jstr(r->error)));
	json_t *j = json_pack("{s:b}", "ok", 1);
	if (!j)
		return NULL;
	int bad = 0;
	if (r->error[0]) /* success with a caveat, e.g. fewer clones than asked */
		bad |= json_object_set_new(j, "warning", jstr(r->error));
	if (cmd == CMD_STATUS)
		bad |= json_object_set_new(j, "vm", status_to_json(&r->vm));
	if (cmd == CMD_RESET)
		bad |= json_object_set_new(j, "pages", json_integer((json_int_t)r->pages));
	if (cmd == CMD_FORK) {
		json_t *a = json_array();
		for (unsigned i = 0; a && i < r->nclones; i++) {
			const struct hf_clone_info *c = &r->clones[i];
			bad |= json_array_append_new(
				a, json_pack("{s:o,s:i,s:o,s:o,s:b}", "name", jstr(c->name), "pid",
					     c->pid, "socket", jstr(c->socket), "console",
					     jstr(c->console), "on_demand", c->on_demand));
		}
		bad |= json_object_set_new(j, "clones", a);
	}
	if (bad) { /* never send half a reply */
		json_decref(j);
		return NULL;
	}
	return dump_line(j);
}

/* Copy string field key of o into dst (dstlen bytes). Missing or wrong type: -1. */
static int get_str(json_t *o, const char *key, char *dst, size_t dstlen)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (!v)
		return -1;
	snprintf(dst, dstlen, "%s", v);
	return 0;
}

/* Unsigned field key of o, at most max, into *dst. Missing, wrong type or out of range: -1
 * (a value is never narrowed: "pid":4294967297 is refused, not read as 1). */
static int get_uint(json_t *o, const char *key, uint64_t max, uint64_t *dst)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return -1;
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

static int status_from_json(json_t *o, struct hf_vm_status *s)
{
	uint64_t pid, cpus, id, clones, ready, target;
	if (!json_is_object(o))
		return -1;
	if (get_str(o, "name", s->name, sizeof(s->name)) ||
	    get_str(o, "parent", s->parent, sizeof(s->parent)) ||
	    get_str(o, "state", s->state, sizeof(s->state)) ||
	    get_str(o, "kind", s->kind, sizeof(s->kind)) ||
	    get_str(o, "console", s->console, sizeof(s->console)) ||
	    get_str(o, "console_path", s->console_path, sizeof(s->console_path)) ||
	    get_str(o, "net", s->net, sizeof(s->net)) ||
	    get_uint(o, "pid", INT_MAX, &pid) || get_uint(o, "cpus", UINT_MAX, &cpus) ||
	    get_uint(o, "clone_id", UINT_MAX, &id) || get_uint(o, "clones", UINT_MAX, &clones) ||
	    get_uint(o, "mem_bytes", UINT64_MAX, &s->mem_bytes) ||
	    get_uint(o, "uptime_ms", UINT64_MAX, &s->uptime_ms) ||
	    get_uint(o, "rss_kb", UINT64_MAX, &s->rss_kb) ||
	    get_uint(o, "pss_kb", UINT64_MAX, &s->pss_kb) ||
	    get_uint(o, "private_kb", UINT64_MAX, &s->private_kb) ||
	    get_uint(o, "pool_ready", PROTO_POOL_MAX, &ready) ||
	    get_uint(o, "pool_target", PROTO_POOL_MAX, &target) ||
	    get_uint(o, "on_demand", UINT64_MAX, &s->on_demand))
		return -1;
	s->pool_ready = (unsigned)ready;
	s->pool_target = (unsigned)target;
	s->pid = (int)pid;
	s->cpus = (unsigned)cpus;
	s->clone_id = (unsigned)id;
	s->clones = (unsigned)clones;
	return 0;
}

int proto_parse_response(enum hf_cmd cmd, const char *line, size_t len, struct hf_response *r,
			 char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	json_t *j = load(line, len, err, errlen);
	if (!j)
		return -1;
	int rc = -1;
	json_t *ok = json_object_get(j, "ok");
	if (!json_is_boolean(ok)) {
		errf(err, errlen, "response has no \"ok\" boolean");
		goto out;
	}
	r->ok = json_is_true(ok);
	if (!r->ok) {
		if (get_str(j, "error", r->error, sizeof(r->error))) {
			errf(err, errlen, "error response has no \"error\" string");
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (json_object_get(j, "warning") &&
	    get_str(j, "warning", r->error, sizeof(r->error))) {
		errf(err, errlen, "\"warning\" is not a string");
		goto out;
	}
	if (cmd == CMD_RESET && get_uint(j, "pages", UINT64_MAX, &r->pages)) {
		errf(err, errlen, "reset response has a missing or malformed \"pages\" number");
		goto out;
	}
	if (cmd == CMD_STATUS && status_from_json(json_object_get(j, "vm"), &r->vm)) {
		errf(err, errlen, "status response has a missing or malformed \"vm\" object");
		goto out;
	}
	if (cmd == CMD_FORK) {
		json_t *a = json_object_get(j, "clones");
		if (!json_is_array(a) || json_array_size(a) > PROTO_FORK_MAX) {
			errf(err, errlen, "fork response has a missing or malformed \"clones\" array");
			goto out;
		}
		r->nclones = (unsigned)json_array_size(a);
		r->clones = calloc(r->nclones ? r->nclones : 1, sizeof(*r->clones));
		if (!r->clones) {
			errf(err, errlen, "out of memory");
			goto out;
		}
		for (unsigned i = 0; i < r->nclones; i++) {
			json_t *c = json_array_get(a, i);
			uint64_t pid;
			struct hf_clone_info *ci = &r->clones[i];
			if (!json_is_object(c) || get_str(c, "name", ci->name, sizeof(ci->name)) ||
			    get_uint(c, "pid", INT_MAX, &pid) ||
			    get_str(c, "socket", ci->socket, sizeof(ci->socket)) ||
			    get_str(c, "console", ci->console, sizeof(ci->console)) ||
			    !json_is_boolean(json_object_get(c, "on_demand"))) {
				proto_response_free(r);
				errf(err, errlen, "fork response: clone %u is malformed", i);
				goto out;
			}
			ci->pid = (int)pid;
			ci->on_demand = json_is_true(json_object_get(c, "on_demand"));
		}
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

void proto_response_free(struct hf_response *r)
{
	free(r->clones);
	r->clones = NULL;
	r->nclones = 0;
}
