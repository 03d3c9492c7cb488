/* `hyperfork run`: boot a VM and stay in the foreground until it ends. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/proto.h"
#include "clone/prefault.h"
#include "cmd/cmd.h"
#include "util/rundir.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "jail/jail.h"
#include "util/log.h"
#include "vmm/board.h"
#include "vmm/vmm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyperfork run [--name NAME] [--mem SIZE] [--cpus N]\n"
		"                     (--bare FILE | --kernel FILE [--initrd FILE])\n"
		"                     [--cmdline STR] [--console stdio|none|FILE]\n"
		"                     [--clone-console file|pty|none] [--timeout SECONDS]\n"
		"                     [--pages huge|4k] [--no-host-flags] [--marks FILE]\n"
		"                     [--template [--pool N] [--reusable]] [--cow-prefault MODE]\n"
		"                     [--max-clones N] [--reserve-memory MIB]\n"
		"                     [--run-dir DIR] [--exit-files] [--no-seccomp] [--debug]\n"
		"                     [DEVICE OPTIONS]\n"
		"                     [--jail --uid UID --gid GID [--netns FILE]\n"
		"                      [--jail-memory MIB] [--jail-cpu CPUS] [--jail-pids N]]\n"
		"\n"
		"  --name NAME       VM name (default vm<pid>); control socket DIR/NAME.sock\n"
		"  --mem SIZE        guest RAM, e.g. 512M or 2G (default 128M; plain number: MiB)\n"
		"  --cpus N          vCPUs (default 1)\n"
		"  --bare FILE       bare guest: static ELF started in 64-bit ring 3\n"
		"  --kernel FILE     Linux bzImage or vmlinux (PVH entry)\n"
		"  --initrd FILE     initramfs for the Linux guest\n"
		"  --cmdline STR     kernel command line, or the bare guest's argument string\n"
		"  --console DEST    guest console: stdio (default), none, or a file path\n"
		"  --clone-console M console of clones: file (DIR/NAME.N.console), pty, none\n"
		"  --timeout SEC     stop the VM after SEC seconds (status %d)\n"
		"  --pages huge|4k   back guest RAM with transparent huge pages (default) or not\n"
		"  --no-host-flags   do not add the kernel flags this host needs\n"
		"  --marks FILE      append host timestamps of HF_PORT_MARK writes to FILE\n"
		"  --template        at its first fork point the VM freezes into a template:\n"
		"                    `hyperfork fork NAME` then starts warm clones of it\n"
		"  --pool N          warm clones a template keeps ready, 0..%u (default %u; 0:\n"
		"                    each clone is made when it is asked for)\n"
		"  --fork-points M   which of the guest's fork points make VMs: all (default),\n"
		"                    first (the VM's first only: not its clones'), none\n"
		"  --reusable        the template's clones can be reset (`hyperfork reset`): back\n"
		"                    to its state, only the pages they wrote put back (its RAM\n"
		"                    is then a file its clones map privately)\n"
		"  --cow-prefault M  after a fork, break copy-on-write of every touched page from\n"
		"                    the host in the background: none (default), populate, huge;\n"
		"                    populate-sync, huge-sync: in a clone, before its guest runs\n"
		"                    (each clone then holds a private copy of those pages)\n"
		"  --max-clones N    most live clones of this VM (forked or activated, until they\n"
		"                    end; warm ones count too before a pool refills); more are\n"
		"                    refused (default %u; 0: no limit)\n"
		"  --reserve-memory MIB  host memory to keep free: below it no clone is made,\n"
		"                    and a template's pool stops refilling (default %u; 0: off)\n"
		"  --run-dir DIR     control sockets (default $HYPERFORK_RUN_DIR or %s)\n"
		"  --exit-files      as the VM ends, and each of its clones, it writes its exit\n"
		"                    status into DIR/NAME.exit (for the containerd shim)\n"
		"  --no-seccomp      run without the system call filters every VMM thread\n"
		"                    has by default (for debugging only; says so loudly)\n"
		"  --jail            run the VM and its clones in a jail (root only): a mount\n"
		"                    namespace with only its files, a PID namespace, cgroup\n"
		"                    %s/NAME, as --uid/--gid without capabilities\n"
		"  --uid UID, --gid GID  the unprivileged user and group the jailed VM runs as\n"
		"  --netns FILE      join this network namespace (e.g. /run/netns/NAME)\n"
		"  --jail-memory MIB memory.max of the jail (the VM and its clones together)\n"
		"  --jail-cpu CPUS   cpu.max of the jail in CPUs, e.g. 0.5\n"
		"  --jail-pids N     pids.max of the jail: its processes and threads (default "
		"1024)\n"
		"\n"
		"Devices, each option once per device, added in the order given; each virtio\n"
		"device takes one of the board's %u interrupt lines:\n",
		HF_STATUS_TIMEOUT, PROTO_POOL_MAX, PROTO_POOL_DEFAULT, CLONE_LIMITS_MAX_DEFAULT,
		CLONE_LIMITS_RESERVE_DEFAULT_MIB,
		RUN_DIR_DEFAULT, "/sys/fs/cgroup/" JAIL_CGROUP_BASE, board_nirqs);
	for (const struct device_option *const *o = device_options; *o; o++)
		fputs((*o)->help, f);
	fprintf(f,
		"\n"
		"Exit status: the guest's exit code (0-%d) for bare guests and hf-done;\n"
		"%d VMM error, %d guest crash, %d guest reset, %d timeout, %d stopped.\n",
		HF_EXIT_CODE_MAX, HF_STATUS_ERROR, HF_STATUS_CRASH, HF_STATUS_RESET,
		HF_STATUS_TIMEOUT, HF_STATUS_STOPPED);
}

enum {
	OPT_NAME = 256, OPT_MEM, OPT_CPUS, OPT_BARE, OPT_KERNEL, OPT_INITRD, OPT_CMDLINE,
	OPT_CONSOLE, OPT_CLONE_CONSOLE, OPT_TIMEOUT, OPT_PAGES, OPT_NO_HOST_FLAGS, OPT_MARKS,
	OPT_RUN_DIR, OPT_DEBUG, OPT_HELP, OPT_TEMPLATE, OPT_POOL, OPT_PREFAULT, OPT_NO_SECCOMP,
	OPT_MAX_CLONES, OPT_RESERVE, OPT_REUSABLE, OPT_FORK_POINTS, OPT_EXIT_FILES,
	OPT_JAIL, OPT_UID, OPT_GID, OPT_NETNS, OPT_JAIL_MEMORY, OPT_JAIL_CPU, OPT_JAIL_PIDS,
	OPT_DEVICE, /* + index in device_options */
};

