/* seccomp: allow-list filters per kind of VMM thread (see seccomp.h). Each filter is built
 * with libseccomp once, exported to classic BPF, and loaded with seccomp(2) by every thread
 * of its kind: a clone's vCPU threads start without compiling anything. */
#include "core/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#include "hyperfork/abi.h"
#include "util/log.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What every kind of thread does: memory, locks, signals, time, I/O on descriptors it was
 * given, and ending itself. */
static const int common_calls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
	SCMP_SYS(close), SCMP_SYS(lseek), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
	SCMP_SYS(futex), SCMP_SYS(sched_yield), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
	SCMP_SYS(tgkill), SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(brk),
	SCMP_SYS(getrandom), SCMP_SYS(msync), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(fcntl),
};

/* The main loop's own: its control socket and the devices' host side, fork() and the
 * clone's rebuild, waiting for clones and ending them. */
static const int main_calls[] = {
	SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(socketpair), SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(connect), SCMP_SYS(shutdown),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
	SCMP_SYS(eventfd2), SCMP_SYS(signalfd4), SCMP_SYS(timerfd_create),
	SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime), SCMP_SYS(pipe2), SCMP_SYS(dup),
	SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(mkdir),
	SCMP_SYS(mkdirat), SCMP_SYS(getdents64), SCMP_SYS(statx), SCMP_SYS(access),
	SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(readlink), SCMP_SYS(fchmod),
	SCMP_SYS(ftruncate), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(mremap),
	SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(kill), SCMP_SYS(setpgid), SCMP_SYS(getppid),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigtimedwait), SCMP_SYS(sigaltstack),
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(prlimit64), SCMP_SYS(uname), SCMP_SYS(sysinfo),
};

/* Device emulation on a vCPU thread: watching its descriptors on the main loop's epoll,
 * virtio-vsock connecting out for the guest and closing streams half-way. */
static const int vcpu_calls[] = {
	SCMP_SYS(epoll_ctl), SCMP_SYS(connect), SCMP_SYS(shutdown), SCMP_SYS(rt_sigtimedwait),
	SCMP_SYS(ftruncate), /* the console file, cut at its cap (console.c) */
};

/* The prefault thread reads /proc/self/pagemap. */
static const int helper_calls[] = {
	SCMP_SYS(openat),
};

/* The jail's keeper: reaping, its signalfd, watching cgroup.events (inotify), pidfds for
 * host pids, removing ended VMs' cgroups and sockets (probed with connect first). */
static const int keeper_calls[] = {
	SCMP_SYS(openat), SCMP_SYS(getdents64), SCMP_SYS(rmdir), SCMP_SYS(unlink),
	SCMP_SYS(inotify_add_watch), SCMP_SYS(inotify_rm_watch), SCMP_SYS(wait4),
	SCMP_SYS(pidfd_open), SCMP_SYS(connect), SCMP_SYS(statx), SCMP_SYS(inotify_init1),
	SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(setsid),
};

/* Sanitized builds (make sanitize): a report on any thread opens its log file and reads
 * the maps and the binary to symbolize. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
static const int sanitizer_calls[] = {
	SCMP_SYS(openat), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getppid),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(prctl), SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction),
};
#endif

/* ioctl requests, by who may make them. */
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_MSRS,
	KVM_SET_MSRS, KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_FPU, KVM_SET_FPU, KVM_GET_XSAVE,
	KVM_SET_XSAVE, KVM_GET_XSAVE2, KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_DEBUGREGS,
	KVM_SET_DEBUGREGS, KVM_HAS_DEVICE_ATTR, KVM_GET_DEVICE_ATTR, KVM_SET_DEVICE_ATTR,
	KVM_IRQ_LINE, KVM_GET_CLOCK, KVM_SET_CLOCK, KVM_KVMCLOCK_CTRL,
	/* a one-vCPU VM reset on its vCPU's thread (clone/reset.c): the pages the guest
	   wrote, the interrupt controllers and timer */
	KVM_GET_DIRTY_LOG, KVM_SET_IRQCHIP, KVM_SET_PIT2,
};
static const unsigned long main_ioctls[] = {
	/* /dev/kvm and the VM: what a clone needs to rebuild its VM */
	KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE, KVM_CREATE_VM,
	KVM_GET_SUPPORTED_CPUID, KVM_GET_MSR_INDEX_LIST, KVM_GET_TSC_KHZ, KVM_CREATE_VCPU,
	KVM_SET_USER_MEMORY_REGION, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR,
	KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, KVM_GET_PIT2,
	KVM_SET_PIT2, KVM_SET_CPUID2,
	/* a reset: the pages the guest wrote */
	KVM_GET_DIRTY_LOG,
	/* tap devices */
	TUNSETIFF, SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFHWADDR, SIOCSIFHWADDR,
	/* terminals: the console (stdio, pty) */
	TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCGPTN, TIOCSPTLCK, FIONBIO, FIONREAD,
};

