/* serve's state directory (--state-dir DIR): the functions the management API made, kept
 * across restarts. Each function is a version directory holding its function.json (its
 * configuration in the --config file's form), code.zip and its own copy of each of its
 * layers' zips (layer1.zip, ...: hard links to the layer versions' content.zip, so a layer
 * version deleted later leaves the function whole), and a link naming it:
 *
 *   DIR/functions/NAME -> ../versions/NAME.XXXXXXXXXXXXXXXX
 *
 * Layer versions (Lambda's PublishLayerVersion) are immutable directories, numbered from 1,
 * holding layer.json (what the API shows of it) and content.zip:
 *
 *   DIR/layers/NAME/N          written whole under another name, synced, renamed into place
 *   DIR/layers/NAME/latest     the highest number ever given (numbers are never reused,
 *                              even once every version was deleted)
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
/* The same, the version also holding the nlayers files layers[] (a layer version's
 * content.zip, or an older version's layerN.zip), linked as layer1.zip, layer2.zip, ... */
int store_put_layered(struct store *st, const char *name, const char *json, const void *zip,
		      size_t len, const char *const *layers, unsigned nlayers, bool create,
		      char *vdir, size_t vdirlen, char *err, size_t errlen);

/* Forget function name and remove its version. Returns 0, or -1 (errno ENOENT: none). */
int store_delete(struct store *st, const char *name);

/* The current version's directory of function name into vdir; -1 (ENOENT) if none. */
int store_version(struct store *st, const char *name, char *vdir, size_t vdirlen);

/* The bytes of code every function stored keeps (code.zip), but function except's (NULL:
 * none), and every layer version (content.zip; a function's copies of layers are links to
 * them, counted once). */
unsigned long long store_code_bytes(struct store *st, const char *except);

/* Call fn for every function stored, with its name and version directory. */
void store_each(struct store *st, void (*fn)(const char *name, const char *vdir, void *arg),
		void *arg);

/* ---- layers ---- */
#define STORE_LAYER_NAME_MAX 140 /* Lambda's: [A-Za-z0-9_-] */

/* A layer version's number as written (a directory's name, a path's or an ARN's end): 1 to
 * 999999999, digits with no leading 0; 0 if s is not one. */
unsigned store_layer_number(const char *s);

/* Keep a new version of layer name: json (its layer.json) and its zip (len bytes). Its
 * number (the highest ever given to name, plus one) into *version, its directory into dir.
 * Returns 0, or -1 with err and errno. */
int store_layer_put(struct store *st, const char *name, const char *json, const void *zip,
		    size_t len, unsigned *version, char *dir, size_t dirlen, char *err,
		    size_t errlen);

/* The directory of version of layer name into dir; -1 (ENOENT) if there is none. */
int store_layer_version(struct store *st, const char *name, unsigned version, char *dir,
			size_t dirlen);

/* Remove version of layer name (the functions using it keep their copies). Returns 0, or
 * -1 (errno ENOENT: none). */
int store_layer_delete(struct store *st, const char *name, unsigned version);

/* The versions layer name has, lowest first, into *versions (malloc'd, NULL if none).
 * Returns how many (0 for a layer there is not), or -1. */
int store_layer_versions(struct store *st, const char *name, unsigned **versions);

/* Call fn for every layer that has a version, by name in strcmp order. */
void store_layer_each(struct store *st, void (*fn)(const char *name, void *arg), void *arg);

#endif
