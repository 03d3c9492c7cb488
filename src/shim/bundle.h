/* What the shim reads from containerd, checked in one place: a bundle's config.json (the
 * OCI annotations that say what VM a task is), the shim's socket address for a pod, and
 * every request message's strings and counts (shim_check_message). Pure: no sockets, no
 * processes; library code, it never exits. */
#ifndef HF_SHIM_BUNDLE_H
#define HF_SHIM_BUNDLE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define SHIM_ID_MAX 76	       /* containerd's longest container id */
#define SHIM_STRING_MAX 4095   /* longest string any request may carry (paths: PATH_MAX) */
#define SHIM_REPEATED_MAX 64   /* most entries of a repeated field (rootfs mounts, options) */
#define SHIM_DEPTH_MAX 4       /* deepest nesting of messages in a request */
#define SHIM_ANNOTATION_MAX 1024 /* longest annotation value the shim takes */

/* The annotations that make a task a VM, and those that group a pod's containers. */
#define ANN_TEMPLATE "io.hyperfork.template" /* a clone of this template */
#define ANN_KERNEL "io.hyperfork.kernel"     /* or boot a Linux guest: kernel, */
#define ANN_INITRD "io.hyperfork.initrd"     /*   its initramfs, */
#define ANN_IMAGE "io.hyperfork.image"	     /* or a bare guest's ELF */
#define ANN_CMDLINE "io.hyperfork.cmdline"   /* the booted guest's command line */
#define ANN_MEMORY "io.hyperfork.memory"     /* its memory (hyperfork run --mem) */
#define ANN_RUN_DIR "io.hyperfork.run-dir"   /* the template's or VM's run directory */
#define ANN_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define ANN_CONTAINER_TYPE "io.kubernetes.cri.container-type"

/* What a task's bundle asks for (each "" when not given). */
struct shim_spec {
	char template_[SHIM_ANNOTATION_MAX + 1];
	char kernel[SHIM_ANNOTATION_MAX + 1], initrd[SHIM_ANNOTATION_MAX + 1];
	char image[SHIM_ANNOTATION_MAX + 1], cmdline[SHIM_ANNOTATION_MAX + 1];
	char memory[32];
	char run_dir[SHIM_ANNOTATION_MAX + 1];
	char sandbox_id[SHIM_ID_MAX + 1];
	char container_type[16]; /* CRI's: "sandbox" (the pod's own), "container" */
};

/* Parse config.json's text (len bytes) into *spec. Returns 0, or -1 with err set: not
 * JSON, annotations not an object of strings, a value too long, a template beside a
 * kernel or image, a kernel beside an image, a template name that is no VM name. */
int shim_spec_parse(const char *json, size_t len, struct shim_spec *spec, char *err,
		    size_t errlen);
/* The same from BUNDLE/config.json. */
int shim_spec_load(const char *bundle, struct shim_spec *spec, char *err, size_t errlen);
/* True if the spec names a VM to run: a template, a kernel or an image. */
bool shim_spec_has_vm(const struct shim_spec *spec);
/* True if the task is a pod's sandbox, CRI's pause container: it runs no VM (the pod's
 * containers are VMs of their own), only stands for the pod until killed. */
bool shim_spec_is_sandbox(const struct shim_spec *spec);

/* The containers of one pod share a shim: the group a task belongs to is its pod sandbox
 * (sandbox_id, from the CRI annotation) or, outside a pod, the task itself (id). */
const char *shim_group(const struct shim_spec *spec, const char *id);

/* The shim's socket for namespace ns and group: dir/HEX, HEX the first 32 hex digits of
 * SHA-256 of "ns/group" (as containerd's own shims name theirs), into path (len bytes).
 * Returns 0, or -1 with err set (the path would not fit a socket address). */
int shim_socket_path(const char *dir, const char *ns, const char *group, char *path, size_t len,
		     char *err, size_t errlen);

/* True if id is a task id containerd would give: 1..SHIM_ID_MAX of [A-Za-z0-9_.-], not
 * starting with '.' or '-'. */
bool shim_valid_id(const char *id);

/* Every string and count of a request as containerd sent it, checked once before any
 * handler sees it: strings at most SHIM_STRING_MAX bytes, fields named id (and exec_id,
 * when not empty) valid ids, repeated fields at most SHIM_REPEATED_MAX entries, messages
 * nested at most SHIM_DEPTH_MAX deep (an Any's value is not looked into). Returns 0, or -1
 * with err naming the field. */
int shim_check_message(const ProtobufCMessage *m, char *err, size_t errlen);

#endif
