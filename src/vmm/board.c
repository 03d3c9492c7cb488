/* The board builder (see board.h). */
#include "vmm/board.h"

#include "arch/x86/bare.h"
#include "arch/x86/linux.h"
#include "devices/devices.h"
#include "util/log.h"

/* 0-4 are the PIT, keyboard, cascade, COM2 and COM1; 8, 9, 12-15 are left to what PC
 * guests expect there (RTC, ACPI, mouse, FPU, IDE). */
const unsigned board_irqs[] = {5, 6, 7, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23};
const unsigned board_nirqs = sizeof(board_irqs) / sizeof(board_irqs[0]);

/* The devices of the command line, in the order given. */
static int add_devices(struct vm *vm, const struct vmm_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i].opt->add(vm, cfg->devices[i].arg) < 0)
			return -1;
	return 0;
}

int board_build(struct vm *vm, const struct vmm_config *cfg, struct marks *marks,
		const uint8_t *image, size_t len)
{
	int r;
	if (vm->cfg.kind == VM_LINUX) {
		bus_board(&vm->bus, board_irqs, board_nirqs, LINUX_DEVICE_MMIO_BASE,
			  LINUX_DEVICE_MMIO_END);
		r = add_devices(vm, cfg) < 0 || serial_add(vm) < 0 || hfport_add(vm, marks) < 0 ||
				    legacy_add(vm) < 0
			    ? -1
			    : linux_setup(vm, image, len);
	} else {
		r = bare_setup(vm, image, len) < 0 || add_devices(vm, cfg) < 0
			    ? -1
			    : hfport_add(vm, marks);
	}
	if (r < 0)
		return -1;
	const char *why = cfg->clone.template ? bus_refusal(&vm->bus) : NULL;
	if (why) {
		pr_err("--template: this VM could not be cloned: %s", why);
		return -1;
	}
	return 0;
}
