/* The jail's entry and its launcher: what `hyperfork run --jail` does in the host's
 * namespaces (the VM's paths checked, the network namespace joined, the cgroups made, the
 * keeper started in a new PID namespace), then the launcher in the foreground until the VM
 * ends. See jail.h for the processes involved. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hyperfork/abi.h"
#include "jail/internal.h"
#include "util/log.h"

/* ---- the launcher --------------------------------------------------------------------- */

/* The keeper ended before the VMM's status came (its own filter, or killed): the kernel
 * ends every process of the jail with it; say so and clean up after them. */
static int keeper_lost(pid_t keeper_pid, const char *run_dir)
{
	int st = 0;
	if (waitpid(keeper_pid, &st, 0) == keeper_pid && WIFSIGNALED(st))
		pr_err("--jail: the jail's keeper was killed (%s); its VMs end with it",
		       strsignal(WTERMSIG(st)));
	else
		pr_err("--jail: the jail's keeper ended (status %d) before the VM; its VMs end with it",
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	/* while its processes die */
	for (int i = 0; i < 50 && jail_clean(jail_self()->cgroup, run_dir) < 0; i++)
		usleep(100 * 1000);
	return HF_STATUS_ERROR;
}

/* Wait for the VMM's status from the keeper, passing on the signals that would stop it. */
static int launcher_wait(int in, pid_t keeper_pid, const char *run_dir)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	int32_t msg[2] = {0, 0}; /* the VMM's host pid, then its status */
	unsigned got = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = in, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		struct signalfd_siginfo si;
		if (p[1].revents && read(sigfd, &si, sizeof(si)) == sizeof(si) && msg[0] > 0)
			kill(msg[0], (int)si.ssi_signo);
		if (!p[0].revents)
			continue;
		if (read(in, &msg[got], sizeof(msg[got])) != sizeof(msg[got]))
			break;
		if (++got == 2) {
			waitpid(keeper_pid, NULL, WNOHANG); /* it goes on while clones run */
			return msg[1];
		}
	}
	return keeper_lost(keeper_pid, run_dir);
}

int jail_enter(struct jail_config *j, const struct vm_config *cfg, int *status)
{
	*status = HF_STATUS_ERROR;
	if (jail_paths_prepare(j, cfg) < 0)
		return JAIL_DONE;
	int netns = -1;
	if (j->netns && ((netns = open(j->netns, O_RDONLY | O_CLOEXEC)) < 0 ||
			 setns(netns, CLONE_NEWNET) < 0)) {
		pr_err("--netns %s: %s", j->netns, strerror(errno));
		if (netns >= 0)
			close(netns);
		return JAIL_DONE;
	}
	if (netns >= 0)
		close(netns);
	/* Nothing the VM does needs the host's network: the jail gets a namespace of its own,
	 * so a VMM taken over reaches no address of the host's (serve's port, the cloud's
	 * metadata, the LAN) and none of its abstract Unix sockets. */
	if (!j->netns && !j->host_network && unshare(CLONE_NEWNET) < 0) {
		pr_err("--jail: cannot make a network namespace: %s", strerror(errno));
		return JAIL_DONE;
	}
	struct jail_self *self = jail_self();
	if (jail_cgroup_make(j, cfg->name, self->cgroup, sizeof(self->cgroup)) < 0)
		return JAIL_DONE;
	self->uid = (uid_t)j->uid;
	self->gid = (gid_t)j->gid;
	jail_add_path(j, self->cgroup, true, false);
	if (!j->paths[j->npaths - 1].path) {
		pr_err("--jail: too many files for the jail");
		goto fail;
	}

	int pipefd[2], ask[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ask) < 0) {
		pr_err("--jail: %s", strerror(errno));
		goto fail;
	}
	fflush(NULL);
	if (unshare(CLONE_NEWPID) < 0) {
		pr_err("--jail: cannot make a PID namespace: %s", strerror(errno));
		goto fail;
	}
	pid_t keeper_pid = fork();
	if (keeper_pid < 0) {
		pr_err("--jail: fork: %s", strerror(errno));
		goto fail;
	}
	if (keeper_pid == 0) {
		close(pipefd[0]);
		int r = jail_keeper_start(j, cfg, pipefd[1], ask);
		if (r == JAIL_DONE)
			*status = 0;
		return r < 0 ? JAIL_DONE : r;
	}
	close(pipefd[1]);
	close(ask[0]);
	close(ask[1]);
	*status = launcher_wait(pipefd[0], keeper_pid, cfg->run_dir);
	close(pipefd[0]);
	return JAIL_DONE;
fail:
	jail_cgroup_remove(cfg->name);
	return JAIL_DONE;
}
