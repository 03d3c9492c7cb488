/* A serve function's VMs (see function_private.h): the `hyperfork run` command line of its
 * template, warm VM or invocation's VM, started in a process group of its own with its
 * output in its log, and what its files say once it ended. */
#include "serve/function_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/client.h"
#include "serve/runtime.h"
#include "serve/spawn.h"
#include "util/rundir.h"
#include "util/sock.h"
#include "util/util.h"

#define LINUX_CMDLINE_ROOM 1700 /* of the 2047 bytes x86 Linux keeps, what serve's words may use */

/* The VMs a function's jail holds at most: its template, its warm pool and one clone per
 * invocation its concurrency allows; or its one warm VM, or the VM booted for an
 * invocation. */
static unsigned jail_vms(const struct fn_config *cfg)
{
	return fn_cloned(cfg) ? 1u + cfg->pool + cfg->concurrency : 1;
}

uint64_t fn_jail_memory_mb(const struct fn_config *cfg)
{
	return ((uint64_t)cfg->memory_mb + FN_JAIL_VM_OVERHEAD_MB) * jail_vms(cfg);
}

pid_t fn_vm_start(const struct function *f, const char *name, char *why, size_t whylen)
{
	const struct fn_config *cfg = f->cfg;
	const char *run_dir = f->run_dir;
	bool template = fn_cloned(cfg);
	char mem[16], cpus[8], pool[8], reserve[24], console[4096], log[4096], cmdline[8192];
	char uid[24], gid[24], jail_mem[24], jail_pids[24], jail_cpu[24];
	char env[BASE64_LEN(FN_ENV_MAX)] = "", disks[FN_MAX_DISKS][4100];
	snprintf(mem, sizeof(mem), "%uM", cfg->memory_mb);
	snprintf(cpus, sizeof(cpus), "%u", cfg->vcpus);
	snprintf(pool, sizeof(pool), "%u", cfg->pool);
	run_file(console, sizeof(console), run_dir, name, RUN_FILE_CONSOLE);
	run_file(log, sizeof(log), run_dir, name, RUN_FILE_LOG);
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
		char runtime[512] = "";
		if (f->code) { /* its layers and environment are on its code's disk */
			size_t n = (size_t)snprintf(runtime, sizeof(runtime),
						    " hf.runtime=%s hf.code=%llu hf.env=@%llu+%llu",
						    cfg->runtime, (unsigned long long)f->code->len,
						    (unsigned long long)f->code->env_at,
						    (unsigned long long)f->code->env_len);
			for (unsigned i = 0; i < f->code->nlayers && n < sizeof(runtime); i++)
				n += (size_t)snprintf(runtime + n, sizeof(runtime) - n, "%s@%llu+%llu",
						      i ? "," : " hf.layers=",
						      (unsigned long long)f->code->layer_at[i],
						      (unsigned long long)f->code->layer_len[i]);
		} else
			base64_encode(cfg->env, strlen(cfg->env), env);
		snprintf(cmdline, sizeof(cmdline),
			 "console=ttyS0 quiet hf.script=lambda hf.fn=%s%s%s%s%s%s%s%s%s", cfg->name,
			 template ? "" : " hf.lambda=warm", runtime, cfg->handler ? " hf.handler=" : "",
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
		/* A managed runtime's function: the runtime's image (vda) and its zip (vdb). */
		const char *disk[FN_MAX_DISKS] = {f->code ? f->code->image : NULL,
						  f->code ? f->code->disk : NULL};
		unsigned ndisks = f->code ? 2 : cfg->ndisks;
		for (unsigned i = 0; i < ndisks; i++) {
			snprintf(disks[i], sizeof(disks[i]), "%s,ro", f->code ? disk[i] : cfg->disks[i]);
			argv[argc++] = "--disk";
			argv[argc++] = disks[i];
		}
	}
	/* Function code is root in its guest: nothing serve starts makes a VM at the guest's
	 * word but a template at its first fork point (not its clones, nor a warm or booted
	 * VM). */
	argv[argc++] = "--fork-points";
	argv[argc++] = template ? "first" : "none";
	if (template) {
		if (f->reuse)
			argv[argc++] = "--reusable"; /* its clones are reset and reused */
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
		snprintf(jail_pids, sizeof(jail_pids), "%u", FN_JAIL_VM_PIDS * jail_vms(cfg));
		const char *jail[] = {"--jail",		"--uid",      uid,	 "--gid",
				      gid,		"--jail-memory", jail_mem, "--jail-pids",
				      jail_pids};
		for (unsigned i = 0; i < sizeof(jail) / sizeof(jail[0]); i++)
			argv[argc++] = jail[i];
		if (cfg->cpu > 0) {
			snprintf(jail_cpu, sizeof(jail_cpu), "%.2f", cfg->cpu);
			argv[argc++] = "--jail-cpu";
			argv[argc++] = jail_cpu;
		}
	}
	argv[argc] = NULL;

	pid_t pid = spawn(argv, log, why, whylen); /* (serve itself may not exec) */
	if (pid > 0)
		setpgid(pid, pid); /* also here: no race with a kill(-pid) before the child ran */
	return pid;
}

bool fn_descends(pid_t pid, pid_t ancestor)
{
	for (int hops = 0; pid > 1 && ancestor > 0 && hops < 32; hops++) {
		int ppid, pgrp;
		if (pid == ancestor)
			return true;
		if (proc_parent_group(pid, &ppid, &pgrp) < 0)
			return false;
		pid = ppid;
	}
	return false;
}

bool fn_peer_is(int fd, pid_t owner, bool exact)
{
	pid_t peer = unix_peer_pid(fd);
	return peer > 0 && owner > 0 && (peer == owner || (!exact && fn_descends(peer, owner)));
}

int fn_template_connect(struct function *f, bool learn, char *why, size_t whylen)
{
	int fd = ctl_connect(f->run_dir, f->cfg->name, true);
	if (fd < 0) {
		snprintf(why, whylen, "its template does not answer (%s)", strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&f->lock);
	pid_t vm = f->vm_pid, launched = f->template_pid;
	pid_t peer = unix_peer_pid(fd);
	if (!vm && learn && peer > 0 && fn_descends(peer, launched))
		vm = f->vm_pid = peer;
	pthread_mutex_unlock(&f->lock);
	if (vm && peer == vm)
		return fd;
	close(fd);
	snprintf(why, whylen, "its control socket is held by pid %d, not by its template (pid %d)",
		 (int)peer, (int)vm);
	errno = EPERM;
	return -1;
}

int fn_clone_reply_check(const char *fn, const char *run_dir, bool console_file,
			 struct hf_clone_info *c, char *why, size_t whylen)
{
	size_t n = strlen(fn);
	bool ours = !strncmp(c->name, fn, n) && c->name[n] == '.';
	size_t digits = ours ? strspn(c->name + n + 1, "0123456789") : 0;
	if (!ours || !digits || digits > 10 || c->name[n + 1 + digits]) {
		snprintf(why, whylen, "its template named the clone '%.80s', not %s.N", c->name, fn);
		return -1;
	}
	if (c->pid <= 1) {
		snprintf(why, whylen, "its template gave clone %s pid %d", c->name, (int)c->pid);
		return -1;
	}
	if (console_file)
		run_file(c->console, sizeof(c->console), run_dir, c->name, RUN_FILE_CONSOLE);
	else
		c->console[0] = 0;
	return 0;
}

void fn_find_line(const char *path, const char *prefix, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (fd >= 0 && !fp)
		close(fd);
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
