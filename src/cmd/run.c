/* `hyperfork run`: boot a VM and stay in the foreground until it ends. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/bare.h"
#include "api/proto.h"
#include "arch/x86/linux.h"
#include "clone/fork.h"
#include "clone/prefault.h"
#include "clone/snapshot.h"
#include "cmd/cmd.h"
#include "core/runloop.h"
#include "devices/devices.h"
#include "devices/virtio.h"
#include "hyperfork/abi.h"
#include "util/log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyperfork run [--name NAME] [--mem SIZE] [--cpus N]\n"
		"                     (--bare FILE | --kernel FILE [--initrd FILE])\n"
		"                     [--cmdline STR] [--console stdio|none|FILE]\n"
		"                     [--clone-console file|pty|none] [--timeout SECONDS]\n"
		"                     [--pages huge|4k] [--no-host-flags] [--marks FILE]\n"
		"                     [--template [--pool N]] [--cow-prefault MODE]\n"
		"                     [--net TAP[,mac=MAC]] [--disk FILE[,ro|,persist]]...\n"
		"                     [--run-dir DIR] [--debug]\n"
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
		"  --pool N          warm clones a template keeps ready (default 4)\n"
		"  --cow-prefault M  after a fork, break copy-on-write of every touched page from\n"
		"                    the host in the background: none (default), populate, huge;\n"
		"                    populate-sync, huge-sync: in a clone, before its guest runs\n"
		"                    (each clone then holds a private copy of those pages)\n"
		"  --net TAP[,mac=MAC]  Linux guests: a virtio-net NIC on host tap TAP (created\n"
		"                    if missing; needs CAP_NET_ADMIN), guest MAC address MAC\n"
		"                    (default derived from NAME). Clone N gets tap TAP.N with\n"
		"                    the same guest MAC and IP address\n"
		"  --disk FILE[,ro|,persist]  Linux guests: a virtio-blk disk (vda, vdb, ... in\n"
		"                    order, up to %d) on image FILE, mapped copy-on-write: the\n"
		"                    guest's writes stay in the VM and pass to its clones, the\n"
		"                    file is never written; ,ro: a read-only disk; ,persist:\n"
		"                    writes go to the file (the VM cannot then be cloned)\n"
		"  --run-dir DIR     control sockets (default $HYPERFORK_RUN_DIR or %s)\n"
		"\n"
		"Exit status: the guest's exit code (0-%d) for bare guests and hf-done;\n"
		"%d VMM error, %d guest crash, %d guest reset, %d timeout, %d stopped.\n",
		HF_STATUS_TIMEOUT, HF_MAX_DISKS, HF_DEFAULT_RUN_DIR, HF_EXIT_CODE_MAX, HF_STATUS_ERROR,
		HF_STATUS_CRASH, HF_STATUS_RESET, HF_STATUS_TIMEOUT, HF_STATUS_STOPPED);
}

enum {
	OPT_NAME = 256, OPT_MEM, OPT_CPUS, OPT_BARE, OPT_KERNEL, OPT_INITRD, OPT_CMDLINE,
	OPT_CONSOLE, OPT_CLONE_CONSOLE, OPT_TIMEOUT, OPT_PAGES, OPT_NO_HOST_FLAGS, OPT_MARKS,
	OPT_RUN_DIR, OPT_DEBUG, OPT_HELP, OPT_TEMPLATE, OPT_POOL, OPT_PREFAULT, OPT_NET,
	OPT_DISK,
};

static const struct option options[] = {
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
	{"cow-prefault", required_argument, NULL, OPT_PREFAULT},
	{"net", required_argument, NULL, OPT_NET},
	{"disk", required_argument, NULL, OPT_DISK},
	{"debug", no_argument, NULL, OPT_DEBUG},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* "TAP[,mac=XX:XX:XX:XX:XX:XX]" -> cfg. Returns 0 or -1. */
static int parse_net(char *arg, struct vm_config *cfg, bool *have_mac)
{
	char *comma = strchr(arg, ',');
	if (comma) {
		unsigned m[6];
		char end;
		*comma = 0;
		if (sscanf(comma + 1, "mac=%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3],
			   &m[4], &m[5], &end) != 6 || (m[0] & 1)) {
			*comma = ','; /* the whole argument goes into the error message */
			return -1;    /* not a unicast MAC */
		}
		for (int i = 0; i < 6; i++)
			cfg->net_mac[i] = (uint8_t)m[i];
		*have_mac = true;
	}
	size_t len = strlen(arg);
	if (len == 0 || len > 15 || !strcmp(arg, ".") || !strcmp(arg, "..") ||
	    strpbrk(arg, "/: \t\n"))
		return -1; /* what Linux refuses as an interface name */
	cfg->net_tap = arg;
	return 0;
}

