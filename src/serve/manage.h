/* The Lambda management API on serve, as boto3 and awscli call it (API version
 * 2015-03-31): CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
 * UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction; and its layers (API
 * version 2018-10-31): PublishLayerVersion, GetLayerVersion, ListLayerVersions, ListLayers,
 * DeleteLayerVersion. A function it makes is a managed runtime's, its code a zip (checked:
 * zipcheck.h) with up to 5 layers' zips (its own copies of layer versions), kept in serve's
 * state directory (store.h) and added to serve's table (table.h), whose main thread starts
 * it: State Pending, then Active or Failed with the reason. Free of HTTP: a request's
 * method, path and body in, a status, error type and JSON body out. */
#ifndef HF_SERVE_MANAGE_H
#define HF_SERVE_MANAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "serve/store.h"
#include "serve/table.h"

#define MANAGE_PREFIX "/2015-03-31/functions"
#define MANAGE_LAYERS_PREFIX "/2018-10-31/layers"
/* Lambda's limit on a CreateFunction, UpdateFunctionCode or PublishLayerVersion request (a
 * 50 MB zip in base64, and the rest). */
#define MANAGE_BODY_MAX 70167211u

struct manage {
	struct fn_table *table;
	struct store store;
	const char *kernel, *initrd; /* what its functions boot */
	unsigned long long code_max; /* bytes all functions' zips may take */
	pthread_mutex_t lock;        /* one change (create, update, delete) at a time */
};

struct manage_reply {
	unsigned status;
	const char *error_type; /* x-amzn-ErrorType, or NULL */
	char *body;             /* malloc'd JSON ({"Type","message"} for an error), or NULL */
};

/* What the functions' code (their zips) may take in all unless serve is told otherwise
 * (--code-storage): Lambda's quota per account, 75 GB. */
#define MANAGE_CODE_STORAGE 75000000000ULL

/* Open the state directory and add every function it holds to the table. Returns 0, or -1
 * with err (a function that no longer loads is skipped, with a warning). */
int manage_open(struct manage *m, unsigned long long code_max, struct fn_table *t,
		const char *state_dir, const char *kernel, const char *initrd, char *err,
		size_t errlen);

/* Whether (method, path) is a management operation (else it is an invocation, or
 * unknown). */
bool manage_is(const char *method, const char *path);

/* A request's query parameter KEY, or NULL; ctx is the caller's. */
typedef const char *(*manage_query_fn)(void *ctx, const char *key);

/* Answer one request: path without its query, whose parameters query(qctx, KEY) gives
 * (query NULL: none). */
void manage_request(struct manage *m, const char *method, const char *path,
		    manage_query_fn query, void *qctx, const char *body, size_t len,
		    struct manage_reply *r);

#endif
