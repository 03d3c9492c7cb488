/* The Task service (containerd.task.v2.Task) of the serving shim: a task is a VM, a clone
 * activated from a template or a VM booted by `hyperfork run` (see shim.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/client.h"
#include "shim/internal.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/util.h"

#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"

#define TASK_SERVICE "containerd.task.v2.Task"

static struct shim_task *task_find(struct shim *s, const char *id)
{
	for (unsigned i = 0; i < SHIM_TASKS_MAX; i++)
		if (s->tasks[i].used && !strcmp(s->tasks[i].id, id))
			return &s->tasks[i];
	return NULL;
}

static unsigned tasks_live(const struct shim *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < SHIM_TASKS_MAX; i++)
		n += s->tasks[i].used;
	return n;
}

/* The task of a request's id, or a NotFound status; exec ids are not supported. */
static struct shim_task *task_of(struct shim *s, const char *id, const char *exec_id,
				 struct ttrpc_result *res)
{
	struct shim_task *t = task_find(s, id);
	if (!t)
		ttrpc_result_status(res, TTRPC_NOT_FOUND, "task %s: not found", id);
	else if (exec_id && exec_id[0]) {
		ttrpc_result_status(res, TTRPC_NOT_FOUND, "task %s: exec %s: not found (a HyperFork "
				    "task runs no exec processes)", id, exec_id);
		t = NULL;
	}
	return t;
}

