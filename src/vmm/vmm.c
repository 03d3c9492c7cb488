/* The VMM's life: boot the VM, run it, end it (see vmm.h). */
#include "vmm/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/marks.h"
#include "core/seccomp.h"
#include "core/vcpu.h"
#include "hyperfork/abi.h"
#include "util/log.h"
#include "util/rundir.h"
#include "util/util.h"
#include "vmm/board.h"
#include "vmm/runloop.h"

/* What the VMM holds while its VM lives. */
struct vmm {
	const struct vmm_config *cfg;
	struct host host;
	struct vm vm;
	struct marks *marks;   /* NULL: none */
	struct clones *clones; /* clone/'s state for the VM */
};

/* Make the rest of the VM of v->cfg (its KVM VM and RAM are made): its vCPUs, marks log,
 * console, board and guest, and clone/'s state, ready to run. Returns 0 or -1 (logged;
 * end() frees what was made). */
static int boot(struct vmm *v, const uint8_t *image, size_t len)
{
	const struct vmm_config *cfg = v->cfg;
	struct vm *vm = &v->vm;
	if (cfg->marks_path && !(v->marks = marks_open(cfg->marks_path, vm->cfg.name)))
		return -1;
	vm->console.marks = v->marks;
	if (vcpus_create(vm) < 0 ||
	    console_open(&vm->console, cfg->vm.console, cfg->vm.console_path) < 0 ||
	    board_build(vm, cfg, v->marks, image, len) < 0)
		return -1;
	v->clones = clones_new(vm, &cfg->clone);
	return v->clones ? 0 : -1;
}

/* Free what boot made. */
static void end(struct vmm *v)
{
	clones_free(v->clones);
	console_close(&v->vm.console);
	marks_close(v->marks);
	vcpus_free(&v->vm);
	vm_destroy(&v->vm);
}

/* --exit-files: the status the VM (or clone) ends with, into RUN_DIR/NAME.exit, for whoever
 * waits for it without being its parent (a template's clone is the template's child). */
static void write_exit_file(const struct vm *vm, int status)
{
	char path[4096], line[16];
	run_file(path, sizeof(path), vm->cfg.run_dir, vm->cfg.name, RUN_FILE_EXIT);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	int n = snprintf(line, sizeof(line), "%d\n", status);
	if (fd < 0 || write_all(fd, line, (size_t)n) < 0)
		pr_err("cannot write exit status %d to %s: %s", status, path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

int vmm_run(const struct vmm_config *cfg)
{
	struct vmm v = {.cfg = cfg};
	uint8_t *image;
	size_t image_len;
	if (read_file(cfg->vm.image, &image, &image_len) < 0) {
		pr_err("cannot read %s image %s: %s", cfg->vm.kind == VM_BARE ? "bare" : "kernel",
		       cfg->vm.image, strerror(errno));
		return HF_STATUS_ERROR;
	}
	if (seccomp_prepare(!cfg->no_seccomp) < 0 || host_open(&v.host) < 0) {
		free(image);
		return HF_STATUS_ERROR;
	}
	int status = HF_STATUS_ERROR;
	if (vm_create(&v.vm, &v.host, &cfg->vm) < 0) {
		free(image);
		host_close(&v.host);
		return status;
	}
	int r = boot(&v, image, image_len);
	free(image);
	if (r == 0 && (!cfg->before_guest || cfg->before_guest() == 0)) {
		status = runloop_run(&v.vm, v.clones, v.marks, cfg);
		struct vm *vm = &v.vm;
		if (vm->exit_msg[0]) {
			if (status == 0 || status <= HF_EXIT_CODE_MAX)
				pr_debug("%s", vm->exit_msg);
			else if (status == HF_STATUS_STOPPED)
				pr_info("%s", vm->exit_msg);
			else
				pr_err("%s", vm->exit_msg);
		}
		if (cfg->exit_files)
			write_exit_file(vm, status);
	}
	end(&v);
	host_close(&v.host);
	return status;
}
