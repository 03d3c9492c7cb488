/* One function of `hyperfork serve`: its template and its invocations (see function.h).
 * The host side of include/hyperfork/lambda.h. */
#include "serve/function.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "util/rundir.h"
#include "hyperfork/lambda.h"
#include "util/log.h"
#include "util/util.h"

#define TAIL_BYTES 4096
#define LINUX_CMDLINE_ROOM 1700 /* of the 2047 bytes x86 Linux keeps, what serve's words may use */
#define VSOCK_EXT ".vsock" /* the device's default socket: RUN_DIR/NAME.vsock */
#define FN_EXT ".fn"       /* a bare guest's function socket: RUN_DIR/NAME.fn */
#define SERVE_BOOT_TIMEOUT_MS (120u * 1000) /* mode boot: an invocation's VM up to its agent */

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

/* ---- the template ------------------------------------------------------------------------ */

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

/* serve's own binary, by its path (learnt once, in function_start), for its VMMs. */
static char vmm_path[PATH_MAX];

/* Start a VM of the function named name: its template (mode clone), its warm VM (mode
 * warm) or an invocation's VM (mode boot), in a process group of its own whose output goes
 * to RUN_DIR/NAME.log. Returns its pid, or -1 with the reason in why. */
static pid_t start_vm(const struct function *f, const char *name, char *why, size_t whylen)
{
	const struct fn_config *cfg = f->cfg;
	const char *run_dir = f->run_dir;
	bool template = cfg->mode == FN_MODE_CLONE;
	char mem[16], cpus[8], pool[8], reserve[24], console[4096], log[4096], cmdline[8192];
	char uid[24], gid[24], jail_mem[24];
	char env[BASE64_LEN(FN_ENV_MAX)], disks[FN_MAX_DISKS][4100];
	snprintf(mem, sizeof(mem), "%uM", cfg->memory_mb);
	snprintf(cpus, sizeof(cpus), "%u", cfg->vcpus);
	snprintf(pool, sizeof(pool), "%u", cfg->pool);
	run_file(console, sizeof(console), run_dir, name, RUN_FILE_CONSOLE);
	run_file(log, sizeof(log), run_dir, name, ".log");
	const char *argv[64] = {"hyperfork", "run", "--name", name, "--run-dir", run_dir,
				"--mem", mem, "--cpus", cpus, "--console", console,
				"--cmdline", cmdline};
	unsigned argc = 14;
	if (cfg->image) { /* a bare guest: its function ports (--function) */
		snprintf(cmdline, sizeof(cmdline), "hf.fn=%s%s%s%s", cfg->name,
			 template ? "" : " hf.lambda=warm", cfg->cmdline ? " " : "",
			 cfg->cmdline ? cfg->cmdline : "");
		argv[argc++] = "--function";
		argv[argc++] = "--bare";
		argv[argc++] = cfg->image;
	} else { /* Linux: hf-lambda, the Runtime API agent, over vsock */
		base64_encode(cfg->env, strlen(cfg->env), env);
		snprintf(cmdline, sizeof(cmdline),
			 "console=ttyS0 quiet hf.script=lambda hf.fn=%s%s%s%s%s%s%s%s", cfg->name,
			 template ? "" : " hf.lambda=warm", cfg->handler ? " hf.handler=" : "",
			 cfg->handler ? cfg->handler : "", env[0] ? " hf.env=" : "", env,
			 cfg->cmdline ? " " : "", cfg->cmdline ? cfg->cmdline : "");
		if (strlen(cmdline) > LINUX_CMDLINE_ROOM) {
			snprintf(why, whylen, "its kernel command line would be %zu bytes, over the "
				 "%u Linux keeps with room for the VMM's words: shorten \"cmdline\" "
				 "or \"environment\"", strlen(cmdline), LINUX_CMDLINE_ROOM);
			return -1;
		}
		argv[argc++] = "--vsock";
		argv[argc++] = "3";
		argv[argc++] = "--kernel";
		argv[argc++] = cfg->kernel;
		argv[argc++] = "--initrd";
		argv[argc++] = cfg->initrd;
		for (unsigned i = 0; i < cfg->ndisks; i++) {
			snprintf(disks[i], sizeof(disks[i]), "%s,ro", cfg->disks[i]);
			argv[argc++] = "--disk";
			argv[argc++] = disks[i];
		}
	}
	if (template) {
		argv[argc++] = "--template";
		argv[argc++] = "--pool";
		argv[argc++] = pool;
		/* The template decides before each clone, warm ones included (serve's own check
		 * answers 429 before asking it). Its --max-clones default is above any
		 * function's concurrency. */
		snprintf(reserve, sizeof(reserve), "%llu", (unsigned long long)(f->reserve_bytes >> 20));
		argv[argc++] = "--reserve-memory";
		argv[argc++] = reserve;
	}
	if (f->jail.on) {
		snprintf(uid, sizeof(uid), "%ld", f->jail.uid);
		snprintf(gid, sizeof(gid), "%ld", f->jail.gid);
		snprintf(jail_mem, sizeof(jail_mem), "%llu", (unsigned long long)fn_jail_memory_mb(cfg));
		const char *jail[] = {"--jail", "--uid", uid, "--gid", gid, "--jail-memory", jail_mem};
		for (unsigned i = 0; i < sizeof(jail) / sizeof(jail[0]); i++)
			argv[argc++] = jail[i];
	}
	argv[argc] = NULL;

	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "cannot start its VM: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0); /* serve's terminal signals are serve's to pass on */
		/* By serve's own path, so that the VMM is named hyperfork (comm), not exe, as
		 * long as that path is still serve's binary; else through the link. */
		struct stat path, self;
		if (vmm_path[0] && stat(vmm_path, &path) == 0 && stat("/proc/self/exe", &self) == 0 &&
		    path.st_dev == self.st_dev && path.st_ino == self.st_ino)
			execv(vmm_path, (char **)argv);
		execv("/proc/self/exe", (char **)argv);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with a kill(-pid) before the child ran */
	return pid;
}