static Google__Protobuf__Timestamp timestamp(const struct timespec *ts)
{
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	t.seconds = ts->tv_sec;
	t.nanos = (int32_t)ts->tv_nsec;
	return t;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the VM ------------------------------------------------------------------------- */

/* The hyperfork binary: $HYPERFORK_BIN, else beside this shim's binary, else on PATH. */
static void hyperfork_path(char *out, size_t len)
{
	const char *env = getenv("HYPERFORK_BIN");
	if (env && env[0]) {
		snprintf(out, len, "%s", env);
		return;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(out, len, "%s/hyperfork", self);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, len, "hyperfork");
}

/* The booted VM's name: "ctr-ID" when that is a VM name, else "ctr-" and a hash of id. */
static void boot_name(const char *id, char *out, size_t len)
{
	snprintf(out, len, "ctr-%s", id);
	if (valid_vm_name(out))
		return;
	uint64_t h = 1469598103934665603ull;
	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	snprintf(out, len, "ctr-%016llx", (unsigned long long)h);
}

static int watch_exit(struct shim_task *t, char *why, size_t whylen);

/* Activate a clone of the task's template: its name, pid and console file. */
static int start_clone(struct shim_task *t, char *why, size_t whylen)
{
	int fd = ctl_connect(t->run_dir, t->spec.template_, true);
	if (fd < 0)
		return errf(why, whylen, "template %s: no such template in %s (%s): start it with "
			    "hyperfork run --name %s --template --exit-files ...", t->spec.template_,
			    t->run_dir, strerror(errno), t->spec.template_);
	struct hf_request req = {.cmd = CMD_FORK, .count = 1};
	snprintf(req.console, sizeof(req.console), "file");
	struct hf_response resp;
	if (ctl_exchange(fd, t->spec.template_, &req, &resp) < 0)
		return errf(why, whylen, "template %s does not answer", t->spec.template_);
	int rc = 0;
	if (!resp.ok || resp.nclones != 1 || resp.clones[0].pid <= 1)
		rc = errf(why, whylen, "template %s made no clone: %s", t->spec.template_,
			  resp.error[0] ? resp.error : "no answer");
	else {
		t->clone = true;
		t->pid = resp.clones[0].pid;
		snprintf(t->vm_name, sizeof(t->vm_name), "%s", resp.clones[0].name);
		run_file(t->console_path, sizeof(t->console_path), t->run_dir, t->vm_name,
			 RUN_FILE_CONSOLE);
		/* (Opened by task_io_follow: the clone may not have made it yet.) */
	}
	proto_response_free(&resp);
	return rc;
}

/* Boot the task's VM with `hyperfork run`, a child of the shim, its console in a file of
 * the run directory (followed as a clone's is) and its log on the stderr fifo. */
static int start_boot(struct shim_task *t, char *why, size_t whylen)
{
	const struct shim_spec *sp = &t->spec;
	char bin[PATH_MAX];
	hyperfork_path(bin, sizeof(bin));
	boot_name(t->id, t->vm_name, sizeof(t->vm_name));
	run_file(t->console_path, sizeof(t->console_path), t->run_dir, t->vm_name,
		 RUN_FILE_CONSOLE);
	const char *argv[24] = {bin, "run", "--name", t->vm_name, "--run-dir", t->run_dir,
				"--console", t->console_path};
	unsigned argc = 8;
	if (sp->memory[0]) {
		argv[argc++] = "--mem";
		argv[argc++] = sp->memory;
	}
	if (sp->image[0]) {
		argv[argc++] = "--bare";
		argv[argc++] = sp->image;
	} else {
		argv[argc++] = "--kernel";
		argv[argc++] = sp->kernel;
		if (sp->initrd[0]) {
			argv[argc++] = "--initrd";
			argv[argc++] = sp->initrd;
		}
	}
	if (sp->cmdline[0]) {
		argv[argc++] = "--cmdline";
		argv[argc++] = sp->cmdline;
	}
	argv[argc] = NULL;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid = fork();
	if (pid < 0) {
		close_fd(&null);
		return errf(why, whylen, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int err = t->err_fd >= 0 ? t->err_fd : null;
		dup2(null, 0);
		dup2(err, 1);
		dup2(err, 2);
		setpgid(0, 0);
		execvp(bin, (char *const *)argv);
		dprintf(2, "containerd-shim-hyperfork-v1: cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close_fd(&null);
	t->clone = false;
	t->pid = pid;
	return 0;
}

/* A pod's sandbox: no VM; it stands for the pod (its pid the shim's) until killed. */
static int start_sandbox(struct shim_task *t)
{
	t->clone = false;
	t->pid = getpid();
	return 0;
}

/* Write what delete needs if this shim dies: the task's VMM. */
static void write_task_file(const struct shim_task *t)
{
	char path[PATH_MAX + 32], line[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/%s", t->bundle, SHIM_TASK_FILE);
	int n = snprintf(line, sizeof(line), "%d %d %s %s\n", (int)t->pid, t->clone ? 1 : 0,
			 t->run_dir, t->vm_name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_all(fd, line, (size_t)n) < 0)
		pr_warn("task %s: cannot write %s: %s", t->id, path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void on_exit_ready(struct watch *w, uint32_t events)
{
	(void)events;
	task_exited(w->arg);
}

/* Watch the VMM's end. A clone that ended (and was reaped by its template) before this
 * leaves no pidfd: Start then reports its end at once. */
static int watch_exit(struct shim_task *t, char *why, size_t whylen)
{
	t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	if (t->pidfd < 0 && errno == ESRCH && t->clone)
		return 0;
	if (t->pidfd < 0)
		return errf(why, whylen, "pidfd_open %d: %s", (int)t->pid, strerror(errno));
	t->exit_w = (struct watch){.fd = t->pidfd, .fn = on_exit_ready, .arg = t};
	if (loop_add(&t->shim->loop, &t->exit_w, EPOLLIN) < 0) {
		close_fd(&t->pidfd);
		return errf(why, whylen, "cannot watch pid %d", (int)t->pid);
	}
	return 0;
}

/* The status a clone ended with: RUN_DIR/NAME.exit (written by its VMM, --exit-files), or
 * 128 + the signal Kill sent (it could not write it: SIGKILL), else 255. */
static uint32_t clone_status(struct shim_task *t)
{
	char path[PATH_MAX], buf[32] = "";
	run_file(path, sizeof(path), t->run_dir, t->vm_name, RUN_FILE_EXIT);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	unlink(path);
	uint64_t v;
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	if (n > 0 && parse_uint(buf, 255, &v) == 0)
		return (uint32_t)v;
	return t->killed_by ? 128u + (uint32_t)t->killed_by : 255u;
}

static void answer_wait(struct shim_task *t, struct shim_conn *c, uint32_t stream)
{
	Containerd__Task__V2__WaitResponse out = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = timestamp(&t->exited_at);
	out.exit_status = t->exit_status;
	out.exited_at = &ts;
	uint8_t payload[128], *frame;
	size_t len = protobuf_c_message_pack(&out.base, payload), flen;
	if (ttrpc_frame_response(stream, TTRPC_OK, NULL, payload, len, &frame, &flen) == 0) {
		shim_send(c, frame, flen);
		free(frame);
	}
}

/* The task's end, once its output is out: the /tasks/exit event, its Wait calls answered. */
static void report_exit(struct shim_task *t)
{
	if (t->reported)
		return;
	t->reported = true;
	Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Google__Protobuf__Timestamp ts = timestamp(&t->exited_at);
	ev.container_id = t->id;
	ev.id = t->id;
	ev.pid = t->pid > 0 ? (uint32_t)t->pid : (uint32_t)getpid();
	ev.exit_status = t->exit_status;
	ev.exited_at = &ts;
	shim_publish(t->shim, "/tasks/exit", "TaskExit", &ev.base);
	for (unsigned i = 0; i < t->nwaiters; i++)
		answer_wait(t, t->waiters[i].conn, t->waiters[i].stream);
	t->nwaiters = 0;
}

/* The task ended with status: stopped, its output going out, then its end reported. */
static void task_ended(struct shim_task *t, uint32_t status)
{
	t->exit_status = status;
	clock_gettime(CLOCK_REALTIME, &t->exited_at);
	if (t->pidfd >= 0)
		loop_del(&t->shim->loop, &t->exit_w);
	close_fd(&t->pidfd);
	t->state = TASK_STOPPED;
	pr_info("task %s: VM %s (pid %d) ended with status %u", t->id,
		t->vm_name[0] ? t->vm_name : "(none yet)", (int)t->pid, t->exit_status);
	task_io_end(t, report_exit);
}

void task_exited(struct shim_task *t)
{
	if (t->state == TASK_STOPPED)
		return;
	if (t->clone) {
		task_ended(t, clone_status(t));
		return;
	}
	int status;
	pid_t r = waitpid(t->pid, &status, WNOHANG);
	if (r == 0)
		return; /* (not yet) */
	task_ended(t, r < 0			? 255u
		      : WIFEXITED(status) ? (uint32_t)WEXITSTATUS(status)
					  : 128u + (uint32_t)WTERMSIG(status));
}

void shim_conn_forget(struct shim *s, struct shim_conn *c)
{
	for (unsigned i = 0; i < SHIM_TASKS_MAX; i++) {
		struct shim_task *t = &s->tasks[i];
		unsigned k = 0;
		for (unsigned j = 0; j < t->nwaiters; j++)
			if (t->waiters[j].conn != c)
				t->waiters[k++] = t->waiters[j];
		t->nwaiters = k;
	}
}

/* Remove what the task's VM left in its run directory and its bundle. */
static void task_cleanup(struct shim_task *t)
{
	char path[PATH_MAX + 32];
	if (t->console_path[0])
		unlink(t->console_path);
	if (t->vm_name[0]) {
		run_file(path, sizeof(path), t->run_dir, t->vm_name, RUN_FILE_EXIT);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%s", t->bundle, SHIM_TASK_FILE);
	unlink(path);
}

static void task_free(struct shim_task *t)
{
	if (t->pidfd >= 0)
		loop_del(&t->shim->loop, &t->exit_w);
	close_fd(&t->pidfd);
	task_io_close(t);
	t->used = false;
}

/* ---- the methods ------------------------------------------------------------------------ */

#define IN(type) const type *in = (const type *)call->in
#define SHIM(ctx) struct shim *s = (struct shim *)(ctx)

static void h_create(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__CreateTaskRequest);
	if (task_find(s, in->id)) {
		ttrpc_result_status(res, TTRPC_ALREADY_EXISTS, "task %s: already exists", in->id);
		return;
	}
	if (in->terminal) {
		ttrpc_result_status(res, TTRPC_INVALID_ARGUMENT, "task %s: a terminal is not "
				    "supported (the VM's console is its output)", in->id);
		return;
	}
	if (in->checkpoint[0] || in->parent_checkpoint[0]) {
		ttrpc_result_status(res, TTRPC_UNIMPLEMENTED, "task %s: checkpoints are not "
				    "supported", in->id);
		return;
	}
	struct shim_task *t = NULL;
	for (unsigned i = 0; i < SHIM_TASKS_MAX && !t; i++)
		if (!s->tasks[i].used)
			t = &s->tasks[i];
	if (!t) {
		ttrpc_result_status(res, TTRPC_RESOURCE_EXHAUSTED, "this shim holds %u tasks already",
				    SHIM_TASKS_MAX);
		return;
	}
	memset(t, 0, sizeof(*t));
	t->shim = s;
	t->pidfd = -1; /* (its output's fds: task_io_open) */
	char err[512];
	if (shim_spec_load(in->bundle, &t->spec, err, sizeof(err)) < 0) {
		ttrpc_result_status(res, TTRPC_INVALID_ARGUMENT, "task %s: %s", in->id, err);
		return;
	}
	t->sandbox = shim_spec_is_sandbox(&t->spec);
	if (!t->sandbox && !shim_spec_has_vm(&t->spec)) {
		ttrpc_result_status(res, TTRPC_INVALID_ARGUMENT, "task %s: no VM named: annotate "
				    "it with %s=NAME (a clone of that template), or %s=BZIMAGE or "
				    "%s=ELF (a VM booted for it)", in->id, ANN_TEMPLATE, ANN_KERNEL,
				    ANN_IMAGE);
		return;
	}
	snprintf(t->run_dir, sizeof(t->run_dir), "%s", run_dir(t->spec.run_dir[0] ? t->spec.run_dir : NULL));
	if (t->spec.template_[0] && !t->sandbox) {
		/* An unknown template fails Create, not Start. */
		int fd = ctl_connect(t->run_dir, t->spec.template_, true);
		if (fd < 0) {
			ttrpc_result_status(res, TTRPC_NOT_FOUND, "task %s: template %s: no such "
					    "template in %s (%s)", in->id, t->spec.template_,
					    t->run_dir, strerror(errno));
			return;
		}
		close(fd);
	}
	snprintf(t->id, sizeof(t->id), "%s", in->id);
	snprintf(t->bundle, sizeof(t->bundle), "%s", in->bundle);
	snprintf(t->stdin_path, sizeof(t->stdin_path), "%s", in->stdin);
	snprintf(t->stdout_path, sizeof(t->stdout_path), "%s", in->stdout);
	snprintf(t->stderr_path, sizeof(t->stderr_path), "%s", in->stderr);
	task_io_open(t);
	t->state = TASK_CREATED;
	t->used = true;
	Containerd__Task__V2__CreateTaskResponse out = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	out.pid = (uint32_t)getpid(); /* the VM is made at Start: until then, the shim */
	ttrpc_result_message(res, &out.base);
	Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
	io.stdin = t->stdin_path;
	io.stdout = t->stdout_path;
	io.stderr = t->stderr_path;
	Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	ev.container_id = t->id;
	ev.bundle = t->bundle;
	ev.io = &io;
	ev.pid = out.pid;
	shim_publish(s, "/tasks/create", "TaskCreate", &ev.base);
}

static void h_start(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__StartRequest);
	struct shim_task *t = task_of(s, in->id, in->exec_id, res);
	if (!t)
		return;
	if (t->state != TASK_CREATED) {
		ttrpc_result_status(res, TTRPC_FAILED_PRECONDITION, "task %s: already started",
				    t->id);
		return;
	}
	char why[512];
	uint64_t t0 = now_ns();
	bool sandbox = t->sandbox;
	int rc = sandbox		 ? start_sandbox(t)
		 : t->spec.template_[0] ? start_clone(t, why, sizeof(why))
					: start_boot(t, why, sizeof(why));
	if (rc == 0 && !sandbox && watch_exit(t, why, sizeof(why)) < 0) {
		kill(t->pid, SIGKILL);
		rc = -1;
	}
	if (rc < 0) {
		ttrpc_result_status(res, TTRPC_FAILED_PRECONDITION, "task %s: %s", t->id, why);
		return;
	}
	t->state = TASK_RUNNING;
	if (!sandbox)
		write_task_file(t);
	pr_info("task %s: %s %s pid %d in %.3f ms", t->id,
		sandbox ? "the pod's sandbox," : t->clone ? "clone" : "booted VM",
		sandbox ? "no VM," : t->vm_name, (int)t->pid, (double)(now_ns() - t0) / 1e6);
	Containerd__Task__V2__StartResponse out = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	out.pid = (uint32_t)t->pid;
	ttrpc_result_message(res, &out.base);
	Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
	ev.container_id = t->id;
	ev.pid = out.pid;
	shim_publish(s, "/tasks/start", "TaskStart", &ev.base);
	if (t->pidfd < 0 && !sandbox)
		task_exited(t); /* it ended already (watch_exit) */
}

static Containerd__V1__Types__Status task_status(const struct shim_task *t)
{
	switch (t->state) {
	case TASK_CREATED: return CONTAINERD__V1__TYPES__STATUS__CREATED;
	case TASK_RUNNING: return CONTAINERD__V1__TYPES__STATUS__RUNNING;
	case TASK_PAUSED: return CONTAINERD__V1__TYPES__STATUS__PAUSED;
	case TASK_STOPPED: return CONTAINERD__V1__TYPES__STATUS__STOPPED;
	}
	return CONTAINERD__V1__TYPES__STATUS__UNKNOWN;
}

static void h_state(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__StateRequest);
	struct shim_task *t = task_of(s, in->id, in->exec_id, res);
	if (!t)
		return;
	Containerd__Task__V2__StateResponse out = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = timestamp(&t->exited_at);
	out.id = t->id;
	out.bundle = t->bundle;
	out.pid = t->pid > 0 ? (uint32_t)t->pid : (uint32_t)getpid();
	out.status = task_status(t);
	out.stdin = t->stdin_path;
	out.stdout = t->stdout_path;
	out.stderr = t->stderr_path;
	if (t->state == TASK_STOPPED) {
		out.exit_status = t->exit_status;
		out.exited_at = &ts;
	}
	ttrpc_result_message(res, &out.base);
}

static void h_wait(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__WaitRequest);
	struct shim_task *t = task_of(s, in->id, in->exec_id, res);
	if (!t)
		return;
	if (t->reported) {
		Containerd__Task__V2__WaitResponse out = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
		Google__Protobuf__Timestamp ts = timestamp(&t->exited_at);
		out.exit_status = t->exit_status;
		out.exited_at = &ts;
		ttrpc_result_message(res, &out.base);
		return;
	}
	if (t->nwaiters == SHIM_WAITERS_MAX) {
		ttrpc_result_status(res, TTRPC_RESOURCE_EXHAUSTED, "task %s: %u Wait calls pending "
				    "already", t->id, SHIM_WAITERS_MAX);
		return;
	}
	t->waiters[t->nwaiters].conn = s->cur;
	t->waiters[t->nwaiters++].stream = call->stream_id;
	res->later = true; /* answered by report_exit */
}

static void h_kill(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__KillRequest);
	struct shim_task *t = task_of(s, in->id, in->exec_id, res);
	if (!t)
		return;
	if (in->signal == 0 || in->signal >= 65) {
		ttrpc_result_status(res, TTRPC_INVALID_ARGUMENT, "task %s: no signal %u", t->id,
				    in->signal);
		return;
	}
	if (t->state == TASK_STOPPED) {
		ttrpc_result_status(res, TTRPC_NOT_FOUND, "task %s: process already finished", t->id);
		return;
	}
	if (t->state == TASK_CREATED) { /* no VM yet: it ends before it began */
		task_ended(t, 128u + in->signal);
		return; /* Empty */
	}
	if (t->sandbox) { /* ends as a pause container does */
		if (in->signal == SIGKILL || in->signal == SIGTERM || in->signal == SIGINT)
			task_ended(t, 128u + in->signal);
		return; /* Empty */
	}
	t->killed_by = (int)in->signal;
	if (kill(t->pid, (int)in->signal) < 0 && errno != ESRCH) {
		ttrpc_result_status(res, TTRPC_INTERNAL, "task %s: kill %d: %s", t->id, (int)t->pid,
				    strerror(errno));
		return;
	}
	/* A paused VM would not act on SIGTERM until resumed: SIGKILL and SIGTERM end it. */
	/* Empty */
}

static void h_delete(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__DeleteRequest);
	struct shim_task *t = task_of(s, in->id, in->exec_id, res);
	if (!t)
		return;
	if (t->state != TASK_STOPPED && t->state != TASK_CREATED) {
		ttrpc_result_status(res, TTRPC_FAILED_PRECONDITION, "task %s: still running (pid %d): "
				    "kill it first", t->id, (int)t->pid);
		return;
	}
	if (t->state == TASK_CREATED) {
		t->exit_status = 0;
		clock_gettime(CLOCK_REALTIME, &t->exited_at);
	} else {
		report_exit(t); /* (if its output was still going out: the exit event first) */
	}
	Containerd__Task__V2__DeleteResponse out = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = timestamp(&t->exited_at);
	out.pid = t->pid > 0 ? (uint32_t)t->pid : 0;
	out.exit_status = t->exit_status;
	out.exited_at = &ts;
	ttrpc_result_message(res, &out.base);
	Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
	ev.container_id = t->id;
	ev.id = t->id;
	ev.pid = out.pid;
	ev.exit_status = out.exit_status;
	ev.exited_at = &ts;
	shim_publish(s, "/tasks/delete", "TaskDelete", &ev.base);
	task_cleanup(t);
	task_free(t);
}

static void h_pids(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__PidsRequest);
	struct shim_task *t = task_of(s, in->id, NULL, res);
	if (!t)
		return;
	Containerd__V1__Types__ProcessInfo pi = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
	Containerd__V1__Types__ProcessInfo *list[1] = {&pi};
	Containerd__Task__V2__PidsResponse out = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	pi.pid = (uint32_t)t->pid;
	if (t->pid > 0 && t->state != TASK_STOPPED) {
		out.n_processes = 1;
		out.processes = list;
	}
	ttrpc_result_message(res, &out.base);
}

/* req to the task's VM on its control socket: 0 (*resp to free), or -1 (no answer). */
static int vm_call(const struct shim_task *t, const struct hf_request *req,
		   struct hf_response *resp)
{
	int fd = ctl_connect(t->run_dir, t->vm_name, true);
	return fd < 0 ? -1 : ctl_exchange(fd, t->vm_name, req, resp);
}

/* Pause or resume the task's VM: HyperFork's own, on its control socket. Returns 0, or -1
 * with res set. */
static int vm_pause(struct shim_task *t, bool pause, struct ttrpc_result *res)
{
	struct hf_request req = {.cmd = pause ? CMD_PAUSE : CMD_RESUME, .count = 1};
	struct hf_response resp;
	if (vm_call(t, &req, &resp) < 0) {
		ttrpc_result_status(res, TTRPC_UNAVAILABLE, "task %s: VM %s does not answer",
				    t->id, t->vm_name);
		return -1;
	}
	int rc = 0;
	if (!resp.ok) {
		ttrpc_result_status(res, TTRPC_INTERNAL, "task %s: %s %s: %s", t->id,
				    pause ? "pause" : "resume", t->vm_name, resp.error);
		rc = -1;
	}
	proto_response_free(&resp);
	return rc;
}

/* Pause or resume a task: its VM (a pod's sandbox has none). */
static void pause_resume(struct shim *s, const char *id, bool pause, struct ttrpc_result *res)
{
	struct shim_task *t = task_of(s, id, NULL, res);
	if (!t)
		return;
	if (t->state != (pause ? TASK_RUNNING : TASK_PAUSED)) {
		ttrpc_result_status(res, TTRPC_FAILED_PRECONDITION, "task %s: not %s", t->id,
				    pause ? "running" : "paused");
		return;
	}
	if (!t->sandbox && vm_pause(t, pause, res) < 0)
		return;
	t->state = pause ? TASK_PAUSED : TASK_RUNNING;
	/* Empty */
	if (pause) {
		Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
		ev.container_id = t->id;
		shim_publish(s, "/tasks/paused", "TaskPaused", &ev.base);
	} else {
		Containerd__Events__TaskResumed ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
		ev.container_id = t->id;
		shim_publish(s, "/tasks/resumed", "TaskResumed", &ev.base);
	}
}

static void h_pause(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	IN(Containerd__Task__V2__PauseRequest);
	pause_resume(ctx, in->id, true, res);
}

static void h_resume(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	IN(Containerd__Task__V2__ResumeRequest);
	pause_resume(ctx, in->id, false, res);
}

static void h_closeio(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__CloseIORequest);
	/* Empty if the task is there: the VM reads no stdin, nothing to close. */
	task_of(s, in->id, in->exec_id, res);
}