static const struct option base_options[] = {
	{"name", required_argument, NULL, OPT_NAME},
	{"mem", required_argument, NULL, OPT_MEM},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"bare", required_argument, NULL, OPT_BARE},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"console", required_argument, NULL, OPT_CONSOLE},
	{"clone-console", required_argument, NULL, OPT_CLONE_CONSOLE},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"pages", required_argument, NULL, OPT_PAGES},
	{"no-host-flags", no_argument, NULL, OPT_NO_HOST_FLAGS},
	{"marks", required_argument, NULL, OPT_MARKS},
	{"run-dir", required_argument, NULL, OPT_RUN_DIR},
	{"template", no_argument, NULL, OPT_TEMPLATE},
	{"pool", required_argument, NULL, OPT_POOL},
	{"reusable", no_argument, NULL, OPT_REUSABLE},
	{"fork-points", required_argument, NULL, OPT_FORK_POINTS},
	{"cow-prefault", required_argument, NULL, OPT_PREFAULT},
	{"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	{"exit-files", no_argument, NULL, OPT_EXIT_FILES},
	{"max-clones", required_argument, NULL, OPT_MAX_CLONES},
	{"reserve-memory", required_argument, NULL, OPT_RESERVE},
	{"jail", no_argument, NULL, OPT_JAIL},
	{"uid", required_argument, NULL, OPT_UID},
	{"gid", required_argument, NULL, OPT_GID},
	{"netns", required_argument, NULL, OPT_NETNS},
	{"jail-memory", required_argument, NULL, OPT_JAIL_MEMORY},
	{"jail-cpu", required_argument, NULL, OPT_JAIL_CPU},
	{"jail-pids", required_argument, NULL, OPT_JAIL_PIDS},
	{"debug", no_argument, NULL, OPT_DEBUG},
	{"help", no_argument, NULL, OPT_HELP},
};

