/* A serve function's template (see function.h): booted (its own VM in mode warm), followed
 * until it is frozen or its agent is up, booted again when it ends, stopped; and the
 * function's concurrency slots. */
#include "serve/function_private.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "api/client.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/util.h"

static void set_failed(struct function *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_failed(struct function *f, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&f->lock);
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	f->state = FN_FAILED;
	pthread_mutex_unlock(&f->lock);
}

/* Boot the function's own VM: its template, or its warm VM. */
static void boot(struct function *f)
{
	char why[512];
	pid_t pid = fn_vm_start(f, f->cfg->name, why, sizeof(why));
	if (pid < 0) {
		set_failed(f, "%s", why);
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->template_pid = pid;
	f->vm_pid = 0;
	f->state = FN_STARTING;
	f->boot_ns = now_ns();
	f->boots++;
	pthread_mutex_unlock(&f->lock);
}

void function_start(struct function *f, const struct fn_config *cfg, const char *run_dir,
		    uint64_t reserve_bytes, const struct fn_jail *jail,
		    const struct fn_code *code)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->warm_lock, NULL);
	f->cfg = cfg;
	f->run_dir = run_dir;
	f->reserve_bytes = reserve_bytes;
	f->code = code;
	if (jail)
		f->jail = *jail;
	/* Mode clone reuses its clones (workers, reset after each answer); mode fresh makes
	 * one per invocation. */
	f->reuse = cfg->mode == FN_MODE_CLONE;
	if (f->reuse && !(f->workers = calloc(cfg->concurrency, sizeof(*f->workers)))) {
		pr_warn("serve: function %s: out of memory for its workers: a fresh clone for "
			"each invocation", cfg->name);
		f->reuse = false;
	}
	if (cfg->mode == FN_MODE_BOOT)
		f->state = FN_READY; /* each invocation boots its own */
	else
		boot(f);
}

/* Why the template's process ended, from its console and its VMM's log. */
static void ended(struct function *f, int status, const char *when)
{
	char path[4096], init_err[600], vmm[600];
	run_file(path, sizeof(path), f->run_dir, f->cfg->name, RUN_FILE_CONSOLE);
	fn_find_line(path, "HF-LAMBDA-INIT-ERROR", init_err, sizeof(init_err));
	run_file(path, sizeof(path), f->run_dir, f->cfg->name, RUN_FILE_LOG);
	fn_find_line(path, "error: ", vmm, sizeof(vmm));
	set_failed(f, "the function's VM ended %s (status %d)%s%s", when,
		   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
		   init_err[0] || vmm[0] ? ": " : "", init_err[0] ? init_err : vmm);
}

/* Mode clone: the template has frozen (its agent took the first call for an invocation). */
static bool frozen(struct function *f)
{
	struct hf_request req = {.cmd = CMD_STATUS};
	struct hf_response resp = {0};
	char why[200];
	int fd = fn_template_connect(f, true, why, sizeof(why));
	if (fd < 0 && errno == EPERM)
		pr_warn("serve: function %s: %s", f->cfg->name, why);
	bool ok = fd >= 0 && ctl_exchange(fd, f->cfg->name, &req, &resp) == 0 && resp.ok &&
		  !strcmp(resp.vm.state, "template");
	proto_response_free(&resp);
	return ok;
}

bool function_poll(struct function *f, unsigned init_timeout_ms)
{
	int status;
	pthread_mutex_lock(&f->lock);
	enum fn_state state = f->state;
	pid_t pid = f->template_pid;
	pthread_mutex_unlock(&f->lock);
	if (state == FN_FAILED || pid <= 0)
		return false;
	if (waitpid(pid, &status, WNOHANG) == pid) {
		f->template_pid = 0;
		if (state == FN_STARTING) {
			ended(f, status, "during its initialisation");
			return true;
		}
		ended(f, status, "after its initialisation");
		pr_warn("serve: function %s: %s: initialising it again", f->cfg->name, f->why);
		boot(f);
		return true;
	}
	if (state == FN_READY)
		return false;
	if (fn_cloned(f->cfg) ? frozen(f) : fn_agent_up(f, f->cfg->name)) {
		pthread_mutex_lock(&f->lock);
		f->state = FN_READY;
		f->why[0] = 0;
		pthread_mutex_unlock(&f->lock);
		return true;
	}
	if (now_ns() - f->boot_ns > (uint64_t)init_timeout_ms * 1000000) {
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		f->template_pid = 0;
		set_failed(f, "the function did not finish its initialisation in %u s (its first "
			   "call for an invocation never came)", init_timeout_ms / 1000);
		return true;
	}
	return false;
}

void function_stop(struct function *f)
{
	fn_workers_stop(f);
	if (f->template_pid > 0) {
		kill(-f->template_pid, SIGTERM); /* its process group: the template and its pool */
		waitpid(f->template_pid, NULL, 0);
		f->template_pid = 0;
	}
}

bool function_enter(struct function *f)
{
	pthread_mutex_lock(&f->lock);
	bool ok = f->active < f->cfg->concurrency;
	if (ok)
		f->active++;
	else
		f->stats.throttled++;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

void function_throttled(struct function *f)
{
	pthread_mutex_lock(&f->lock);
	f->stats.throttled++;
	pthread_mutex_unlock(&f->lock);
}

void function_leave(struct function *f)
{
	pthread_mutex_lock(&f->lock);
	f->active--;
	pthread_mutex_unlock(&f->lock);
}
