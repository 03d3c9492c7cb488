/* The x86 board: devices placed on it, the guest loaded, the VM run to its end. */
#include "arch/x86/board.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/bare.h"
#include "arch/x86/linux.h"
#include "clone/snapshot.h"
#include "core/runloop.h"
#include "core/seccomp.h"
#include "devices/devices.h"
#include "hyperfork/abi.h"
#include "util/log.h"

/* 0-4 are the PIT, keyboard, cascade, COM2 and COM1; 8, 9, 12-15 are left to what PC
 * guests expect there (RTC, ACPI, mouse, FPU, IDE). */
const unsigned board_irqs[] = {5, 6, 7, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23};
const unsigned board_nirqs = sizeof(board_irqs) / sizeof(board_irqs[0]);

/* The devices of the command line, in the order given. */
static int add_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg.ndevices; i++)
		if (vm->cfg.devices[i].opt->add(vm, vm->cfg.devices[i].arg) < 0)
			return -1;
	return 0;
}

static int linux_board(struct vm *vm, const uint8_t *image, size_t len)
{
	bus_board(&vm->bus, board_irqs, board_nirqs, LINUX_DEVICE_MMIO_BASE,
		  LINUX_DEVICE_MMIO_END);
	if (add_devices(vm) < 0 || serial_add(vm) < 0 || hfport_add(vm) < 0 || legacy_add(vm) < 0)
		return -1;
	return linux_setup(vm, image, len);
}

static int bare_board(struct vm *vm, const uint8_t *image, size_t len)
{
	if (bare_setup(vm, image, len) < 0 || add_devices(vm) < 0)
		return -1;
	return hfport_add(vm);
}

int board_build(struct vm *vm, const uint8_t *image, size_t len)
{
	int r = vm->cfg.kind == VM_LINUX ? linux_board(vm, image, len)
					 : bare_board(vm, image, len);
	if (r < 0)
		return -1;
	const char *why = vm->cfg.template ? bus_refusal(&vm->bus) : NULL;
	if (why) {
		pr_err("--template: this VM could not be cloned: %s", why);
		return -1;
	}
	return 0;
}

int board_run(const struct vm_config *cfg)
{
	uint8_t *image;
	size_t image_len;
	if (read_file(cfg->image, &image, &image_len) < 0) {
		pr_err("cannot read %s image %s: %s", cfg->kind == VM_BARE ? "bare" : "kernel",
		       cfg->image, strerror(errno));
		return HF_STATUS_ERROR;
	}

	struct host host;
	struct vm vm;
	int status = HF_STATUS_ERROR;
	if (seccomp_prepare(!cfg->no_seccomp) < 0 || host_open(&host) < 0) {
		free(image);
		return HF_STATUS_ERROR;
	}
	if (vm_create(&vm, &host, cfg) < 0)
		goto out_host;
	if (console_open(&vm.console, cfg->console, cfg->console_path) < 0)
		goto out_vm;
	if (cfg->marks_path && marks_open(&vm, cfg->marks_path) < 0)
		goto out_vm;
	if (board_build(&vm, image, image_len) < 0)
		goto out_vm;
	free(image);
	image = NULL;
	if (snapshot_prepare(&vm) < 0 || (cfg->before_guest && cfg->before_guest() < 0))
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