#define NOPTIONS (sizeof(base_options) / sizeof(base_options[0]))
#define MAX_DEVICE_OPTIONS 16

/* The options of `run` (room for NOPTIONS + MAX_DEVICE_OPTIONS + 1): its own, then one per
 * device option. Returns how many device options there are. */
static int make_options(struct option *out)
{
	unsigned n = 0, i = 0;
	for (; n < NOPTIONS; n++)
		out[n] = base_options[n];
	for (; device_options[i] && i < MAX_DEVICE_OPTIONS; i++)
		out[n++] = (struct option){device_options[i]->name,
					   device_options[i]->metavar ? required_argument
								      : no_argument,
					   NULL, OPT_DEVICE + (int)i};
	out[n] = (struct option){NULL, 0, NULL, 0};
	return (int)i;
}

/* --NAME ARG of device option o: parsed into cfg. Returns 0 or HF_STATUS_ERROR (logged). */
static int add_device_arg(struct vmm_config *cfg, const struct device_option *o, const char *arg)
{
	unsigned same = 0;
	for (unsigned i = 0; i < cfg->ndevices; i++)
		same += cfg->devices[i].opt == o;
	if (o->max && same == o->max) {
		pr_err("--%s %s: a VM has at most %u --%s (see hyperfork run --help)", o->name, arg,
		       o->max, o->name);
		return HF_STATUS_ERROR;
	}
	if (cfg->ndevices == VMM_MAX_DEVICES) { /* the board's lines run out before this */
		pr_err("--%s %s: too many devices", o->name, arg);
		return HF_STATUS_ERROR;
	}
	char err[256];
	void *parsed = o->parse(arg, err, sizeof(err));
	if (!parsed) {
		pr_err("invalid --%s '%s': %s (see hyperfork run --help)", o->name, arg, err);
		return HF_STATUS_ERROR;
	}
	cfg->devices[cfg->ndevices].opt = o;
	cfg->devices[cfg->ndevices++].arg = parsed;
	return 0;
}

static void free_device_args(struct vmm_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndevices; i++)
		free(cfg->devices[i].arg);
	cfg->ndevices = 0;
}

static struct jail_config jail = {.uid = -1, .gid = -1};

/* A device's host file, for the jail (device_option.host_paths). */
static void add_jail_path(void *ctx, const char *path, unsigned flags)
{
	struct jail_path *p = jail_add_path(ctx, path, flags & DEV_PATH_WRITABLE, false);
	if (p && (flags & DEV_PATH_OWN_NODE))
		p->own = true; /* each clone opens it anew, as the jail's user */
}

static int bad(const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	pr_err("%s (see hyperfork run --help)", msg);
	return HF_STATUS_ERROR;
}

/* Parse the arguments of `run` into cfg. Returns 0 to run, 1 if --help was shown, or
 * HF_STATUS_ERROR (logged). */
