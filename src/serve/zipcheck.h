/* A function's code (or a layer's) as Lambda takes it, a zip, checked by its directory before serve keeps
 * it: readable as a zip, every entry and every link's target inside /var/task, its
 * unpacked size within Lambda's. (The guest unpacks it; what a zip declares falsely can
 * only fill the guest's own memory.) */
#ifndef HF_SERVE_ZIPCHECK_H
#define HF_SERVE_ZIPCHECK_H

#include <stddef.h>
#include <stdint.h>

#define ZIP_UNZIPPED_MAX 262144000u /* Lambda's 250 MB, unzipped */
#define ZIP_ENTRIES_MAX 65536u

/* 0 with the declared unpacked size in *unzipped, or -1 with why in err (Lambda's words
 * where it has them). */
int zip_check(const void *data, size_t len, uint64_t *unzipped, char *err, size_t errlen);
/* The same for a zip unpacked at root (a layer's: "/opt"), named so in err. */
int zip_check_in(const void *data, size_t len, const char *root, uint64_t *unzipped, char *err,
		 size_t errlen);

#endif
