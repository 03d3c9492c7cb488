/* `hyperfork ls`: every VM in the run directory, parents and clones, with pid, state and
 * memory. Sockets left by VMs that died are removed. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/client.h"
#include "cmd/cmd.h"
#include "util/rundir.h"
#include "hyperfork/abi.h"
#include "util/log.h"

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_ls(int argc, char **argv)
{
	static const struct option options[] = {
		{"run-dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	bool json = false;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'j': json = true; break;
		case 'h': printf("usage: hyperfork ls [--run-dir DIR] [--json]\n"); return 0;
		default:
			fprintf(stderr, "usage: hyperfork ls [--run-dir DIR] [--json]\n");
			return HF_STATUS_ERROR;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: hyperfork ls [--run-dir DIR] [--json]\n");
		return HF_STATUS_ERROR;
	}
	dir = run_dir(dir);
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0; /* nothing has ever run */
		pr_err("cannot list %s: %s", dir, strerror(errno));
		return HF_STATUS_ERROR;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		size_t ext = strlen(RUN_FILE_SOCKET);
		if (len <= ext || strcmp(e->d_name + len - ext, RUN_FILE_SOCKET))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		names[n] = strndup(e->d_name, len - ext);
		if (names[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	if (!json)
		printf("%-24s %8s %-8s %-24s %4s %8s %10s %10s %10s\n", "NAME", "PID", "STATE",
		       "PARENT", "CPUS", "MEM_MIB", "RSS_KIB", "PSS_KIB", "UPTIME_S");
	for (size_t i = 0; i < n; i++) {
		int fd = ctl_connect(dir, names[i], true);
		if (fd < 0) {
			if (errno == ECONNREFUSED) {
				char path[4096];
				run_file(path, sizeof(path), dir, names[i], RUN_FILE_SOCKET);
				unlink(path); /* its VM is gone */
				pr_info("removed stale control socket %s", path);
			}
			free(names[i]);
			continue;
		}
		struct hf_request req = {.cmd = CMD_STATUS};
		struct hf_response resp;
		if (ctl_exchange(fd, names[i], &req, &resp) == 0 && resp.ok) {
			const struct hf_vm_status *s = &resp.vm;
			if (json) {
				char *line = proto_format_response(CMD_STATUS, &resp);
				fputs(line ? line : "", stdout);
				free(line);
			} else {
				printf("%-24s %8d %-8s %-24s %4u %8llu %10llu %10llu %10.1f\n",
				       s->name, s->pid, s->state, s->parent[0] ? s->parent : "-",
				       s->cpus, (unsigned long long)(s->mem_bytes >> 20),
				       (unsigned long long)s->rss_kb, (unsigned long long)s->pss_kb,
				       (double)s->uptime_ms / 1000.0);
			}
		}
		free(names[i]);
	}
	free(names);
	return 0;
}