/* Boot the function's own VM: its template, or its warm VM. */
static void boot(struct function *f)
{
	char why[512];
	pid_t pid = start_vm(f, f->cfg->name, why, sizeof(why));
	if (pid < 0) {
		set_failed(f, "%s", why);
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->template_pid = pid;
	f->state = FN_STARTING;
	f->boot_ns = now_ns();
	f->boots++;
	pthread_mutex_unlock(&f->lock);
}

uint64_t fn_jail_memory_mb(const struct fn_config *cfg)
{
	uint64_t vms = cfg->mode == FN_MODE_CLONE ? 1ull + cfg->pool + cfg->concurrency : 1;
	return ((uint64_t)cfg->memory_mb + FN_JAIL_VM_OVERHEAD_MB) * vms;
}

void function_start(struct function *f, const struct fn_config *cfg, const char *run_dir,
		    uint64_t reserve_bytes, const struct fn_jail *jail)
{
	if (!vmm_path[0]) {
		ssize_t n = readlink("/proc/self/exe", vmm_path, sizeof(vmm_path) - 1);
		vmm_path[n > 0 ? n : 0] = 0;
	}
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->warm_lock, NULL);
	f->cfg = cfg;
	f->run_dir = run_dir;
	f->reserve_bytes = reserve_bytes;
	if (jail)
		f->jail = *jail;
	if (cfg->mode == FN_MODE_BOOT)
		f->state = FN_READY; /* each invocation boots its own */
	else
		boot(f);
}

/* The line of file path that starts with prefix (the last one), or "" */
static void find_line(const char *path, const char *prefix, char *out, size_t len)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	out[0] = 0;
	while (fp && fgets(line, sizeof(line), fp)) {
		char *p = strstr(line, prefix);
		if (p) {
			p[strcspn(p, "\r\n")] = 0;
			snprintf(out, len, "%s", p);
		}
	}
	if (fp)
		fclose(fp);
}

/* Why the template's process ended, from its console and its VMM's log. */
static void ended(struct function *f, int status, const char *when)
{
	char path[4096], init_err[600], vmm[600];
	run_file(path, sizeof(path), f->run_dir, f->cfg->name, RUN_FILE_CONSOLE);
	find_line(path, "HF-LAMBDA-INIT-ERROR", init_err, sizeof(init_err));
	run_file(path, sizeof(path), f->run_dir, f->cfg->name, ".log");
	find_line(path, "error: ", vmm, sizeof(vmm));
	set_failed(f, "the function's VM ended %s (status %d)%s%s", when,
		   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
		   init_err[0] || vmm[0] ? ": " : "", init_err[0] ? init_err : vmm);
}

/* Mode clone: the template has frozen (its agent took the first call for an invocation). */
static bool frozen(struct function *f)
{
	struct hf_request req = {.cmd = CMD_STATUS};
	struct hf_response resp = {0};
	int fd = ctl_connect(f->run_dir, f->cfg->name, true);
	return fd >= 0 && ctl_exchange(fd, f->cfg->name, &req, &resp) == 0 && resp.ok &&
	       !strcmp(resp.vm.state, "template");
}

