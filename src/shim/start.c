/* The commands containerd runs the shim binary with (see shim.h): start and delete. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shim/bundle.h"
#include "shim/shim.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/sock.h"
#include "util/util.h"

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"

/* Write text into the bundle's file name (replacing it). */
static int bundle_write(const char *bundle, const char *name, const char *text, char *err,
			size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/%s", bundle, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		int e = errno;
		if (fd >= 0)
			unlink(tmp);
		return errf(err, errlen, "cannot write %s: %s", path, strerror(e));
	}
	return 0;
}

static const char *bundle_of(const struct shim_opts *o)
{
	static char cwd[PATH_MAX];
	if (o->bundle && o->bundle[0])
		return o->bundle;
	return getcwd(cwd, sizeof(cwd)) ? cwd : ".";
}

/* start, with the socket directory locked (dir_fd, which the serving process closes). */
static int start_locked(const char *bundle, const char *path, const char *out,
			struct shim_serving *serve, int dir_fd, char *err, size_t errlen)
{
	char line[32];
	/* A shim serving the pod already: its address (as Kata's shim does for a pod's
	 * containers). */
	int fd = unix_connect(path, 0);
	if (fd >= 0) {
		int peer = unix_peer_pid(fd);
		close(fd);
		snprintf(line, sizeof(line), "%d", peer);
		if (bundle_write(bundle, "address", out, err, errlen) < 0 ||
		    bundle_write(bundle, "shim.pid", line, err, errlen) < 0)
			return -1;
		return 0;
	}
	/* The serving shim listens itself (so that a second start learns its pid from the
	 * socket) and says on a pipe whether it could. */
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return errf(err, errlen, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(ready[0]);
		close(ready[1]);
		return errf(err, errlen, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(ready[0]);
		close(dir_fd); /* (the lock stays with start) */
		char why[256] = "";
		int lfd = unix_listen(path, NULL); /* (a socket of a dead shim is replaced) */
		if (lfd < 0)
			snprintf(why, sizeof(why), "cannot listen on %s: %s", path, strerror(errno));
		bool told = write_all(ready[1], why, strlen(why) + 1) == 0;
		close(ready[1]);
		if (lfd < 0 || !told) {
			if (lfd >= 0)
				close(lfd);
			return errf(err, errlen, "%s", why[0] ? why : "start went away");
		}
		/* The serving shim: detached from containerd's start (its output pipe closed,
		 * its session its own), its log into the bundle's log fifo containerd reads. */
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int log = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (log >= 0)
			fcntl(log, F_SETFL, 0);
		dup2(null, 0);
		dup2(null, 1);
		dup2(log >= 0 ? log : null, 2);
		if (chdir("/") < 0)
			pr_warn("chdir /: %s", strerror(errno));
		*serve = (struct shim_serving){.listen_fd = lfd};
		snprintf(serve->socket_path, sizeof(serve->socket_path), "%s", path);
		return 1;
	}
	close(ready[1]);
	char why[256] = "";
	ssize_t got = read(ready[0], why, sizeof(why) - 1);
	close(ready[0]);
	if (got <= 0 || why[0]) {
		waitpid(pid, NULL, 0);
		return errf(err, errlen, "%s", got > 0 ? why : "the serving shim ended at once");
	}
	snprintf(line, sizeof(line), "%d", (int)pid);
	if (bundle_write(bundle, "address", out, err, errlen) < 0 ||
	    bundle_write(bundle, "shim.pid", line, err, errlen) < 0) {
		kill(pid, SIGKILL);
		unlink(path);
		return -1;
	}
	return 0;
}


int shim_start(const struct shim_opts *o, char *out, size_t len, struct shim_serving *serve,
	       char *err, size_t errlen)
{
	const char *bundle = bundle_of(o);
	struct shim_spec spec;
	char path[SUN_PATH_SIZE + 64];
	if (!o->id || !shim_valid_id(o->id))
		return errf(err, errlen, "-id '%s' is no container id", o->id ? o->id : "");
	if (!o->ns || !o->ns[0] || strlen(o->ns) > SHIM_ID_MAX)
		return errf(err, errlen, "-namespace: 1..%u characters", SHIM_ID_MAX);
	if (shim_spec_load(bundle, &spec, err, errlen) < 0)
		return -1;
	if (shim_socket_path(o->socket_dir, o->ns, shim_group(&spec, o->id), path, sizeof(path),
			     err, errlen) < 0)
		return -1;
	snprintf(out, len, "unix://%s", path);
	if (mkdir(o->socket_dir, 0711) < 0 && errno != EEXIST)
		return errf(err, errlen, "cannot make %s: %s", o->socket_dir, strerror(errno));
	/* One start at a time in the socket directory: two containers of one pod started at
	 * once must find one serving shim, not make one each (the second's socket would
	 * replace the first's, which would serve nobody and never end). */
	int dir = open(o->socket_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || flock(dir, LOCK_EX) < 0) {
		int e = errno;
		if (dir >= 0)
			close(dir);
		return errf(err, errlen, "cannot lock %s: %s", o->socket_dir, strerror(e));
	}
	int rc = start_locked(bundle, path, out, serve, dir, err, errlen);
	if (rc != 1)
		close(dir);
	return rc;
}

/* Is pid a HyperFork VMM (its comm is "hyperfork")? */
static bool is_vmm(pid_t pid)
{
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
	if (fd >= 0)
		close(fd);
	comm[n > 0 ? n : 0] = 0;
	return !strcmp(comm, "hyperfork\n");
}

/* The bundle's file name, as text into buf (len bytes, NUL-terminated; "" if it is not
 * there). Returns the bytes read, or -1. */
static ssize_t bundle_read(const char *bundle, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", bundle, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* The number in the bundle's file name (shim.pid), or 0. */
static int bundle_pid(const char *bundle, const char *name)
{
	char text[32];
	uint64_t v;
	ssize_t n = bundle_read(bundle, name, text, sizeof(text));
	text[strcspn(text, "\n")] = 0;
	return n > 0 && parse_uint(text, INT32_MAX, &v) == 0 ? (int)v : 0;
}

/* Unlink the socket at path unless a live shim listens there. dead: the pid of the shim
 * that died (containerd runs delete as soon as its connection closes, which may be a moment
 * before its listening socket is): while it is the one that answers, ask again. */
static void remove_dead_socket(const char *path, int dead)
{
	for (int i = 0; i < 100; i++) {
		int fd = unix_connect(path, 0);
		if (fd < 0) {
			if (errno == ECONNREFUSED)
				unlink(path);
			return;
		}
		int peer = unix_peer_pid(fd);
		close(fd);
		if (!dead || peer != dead)
			return; /* the pod's shim, alive */
		usleep(10000);
	}
}

int shim_delete(const struct shim_opts *o, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	const char *bundle = bundle_of(o);
	char path[PATH_MAX], file[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/%s", bundle, SHIM_TASK_FILE);
	ssize_t n = bundle_read(bundle, SHIM_TASK_FILE, file, sizeof(file));
	int pid = 0, clone = 0;
	char dir[PATH_MAX], name[HF_NAME_MAX + 8];
	if (n > 0 && sscanf(file, "%d %d %4095s %70s", &pid, &clone, dir, name) == 4 && pid > 1 &&
	    valid_vm_name(name)) {
		/* The shim died with its task's VMM running: end it, and what it left. */
		if (is_vmm(pid) && kill(pid, SIGKILL) == 0)
			pr_info("delete: killed VMM %s (pid %d) of task %s", name, pid, o->id);
		for (int i = 0; i < 50 && kill(pid, 0) == 0 && is_vmm(pid); i++)
			usleep(20000);
		char f[PATH_MAX];
		const char *exts[] = {RUN_FILE_SOCKET, RUN_FILE_FUNCTION, RUN_FILE_VSOCK,
				      RUN_FILE_EXIT, RUN_FILE_CONSOLE};
		for (unsigned i = 0; i < sizeof(exts) / sizeof(exts[0]) && exts[i]; i++) {
			run_file(f, sizeof(f), dir, name, exts[i]);
			unlink(f);
		}
	}
	unlink(path);
	/* The dead shim's socket, unless a shim (the pod's) still listens on it. */
	struct shim_spec spec;
	char sock[SUN_PATH_SIZE + 64], why[256];
	if (o->id && o->ns && shim_spec_load(bundle, &spec, why, sizeof(why)) == 0 &&
	    shim_socket_path(o->socket_dir, o->ns, shim_group(&spec, o->id), sock, sizeof(sock),
			     why, sizeof(why)) == 0)
		remove_dead_socket(sock, bundle_pid(bundle, "shim.pid"));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = now.tv_sec;
	ts.nanos = (int32_t)now.tv_nsec;
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	resp.pid = pid > 0 ? (uint32_t)pid : 0;
	resp.exit_status = 128 + SIGKILL;
	resp.exited_at = &ts;
	*len = protobuf_c_message_get_packed_size(&resp.base);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		return errf(err, errlen, "no memory");
	protobuf_c_message_pack(&resp.base, *buf);
	return 0;
}