static void h_connect(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__ConnectRequest);
	struct shim_task *t = task_find(s, in->id);
	Containerd__Task__V2__ConnectResponse out = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	out.shim_pid = (uint32_t)getpid();
	out.task_pid = t && t->pid > 0 ? (uint32_t)t->pid : 0;
	out.version = "hyperfork";
	ttrpc_result_message(res, &out.base);
}

static void h_shutdown(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	(void)call;
	(void)res; /* Empty */
	if (tasks_live(s) == 0)
		s->shutdown = true; /* after this answer */
	/* Empty */
}

/* The guest's RAM, asked of the VM once. */
static uint64_t guest_ram(struct shim_task *t)
{
	struct hf_request req = {.cmd = CMD_STATUS};
	struct hf_response resp;
	if (!t->mem_bytes && vm_call(t, &req, &resp) == 0) {
		if (resp.ok)
			t->mem_bytes = resp.vm.mem_bytes;
		proto_response_free(&resp);
	}
	return t->mem_bytes;
}

static void h_stats(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	SHIM(ctx);
	IN(Containerd__Task__V2__StatsRequest);
	struct shim_task *t = task_of(s, in->id, NULL, res);
	if (!t)
		return;
	if (t->state == TASK_CREATED || t->state == TASK_STOPPED) {
		ttrpc_result_status(res, TTRPC_FAILED_PRECONDITION, "task %s: %s: no VM to measure",
				    t->id, t->state == TASK_CREATED ? "not started" : "ended");
		return;
	}
	/* (A pod's sandbox: what it costs is the shim's.) */
	shim_stats_answer(t->pid, t->sandbox ? 0 : guest_ram(t), res);
}

