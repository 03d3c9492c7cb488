/* seccomp filters (src/core/seccomp.c), loaded in a forked child: what each kind of thread
 * needs passes, what it must not do ends the process with status 240 and a line naming the
 * thread kind and the call. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/seccomp.h"
#include "hyperfork/abi.h"
#include "util/log.h"

/* Run fn in a child under the filter of kind (for vcpu and helper, stacked on main's as in
 * the VMM; the keeper's alone), with every signal blocked as the VMM's threads start; return its exit status
 * (-1 if killed by a signal) and what it logged in out. */
static int run_filtered(enum seccomp_kind kind, void (*fn)(void), char *out, size_t outlen)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		log_set_name("t");
		/* as the VMM's threads start: every signal blocked */
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, NULL);
		if (seccomp_prepare(true) < 0 ||
		    (kind != SECCOMP_KEEPER && seccomp_enter(SECCOMP_MAIN) < 0) ||
		    (kind != SECCOMP_MAIN && seccomp_enter(kind) < 0))
			_exit(99);
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n < outlen - 1 && (r = read(p[0], out + n, outlen - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void main_allowed(void)
{
	/* the control socket, the tap's ioctls, memory, a thread, fork and wait */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		_exit(1);
	close(s);
	if (ioctl(-1, TCGETS, NULL) == 0 || errno != EBADF)
		_exit(2);
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || munmap(m, 4096) < 0)
		_exit(3);
	pid_t c = fork();
	if (c == 0)
		_exit(7);
	int st;
	if (c < 0 || waitpid(c, &st, 0) != c || WEXITSTATUS(st) != 7)
		_exit(4);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(5);
	close(fd);
}

static void *nothing(void *arg)
{
	return arg;
}

static void main_thread_allowed(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
		_exit(6);
}

static void main_mount(void)
{
	syscall(SYS_mount, "none", "/", "none", 0, NULL);
}

static void main_exec_memory(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void main_namespace(void)
{
	syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
}

static void main_inet6(void)
{
	socket(AF_INET6, SOCK_STREAM, 0);
}

static void main_tiocsti(void)
{
	char c = 0;
	ioctl(STDIN_FILENO, TIOCSTI, &c);
}

static void main_execve(void)
{
	char *argv[] = {"/bin/true", NULL};
	execve("/bin/true", argv, NULL);
}

static void vcpu_allowed(void)
{
	if (ioctl(-1, KVM_RUN, 0) == 0 || errno != EBADF)
		_exit(1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* vsock connects out */
	if (s < 0)
		_exit(2);
	close(s);
}

static void vcpu_mkdir(void)
{
	mkdir("/nonexistent/hyperfork", 0700);
}

static void vcpu_fork(void)
{
	fork();
}

static void vcpu_vm_ioctl(void)
{
	ioctl(-1, KVM_CREATE_VCPU, 0);
}

static void helper_allowed(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(1);
	close(fd);
}

static void helper_socket(void)
{
	socket(AF_UNIX, SOCK_STREAM, 0);
}

static void keeper_allowed(void)
{
	/* watching cgroups, a pidfd for a host pid, reaping, removing what a VM left */
	int in = inotify_init1(IN_CLOEXEC);
	int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (in < 0 || pfd < 0 || s < 0)
		_exit(1);
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
		_exit(2);
	if (rmdir("/nonexistent/hyperfork") == 0 || errno != ENOENT ||
	    unlink("/nonexistent/hyperfork") == 0 || errno != ENOENT)
		_exit(3);
	int fd = open("/proc/self/fdinfo/0", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || dup2(fd, fd + 1) < 0)
		_exit(4);
}

static void keeper_kill(void)
{
	kill(1, 0);
}

static void expect_ok(enum seccomp_kind kind, void (*fn)(void))
{
	char out[1024];
	int st = run_filtered(kind, fn, out, sizeof(out));
	if (st != 0)
		fail_msg("%s thread: status %d, log: %s", seccomp_kind_name(kind), st, out);
}

static void expect_killed(enum seccomp_kind kind, void (*fn)(void), const char *words)
{
	char out[1024];
	int st = run_filtered(kind, fn, out, sizeof(out));
	assert_int_equal(st, HF_STATUS_ERROR);
	if (!strstr(out, words))
		fail_msg("no '%s' in: %s", words, out);
	assert_non_null(strstr(out, "hyperfork[t pid "));
}

static void test_main(void **state)
{
	(void)state;
	expect_ok(SECCOMP_MAIN, main_allowed);
	expect_ok(SECCOMP_MAIN, main_thread_allowed);
	expect_killed(SECCOMP_MAIN, main_mount,
		      "error: seccomp: the main thread made a forbidden system call: mount (165); "
		      "the VMM ends");
	expect_killed(SECCOMP_MAIN, main_exec_memory, "forbidden system call: mmap (9)");
	expect_killed(SECCOMP_MAIN, main_namespace, "forbidden system call: clone (56)");
	expect_killed(SECCOMP_MAIN, main_inet6, "forbidden system call: socket (41)");
	expect_killed(SECCOMP_MAIN, main_tiocsti, "forbidden system call: ioctl (16) request 0x5412");
	expect_killed(SECCOMP_MAIN, main_execve, "forbidden system call: execve (59)");
}

static void test_vcpu(void **state)
{
	(void)state;
	expect_ok(SECCOMP_VCPU, vcpu_allowed);
	/* (not open: sanitized builds let every thread open, to write their reports) */
	expect_killed(SECCOMP_VCPU, vcpu_mkdir, "the vCPU thread made a forbidden system call: mkdir (83)");
	expect_killed(SECCOMP_VCPU, vcpu_fork, "the vCPU thread made a forbidden system call: clone");
	expect_killed(SECCOMP_VCPU, vcpu_vm_ioctl, "the vCPU thread made a forbidden system call: ioctl (16) request 0xae41");
}

static void test_helper(void **state)
{
	(void)state;
	expect_ok(SECCOMP_HELPER, helper_allowed);
	expect_killed(SECCOMP_HELPER, helper_socket,
		      "the helper thread made a forbidden system call: socket (41)");
}

static void test_keeper(void **state)
{
	(void)state;
	expect_ok(SECCOMP_KEEPER, keeper_allowed);
	expect_killed(SECCOMP_KEEPER, main_mount,
		      "error: seccomp: the keeper thread made a forbidden system call: mount (165); "
		      "the jail ends");
	expect_killed(SECCOMP_KEEPER, keeper_kill, "the keeper thread made a forbidden system call: kill (62)");
	expect_killed(SECCOMP_KEEPER, main_inet6, "the keeper thread made a forbidden system call: socket (41)");
	expect_killed(SECCOMP_KEEPER, main_execve, "the keeper thread made a forbidden system call: execve (59)");
	expect_killed(SECCOMP_KEEPER, vcpu_fork, "the keeper thread made a forbidden system call: clone");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main),
		cmocka_unit_test(test_vcpu),
		cmocka_unit_test(test_helper),
		cmocka_unit_test(test_keeper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