static int parse(int argc, char **argv, struct vmm_config *cfg)
{
	struct option options[NOPTIONS + MAX_DEVICE_OPTIONS + 1];
	const char *bare = NULL, *kernel = NULL, *console = "stdio", *dir = NULL;
	bool template = false;
	unsigned pool = PROTO_POOL_DEFAULT;
	uint64_t v;
	int opt;

	int ndevopts = make_options(options);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME:
			if (!valid_vm_name(optarg))
				return bad("invalid --name '%s': use 1-64 characters of "
					   "A-Z a-z 0-9 _ . - not starting with . or -",
					   optarg);
			snprintf(cfg->vm.name, sizeof(cfg->vm.name), "%s", optarg);
			break;
		case OPT_MEM:
			if (parse_size(optarg, &cfg->vm.ram_size) < 0)
				return bad("invalid --mem '%s': expected a size such as 512M or 2G",
					   optarg);
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1024, &v) < 0 || v == 0)
				return bad("invalid --cpus '%s': expected a positive number", optarg);
			cfg->vm.ncpus = (unsigned)v;
			break;
		case OPT_BARE: bare = optarg; break;
		case OPT_KERNEL: kernel = optarg; break;
		case OPT_INITRD: cfg->vm.initrd = optarg; break;
		case OPT_CMDLINE: cfg->vm.cmdline = optarg; break;
		case OPT_CONSOLE: console = optarg; break;
		case OPT_CLONE_CONSOLE:
			if (strcmp(optarg, "file") && strcmp(optarg, "pty") && strcmp(optarg, "none"))
				return bad("invalid --clone-console '%s': file, pty or none", optarg);
			console_parse(optarg, &cfg->clone.console, &(const char *){NULL});
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &cfg->timeout_ns) < 0 || cfg->timeout_ns == 0)
				return bad("invalid --timeout '%s': expected seconds > 0", optarg);
			break;
		case OPT_PAGES:
			if (!strcmp(optarg, "huge"))
				cfg->vm.huge = true;
			else if (!strcmp(optarg, "4k"))
				cfg->vm.huge = false;
			else
				return bad("invalid --pages '%s': huge or 4k", optarg);
			break;
		case OPT_NO_HOST_FLAGS: cfg->vm.host_flags = false; break;
		case OPT_NO_SECCOMP: cfg->no_seccomp = jail.no_seccomp = true; break;
		case OPT_MARKS: cfg->marks_path = optarg; break;
		case OPT_EXIT_FILES: cfg->exit_files = true; break;
		case OPT_RUN_DIR: dir = optarg; break;
		case OPT_TEMPLATE: template = true; break;
		case OPT_REUSABLE: cfg->vm.ram_file = true; break;
		case OPT_FORK_POINTS:
			if (!strcmp(optarg, "all"))
				cfg->clone.fork_points = FORK_POINTS_ALL;
			else if (!strcmp(optarg, "first"))
				cfg->clone.fork_points = FORK_POINTS_FIRST;
			else if (!strcmp(optarg, "none"))
				cfg->clone.fork_points = FORK_POINTS_NONE;
			else
				return bad("invalid --fork-points '%s': all, first or none", optarg);
			break;
		case OPT_PREFAULT: {
			enum prefault_mode m;
			if (prefault_parse(optarg, &m, &cfg->clone.prefault_sync) < 0)
				return bad("invalid --cow-prefault '%s': none, populate, huge, "
					   "populate-sync or huge-sync",
					   optarg);
			cfg->clone.prefault = m;
			break;
		}
		case OPT_POOL:
			if (parse_uint(optarg, PROTO_POOL_MAX, &v) < 0)
			{
				char why[64];
				snprintf(why, sizeof(why), "invalid --pool '%%s': 0..%u warm clones",
					 PROTO_POOL_MAX);
				return bad(why, optarg);
			}
			pool = (unsigned)v;
			break;
		case OPT_MAX_CLONES:
			if (parse_uint(optarg, 1000000, &v) < 0)
				return bad("invalid --max-clones '%s': 0..1000000 (0: no limit)", optarg);
			cfg->clone.limits.max_clones = (unsigned)v;
			break;
		case OPT_RESERVE:
			if (parse_uint(optarg, 1u << 30, &v) < 0)
				return bad("invalid --reserve-memory '%s': MiB, 0 to turn it off",
					   optarg);
			cfg->clone.limits.reserve_bytes = v << 20;
			break;
		case OPT_JAIL: jail.on = true; break;
		case OPT_UID:
		case OPT_GID:
			if (parse_uint(optarg, 0x7ffffffe, &v) < 0)
				return bad("invalid --uid/--gid '%s': a number", optarg);
			*(opt == OPT_UID ? &jail.uid : &jail.gid) = (long)v;
			break;
		case OPT_NETNS: jail.netns = optarg; break;
		case OPT_JAIL_MEMORY:
			if (parse_uint(optarg, 1u << 30, &v) < 0 || v == 0)
				return bad("invalid --jail-memory '%s': MiB, more than 0", optarg);
			jail.memory = v * MiB;
			break;
		case OPT_JAIL_CPU:
			if (jail_parse_cpu(optarg, &jail.cpu_quota_us) < 0)
				return bad("invalid --jail-cpu '%s': CPUs from 0.01 to 1024", optarg);
			break;
		case OPT_JAIL_PIDS:
			if (parse_uint(optarg, JAIL_PIDS_MAX, &v) < 0 || v < 8)
				return bad("invalid --jail-pids '%s': from 8 to 4194304", optarg);
			jail.pids = (unsigned)v;
			break;
		case OPT_DEBUG: log_set_level(HF_LOG_DEBUG); break;
		case OPT_HELP: usage(stdout); return 1;
		default:
			if (opt >= OPT_DEVICE && opt < OPT_DEVICE + ndevopts) {
				if (add_device_arg(cfg, device_options[opt - OPT_DEVICE],
						   optarg ? optarg : "") != 0)
					return HF_STATUS_ERROR;
				break;
			}
			usage(stderr);
			return HF_STATUS_ERROR;
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!jail.on && (jail.uid >= 0 || jail.gid >= 0 || jail.netns || jail.memory ||
			 jail.cpu_quota_us || jail.pids))
		return bad("%s--uid, --gid, --netns, --jail-memory, --jail-cpu and --jail-pids are "
			   "for --jail", "");
	if (cfg->vm.ram_file && !template)
		return bad("%s--reusable is for a template (--template)", "");
	if (!!bare == !!kernel)
		return bad("%sgive exactly one of --bare FILE or --kernel FILE", "");
	if (bare && cfg->vm.initrd)
		return bad("%s--initrd is for Linux guests (--kernel)", "");
	for (unsigned i = 0; bare && i < cfg->ndevices; i++)
		if (cfg->devices[i].opt->linux_only)
			return bad("--%s is for Linux guests (--kernel)", cfg->devices[i].opt->name);
	for (unsigned i = 0; kernel && i < cfg->ndevices; i++)
		if (cfg->devices[i].opt->bare_only)
			return bad("--%s is for bare guests (--bare)", cfg->devices[i].opt->name);
	cfg->vm.kind = bare ? VM_BARE : VM_LINUX;
	cfg->clone.template = template;
	cfg->clone.pool = pool;
	cfg->vm.image = bare ? bare : kernel;
	if (!cfg->vm.name[0])
		snprintf(cfg->vm.name, sizeof(cfg->vm.name), "vm%d", (int)getpid());
	console_parse(console, &cfg->vm.console, &cfg->vm.console_path);
	cfg->vm.run_dir = run_dir(dir);
	log_set_name(cfg->vm.name);
	return run_dir_prepare(cfg->vm.run_dir) < 0 ? HF_STATUS_ERROR : 0;
}