/* A locally administered MAC address that stays the same for a VM name. */
static void mac_from_name(const char *name, uint8_t mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	const uint8_t m[6] = {0x02, 0x48, 0x46, (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
	memcpy(mac, m, 6);
}

/* The network card, then the disks in order, each in its own virtio-mmio slot. */
_Static_assert(HF_MAX_DISKS + 1 <= LINUX_VIRTIO_SLOTS,
	       "a virtio-mmio slot for the card and for each disk");
static int add_virtio_devices(struct vm *vm)
{
	const struct vm_config *cfg = &vm->cfg;
	unsigned slot = 0;
	if (cfg->net_tap && virtio_net_add(vm, cfg->net_tap, cfg->net_mac,
					   LINUX_VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SIZE,
					   linux_virtio_irq(slot)) < 0)
		return -1;
	slot += cfg->net_tap != NULL;
	for (unsigned i = 0; i < cfg->ndisks; i++, slot++)
		if (virtio_blk_add(vm, cfg->disks[i].path, cfg->disks[i].mode,
				   LINUX_VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SIZE,
				   linux_virtio_irq(slot)) < 0)
			return -1;
	return 0;
}

static int bad(const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	pr_err("%s (see hyperfork run --help)", msg);
	return HF_STATUS_ERROR;
}

int cmd_run(int argc, char **argv)
{
	struct vm_config cfg = {.ncpus = 1, .ram_size = 128 * MiB, .huge = true,
				.host_flags = true, .console = CONSOLE_STDIO,
				.clone_console = CONSOLE_FILE};
	const char *bare = NULL, *kernel = NULL, *console = "stdio", *dir = NULL;
	bool template = false, have_mac = false;
	unsigned pool = PROTO_POOL_DEFAULT;
	uint64_t v;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME:
			if (!valid_vm_name(optarg))
				return bad("invalid --name '%s': use 1-64 characters of "
					   "A-Z a-z 0-9 _ . - not starting with . or -",
					   optarg);
			snprintf(cfg.name, sizeof(cfg.name), "%s", optarg);
			break;
		case OPT_MEM:
			if (parse_size(optarg, &cfg.ram_size) < 0)
				return bad("invalid --mem '%s': expected a size such as 512M or 2G",
					   optarg);
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1024, &v) < 0 || v == 0)
				return bad("invalid --cpus '%s': expected a positive number", optarg);
			cfg.ncpus = (unsigned)v;
			break;
		case OPT_BARE: bare = optarg; break;
		case OPT_KERNEL: kernel = optarg; break;
		case OPT_INITRD: cfg.initrd = optarg; break;
		case OPT_CMDLINE: cfg.cmdline = optarg; break;
		case OPT_CONSOLE: console = optarg; break;
		case OPT_CLONE_CONSOLE:
			if (strcmp(optarg, "file") && strcmp(optarg, "pty") && strcmp(optarg, "none"))
				return bad("invalid --clone-console '%s': file, pty or none", optarg);
			console_parse(optarg, &cfg.clone_console, &(const char *){NULL});
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &cfg.timeout_ns) < 0 || cfg.timeout_ns == 0)
				return bad("invalid --timeout '%s': expected seconds > 0", optarg);
			break;
		case OPT_PAGES:
			if (!strcmp(optarg, "huge"))
				cfg.huge = true;
			else if (!strcmp(optarg, "4k"))
				cfg.huge = false;
			else
				return bad("invalid --pages '%s': huge or 4k", optarg);
			break;
		case OPT_NO_HOST_FLAGS: cfg.host_flags = false; break;
		case OPT_MARKS: cfg.marks_path = optarg; break;
		case OPT_RUN_DIR: dir = optarg; break;
		case OPT_TEMPLATE: template = true; break;
		case OPT_PREFAULT: {
			enum prefault_mode m;
			if (prefault_parse(optarg, &m, &cfg.cow_prefault_sync) < 0)
				return bad("invalid --cow-prefault '%s': none, populate, huge, "
					   "populate-sync or huge-sync",
					   optarg);
			cfg.cow_prefault = m;
			break;
		}
		case OPT_POOL:
			if (parse_uint(optarg, PROTO_POOL_MAX, &v) < 0 || v == 0)
				return bad("invalid --pool '%s': 1..64 warm clones", optarg);
			pool = (unsigned)v;
			break;
		case OPT_NET:
			if (parse_net(optarg, &cfg, &have_mac) < 0)
				return bad("invalid --net '%s': expected TAP[,mac=XX:XX:XX:XX:XX:XX] "
					   "(a tap name of 1-15 characters, a unicast MAC)",
					   optarg);
			break;
		case OPT_DISK: {
			if (cfg.ndisks == HF_MAX_DISKS)
				return bad("too many --disk options (at most %s)", "4");
			char *comma = strrchr(optarg, ',');
			enum disk_mode mode = DISK_COW;
			if (comma && !strcmp(comma, ",ro"))
				mode = DISK_RO;
			else if (comma && !strcmp(comma, ",persist"))
				mode = DISK_PERSIST;
			if (mode != DISK_COW)
				*comma = 0;
			if (!*optarg)
				return bad("invalid --disk '%s': expected FILE, FILE,ro or FILE,persist",
					   optarg);
			cfg.disks[cfg.ndisks].path = optarg;
			cfg.disks[cfg.ndisks++].mode = mode;
			break;
		}
		case OPT_DEBUG: log_set_level(HF_LOG_DEBUG); break;
		case OPT_HELP: usage(stdout); return 0;
		default: usage(stderr); return HF_STATUS_ERROR;
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!!bare == !!kernel)
		return bad("%sgive exactly one of --bare FILE or --kernel FILE", "");
	if (bare && cfg.initrd)
		return bad("%s--initrd is for Linux guests (--kernel)", "");
	if (bare && cfg.net_tap)
		return bad("%s--net is for Linux guests (--kernel)", "");
	if (bare && cfg.ndisks)
		return bad("%s--disk is for Linux guests (--kernel)", "");
	cfg.kind = bare ? VM_BARE : VM_LINUX;
	cfg.template_pool = template ? pool : 0;
	cfg.image = bare ? bare : kernel;
	if (!cfg.name[0])
		snprintf(cfg.name, sizeof(cfg.name), "vm%d", (int)getpid());
	if (cfg.net_tap && !have_mac)
		mac_from_name(cfg.name, cfg.net_mac);
	console_parse(console, &cfg.console, &cfg.console_path);
	cfg.run_dir = run_dir(dir);
	log_set_name(cfg.name);

	uint8_t *image;
	size_t image_len;
	if (read_file(cfg.image, &image, &image_len) < 0) {
		pr_err("cannot read %s image %s: %s", bare ? "bare" : "kernel", cfg.image,
		       strerror(errno));
		return HF_STATUS_ERROR;
	}
	if (run_dir_prepare(cfg.run_dir) < 0) {
		free(image);
		return HF_STATUS_ERROR;
	}

	struct host host;
	struct vm vm;
	int status = HF_STATUS_ERROR;
	if (host_open(&host) < 0) {
		free(image);
		return HF_STATUS_ERROR;
	}
	if (vm_create(&vm, &host, &cfg) < 0)
		goto out_host;
	if (console_open(&vm.console, cfg.console, cfg.console_path) < 0)
		goto out_vm;
	if (cfg.marks_path && marks_open(&vm, cfg.marks_path) < 0)
		goto out_vm;
	if (!bare && add_virtio_devices(&vm) < 0)
		goto out_vm;
	const char *why = template ? clone_refusal(&vm) : NULL;
	if (why) {
		pr_err("--template: this VM could not be cloned: %s", why);
		goto out_vm;
	}
	int r = bare ? bare_setup(&vm, image, image_len) : linux_setup(&vm, image, image_len);
	if (r < 0)
		goto out_vm;
	if (bare && hfport_add(&vm) < 0)
		goto out_vm;
	free(image);
	image = NULL;
	if (snapshot_prepare(&vm) < 0)
		goto out_vm;
	status = vm_run(&vm);
	if (vm.exit_msg[0]) {
		if (status == 0 || status <= HF_EXIT_CODE_MAX)
			pr_debug("%s", vm.exit_msg);
		else if (status == HF_STATUS_STOPPED)
			pr_info("%s", vm.exit_msg);
		else
			pr_err("%s", vm.exit_msg);
	}
out_vm:
	console_close(&vm.console);
	marks_close(&vm);
	vm_destroy(&vm);
out_host:
	host_close(&host);
	free(image);
	return status;
}
