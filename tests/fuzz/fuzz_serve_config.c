/* libFuzzer target: `hyperfork serve`'s configuration parser (src/serve/config.c). What it
 * accepts is within the documented limits; what it refuses is freed and explained. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "serve/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct serve_config c; /* large */
	char err[512] = "";
	if (serve_config_parse((const char *)data, size, "/srv/fn", &c, err, sizeof(err)) < 0) {
		assert(err[0] && c.nfns == 0);
		return 0;
	}
	assert(c.nfns >= 1 && c.nfns <= FN_MAX_FUNCTIONS);
	for (unsigned i = 0; i < c.nfns; i++) {
		const struct fn_config *f = &c.fns[i];
		assert(strlen(f->name) >= 1 && strlen(f->name) <= FN_NAME_MAX);
		assert(!!f->image != !!f->kernel); /* a bare image or a kernel, never both */
		assert(f->pool <= 64 && f->vcpus >= 1 && f->vcpus <= 8);
		assert(strlen(f->env) <= FN_ENV_MAX);
		assert(serve_config_find(&c, f->name) == f);
	}
	serve_config_free(&c);
	return 0;
}