/* Namespaces are for the jail, before the filter; a filtered VMM never makes new ones. */
#define CLONE_NS_FLAGS                                                                             \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)

static struct {
	bool on;
	struct sock_fprog prog[SECCOMP_NKINDS];
	const char *test;   /* HYPERFORK_TEST_SECCOMP: KIND[:clone] */
	const char **names; /* system call names by number, for the last words */
	unsigned nnames;
	bool main_loaded; /* inherited by clones */
} sc;

static __thread int thread_kind = -1;

const char *seccomp_kind_name(enum seccomp_kind kind)
{
	static const char *const names[] = {"main", "vCPU", "helper", "keeper"};
	return (unsigned)kind < SECCOMP_NKINDS ? names[kind] : "unknown";
}

static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	struct log_buf b = {.n = 0};
	int nr = si->si_syscall;
	(void)sig;
	logbuf_str(&b, "seccomp: the ");
	logbuf_str(&b, thread_kind >= 0 ? seccomp_kind_name((enum seccomp_kind)thread_kind)
					: "unfiltered");
	logbuf_str(&b, " thread made a forbidden system call: ");
	logbuf_str(&b, nr >= 0 && (unsigned)nr < sc.nnames && sc.names[nr] ? sc.names[nr] : "?");
	logbuf_str(&b, " (");
	logbuf_num(&b, (unsigned)nr, 10);
	logbuf_str(&b, ")");
	if (nr == SCMP_SYS(ioctl)) {
		logbuf_str(&b, " request ");
		logbuf_num(&b, (unsigned long long)uc->uc_mcontext.gregs[REG_RSI], 16);
	}
	logbuf_str(&b, thread_kind == SECCOMP_KEEPER ? "; the jail ends" : "; the VMM ends");
	log_error_safe(&b);
	syscall(SYS_exit_group, HF_STATUS_ERROR);
}

static int add_calls(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0) < 0)
			return -1;
	return 0;
}

static int add_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)reqs[i])) < 0)
			return -1;
	return 0;
}

/* Memory that is never executable: the VMM maps no code after start. */
static int add_memory(scmp_filter_ctx ctx)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
			       seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
						SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0
		       ? -1
		       : 0;
}

/* A jailed VMM, not dumpable, is so for the moment it opens its own pagemap
 * (mem_pagemap_open): the main thread (a reset without a dirty log), the helper (prefault). */
static int add_dumpable(scmp_filter_ctx ctx)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				SCMP_A0(SCMP_CMP_EQ, PR_GET_DUMPABLE)) < 0 ||
			       seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
						SCMP_A0(SCMP_CMP_EQ, PR_SET_DUMPABLE)) < 0
		       ? -1
		       : 0;
}

