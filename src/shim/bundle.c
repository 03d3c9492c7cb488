/* What the shim reads from containerd, checked (see bundle.h). */
#include "shim/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "util/rundir.h"
#include "util/sock.h"
#include "util/util.h"

/* One annotation: its value into out (cap bytes with the NUL), "" if absent. */
static int annotation(json_t *anns, const char *key, char *out, size_t cap, char *err,
		      size_t errlen)
{
	json_t *v = anns ? json_object_get(anns, key) : NULL;
	out[0] = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return errf(err, errlen, "annotation %s is not a string", key);
	size_t n = json_string_length(v);
	if (n >= cap || strlen(json_string_value(v)) != n)
		return errf(err, errlen, "annotation %s: %zu bytes, over the %zu taken (or a NUL in it)",
			    key, n, cap - 1);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

int shim_spec_parse(const char *text, size_t len, struct shim_spec *spec, char *err,
		    size_t errlen)
{
	memset(spec, 0, sizeof(*spec));
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return errf(err, errlen, "config.json: %s", root ? "not an object" : jerr.text);
	}
	json_t *anns = json_object_get(root, "annotations");
	int rc = 0;
	if (anns && !json_is_object(anns))
		rc = errf(err, errlen, "config.json: annotations is not an object");
	struct {
		const char *key;
		char *out;
		size_t cap;
	} fields[] = {
		{ANN_TEMPLATE, spec->template_, sizeof(spec->template_)},
		{ANN_KERNEL, spec->kernel, sizeof(spec->kernel)},
		{ANN_INITRD, spec->initrd, sizeof(spec->initrd)},
		{ANN_IMAGE, spec->image, sizeof(spec->image)},
		{ANN_CMDLINE, spec->cmdline, sizeof(spec->cmdline)},
		{ANN_MEMORY, spec->memory, sizeof(spec->memory)},
		{ANN_RUN_DIR, spec->run_dir, sizeof(spec->run_dir)},
		{ANN_SANDBOX_ID, spec->sandbox_id, sizeof(spec->sandbox_id)},
		{ANN_CONTAINER_TYPE, spec->container_type, sizeof(spec->container_type)},
	};
	for (size_t i = 0; rc == 0 && i < sizeof(fields) / sizeof(fields[0]); i++)
		rc = annotation(anns, fields[i].key, fields[i].out, fields[i].cap, err, errlen);
	json_decref(root);
	if (rc < 0)
		return -1;
	if (spec->template_[0] && (spec->kernel[0] || spec->image[0]))
		return errf(err, errlen, "%s and %s/%s both given: a task is a clone of a template "
			    "or a booted VM", ANN_TEMPLATE, ANN_KERNEL, ANN_IMAGE);
	if (spec->kernel[0] && spec->image[0])
		return errf(err, errlen, "%s and %s both given: a Linux guest or a bare one",
			    ANN_KERNEL, ANN_IMAGE);
	if (spec->template_[0] && !valid_vm_name(spec->template_))
		return errf(err, errlen, "%s '%s' is no VM name", ANN_TEMPLATE, spec->template_);
	if (spec->sandbox_id[0] && !shim_valid_id(spec->sandbox_id))
		return errf(err, errlen, "%s '%s' is no container id", ANN_SANDBOX_ID,
			    spec->sandbox_id);
	return 0;
}

int shim_spec_load(const char *bundle, struct shim_spec *spec, char *err, size_t errlen)
{
	char path[PATH_MAX];
	uint8_t *data;
	size_t len;
	if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
		return errf(err, errlen, "bundle path too long");
	if (read_file(path, &data, &len) < 0)
		return errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
	int rc = shim_spec_parse((const char *)data, len, spec, err, errlen);
	free(data);
	return rc;
}

bool shim_spec_has_vm(const struct shim_spec *spec)
{
	return spec->template_[0] || spec->kernel[0] || spec->image[0];
}

bool shim_spec_is_sandbox(const struct shim_spec *spec)
{
	return !strcmp(spec->container_type, "sandbox");
}

const char *shim_group(const struct shim_spec *spec, const char *id)
{
	return spec->sandbox_id[0] ? spec->sandbox_id : id;
}

int shim_socket_path(const char *dir, const char *ns, const char *group, char *path, size_t len,
		     char *err, size_t errlen)
{
	char key[2 * (SHIM_ID_MAX + 1) + 256];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int n = snprintf(key, sizeof(key), "%s/%s", ns, group);
	if (n < 0 || (size_t)n >= sizeof(key) ||
	    !EVP_Digest(key, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen < 16)
		return errf(err, errlen, "cannot name the shim's socket for %s/%s", ns, group);
	char hex[33];
	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	n = snprintf(path, len, "%s/%s", dir, hex);
	if (n < 0 || (size_t)n >= len || (size_t)n >= SUN_PATH_SIZE)
		return errf(err, errlen, "socket directory %s is too long for a socket address", dir);
	return 0;
}

bool shim_valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > SHIM_ID_MAX || id[0] == '.' || id[0] == '-')
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int check(const ProtobufCMessage *m, unsigned depth, char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (depth > SHIM_DEPTH_MAX)
		return errf(err, errlen, "%s nested over %u deep", d->name, SHIM_DEPTH_MAX);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m + f->offset;
		size_t count = 1;
		const void *items = base;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			count = *(const size_t *)((const char *)m + f->quantifier_offset);
			items = *(void *const *)base;
			if (count > SHIM_REPEATED_MAX)
				return errf(err, errlen, "%s.%s: %zu entries, over %u", d->name,
					    f->name, count, SHIM_REPEATED_MAX);
		}
		for (size_t k = 0; k < count; k++) {
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				const char *s = f->label == PROTOBUF_C_LABEL_REPEATED
							? ((char *const *)items)[k]
							: *(char *const *)base;
				if (!s)
					continue;
				size_t n = strnlen(s, SHIM_STRING_MAX + 1);
				if (n > SHIM_STRING_MAX)
					return errf(err, errlen, "%s.%s: over %u bytes", d->name,
						    f->name, SHIM_STRING_MAX);
				bool is_id = !strcmp(f->name, "id") || !strcmp(f->name, "container_id") ||
					     (!strcmp(f->name, "exec_id") && n);
				if (is_id && !shim_valid_id(s))
					return errf(err, errlen, "%s.%s '%.80s' is no container id",
						    d->name, f->name, s);
			} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				const ProtobufCMessage *sub =
				    f->label == PROTOBUF_C_LABEL_REPEATED
					? ((ProtobufCMessage *const *)items)[k]
					: *(ProtobufCMessage *const *)base;
				if (sub && check(sub, depth + 1, err, errlen) < 0)
					return -1;
			}
		}
	}
	return 0;
}

int shim_check_message(const ProtobufCMessage *m, char *err, size_t errlen)
{
	return check(m, 0, err, errlen);
}
