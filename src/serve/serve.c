/* `hyperfork serve`: its life (see serve.h). */
#include "serve/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "util/rundir.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "serve/config.h"
#include "serve/function.h"
#include "serve/http.h"
#include "serve/manage.h"
#include "serve/table.h"
#include "serve/sigv4.h"
#include "serve/runtime.h"
#include "serve/spawn.h"

struct serve {
	struct serve_config config; /* the --config file's functions, moved into the table */
	struct fn_table table;
	struct manage manage;
	char run_dir[4096];
	char runtimes[4096], kernel[4200], initrd[4200], state_dir[4200];
	struct serve_http http; /* the HTTP side: the functions, the listen address, the reserve */
};

int serve_parse_listen(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (errno || *end || !colon[1] || port == 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	return 0;
}

/* Each function's VMs in a directory of the function's own, serve.XXXXXX/NAME, so that no
 * name of one function's VMs meets another's. Jailed, function i's VMs run as uid + i and
 * gid + i and only that uid may enter its directory, so no function's VMs reach another's
 * sockets (table.c). The --config file's functions first. Returns 0 or -1 (logged). */
static int add_config_functions(struct serve *s)
{
	char err[700];
	for (unsigned i = 0; i < s->config.nfns; i++) {
		char name[FN_NAME_MAX + 1];
		memcpy(name, s->config.fns[i].name, sizeof(name));
		if (table_add(&s->table, &s->config.fns[i], true, err, sizeof(err)) < 0) {
			pr_err("serve: function %s: %s", name, err);
			return -1;
		}
	}
	return 0;
}

/* Where serve finds what it needs unless told: beside its binary (build/). */
static void defaults(struct serve *s, const struct serve_opts *o)
{
	char here[4000];
	fn_binary_dir(here, sizeof(here));
	if (o->runtimes_dir)
		snprintf(s->runtimes, sizeof(s->runtimes), "%s", o->runtimes_dir);
	else
		snprintf(s->runtimes, sizeof(s->runtimes), "%s/runtimes", here);
	char linux_dir[4096];
	snprintf(linux_dir, sizeof(linux_dir), "%s%s", o->linux_dir ? o->linux_dir : here,
		 o->linux_dir ? "" : "/linux");
	snprintf(s->kernel, sizeof(s->kernel), "%s/bzImage", linux_dir);
	snprintf(s->initrd, sizeof(s->initrd), "%s/initramfs.cpio", linux_dir);
	if (o->state_dir)
		snprintf(s->state_dir, sizeof(s->state_dir), "%s", o->state_dir);
	else /* for this run only */
		snprintf(s->state_dir, sizeof(s->state_dir), "%s/state", s->run_dir);
}

int serve_run(const struct serve_opts *o)
{
	static struct serve s; /* large: the functions' state */
	static struct sigv4_keys keys;
	char err[700];
	s.http.reserve_bytes = o->reserve_bytes;
	if (serve_parse_listen(o->listen, &s.http.listen) < 0) {
		pr_err("serve: invalid --listen '%s': expected IPV4ADDRESS:PORT", o->listen);
		return HF_STATUS_ERROR;
	}
	if (o->credentials) {
		if (sigv4_keys_load(o->credentials, &keys, err, sizeof(err)) < 0) {
			pr_err("serve: --credentials %s", err);
			return HF_STATUS_ERROR;
		}
		s.http.keys = &keys;
	} else if ((ntohl(s.http.listen.sin_addr.s_addr) >> 24) != 127) {
		/* Anyone who reaches the port could run every function. */
		pr_err("serve: --listen %s is beyond loopback: give --credentials FILE (requests "
		       "must then be signed with one of its keys, AWS Signature Version 4)",
		       o->listen);
		return HF_STATUS_ERROR;
	}
	if (o->config_path && serve_config_load(o->config_path, &s.config, err, sizeof(err)) < 0) {
		pr_err("serve: %s: %s", o->config_path, err);
		return HF_STATUS_ERROR;
	}
	const char *base = run_dir(o->run_dir);
	snprintf(s.run_dir, sizeof(s.run_dir), "%s/serve.XXXXXX", base);
	if (run_dir_prepare(base) < 0 || !mkdtemp(s.run_dir)) {
		pr_err("serve: cannot make a run directory in %s: %s", base, strerror(errno));
		serve_config_free(&s.config);
		return HF_STATUS_ERROR;
	}
	defaults(&s, o);
	table_init(&s.table, s.run_dir, s.runtimes, o->reserve_bytes, o->jail, o->uid, o->gid);
	int status = 0;
	if (add_config_functions(&s) < 0 ||
	    manage_open(&s.manage,
			o->code_storage_bytes ? o->code_storage_bytes : MANAGE_CODE_STORAGE,
			&s.table, s.state_dir, s.kernel, s.initrd, err, sizeof(err)) < 0) {
		if (err[0])
			pr_err("serve: %s", err);
		table_stop_all(&s.table);
		remove_tree(s.run_dir);
		serve_config_free(&s.config);
		return HF_STATUS_ERROR;
	}
	/* SIGINT and SIGTERM end serve, waited for here; every thread inherits the mask. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	/* VMMs come from the spawner (forked here, with this mask, which they inherit); serve
	 * itself may start nothing from now on, nor can any thread it makes. */
	if (spawn_start(err, sizeof(err)) < 0 || spawn_filter_enter(err, sizeof(err)) < 0) {
		pr_err("serve: %s", err);
		spawn_stop();
		table_stop_all(&s.table);
		remove_tree(s.run_dir);
		serve_config_free(&s.config);
		return HF_STATUS_ERROR;
	}
	s.http.table = &s.table;
	s.http.manage = &s.manage;
	serve_http_refresh(&s.http);
	if (serve_http_start(&s.http) < 0) {
		status = HF_STATUS_ERROR;
		goto out;
	}
	printf("serve: listening on http://%s:%u (functions' VMs in %s",
	       inet_ntoa(s.http.listen.sin_addr), ntohs(s.http.listen.sin_port), s.run_dir);
	if (o->jail)
		printf(", jailed: function 1 as uid %ld gid %ld, each next one as the next uid and gid",
		       o->uid, o->gid);
	printf(")\n");
	fflush(stdout);
	struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};
	int sig;
	do {
		serve_http_refresh(&s.http);
		table_tick(&s.table, (o->init_timeout_s ? o->init_timeout_s : SERVE_INIT_TIMEOUT_S) * 1000u);
		fflush(stdout);
	} while ((sig = sigtimedwait(&stop, NULL, &tick)) < 0);
	printf("serve: %s: stopping\n", strsignal(sig));
out:
	serve_http_stop(&s.http);
	table_stop_all(&s.table);
	spawn_stop();
	remove_tree(s.run_dir);
	serve_config_free(&s.config);
	return status;
}
