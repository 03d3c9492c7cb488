/* serve's state directory (--state-dir DIR): the functions the management API made, kept
 * across restarts. Each function is a version directory holding its function.json (its
 * configuration in the --config file's form) and code.zip, and a link naming it:
 *
 *   DIR/functions/NAME -> ../versions/NAME.XXXXXXXXXXXXXXXX
 *
 * A version is written whole under another name, synced, renamed into place, and only then
 * linked (the link made or replaced in one rename), so a serve killed at any point leaves
 * each function as it was or as it was asked to become: never half written. What such a
 * kill left unlinked is removed when the directory is next opened. */
#ifndef HF_SERVE_STORE_H
#define HF_SERVE_STORE_H

#include <stdbool.h>
#include <stddef.h>

struct store {
	char dir[4096];
};

/* Make DIR (and its functions/ and versions/) if needed; remove what a crash left. Returns
 * 0, or -1 with err. */
int store_open(struct store *st, const char *dir, char *err, size_t errlen);

/* Write a new version of function name: json (its function.json) and its code, the zip
 * (len bytes) or, with zip NULL, the current version's code.zip (a configuration change).
 * With create, only if name has no version yet (else -1, errno EEXIST); otherwise it
 * replaces the current one (which must exist: else ENOENT). The new version's directory
 * into vdir. Returns 0, or -1 with err and errno. */
int store_put(struct store *st, const char *name, const char *json, const void *zip,
	      size_t len, bool create, char *vdir, size_t vdirlen, char *err, size_t errlen);

/* Forget function name and remove its version. Returns 0, or -1 (errno ENOENT: none). */
int store_delete(struct store *st, const char *name);

/* The current version's directory of function name into vdir; -1 (ENOENT) if none. */
int store_version(struct store *st, const char *name, char *vdir, size_t vdirlen);

/* Call fn for every function stored, with its name and version directory. */
void store_each(struct store *st, void (*fn)(const char *name, const char *vdir, void *arg),
		void *arg);

#endif
