/* `hyperfork serve`'s configuration file (see config.h). */
#include "serve/config.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* path, made absolute against dir if relative; malloc'd. */
static char *resolve(const char *dir, const char *path)
{
	char *r;
	if (path[0] == '/' || !dir)
		return strdup(path);
	return asprintf(&r, "%s/%s", dir, path) < 0 ? NULL : r;
}

/* Unsigned field key of f, lo..hi, default def when absent. */
static int get_uint(json_t *f, const char *fn, const char *key, unsigned lo, unsigned hi,
		    unsigned def, unsigned *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(f, key);
	if (!v) {
		*out = def;
		return 0;
	}
	json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;
	if (i < lo || i > hi)
		return fail(err, errlen, "function %s: \"%s\" must be a whole number from %u to %u",
			    fn, key, lo, hi);
	*out = (unsigned)i;
	return 0;
}

/* String field key of f (required unless optional), a path made absolute against dir if
 * dir is given. */
static int get_string(json_t *f, const char *fn, const char *key, bool optional, const char *dir,
		    char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(f, key);
	*out = NULL;
	if (!v && optional)
		return 0;
	const char *s = json_string_value(v);
	if (!s || !*s || strlen(s) > 4000)
		return fail(err, errlen, "function %s: \"%s\" must be a non-empty string%s", fn,
			    key, optional ? "" : " (required)");
	*out = dir ? resolve(dir, s) : strdup(s);
	return *out ? 0 : fail(err, errlen, "out of memory");
}

static int parse_env(json_t *f, const char *fn, struct fn_config *c, char *err, size_t errlen)
{
	json_t *env = json_object_get(f, "environment");
	size_t len = 0, max = c->runtime ? FN_ENV_MAX_RUNTIME : FN_ENV_MAX;
	c->env = calloc(1, max + 1);
	if (!c->env)
		return fail(err, errlen, "out of memory");
	if (!env)
		return 0;
	if (!json_is_object(env))
		return fail(err, errlen, "function %s: \"environment\" must be an object of strings",
			    fn);
	const char *key;
	json_t *v;
	json_object_foreach(env, key, v) {
		const char *s = json_string_value(v);
		bool ok = s && *key && !strpbrk(s, "\n") && !((*key >= '0' && *key <= '9'));
		for (const char *k = key; ok && *k; k++)
			ok = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
			     (*k >= '0' && *k <= '9') || *k == '_';
		if (!ok)
			return fail(err, errlen, "function %s: environment variable \"%.64s\" must "
				    "be a name of [A-Za-z0-9_] with a string value of one line", fn,
				    key);
		int n = snprintf(c->env + len, max + 1 - len, "%s=%s\n", key, s);
		if (n < 0 || (size_t)n > max - len)
			return fail(err, errlen, "function %s: the environment is larger than %zu "
				    "bytes", fn, max);
		len += (size_t)n;
	}
	return 0;
}

static int parse_mode(json_t *f, const char *fn, struct fn_config *c, char *err, size_t errlen)
{
	static const char *const modes[] = {[FN_MODE_CLONE] = "clone", [FN_MODE_WARM] = "warm",
					     [FN_MODE_BOOT] = "boot", [FN_MODE_FRESH] = "fresh"};
	json_t *v = json_object_get(f, "mode");
	const char *s = json_string_value(v);
	c->mode = FN_MODE_CLONE;
	if (!v)
		return 0;
	for (unsigned i = 0; s && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(s, modes[i])) {
			c->mode = (enum fn_mode)i;
			return 0;
		}
	return fail(err, errlen,
		    "function %s: \"mode\" must be \"clone\", \"fresh\", \"warm\" or \"boot\"", fn);
}

/* Is b a name serve gives the VMs it boots for function a (FN_BOOT_NAME_KEEP)? Both
 * would then meet in cgroups and run directories named after VMs. */
static bool boot_name_of(const char *a, const char *b)
{
	size_t n = strnlen(a, FN_BOOT_NAME_KEEP);
	if (strncmp(a, b, n) || strncmp(b + n, "-b", 2) || !b[n + 2])
		return false;
	for (const char *d = b + n + 2; *d; d++)
		if (*d < '0' || *d > '9')
			return false;
	return true;
}

/* Whether w is one of the space-separated words of list. */
static bool word_in(const char *w, const char *list)
{
	size_t n = strlen(w);
	for (const char *p = list; n && *p;) {
		size_t k = strcspn(p, " ");
		if (k == n && !strncmp(p, w, n))
			return true;
		p += k + (p[k] == ' ');
	}
	return false;
}

