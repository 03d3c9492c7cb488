/* A function of a managed runtime (its configuration's "runtime" and "code"): the runtime's
 * root file system, one image shared read-only by every function of it, and the function's
 * zip made a disk (padded to whole sectors) that its guest unpacks at /var/task, followed
 * by its layers' zips (each from a sector of its own, unpacked at /opt in order) and the
 * function's environment (so it is not held to the kernel command line's room). */
#ifndef HF_SERVE_RUNTIME_H
#define HF_SERVE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "serve/config.h"

struct fn_code {
	char image[4096]; /* the runtime's image: RUNTIMES_DIR/RUNTIME.img */
	char disk[4096];  /* the zip as a disk, in serve's run directory */
	uint64_t len;     /* the zip's own length (hf.code=) */
	unsigned nlayers;  /* its layers' zips: at layer_at[i] (sector-aligned), layer_len[i]
			      long (hf.layers=@AT+LEN,...) */
	uint64_t layer_at[FN_MAX_LAYERS], layer_len[FN_MAX_LAYERS];
	uint64_t env_at, env_len; /* the environment's KEY=VALUE lines, after the zip on its disk
				     at this offset (sector-aligned), this long (hf.env=@AT+LEN) */
};

/* The directory of the hyperfork binary (build/), beside which serve finds what it is not
 * told: runtimes/ (where `make runtimes` puts the runtimes' images) and linux/ (the guest
 * kernel and initramfs the management API's functions boot). */
void fn_binary_dir(char *dir, size_t len);

/* Check c's runtime has an image in runtimes_dir and its code and layers are zips within
 * Lambda's limit, and write the code's disk at disk_path (a new file). Returns 0, or -1
 * with err. */
int fn_code_prepare(const struct fn_config *c, const char *runtimes_dir, const char *disk_path,
		    struct fn_code *out, char *err, size_t errlen);

#endif