int cmd_run(int argc, char **argv)
{
	struct vmm_config cfg = {
		.vm = {.ncpus = 1, .ram_size = 128 * MiB, .huge = true, .host_flags = true,
		       .console = CONSOLE_STDIO},
		.clone = {.console = CONSOLE_FILE,
			  .limits = {CLONE_LIMITS_MAX_DEFAULT,
				     (uint64_t)CLONE_LIMITS_RESERVE_DEFAULT_MIB << 20}},
	};
	int r = parse(argc, argv, &cfg);
	if (r == 0 && jail.on) {
		for (unsigned i = 0; i < cfg.ndevices; i++) {
			if (cfg.devices[i].opt->host_paths)
				cfg.devices[i].opt->host_paths(cfg.devices[i].arg, add_jail_path, &jail);
			jail.host_network |= cfg.devices[i].opt->host_network;
		}
		jail_add_path(&jail, cfg.marks_path, true, true);
		if (jail_enter(&jail, &cfg.vm, &r) == JAIL_INSIDE) {
			cfg.before_guest = jail_drop_privileges;
			umask(077);
			r = vmm_run(&cfg);
		}
	} else if (r == 0) {
		umask(077); /* its sockets and console files are its user's alone */
		r = vmm_run(&cfg);
	} else if (r == 1) {
		r = 0;
	}
	free_device_args(&cfg);
	return r;
}