static int parse_fn(json_t *f, unsigned index, const char *dir, struct serve_config *sc,
		    char *err, size_t errlen)
{
	struct fn_config *c = &sc->fns[index];
	static const char *const known[] = {"name", "image", "kernel", "initrd", "disks", "cmdline",
					     "memory", "vcpus", "timeout", "concurrency", "pool",
					     "handler", "environment", "mode", "recycle", "idle", "cpu",
					     "runtime", "code", "layers", "lambda", NULL};
	if (!json_is_object(f))
		return fail(err, errlen, "function %u: not an object", index + 1);
	const char *name = json_string_value(json_object_get(f, "name"));
	if (!name || !plain_name(name, FN_NAME_MAX))
		return fail(err, errlen, "function %u: \"name\" must be 1-%d characters of "
			    "[A-Za-z0-9_-]", index + 1, FN_NAME_MAX);
	snprintf(c->name, sizeof(c->name), "%s", name);
	for (unsigned i = 0; i < index; i++) {
		const char *other = sc->fns[i].name;
		if (!strcmp(other, name))
			return fail(err, errlen, "function %s is declared twice", name);
		if (boot_name_of(other, name) || boot_name_of(name, other))
			return fail(err, errlen, "functions %s and %s: one's name is what serve names "
				    "the VMs it boots for the other (NAME-bN); rename one", other, name);
	}
	const char *key;
	json_t *v;
	json_object_foreach(f, key, v) {
		unsigned k = 0;
		while (known[k] && strcmp(known[k], key))
			k++;
		if (!known[k])
			return fail(err, errlen, "function %s: unknown field \"%.64s\"", name, key);
	}
	/* A bare guest ("image") or a Linux guest ("kernel", "initrd", "disks"): not both. */
	bool bare = json_object_get(f, "image");
	if (bare && (json_object_get(f, "kernel") || json_object_get(f, "initrd") ||
		     json_object_get(f, "disks") || json_object_get(f, "environment") ||
		     json_object_get(f, "handler")))
		return fail(err, errlen, "function %s: \"image\" (a bare guest) goes without "
			    "\"kernel\", \"initrd\", \"disks\", \"environment\" and \"handler\" (a "
			    "Linux guest's)", name);
	if (!bare && !json_object_get(f, "kernel") && !json_object_get(f, "initrd"))
		return fail(err, errlen, "function %s: needs \"image\" (a bare guest's ELF) or "
			    "\"kernel\" and \"initrd\" (a Linux guest)", name);
	bool managed = json_object_get(f, "runtime") || json_object_get(f, "code");
	if (managed && (bare || json_object_get(f, "disks") || !json_object_get(f, "runtime") ||
			!json_object_get(f, "code")))
		return fail(err, errlen, "function %s: \"runtime\" and \"code\" (a zip) go "
			    "together, without \"disks\" or \"image\"", name);
	if (get_string(f, name, "image", true, dir, &c->image, err, errlen) < 0 ||
	    get_string(f, name, "runtime", true, NULL, &c->runtime, err, errlen) < 0 ||
	    get_string(f, name, "code", true, dir, &c->code, err, errlen) < 0 ||
	    (!bare && get_string(f, name, "kernel", false, dir, &c->kernel, err, errlen) < 0) ||
	    (!bare && get_string(f, name, "initrd", false, dir, &c->initrd, err, errlen) < 0) ||
	    get_string(f, name, "cmdline", true, NULL, &c->cmdline, err, errlen) < 0 ||
	    get_string(f, name, "handler", true, NULL, &c->handler, err, errlen) < 0 ||
	    get_uint(f, name, "memory", 128, 10240, 256, &c->memory_mb, err, errlen) < 0 ||
	    get_uint(f, name, "vcpus", 1, 8, 1, &c->vcpus, err, errlen) < 0 ||
	    get_uint(f, name, "timeout", 1, 900, 3, &c->timeout_s, err, errlen) < 0 ||
	    get_uint(f, name, "concurrency", 1, 1000, 10, &c->concurrency, err, errlen) < 0 ||
	    get_uint(f, name, "pool", 0, 64, 4, &c->pool, err, errlen) < 0 ||
	    get_uint(f, name, "recycle", 0, 1000000, 0, &c->recycle, err, errlen) < 0 ||
	    get_uint(f, name, "idle", 0, 86400, 600, &c->idle_s, err, errlen) < 0 ||
	    parse_env(f, name, c, err, errlen) < 0 || parse_mode(f, name, c, err, errlen) < 0)
		return -1;
	json_t *meta = json_object_get(f, "lambda");
	if (meta && !json_is_object(meta))
		return fail(err, errlen, "function %s: \"lambda\" must be an object", name);
	if (meta && !(c->meta = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS)))
		return fail(err, errlen, "out of memory");
	json_t *cpu = json_object_get(f, "cpu");
	if (cpu && (!json_is_number(cpu) || !(json_number_value(cpu) >= 0.01 &&
					      json_number_value(cpu) <= 1024)))
		return fail(err, errlen, "function %s: \"cpu\" must be a number of CPUs from 0.01 "
			    "to 1024", name);
	c->cpu = cpu ? json_number_value(cpu) : 0;
	if (c->runtime && !word_in(c->runtime, FN_RUNTIMES))
		return fail(err, errlen, "function %s: unknown \"runtime\" \"%.32s\": %s", name,
			    c->runtime, FN_RUNTIMES);
	if (c->runtime && !c->handler)
		return fail(err, errlen, "function %s: runtime %s needs a \"handler\" "
			    "(module.function)", name, c->runtime);
	if (c->handler && strpbrk(c->handler, " \t\n"))
		return fail(err, errlen, "function %s: \"handler\" must not contain spaces", name);
	if (c->cmdline && strchr(c->cmdline, '\n'))
		return fail(err, errlen, "function %s: \"cmdline\" must be one line", name);
	json_t *layers = json_object_get(f, "layers");
	if (layers && !c->code)
		return fail(err, errlen, "function %s: \"layers\" go with \"runtime\" and "
			    "\"code\"", name);
	if (layers && (!json_is_array(layers) || json_array_size(layers) > FN_MAX_LAYERS))
		return fail(err, errlen, "function %s: \"layers\" must be a list of at most %d "
			    "zips", name, FN_MAX_LAYERS);
	size_t i;
	json_array_foreach(layers, i, v) {
		const char *s = json_string_value(v);
		if (!s || !*s || strlen(s) > 4000)
			return fail(err, errlen, "function %s: layer %zu must be a zip's path", name,
				    i + 1);
		if (!(c->layers[c->nlayers++] = resolve(dir, s)))
			return fail(err, errlen, "out of memory");
	}
	json_t *disks = json_object_get(f, "disks");
	if (disks && (!json_is_array(disks) || json_array_size(disks) > FN_MAX_DISKS))
		return fail(err, errlen, "function %s: \"disks\" must be a list of at most %d "
			    "paths", name, FN_MAX_DISKS);
	json_array_foreach(disks, i, v) {
		const char *s = json_string_value(v);
		if (!s || !*s || strchr(s, ','))
			return fail(err, errlen, "function %s: disk %zu must be a path without ','",
				    name, i + 1);
		if (!(c->disks[c->ndisks++] = resolve(dir, s)))
			return fail(err, errlen, "out of memory");
	}
	return 0;
}