static int agent_connect(const struct function *f, const char *path, uint64_t deadline);

/* The socket of VM name's agent into path: the vsock device's default, RUN_DIR/NAME.vsock
 * (a Linux guest), or the function device's, RUN_DIR/NAME.fn (a bare guest). */
static void agent_path(const struct function *f, const char *name, char *path, size_t len)
{
	run_file(path, len, f->run_dir, name, f->cfg->image ? FN_EXT : VSOCK_EXT);
}

/* The agent in VM name takes connections. */
static bool agent_up(struct function *f, const char *name)
{
	char path[4096];
	agent_path(f, name, path, sizeof(path));
	int s = agent_connect(f, path, now_ns() + 1000000000ull);
	if (s < 0)
		return false;
	close(s);
	return true;
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
	if (f->cfg->mode == FN_MODE_CLONE ? frozen(f) : agent_up(f, f->cfg->name)) {
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

/* ---- an invocation ----------------------------------------------------------------------- */

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = now_ns();
	return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

/* Move len bytes between buf and fd before deadline. Returns 0, or -1 (errno ETIMEDOUT at
 * the deadline, EPIPE if the peer closed). */
static int io_all(int fd, void *buf, size_t len, bool out, uint64_t deadline)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pf = {.fd = fd, .events = out ? POLLOUT : POLLIN};
		int r = poll(&pf, 1, remaining_ms(deadline));
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line (without its '\n') into line, read a byte at a time, before deadline. */
static int read_line(int fd, char *line, size_t size, uint64_t deadline)
{
	for (size_t n = 0; n + 1 < size; n++) {
		if (io_all(fd, line + n, 1, false, deadline) < 0)
			return -1;
		if (line[n] == '\n') {
			line[n] = 0;
			return 0;
		}
	}
	errno = EPROTO;
	return -1;
}

/* Connect to the agent whose socket is path: over vsock (Linux) with the CONNECT
 * handshake, to a bare guest's function socket directly. Returns the fd or -1. */
static int agent_connect(const struct function *f, const char *path, uint64_t deadline)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char line[64];
	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", HF_LAMBDA_PORT);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (!f->cfg->image && (io_all(fd, line, (size_t)n, true, deadline) < 0 ||
				read_line(fd, line, sizeof(line), deadline) < 0 ||
				strncmp(line, "OK ", 3)))) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void set_body(struct inv_result *r, enum inv_outcome outcome, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_body(struct inv_result *r, enum inv_outcome outcome, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->body);
	r->body = NULL;
	int n = vasprintf(&r->body, fmt, ap);
	va_end(ap);
	r->body_len = n > 0 ? (size_t)n : 0;
	r->outcome = outcome;
}

/* "2026-11-30T12:00:00.123Z" */
static void iso_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void failed(struct function *f, const struct invocation *inv, struct inv_result *r,
		   bool timed_out);

/* The exchange with the agent (lambda.h): INVOKE out, one answer back. */
static void exchange(struct function *f, int s, const struct invocation *inv, uint64_t deadline,
		     struct inv_result *r)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t deadline_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000 +
			       (uint64_t)remaining_ms(deadline);
	char line[HF_LAMBDA_LINE_MAX];
	size_t ctx_len = inv->client_context ? strlen(inv->client_context) : 0;
	int n = snprintf(line, sizeof(line),
			 "INVOKE %s %llu arn:aws:lambda:us-east-1:000000000000:function:%s - %zu "
			 "%zu\n",
			 inv->request_id, (unsigned long long)deadline_ms, f->cfg->name, ctx_len,
			 inv->payload_len);
	if (io_all(s, line, (size_t)n, true, deadline) < 0 ||
	    (ctx_len && io_all(s, (void *)inv->client_context, ctx_len, true, deadline) < 0) ||
	    (inv->payload_len && io_all(s, (void *)inv->payload, inv->payload_len, true, deadline) < 0) ||
	    read_line(s, line, sizeof(line), deadline) < 0)
		goto failed;
	char kind[16], type[128] = "-";
	unsigned long long len;
	char end;
	int k = sscanf(line, "%15s %llu %127s%c", kind, &len, type, &end);
	bool ok = !strcmp(kind, "RESPONSE") ? k == 2
		  : !strcmp(kind, "ERROR") || !strcmp(kind, "INIT_ERROR") ? k == 3
									 : false;
	if (!ok || len > HF_LAMBDA_MAX_PAYLOAD) {
		errno = EPROTO;
		goto failed;
	}
	r->body = malloc(len + 1);
	if (!r->body || io_all(s, r->body, len, false, deadline) < 0)
		goto failed;
	r->body[len] = 0;
	r->body_len = len;
	/* An error the runtime reported is handled; its runtime ending (or answering more than
	 * Lambda takes) is not. */
	r->outcome = kind[0] == 'R'                               ? INV_OK
		     : kind[0] == 'E' && strncmp(type, "Runtime.", 8) &&
				     strcmp(type, "Function.ResponseSizeTooLarge")
			     ? INV_HANDLED
			     : INV_UNHANDLED;
	return;