static int add_main(scmp_filter_ctx ctx)
{
	if (add_calls(ctx, main_calls, ARRAY_LEN(main_calls)) < 0 ||
	    add_ioctls(ctx, main_ioctls, ARRAY_LEN(main_ioctls)) < 0 ||
	    add_ioctls(ctx, vcpu_ioctls, ARRAY_LEN(vcpu_ioctls)) < 0)
		return -1;
	/* fork() and threads, never new namespaces; clone3's flags cannot be inspected, so
	 * it is refused with ENOSYS and the C library falls back to clone */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
		return -1;
	/* sockets: the control socket, vsock and .fn sockets (AF_UNIX), tap setup (AF_INET) */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
			     SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
			     SCMP_A0(SCMP_CMP_EQ, AF_INET)) < 0)
		return -1;
	/* thread names, and a vCPU or helper thread stacking its own filter (which can only
	 * take away) */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
			     SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
			     SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)) < 0 ||
	    add_dumpable(ctx) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
			     SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER)) < 0)
		return -1;
	return 0;
}

static int add_vcpu(scmp_filter_ctx ctx)
{
	if (add_calls(ctx, vcpu_calls, ARRAY_LEN(vcpu_calls)) < 0 ||
	    add_ioctls(ctx, vcpu_ioctls, ARRAY_LEN(vcpu_ioctls)) < 0)
		return -1;
	/* virtio-vsock's connections out to host programs */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0
		       ? -1
		       : 0;
}

static int add_helper(scmp_filter_ctx ctx)
{
	return add_calls(ctx, helper_calls, ARRAY_LEN(helper_calls)) < 0 ? -1 : add_dumpable(ctx);
}

static int add_keeper(scmp_filter_ctx ctx)
{
	/* probing a socket the VM left: AF_UNIX only */
	return add_calls(ctx, keeper_calls, ARRAY_LEN(keeper_calls)) < 0 ||
			       seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
						SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0
		       ? -1
		       : 0;
}

/* Build one kind's filter and keep its BPF. */
static int build(enum seccomp_kind kind)
{
	static int (*const add[])(scmp_filter_ctx) = {add_main, add_vcpu, add_helper, add_keeper};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int r = -1, fd = -1;
	if (!ctx)
		goto out;
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0 ||
	    add_calls(ctx, common_calls, ARRAY_LEN(common_calls)) < 0 || add_memory(ctx) < 0 ||
	    add[kind](ctx) < 0)
		goto out;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
	if (add_calls(ctx, sanitizer_calls, ARRAY_LEN(sanitizer_calls)) < 0)
		goto out;
#endif
	fd = memfd_create("hyperfork-seccomp", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0)
		goto out;
	off_t len = lseek(fd, 0, SEEK_END);
	if (len <= 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		goto out;
	struct sock_filter *insns = malloc((size_t)len);
	if (!insns || pread(fd, insns, (size_t)len, 0) != len) {
		free(insns);
		goto out;
	}
	sc.prog[kind].filter = insns;
	sc.prog[kind].len = (unsigned short)(len / sizeof(struct sock_filter));
	r = 0;
out:
	if (r < 0)
		pr_err("cannot build the %s thread's seccomp filter (libseccomp)",
		       seccomp_kind_name(kind));
	if (fd >= 0)
		close(fd);
	if (ctx)
		seccomp_release(ctx);
	return r;
}

/* Names of system calls by number, resolved now: the SIGSYS handler cannot allocate. */
static void resolve_names(void)
{
	const unsigned max = 512;
	sc.names = calloc(max, sizeof(*sc.names));
	if (!sc.names)
		return;
	sc.nnames = max;
	for (unsigned i = 0; i < max; i++)
		sc.names[i] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)i);
}