int serve_config_parse(const char *text, size_t len, const char *dir, struct serve_config *c,
		       char *err, size_t errlen)
{
	json_error_t je;
	memset(c, 0, sizeof(*c));
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return fail(err, errlen, "not valid JSON: %s (line %d)", je.text, je.line);
	int r = -1;
	json_t *fns = json_object_get(root, "functions");
	if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(fns) ||
	    !json_array_size(fns)) {
		fail(err, errlen, "expected {\"functions\": [...]} with at least one function");
		goto out;
	}
	if (json_array_size(fns) > FN_MAX_FUNCTIONS) {
		fail(err, errlen, "more than %d functions", FN_MAX_FUNCTIONS);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(fns); i++) {
		c->nfns = (unsigned)i + 1;
		if (parse_fn(json_array_get(fns, i), (unsigned)i, dir, c, err, errlen) < 0)
			goto out;
	}
	r = 0;
out:
	json_decref(root);
	if (r < 0)
		serve_config_free(c);
	return r;
}

int serve_config_load(const char *path, struct serve_config *c, char *err, size_t errlen)
{
	uint8_t *data;
	size_t len;
	if (read_file(path, &data, &len) < 0)
		return fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
	char *copy = strdup(path);
	int r = copy ? serve_config_parse((char *)data, len, dirname(copy), c, err, errlen)
		     : fail(err, errlen, "out of memory");
	free(copy);
	free(data);
	return r;
}

void fn_config_free(struct fn_config *f)
{
	free(f->image);
	free(f->kernel);
	free(f->initrd);
	free(f->cmdline);
	free(f->handler);
	free(f->runtime);
	free(f->code);
	free(f->meta);
	free(f->env);
	for (unsigned d = 0; d < f->ndisks; d++)
		free(f->disks[d]);
	for (unsigned l = 0; l < f->nlayers; l++)
		free(f->layers[l]);
	memset(f, 0, sizeof(*f));
}

void serve_config_free(struct serve_config *c)
{
	for (unsigned i = 0; i < c->nfns; i++)
		fn_config_free(&c->fns[i]);
	memset(c, 0, sizeof(*c));
}

const struct fn_config *serve_config_find(const struct serve_config *c, const char *name)
{
	for (unsigned i = 0; i < c->nfns; i++)
		if (!strcmp(c->fns[i].name, name))
			return &c->fns[i];
	return NULL;
}