failed:
	failed(f, inv, r, errno == ETIMEDOUT);
}

/* The answer Lambda gives for an invocation that timed out, or whose runtime ended (or
 * broke the protocol) without an answer. */
static void failed(struct function *f, const struct invocation *inv, struct inv_result *r,
		   bool timed_out)
{
	if (timed_out) {
		char t[40];
		iso_now(t, sizeof(t));
		set_body(r, INV_UNHANDLED,
			 "{\"errorMessage\":\"%s %s Task timed out after %u.00 seconds\"}", t,
			 inv->request_id, f->cfg->timeout_s);
		pthread_mutex_lock(&f->lock);
		f->stats.timeouts++;
		pthread_mutex_unlock(&f->lock);
	} else {
		set_body(r, INV_UNHANDLED,
			 "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: %s "
			 "Error: Runtime exited without providing a reason\"}",
			 inv->request_id);
	}
}

/* The last TAIL_BYTES of the clone's console, base64. */
static char *console_tail(const char *path)
{
	char buf[TAIL_BYTES];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;
	if (fd >= 0) {
		off_t size = lseek(fd, 0, SEEK_END);
		off_t from = size > TAIL_BYTES ? size - TAIL_BYTES : 0;
		n = pread(fd, buf, sizeof(buf), from);
		close(fd);
	}
	char *out = malloc(BASE64_LEN(sizeof(buf)));
	if (out)
		base64_encode(buf, n > 0 ? (size_t)n : 0, out);
	return out;
}

/* End the clone: asked through its control socket (it removes its sockets), killed if it
 * does not answer. */
static void clone_end(struct function *f, const struct hf_clone_info *c)
{
	struct hf_request req = {.cmd = CMD_STOP};
	struct hf_response resp = {0};
	int fd = ctl_connect(f->run_dir, c->name, true);
	if (fd < 0 || ctl_exchange(fd, c->name, &req, &resp) < 0 || !resp.ok)
		kill(c->pid, SIGKILL);
}

/* Mode clone: a clone of the template, activated for this invocation, into r->clone.
 * Returns 0, or -1 with r->error set. */
static int clone_new(struct function *f, bool tail, struct inv_result *r)
{
	/* The clone's console is kept only when its end is asked for (Tail). */
	struct hf_request req = {.cmd = CMD_FORK, .count = 1};
	snprintf(req.console, sizeof(req.console), "%s", tail ? "file" : "none");
	struct hf_response resp = {0};
	int fd = ctl_connect(f->run_dir, f->cfg->name, true);
	int rc = -1;
	if (fd < 0 || ctl_exchange(fd, f->cfg->name, &req, &resp) < 0 || !resp.ok ||
	    resp.nclones != 1) {
		snprintf(r->error, sizeof(r->error), "no clone of function %s could be made: %s",
			 f->cfg->name, resp.error[0] ? resp.error : "its template does not answer");
	} else {
		r->clone = resp.clones[0];
		pthread_mutex_lock(&f->lock);
		f->stats.live++;
		f->stats.on_demand += r->clone.on_demand;
		pthread_mutex_unlock(&f->lock);
		rc = 0;
	}
	proto_response_free(&resp);
	return rc;
}

/* Mode boot: boot a VM for this invocation (r->booted, named into name). Returns 0, or -1
 * with r->error set. */
