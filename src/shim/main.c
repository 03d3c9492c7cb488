/* containerd-shim-hyperfork-v1: the binary containerd runs for runtime
 * io.containerd.hyperfork.v1 (see shim.h). Flags as containerd's shims take them (Go's flag
 * package: -name value, -name=value, --name), then the action: start or delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/shim.h"
#include "util/log.h"
#include "util/util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: containerd-shim-hyperfork-v1 -namespace NS -address ADDR "
		   "-publish-binary BIN -id ID [-bundle DIR] [-debug] start|delete\n"
		   "containerd runs it for runtime io.containerd.hyperfork.v1; the bundle is the "
		   "working directory.\n");
}

int main(int argc, char **argv)
{
	struct shim_opts o = {.publish_binary = "containerd"};
	const char *action = NULL;
	o.socket_dir = getenv("HYPERFORK_SHIM_SOCKET_DIR");
	if (!o.socket_dir || !o.socket_dir[0])
		o.socket_dir = SHIM_SOCKET_DIR;
	log_set_name("shim");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-') {
			action = a;
			break;
		}
		a += a[1] == '-' ? 2 : 1;
		char name[32];
		const char *eq = strchr(a, '='), *val = NULL;
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		snprintf(name, sizeof(name), "%.*s", (int)n, a);
		if (!strcmp(name, "debug") || !strcmp(name, "v")) {
			if (!strcmp(name, "v")) {
				printf("containerd-shim-hyperfork-v1 (HyperFork)\n");
				return 0;
			}
			o.debug = !eq || strcmp(eq + 1, "false");
			continue;
		}
		if (!strcmp(name, "h") || !strcmp(name, "help")) {
			usage(stdout);
			return 0;
		}
		val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val) {
			fprintf(stderr, "flag needs an argument: -%s\n", name);
			return 2;
		}
		if (!strcmp(name, "namespace")) o.ns = val;
		else if (!strcmp(name, "address")) o.address = val;
		else if (!strcmp(name, "publish-binary")) o.publish_binary = val;
		else if (!strcmp(name, "id")) o.id = val;
		else if (!strcmp(name, "bundle")) o.bundle = val;
		else if (!strcmp(name, "socket")) continue; /* (Go shims' own re-exec) */
		else {
			fprintf(stderr, "flag provided but not defined: -%s\n", name);
			usage(stderr);
			return 2;
		}
	}
	if (o.debug)
		log_set_level(HF_LOG_DEBUG);
	char err[1024];
	if (action && !strcmp(action, "start")) {
		char out[256];
		struct shim_serving serve;
		int rc = shim_start(&o, out, sizeof(out), &serve, err, sizeof(err));
		if (rc == 1) { /* the serving shim, detached */
			if (shim_serve(&o, serve.listen_fd, serve.socket_path, err, sizeof(err)) < 0) {
				pr_err("%s", err);
				return 1;
			}
			return 0;
		}
		if (rc < 0) {
			fprintf(stderr, "containerd-shim-hyperfork-v1: start: %s\n", err);
			return 1;
		}
		printf("%s", out);
		return 0;
	}
	if (action && !strcmp(action, "delete")) {
		uint8_t *buf;
		size_t len;
		if (shim_delete(&o, &buf, &len, err, sizeof(err)) < 0) {
			fprintf(stderr, "containerd-shim-hyperfork-v1: delete: %s\n", err);
			return 1;
		}
		int rc = write_all(1, buf, len) < 0;
		free(buf);
		return rc;
	}
	usage(stderr);
	return 2;
}