static void h_unimplemented(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	(void)ctx;
	ttrpc_result_status(res, TTRPC_UNIMPLEMENTED, "%s: not implemented by the HyperFork shim",
			    call->req->method);
}

static const struct ttrpc_method methods[] = {
#define M(name, type, fn) {TASK_SERVICE, name, &containerd__task__v2__##type##__descriptor, fn}
	M("Create", create_task_request, h_create),
	M("Start", start_request, h_start),
	M("State", state_request, h_state),
	M("Wait", wait_request, h_wait),
	M("Kill", kill_request, h_kill),
	M("Delete", delete_request, h_delete),
	M("Pids", pids_request, h_pids),
	M("Pause", pause_request, h_pause),
	M("Resume", resume_request, h_resume),
	M("CloseIO", close_iorequest, h_closeio),
	M("Connect", connect_request, h_connect),
	M("Shutdown", shutdown_request, h_shutdown),
	M("Exec", exec_process_request, h_unimplemented),
	M("ResizePty", resize_pty_request, h_unimplemented),
	M("Checkpoint", checkpoint_task_request, h_unimplemented),
	M("Update", update_task_request, h_unimplemented),
	M("Stats", stats_request, h_stats),
#undef M
};

/* Every handler behind the one check of what containerd sent (bundle.h). */
static void checked(void *ctx, const struct ttrpc_call *call, struct ttrpc_result *res)
{
	char err[256];
	if (shim_check_message(call->in, err, sizeof(err)) < 0) {
		ttrpc_result_status(res, TTRPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].method, call->req->method)) {
			methods[i].fn(ctx, call, res);
			return;
		}
}

const struct ttrpc_table *shim_task_table(struct shim *s)
{
	static struct ttrpc_method table_methods[sizeof(methods) / sizeof(methods[0])];
	static struct ttrpc_table table;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		table_methods[i] = methods[i];
		table_methods[i].fn = checked;
	}
	table = (struct ttrpc_table){table_methods, sizeof(methods) / sizeof(methods[0]), s};
	return &table;
}