static int boot_new(struct function *f, char *name, size_t len, struct inv_result *r)
{
	char why[512];
	pthread_mutex_lock(&f->lock);
	unsigned seq = ++f->boot_seq;
	pthread_mutex_unlock(&f->lock);
	snprintf(name, len, "%.40s-b%u", f->cfg->name, seq);
	pid_t pid = start_vm(f, name, why, sizeof(why));
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

/* Mode boot: connect to the agent of the VM just booted, trying until it listens (or the
 * VM ends, or deadline). */
static int agent_connect_booting(const struct function *f, const char *path, pid_t pid,
				 uint64_t deadline)
{
	for (;;) {
		int s = agent_connect(f, path, deadline);
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

void function_release(struct function *f, struct inv_result *r)
{
	if (r->booted) {
		if (r->booted > 0) { /* (-1: it ended and was reaped) */
			kill(-r->booted, SIGTERM); /* the VMM stops cleanly, removing its sockets */
			waitpid(r->booted, NULL, 0);
		}
		r->booted = 0;
		char log[4096];
		run_file(log, sizeof(log), f->run_dir, r->clone.name, ".log");
		unlink(log);
		if (!r->keep_console) /* Tail: read, then removed, by function_invoke */
			unlink(r->clone.console);
	} else if (r->clone.name[0] && r->clone.pid > 0) {
		clone_end(f, &r->clone);
	} else {
		return;
	}
	r->clone.pid = 0;
	pthread_mutex_lock(&f->lock);
	f->stats.live--;
	pthread_mutex_unlock(&f->lock);
}

void function_invoke(struct function *f, const struct invocation *inv, struct inv_result *r)
{
	memset(r, 0, sizeof(*r));
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)f->cfg->timeout_s * 1000000000ull;
	pthread_mutex_lock(&f->lock);
	f->stats.invocations++;
	enum fn_state state = f->state;
	pthread_mutex_unlock(&f->lock);

	char name[HF_NAME_MAX + 1], path[4096];
	int s = -1, vm = -1;
	if (state != FN_READY) {
		snprintf(r->error, sizeof(r->error), "function %s is not ready", f->cfg->name);
	} else if (f->cfg->mode == FN_MODE_CLONE) {
		if ((vm = clone_new(f, inv->tail, r)) == 0) {
			/* the clone NAME.N listens on the template's vsock socket + ".N", or
			 * (a bare guest) on its own NAME.N.fn */
			const char *dot = strrchr(r->clone.name, '.');
			agent_path(f, f->cfg->image ? r->clone.name : f->cfg->name, path,
				   sizeof(path));
			if (!f->cfg->image)
				snprintf(path + strlen(path), sizeof(path) - strlen(path), ".%s",
					 dot ? dot + 1 : "0");
			s = agent_connect(f, path, deadline);
		}
	} else if (f->cfg->mode == FN_MODE_BOOT) {
		/* The boot is not the invocation's: its timeout starts once the agent is up. */
		if ((vm = boot_new(f, name, sizeof(name), r)) == 0) {
			agent_path(f, name, path, sizeof(path));
			s = agent_connect_booting(f, path, r->booted,
						  t0 + (uint64_t)SERVE_BOOT_TIMEOUT_MS * 1000000);
			deadline = now_ns() + (uint64_t)f->cfg->timeout_s * 1000000000ull;
			if (s < 0 && errno == ECHILD) { /* it never came up: why is in its log */
				char log[4096], line[600];
				run_file(log, sizeof(log), f->run_dir, name, ".log");
				find_line(log, "error: ", line, sizeof(line));
				snprintf(r->error, sizeof(r->error), "the VM booted for the invocation "
					 "ended before its agent was up%s%s", line[0] ? ": " : "", line);
				r->booted = -1; /* reaped */
				function_release(f, r);
				vm = -1;
			}
		}
	} else { /* warm: its one VM, one invocation at a time */
		pthread_mutex_lock(&f->warm_lock);
		agent_path(f, f->cfg->name, path, sizeof(path));
		s = agent_connect(f, path, deadline);
		vm = 0;
	}
	if (vm < 0) {
		r->outcome = INV_SERVICE;
		pthread_mutex_lock(&f->lock);
		f->stats.service_errors++;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	if (s < 0) {
		failed(f, inv, r, errno == ETIMEDOUT);
	} else {
		pthread_mutex_lock(&f->lock);
		hist_observe(&f->stats.activation, now_ns() - t0);
		pthread_mutex_unlock(&f->lock);
		exchange(f, s, inv, deadline, r);
		close(s);
	}
	if (f->cfg->mode == FN_MODE_WARM)
		pthread_mutex_unlock(&f->warm_lock);
	if (inv->tail) { /* its console complete: the VM ended first */
		r->keep_console = true;
		function_release(f, r);
		char console[4096];
		if (f->cfg->mode == FN_MODE_WARM)
			run_file(console, sizeof(console), f->run_dir, f->cfg->name, RUN_FILE_CONSOLE);
		else
			snprintf(console, sizeof(console), "%s", r->clone.console);
		r->log_tail_b64 = console_tail(console);
		if (f->cfg->mode != FN_MODE_WARM)
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
