/* A serve function's invocations (see function.h): each in the VM the function's mode
 * gives it (a worker, reset to the template's state after each answer; a fresh clone of the
 * template; the one warm VM; or a VM booted for it), through the exchange with its agent,
 * and what becomes of that VM afterwards. What differs between them is one struct mode
 * each. */
#include "serve/function_private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"
#include "util/util.h"

#define TAIL_BYTES 4096
#define SERVE_BOOT_TIMEOUT_MS (120u * 1000) /* mode boot: an invocation's VM up to its agent */
#define VM_GONE (-2) /* a mode's connect: the VM ended before its agent was up */

void request_id_new(char *id)
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		uint64_t t = now_ns();
		memcpy(b, &t, 8);
		memcpy(b + 8, &t, 8);
	}
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(id, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

/* The last TAIL_BYTES of the console file path from offset start on, base64 (malloc'd;
 * NULL if out of memory). */
static char *console_tail(const char *path, off_t start)
{
	char buf[TAIL_BYTES];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n = 0;
	if (fd >= 0) {
		off_t size = lseek(fd, 0, SEEK_END);
		off_t from = size > TAIL_BYTES ? size - TAIL_BYTES : 0;
		if (from < start && start <= size) /* (smaller: the file was cut at its cap) */
			from = start;
		n = pread(fd, buf, sizeof(buf), from);
		close(fd);
	}
	char *out = malloc(BASE64_LEN(sizeof(buf)));
	if (out)
		base64_encode(buf, n > 0 ? (size_t)n : 0, out);
	return out;
}

/* ---- the modes ------------------------------------------------------------------------- */

/* What an invocation does that depends on its function's mode (enum fn_mode). */
struct mode {
	/* Get a VM for inv into r. Returns 0, or -1 with r->error set (no VM: a service
	 * error). */
	int (*get)(struct function *f, const struct invocation *inv, struct inv_result *r);
	/* The socket of that VM's agent into path (len bytes). */
	void (*agent)(const struct function *f, const struct inv_result *r, char *path, size_t len);
	/* Connect to the agent at path by *deadline, the invocation's, which the mode may set
	 * anew (t0: when the invocation came). Returns the fd; -1 with errno, the agent not
	 * reached (the invocation fails as unhandled); or VM_GONE with r->error set, the VM
	 * ended (and released) first: a service error. */
	int (*connect)(struct function *f, const char *path, struct inv_result *r, uint64_t t0,
		       uint64_t *deadline);
	/* The exchange is over: the VM is free for another invocation (NULL: nothing to do). */
	void (*put)(struct function *f);
	/* End the VM that ran r and remove what it leaves, if r still holds one (mode boot:
	 * also one that ended by itself): true if it did (function_release counts it gone). */
	bool (*release)(struct function *f, struct inv_result *r);
	/* The console of the VM that ran r into path (len bytes), for Tail, once the VM is
	 * released: true if it is the invocation's own (removed once read), false if the
	 * function's (kept). */
	bool (*console)(const struct function *f, const struct inv_result *r, char *path,
			size_t len);
	/* The VM lives on after the invocation (its console is read for Tail before it is
	 * released: it goes on writing there). */
	bool lives_on;
};

/* Connect to the agent at path by the invocation's deadline (modes clone and warm). */
static int connect_now(struct function *f, const char *path, struct inv_result *r, uint64_t t0,
		       uint64_t *deadline)
{
	(void)t0;
	if (r->clone.pid > 0) /* the clone itself */
		return fn_agent_connect(f, path, r->clone.pid, true, *deadline);
	return fn_agent_connect(f, path, f->template_pid, false, *deadline); /* the warm VM */
}

/* The invocation's own VM's console (modes clone and boot): removed once read. */
static bool own_console(const struct function *f, const struct inv_result *r, char *path,
			size_t len)
{
	(void)f;
	snprintf(path, len, "%s", r->clone.console);
	return true;
}

/* ---- mode clone: a fresh clone of the template per invocation -------------------------- */

/* A clone of the template, activated for this invocation, into r->clone. Returns 0, or -1
 * with r->error set. */
static int clone_get(struct function *f, const struct invocation *inv, struct inv_result *r)
{
	/* The clone's console is kept only when its end is asked for (Tail). */
	struct hf_request req = {.cmd = CMD_FORK, .count = 1};
	snprintf(req.console, sizeof(req.console), "%s", inv->tail ? "file" : "none");
	struct hf_response resp = {0};
	char why[200] = "its template does not answer";
	int fd = fn_template_connect(f, false, why, sizeof(why)), pidfd = -1;
	int rc = -1;
	if (fd < 0 && errno == EPERM)
		pr_warn("serve: function %s: %s", f->cfg->name, why);
	if (fd < 0 || ctl_exchange(fd, f->cfg->name, &req, &resp) < 0 || !resp.ok ||
	    resp.nclones != 1) {
		snprintf(r->error, sizeof(r->error), "no clone of function %s could be made: %s",
			 f->cfg->name, resp.error[0] ? resp.error : why);
	} else if (fn_clone_reply_check(f->cfg->name, f->run_dir, inv->tail, &resp.clones[0],
					r->error, sizeof(r->error)) < 0) {
		pr_warn("serve: function %s: %s", f->cfg->name, r->error);
	} else if ((pidfd = pidfd_open(resp.clones[0].pid, 0)) < 0 ||
		   !fn_descends(resp.clones[0].pid, f->template_pid)) {
		/* (checked once the pidfd holds the process: a pid reused after is not hit) */
		snprintf(r->error, sizeof(r->error), "its template gave clone %s pid %d, which is "
			 "not a process below it", resp.clones[0].name, (int)resp.clones[0].pid);
		pr_warn("serve: function %s: %s", f->cfg->name, r->error);
		if (pidfd >= 0)
			close(pidfd);
	} else {
		r->clone = resp.clones[0];
		r->pidfd = pidfd;
		pthread_mutex_lock(&f->lock);
		f->stats.live++;
		f->stats.on_demand += r->clone.on_demand;
		pthread_mutex_unlock(&f->lock);
		rc = 0;
	}
	proto_response_free(&resp);
	return rc;
}

/* The clone NAME.N of a Linux function listens on the template's vsock socket path + ".N"
 * (the vsock device's rule: `hyperfork run --vsock`'s help, src/devices/vsock/);
 * a bare one on its own NAME.N.fn. */
static void clone_agent(const struct function *f, const struct inv_result *r, char *path,
			size_t len)
{
	if (f->cfg->image) {
		fn_agent_path(f, r->clone.name, path, len);
		return;
	}
	char template[4096];
	const char *dot = strrchr(r->clone.name, '.');
	fn_agent_path(f, f->cfg->name, template, sizeof(template));
	clone_name(path, len, template, dot ? (unsigned)strtoul(dot + 1, NULL, 10) : 0);
}

/* End the clone: asked through its control socket (it removes its sockets), killed through
 * its pidfd if it does not answer there (or another process holds its socket). */
static bool clone_release(struct function *f, struct inv_result *r)
{
	const struct hf_clone_info *c = &r->clone;
	if (!c->name[0] || c->pid <= 0)
		return false;
	struct hf_request req = {.cmd = CMD_STOP};
	struct hf_response resp = {0};
	int fd = ctl_connect(f->run_dir, c->name, true);
	if (fd >= 0 && !fn_peer_is(fd, c->pid, true)) {
		pr_warn("serve: function %s: the control socket of clone %s is not its own (pid "
			"%d): it is killed", f->cfg->name, c->name, (int)c->pid);
		close(fd);
		fd = -1;
	}
	if ((fd < 0 || ctl_exchange(fd, c->name, &req, &resp) < 0 || !resp.ok) && r->pidfd >= 0)
		pidfd_send_signal(r->pidfd, SIGKILL, NULL, 0);
	proto_response_free(&resp);
	if (r->pidfd >= 0)
		close(r->pidfd);
	r->pidfd = -1;
	return true;
}

/* ---- mode clone, reused: workers reset to the template's state after each answer ------- */

/* Let worker w go: it ends, and its console with it; its slot is free. */
static void worker_drop(struct function *f, struct fn_worker *w)
{
	struct inv_result one = {.clone = w->clone, .pidfd = w->pidfd};
	if (w->chan.fd >= 0)
		close(w->chan.fd);
	w->chan.fd = -1;
	clone_release(f, &one);
	if (w->clone.console[0] == '/')
		unlink(w->clone.console);
	pthread_mutex_lock(&f->lock);
	memset(w, 0, sizeof(*w));
	pthread_mutex_unlock(&f->lock);
}

/* A new worker in a free slot: a clone of the template (its console a file, which Tail
 * reads from an invocation's start on) whose function socket, connected once, becomes its
 * channel. Returns the slot, or -1 with r->error set. */
static int worker_new(struct function *f, const struct invocation *inv, struct inv_result *r,
		      uint64_t deadline)
{
	struct invocation first = *inv;
	first.tail = true;
	if (clone_get(f, &first, r) < 0)
		return -1;
	int slot = -1;
	pthread_mutex_lock(&f->lock); /* (a slot is free: at most concurrency run) */
	for (unsigned i = 0; i < f->cfg->concurrency && slot < 0; i++)
		if (!f->workers[i].used) {
			f->workers[i] = (struct fn_worker){.clone = r->clone, .pidfd = r->pidfd,
							   .used = true, .busy = true,
							   .chan.fd = -1};
			slot = (int)i;
		}
	f->stats.live--; /* (counted again once it takes the invocation) */
	pthread_mutex_unlock(&f->lock);
	r->pidfd = -1; /* the worker's now */
	struct fn_worker *w = &f->workers[slot];
	char path[4096], why[400];
	clone_agent(f, r, path, sizeof(path));
	w->chan.fd = fn_agent_open(f, path, r->clone.pid, true);
	if (w->chan.fd < 0 || fn_worker_hello(f, &w->chan, deadline, why, sizeof(why)) < 0) {
		snprintf(r->error, sizeof(r->error), "clone %s of function %s cannot be a worker: %s",
			 r->clone.name, f->cfg->name, w->chan.fd < 0 ? strerror(errno) : why);
		worker_drop(f, w);
		memset(&r->clone, 0, sizeof(r->clone));
		return -1;
	}
	w->ready = true;
	return slot;
}

/* A worker for the invocation, ready for it: an idle one (whose READY, said once its reset
 * after the last answer was done, is read here), else a new one. A worker found ended
 * (its guest misbehaved after its answer, or its reset failed) is replaced. */
static int reuse_get(struct function *f, const struct invocation *inv, struct inv_result *r)
{
	uint64_t deadline = now_ns() + (uint64_t)f->cfg->timeout_s * 1000000000ull;
	for (;;) {
		int slot = -1;
		pthread_mutex_lock(&f->lock);
		for (unsigned i = 0; i < f->cfg->concurrency && slot < 0; i++)
			if (f->workers[i].used && !f->workers[i].busy) {
				f->workers[i].busy = true;
				slot = (int)i;
			}
		pthread_mutex_unlock(&f->lock);
		if (slot < 0 && (slot = worker_new(f, inv, r, deadline)) < 0)
			return -1;
		struct fn_worker *w = &f->workers[slot];
		char why[400];
		if (!w->ready && fn_worker_ready(&w->chan, deadline, why, sizeof(why)) < 0) {
			pr_warn("serve: function %s: worker %s is not ready again (%s): it is "
				"replaced", f->cfg->name, w->clone.name, why);
			worker_drop(f, w);
			continue;
		}
		w->ready = false; /* the next READY follows this invocation's answer */
		r->worker = slot;
		r->clone = w->clone;
		r->chan = &w->chan;
		pthread_mutex_lock(&f->lock);
		f->stats.live++;
		pthread_mutex_unlock(&f->lock);
		struct stat st;
		r->console_from = inv->tail && stat(r->clone.console, &st) == 0 ? (long)st.st_size
									       : 0;
		return 0;
	}
}

/* The worker's channel, held. */
static int reuse_connect(struct function *f, const char *path, struct inv_result *r,
			 uint64_t t0, uint64_t *deadline)
{
	(void)f, (void)path, (void)t0, (void)deadline;
	return r->chan->fd;
}

/* The answer is out: the worker, which its VMM resets meanwhile, is free for the next
 * invocation, unless its guest failed this one (it crashed, spun past the timeout or
 * broke the protocol: the invocation is unhandled) or it has run the function's "recycle"
 * count: then it ends and a fresh clone will take its place. */
static bool reuse_release(struct function *f, struct inv_result *r)
{
	if (r->worker < 0)
		return clone_release(f, r);
	struct fn_worker *w = &f->workers[r->worker];
	r->worker = -1;
	r->chan = NULL;
	w->uses++;
	if ((r->outcome == INV_OK || r->outcome == INV_HANDLED) &&
	    (!f->cfg->recycle || w->uses < f->cfg->recycle)) {
		pthread_mutex_lock(&f->lock);
		w->busy = false;
		w->idle_since = now_ns();
		pthread_mutex_unlock(&f->lock);
		return true;
	}
	worker_drop(f, w);
	return true;
}

void function_reap_idle(struct function *f, uint64_t now)
{
	if (f->cfg->mode != FN_MODE_CLONE || !f->cfg->idle_s || !f->workers)
		return;
	for (unsigned i = 0; i < f->cfg->concurrency; i++) {
		struct fn_worker *w = &f->workers[i];
		pthread_mutex_lock(&f->lock);
		bool stale = w->used && !w->busy &&
			     now - w->idle_since > (uint64_t)f->cfg->idle_s * 1000000000ull;
		w->busy |= stale; /* taken: no invocation gets it now */
		pthread_mutex_unlock(&f->lock);
		if (!stale)
			continue;
		pr_info("serve: function %s: worker %s took no invocation for %u s: it ends",
			f->cfg->name, w->clone.name, f->cfg->idle_s);
		worker_drop(f, w);
	}
}

/* The worker's console, kept: this invocation's part starts at r->console_from. */
static bool reuse_console(const struct function *f, const struct inv_result *r, char *path,
			  size_t len)
{
	(void)f;
	snprintf(path, len, "%s", r->clone.console);
	return false;
}

void fn_workers_stop(struct function *f)
{
	for (unsigned i = 0; f->workers && i < f->cfg->concurrency; i++)
		if (f->workers[i].used)
			worker_drop(f, &f->workers[i]);
	free(f->workers);
	f->workers = NULL;
}

/* ---- mode warm: the function's one VM, one invocation at a time ------------------------ */

/* The function's VM, once the invocation before has done with it (warm_put). */
static int warm_get(struct function *f, const struct invocation *inv, struct inv_result *r)
{
	(void)inv, (void)r;
	pthread_mutex_lock(&f->warm_lock);
	return 0;
}

static void warm_agent(const struct function *f, const struct inv_result *r, char *path,
		       size_t len)
{
	(void)r;
	fn_agent_path(f, f->cfg->name, path, len);
}

static void warm_put(struct function *f)
{
	pthread_mutex_unlock(&f->warm_lock);
}

/* The VM is the function's: it lives on. */
static bool warm_release(struct function *f, struct inv_result *r)
{
	(void)f, (void)r;
	return false;
}

/* The function's VM's console: kept. */
static bool warm_console(const struct function *f, const struct inv_result *r, char *path,
			 size_t len)
{
	(void)r;
	run_file(path, len, f->run_dir, f->cfg->name, RUN_FILE_CONSOLE);
	return false;
}

/* ---- mode boot: a VM booted for each invocation ---------------------------------------- */

/* Boot a VM for this invocation (r->booted, its name in r->clone). Returns 0, or -1 with
 * r->error set. */
static int boot_get(struct function *f, const struct invocation *inv, struct inv_result *r)
{
	char name[HF_NAME_MAX + 1], why[512];
	(void)inv;
	pthread_mutex_lock(&f->lock);
	unsigned seq = ++f->boot_seq;
	pthread_mutex_unlock(&f->lock);
	snprintf(name, sizeof(name), "%.*s-b%u", FN_BOOT_NAME_KEEP, f->cfg->name, seq);
	pid_t pid = fn_vm_start(f, name, why, sizeof(why));
	if (pid < 0) {
		snprintf(r->error, sizeof(r->error), "no VM of function %s could be booted: %s",
			 f->cfg->name, why);
		return -1;
	}
	r->booted = pid;
	snprintf(r->clone.name, sizeof(r->clone.name), "%s", name);
	run_file(r->clone.console, sizeof(r->clone.console), f->run_dir, name, RUN_FILE_CONSOLE);
	pthread_mutex_lock(&f->lock);
	f->stats.live++;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* The booted VM's own agent socket. */
static void boot_agent(const struct function *f, const struct inv_result *r, char *path,
		       size_t len)
{
	fn_agent_path(f, r->clone.name, path, len);
}

/* Connect to the agent of the VM just booted, trying until it listens (or the VM ends, or
 * deadline). */
static int agent_connect_booting(const struct function *f, const char *path, pid_t pid,
				 uint64_t deadline)
{
	for (;;) {
		int s = fn_agent_connect(f, path, pid, false, deadline);
		if (s >= 0 || errno == ETIMEDOUT || now_ns() >= deadline)
			return s;
		if (waitpid(pid, NULL, WNOHANG) != 0) {
			errno = ECHILD; /* the VM ended: reaped here */
			return -1;
		}
		struct timespec ts = {.tv_nsec = 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* The boot is not the invocation's: its timeout starts once the agent is up. */
static int boot_connect(struct function *f, const char *path, struct inv_result *r, uint64_t t0,
			uint64_t *deadline)
{
	int s = agent_connect_booting(f, path, r->booted,
				      t0 + (uint64_t)SERVE_BOOT_TIMEOUT_MS * 1000000);
	*deadline = now_ns() + (uint64_t)f->cfg->timeout_s * 1000000000ull;
	if (s < 0 && errno == ECHILD) { /* it never came up: why is in its log */
		char log[4096], line[600];
		run_file(log, sizeof(log), f->run_dir, r->clone.name, RUN_FILE_LOG);
		fn_find_line(log, "error: ", line, sizeof(line));
		snprintf(r->error, sizeof(r->error), "the VM booted for the invocation "
			 "ended before its agent was up%s%s", line[0] ? ": " : "", line);
		r->booted = -1; /* reaped */
		function_release(f, r);
		return VM_GONE;
	}
	return s;
}

/* End the booted VM (the VMM stops cleanly), remove its log and, unless Tail wants it,
 * its console. */
static bool boot_release(struct function *f, struct inv_result *r)
{
	if (!r->booted)
		return false;
	if (r->booted > 0) { /* (-1: it ended and was reaped) */
		kill(-r->booted, SIGTERM); /* the VMM stops cleanly, removing its sockets */
		waitpid(r->booted, NULL, 0);
	}
	r->booted = 0;
	char log[4096];
	run_file(log, sizeof(log), f->run_dir, r->clone.name, RUN_FILE_LOG);
	unlink(log);
	if (!r->keep_console) /* Tail: read, then removed, by function_invoke */
		unlink(r->clone.console);
	return true;
}

static const struct mode modes[] = {
	[FN_MODE_CLONE] = {clone_get, clone_agent, connect_now, NULL, clone_release, own_console},
	[FN_MODE_FRESH] = {clone_get, clone_agent, connect_now, NULL, clone_release, own_console},
	[FN_MODE_WARM] = {warm_get, warm_agent, connect_now, warm_put, warm_release, warm_console,
			  true},
	[FN_MODE_BOOT] = {boot_get, boot_agent, boot_connect, NULL, boot_release, own_console},
};
static const struct mode reuse = {reuse_get,	  clone_agent,	 reuse_connect, NULL,
				  reuse_release, reuse_console, true};

/* What f's invocations run in: mode clone's workers where its clones can be reset, else
 * its mode's. */
static const struct mode *mode_of(const struct function *f)
{
	return f->reuse ? &reuse : &modes[f->cfg->mode];
}

/* ---- an invocation --------------------------------------------------------------------- */

void function_release(struct function *f, struct inv_result *r)
{
	if (!mode_of(f)->release(f, r))
		return;
	r->clone.pid = 0;
	pthread_mutex_lock(&f->lock);
	f->stats.live--;
	pthread_mutex_unlock(&f->lock);
}

void function_invoke(struct function *f, const struct invocation *inv, struct inv_result *r)
{
	const struct mode *m = mode_of(f);
	memset(r, 0, sizeof(*r));
	r->worker = -1;
	r->pidfd = -1;
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)f->cfg->timeout_s * 1000000000ull;
	pthread_mutex_lock(&f->lock);
	f->stats.invocations++;
	enum fn_state state = f->state;
	pthread_mutex_unlock(&f->lock);

	char path[4096];
	int s = -1, vm = -1;
	if (state != FN_READY) {
		snprintf(r->error, sizeof(r->error), "function %s is not ready", f->cfg->name);
	} else if ((vm = m->get(f, inv, r)) == 0) {
		m->agent(f, r, path, sizeof(path));
		s = m->connect(f, path, r, t0, &deadline);
		if (s == VM_GONE)
			vm = -1;
	}
	if (vm < 0) {
		r->outcome = INV_SERVICE;
		pthread_mutex_lock(&f->lock);
		f->stats.service_errors++;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	if (s < 0) {
		fn_failed(f, inv, r, errno == ETIMEDOUT);
	} else {
		pthread_mutex_lock(&f->lock);
		hist_observe(&f->stats.activation, now_ns() - t0);
		pthread_mutex_unlock(&f->lock);
		struct fn_chan own = {.fd = s};
		fn_exchange(f, r->chan ? r->chan : &own, inv, deadline, r);
		if (!r->chan)
			close(s);
	}
	if (m->put)
		m->put(f);
	if (inv->tail) { /* its console complete: the VM ended first (unless it lives on) */
		r->keep_console = true;
		if (!m->lives_on)
			function_release(f, r);
		char console[4096];
		bool own = m->console(f, r, console, sizeof(console));
		r->log_tail_b64 = console_tail(console, m->lives_on ? (off_t)r->console_from : 0);
		if (own)
			unlink(console);
	}
	pthread_mutex_lock(&f->lock);
	if (r->outcome == INV_OK)
		f->stats.ok++;
	else if (r->outcome == INV_HANDLED)
		f->stats.handled++;
	else
		f->stats.unhandled++;
	pthread_mutex_unlock(&f->lock);
}

void inv_result_free(struct inv_result *r)
{
	free(r->body);
	free(r->log_tail_b64);
	memset(r, 0, sizeof(*r));
}
