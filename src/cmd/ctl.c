/* `hyperfork status|pause|resume|stop|fork NAME`: one request on the VM's control socket. */
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/client.h"
#include "cmd/cmd.h"
#include "util/rundir.h"
#include "hyperfork/abi.h"
#include "util/log.h"

static void usage(FILE *f, const char *cmd)
{
	if (!strcmp(cmd, "fork"))
		fprintf(f, "usage: hyperfork fork NAME [--count K] [--console file|pty|none] "
			   "[--run-dir DIR] [--json]\n");
	else if (!strcmp(cmd, "template"))
		fprintf(f, "usage: hyperfork template NAME [--pool N] [--run-dir DIR]\n");
	else if (!strcmp(cmd, "wait"))
		fprintf(f, "usage: hyperfork wait NAME [--run-dir DIR]\n");
	else if (!strcmp(cmd, "reset"))
		fprintf(f, "usage: hyperfork reset NAME [--id N] [--run-dir DIR] [--json]\n");
	else
		fprintf(f, "usage: hyperfork %s NAME [--run-dir DIR]%s\n", cmd,
			strcmp(cmd, "status") ? "" : " [--json]");
}

static void print_status(const struct hf_vm_status *s)
{
	printf("name:     %s\n", s->name);
	printf("pid:      %d\n", s->pid);
	printf("state:    %s\n", s->state);
	printf("kind:     %s\n", s->kind);
	printf("parent:   %s\n", s->parent[0] ? s->parent : "-");
	printf("clone id: %u\n", s->clone_id);
	printf("clones:   %u\n", s->clones);
	printf("cpus:     %u\n", s->cpus);
	printf("memory:   %llu MiB\n", (unsigned long long)(s->mem_bytes >> 20));
	printf("rss:      %llu KiB\n", (unsigned long long)s->rss_kb);
	printf("pss:      %llu KiB\n", (unsigned long long)s->pss_kb);
	printf("private:  %llu KiB\n", (unsigned long long)s->private_kb);
	printf("uptime:   %llu.%03llu s\n", (unsigned long long)(s->uptime_ms / 1000),
	       (unsigned long long)(s->uptime_ms % 1000));
	printf("console:  %s%s%s\n", s->console, s->console_path[0] ? " " : "", s->console_path);
	printf("net:      %s\n", s->net[0] ? s->net : "-");
	if (!strcmp(s->state, "template"))
		printf("pool:     %u warm of %u, %llu clone(s) made on demand\n", s->pool_ready,
		       s->pool_target, (unsigned long long)s->on_demand);
}

/* `hyperfork wait NAME`: block until the VM ends (its control socket closes). */
static int wait_vm(const char *dir, const char *name)
{
	char buf[256];
	int fd = ctl_connect(dir, name, false);
	if (fd < 0)
		return HF_STATUS_ERROR;
	while (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR)
		;
	close(fd);
	return 0;
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option options[] = {
		{"count", required_argument, NULL, 'c'}, {"console", required_argument, NULL, 'o'},
		{"run-dir", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
		{"pool", required_argument, NULL, 'p'},    {"help", no_argument, NULL, 'h'},
		{"id", required_argument, NULL, 'i'},      {NULL, 0, NULL, 0},
	};
	const char *cmd = argv[0], *dir = NULL;
	struct hf_request req = {.count = 1, .pool = PROTO_POOL_DEFAULT};
	bool json = false;
	uint64_t v;
	int opt;

	if (proto_cmd_parse(cmd, &req.cmd) < 0)
		req.cmd = CMD_STATUS; /* wait: sends nothing */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (req.cmd != CMD_FORK || parse_uint(optarg, PROTO_FORK_MAX, &v) < 0 ||
			    v == 0) {
				pr_err("invalid --count '%s': 1..%u (fork only)", optarg,
				       PROTO_FORK_MAX);
				return HF_STATUS_ERROR;
			}
			req.count = (unsigned)v;
			break;
		case 'o':
			if (req.cmd != CMD_FORK ||
			    (strcmp(optarg, "file") && strcmp(optarg, "pty") && strcmp(optarg, "none"))) {
				pr_err("invalid --console '%s': file, pty or none (fork only)", optarg);
				return HF_STATUS_ERROR;
			}
			snprintf(req.console, sizeof(req.console), "%s", optarg);
			break;
		case 'p':
			if (req.cmd != CMD_TEMPLATE || parse_uint(optarg, PROTO_POOL_MAX, &v) < 0) {
				pr_err("invalid --pool '%s': 0..%u (template only)", optarg,
				       PROTO_POOL_MAX);
				return HF_STATUS_ERROR;
			}
			req.pool = (unsigned)v;
			break;
		case 'i':
			if (req.cmd != CMD_RESET || parse_uint(optarg, UINT32_MAX, &v) < 0 || v == 0) {
				pr_err("invalid --id '%s': 1..%u (reset only)", optarg, UINT32_MAX);
				return HF_STATUS_ERROR;
			}
			req.id = (unsigned)v;
			break;
		case 'd': dir = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout, cmd); return 0;
		default: usage(stderr, cmd); return HF_STATUS_ERROR;
		}
	}
	if (optind != argc - 1) {
		usage(stderr, cmd);
		return HF_STATUS_ERROR;
	}
	const char *name = argv[optind];
	if (!strcmp(cmd, "wait"))
		return wait_vm(run_dir(dir), name);
	struct hf_response resp;
	if (ctl_call(run_dir(dir), name, &req, &resp) < 0)
		return HF_STATUS_ERROR;
	if (!resp.ok) {
		pr_err("%s %s: %s", cmd, name, resp.error);
		proto_response_free(&resp);
		return HF_STATUS_ERROR;
	}
	if (json) {
		char *line = proto_format_response(req.cmd, &resp);
		fputs(line ? line : "", stdout);
		free(line);
	} else if (req.cmd == CMD_STATUS) {
		print_status(&resp.vm);
	} else if (req.cmd == CMD_RESET) {
		printf("%s reset: %llu page(s) of guest RAM put back\n", name,
		       (unsigned long long)resp.pages);
	} else if (req.cmd == CMD_FORK) {
		for (unsigned i = 0; i < resp.nclones; i++)
			printf("%s pid %d console %s%s\n", resp.clones[i].name, resp.clones[i].pid,
			       resp.clones[i].console, resp.clones[i].on_demand ? " (on demand)" : "");
	}
	int status = 0;
	if (req.cmd == CMD_FORK && resp.nclones < req.count) {
		pr_err("fork %s: %s", name, resp.error[0] ? resp.error : "fewer clones than asked");
		status = HF_STATUS_ERROR;
	}
	proto_response_free(&resp);
	return status;
}
