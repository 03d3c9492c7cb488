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
#include "serve/sigv4.h"
#include "serve/runtime.h"
#include "serve/spawn.h"

#define INIT_TIMEOUT_MS (300u * 1000) /* a function's boot and initialisation */

struct serve {
	struct serve_config config;
	struct function fns[FN_MAX_FUNCTIONS];
	char run_dir[4096];
	struct serve_http http; /* the HTTP side: the functions, the listen address, the reserve */
	char fn_dirs[FN_MAX_FUNCTIONS][4096]; /* each function's run directory */
	struct fn_code codes[FN_MAX_FUNCTIONS]; /* a managed runtime's function: its disks */
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

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	if (remove(path) < 0)
		pr_warn("serve: cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* Remove the run directory and what the VMs left in it (depth first). */
static void remove_run_dir(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Each function's VMs in a directory of the function's own, serve.XXXXXX/NAME, so that no
 * name of one function's VMs meets another's. Jailed, function i's VMs run as uid + i and
 * gid + i and only that uid may enter its directory, so no function's VMs reach another's
 * sockets. Returns 0 or -1 (logged). */
static int fn_dirs(struct serve *s, const struct serve_opts *o, struct fn_jail *jails)
{
	long top = (o->uid > o->gid ? o->uid : o->gid) + (long)s->config.nfns - 1;
	if (o->jail && top > UINT32_MAX - 2) {
		pr_err("serve: --uid %ld / --gid %ld leave no uid and gid for each of the %u "
		       "functions", o->uid, o->gid, s->config.nfns);
		return -1;
	}
	for (unsigned i = 0; i < s->config.nfns; i++) {
		if (o->jail) {
			jails[i] = (struct fn_jail){.on = true, .uid = o->uid + (long)i,
						    .gid = o->gid + (long)i};
			/* A uid a user has would give that user the function's VMs, and them the
			 * user's files; a group's gid, its members. */
			struct passwd *pw = getpwuid((uid_t)jails[i].uid);
			if (pw) {
				pr_err("serve: --uid %ld: uid %ld (function %s) is user %s's: give a "
				       "range of uids no user has", o->uid, jails[i].uid,
				       s->config.fns[i].name, pw->pw_name);
				return -1;
			}
			struct group *gr = getgrgid((gid_t)jails[i].gid);
			if (gr) {
				pr_err("serve: --gid %ld: gid %ld (function %s) is group %s's: give a "
				       "range of gids no group has", o->gid, jails[i].gid,
				       s->config.fns[i].name, gr->gr_name);
				return -1;
			}
		}
		if (strlen(s->run_dir) + 1 + strlen(s->config.fns[i].name) >= sizeof(s->fn_dirs[i])) {
			pr_err("serve: function %s's run directory would be too long", s->config.fns[i].name);
			return -1;
		}
		run_file(s->fn_dirs[i], sizeof(s->fn_dirs[i]), s->run_dir, s->config.fns[i].name, "");
		if (s->config.fns[i].runtime) { /* its code's disk: serve.XXXXXX/NAME.code */
			char disk[4096], runtimes[4096], err[600];
			if (!o->runtimes_dir)
				fn_runtimes_default(runtimes, sizeof(runtimes));
			snprintf(disk, sizeof(disk), "%s.code", s->fn_dirs[i]);
			if (fn_code_prepare(&s->config.fns[i],
					    o->runtimes_dir ? o->runtimes_dir : runtimes, disk,
					    &s->codes[i], err, sizeof(err)) < 0) {
				pr_err("serve: function %s: %s", s->config.fns[i].name, err);
				return -1;
			}
		}
		if (mkdir(s->fn_dirs[i], 0700) < 0 ||
		    (o->jail && chown(s->fn_dirs[i], (uid_t)jails[i].uid, (gid_t)jails[i].gid) < 0)) {
			pr_err("serve: cannot make function %s's run directory %s (uid %ld): %s",
			       s->config.fns[i].name, s->fn_dirs[i], jails[i].uid, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int serve_run(const struct serve_opts *o)
{
	static struct serve s; /* large: the functions' state */
	static struct fn_jail jails[FN_MAX_FUNCTIONS];
	static struct sigv4_keys keys;
	char err[512];
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
		pr_err("serve: --listen %s is beyond loopback: give --credentials FILE (invocations "
		       "must then be signed with one of its keys, AWS Signature Version 4)",
		       o->listen);
		return HF_STATUS_ERROR;
	}
	if (serve_config_load(o->config_path, &s.config, err, sizeof(err)) < 0) {
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
	if (fn_dirs(&s, o, jails) < 0) {
		remove_run_dir(s.run_dir);
		serve_config_free(&s.config);
		return HF_STATUS_ERROR;
	}
	/* SIGINT and SIGTERM end serve, waited for here; every thread inherits the mask. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	int status = 0;
	/* VMMs come from the spawner (forked here, with this mask, which they inherit); serve
	 * itself may start nothing from now on, nor can any thread it makes. */
	if (spawn_start(err, sizeof(err)) < 0 || spawn_filter_enter(err, sizeof(err)) < 0) {
		pr_err("serve: %s", err);
		spawn_stop();
		remove_run_dir(s.run_dir);
		serve_config_free(&s.config);
		return HF_STATUS_ERROR;
	}
	s.http.fns = s.fns;
	s.http.nfns = s.config.nfns;
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
	for (unsigned i = 0; i < s.config.nfns; i++) {
		function_start(&s.fns[i], &s.config.fns[i], s.fn_dirs[i],
			       s.http.reserve_bytes, &jails[i],
			       s.config.fns[i].runtime ? &s.codes[i] : NULL);
		if (s.config.fns[i].mode == FN_MODE_BOOT)
			printf("serve: function %s ready (a VM is booted for each invocation)\n",
			       s.config.fns[i].name);
	}
	fflush(stdout);
	struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};
	int sig;
	while ((sig = sigtimedwait(&stop, NULL, &tick)) < 0) {
		serve_http_refresh(&s.http);
		uint64_t now = now_ns();
		for (unsigned i = 0; i < s.config.nfns; i++) {
			struct function *f = &s.fns[i];
			function_reap_idle(f, now);
			if (!function_poll(f, INIT_TIMEOUT_MS))
				continue;
			if (f->state == FN_READY)
				printf("serve: function %s ready (%s in %llu ms)\n", f->cfg->name,
				       fn_cloned(f->cfg)
					       ? "booted, initialised and frozen"
					       : "its warm VM booted, its agent up",
				       (unsigned long long)((now_ns() - f->boot_ns) / 1000000));
			else if (f->state == FN_FAILED)
				printf("serve: function %s failed: %s\n", f->cfg->name, f->why);
			else
				printf("serve: function %s: %s; initialising it again\n", f->cfg->name,
				       f->why);
			fflush(stdout);
		}
	}
	printf("serve: %s: stopping\n", strsignal(sig));
out:
	serve_http_stop(&s.http);
	for (unsigned i = 0; i < s.config.nfns; i++)
		function_stop(&s.fns[i]);
	spawn_stop();
	remove_run_dir(s.run_dir);
	serve_config_free(&s.config);
	return status;
}