int seccomp_prepare(bool on)
{
	sc.on = on;
	if (!on) {
		pr_warn("seccomp is off (--no-seccomp): this VMM and its clones run without "
			"system call filters; for debugging only");
		return 0;
	}
	sc.test = getenv("HYPERFORK_TEST_SECCOMP");
	for (int k = 0; k < SECCOMP_NKINDS; k++)
		if (build((enum seccomp_kind)k) < 0)
			return -1;
	resolve_names();
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		pr_err("cannot handle SIGSYS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The test hook (HYPERFORK_TEST_SECCOMP=KIND[:clone], KIND main, vcpu, helper, keeper or
 * ioctl):
 * right after its filter is loaded, a thread of that kind makes a call its filter forbids:
 * main and keeper mount(2), vcpu and helper socket(2) (allowed to main), ioctl TIOCSTI on
 * main. */
void seccomp_test_hook(enum seccomp_kind kind, bool in_clone)
{
	static const char *const names[] = {"main", "vcpu", "helper", "keeper"};
	const char *t = sc.test;
	if (!t || !sc.on)
		return;
	size_t n = strcspn(t, ":");
	if (!strcmp(t + n, ":clone") && !in_clone)
		return;
	if (kind == SECCOMP_MAIN && n == 5 && !strncmp(t, "ioctl", 5)) {
		char c = 0;
		int r = ioctl(STDIN_FILENO, TIOCSTI, &c);
		(void)r;
		return;
	}
	if (strlen(names[kind]) != n || strncmp(t, names[kind], n))
		return;
	/* A clone's vCPUs start before it is ready; its log reaches its console only then
	 * (until then a line goes to its parent, as the clone's failure to start). */
	for (int i = 0; in_clone && kind == SECCOMP_VCPU && log_get_fd() != STDERR_FILENO && i < 500; i++)
		usleep(10 * 1000);
	pr_info("seccomp test hook: the %s thread makes a forbidden call", seccomp_kind_name(kind));
	if (kind == SECCOMP_MAIN || kind == SECCOMP_KEEPER) {
		int r = mount("none", "/", "none", 0, NULL);
		(void)r;
	} else {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		(void)fd;
	}
}

/* One target of seccomp_escape_test: 0 connected, else an errno. */
static int escape_connect(const char *t)
{
	int fd;
	if (t[0] == '@') {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		size_t n = strnlen(t + 1, sizeof(a.sun_path) - 1);
		memcpy(a.sun_path + 1, t + 1, n); /* sun_path[0] 0: abstract */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		int r = connect(fd, (struct sockaddr *)&a,
				(socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
		int e = r < 0 ? errno : 0;
		close(fd);
		return e;
	}
	char host[64];
	const char *colon = strrchr(t, ':');
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (!colon || (size_t)(colon - t) >= sizeof(host))
		return EINVAL;
	memcpy(host, t, (size_t)(colon - t));
	host[colon - t] = 0;
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno;
	int e = connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? errno : 0;
	if (e == EINPROGRESS) { /* an address nothing answers for: give it a second */
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		socklen_t len = sizeof(e);
		if (poll(&p, 1, 1000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = ETIMEDOUT;
	}
	close(fd);
	return e;
}

void seccomp_escape_test(void)
{
	const char *list = getenv("HYPERFORK_TEST_ESCAPE");
	char t[128];
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		snprintf(t, sizeof(t), "%.*s", (int)(n < sizeof(t) ? n : sizeof(t) - 1), p);
		int e = escape_connect(t);
		if (!e)
			pr_warn("escape test: %s: connected", t);
		else
			pr_warn("escape test: %s: refused (%s)", t, strerror(e));
		p += n + (p[n] == ',');
	}
}

int seccomp_enter(enum seccomp_kind kind)
{
	static const char *const comm[] = {"hyperfork", "hf-vcpu", "hf-prefault", "hyperfork"};
	if (!sc.on)
		return 0;
	if (kind == SECCOMP_VCPU || kind == SECCOMP_HELPER)
		prctl(PR_SET_NAME, comm[kind]);
	if (kind == SECCOMP_MAIN && sc.main_loaded)
		return 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sc.prog[kind]) < 0) {
		pr_err("cannot load the %s thread's seccomp filter: %s", seccomp_kind_name(kind),
		       strerror(errno));
		return -1;
	}
	thread_kind = kind;
	/* The kernel kills a thread that traps with SIGSYS blocked, before it can say why. */
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if (kind == SECCOMP_MAIN)
		sc.main_loaded = true;
	return 0;
}
