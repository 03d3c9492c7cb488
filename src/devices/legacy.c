/* Legacy PC ports a Linux guest expects: the i8042 controller's status and reset line
 * (0x60/0x64), so `reboot` ends the VM instead of spinning. */
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "hyperfork/abi.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe

static int legacy_pio(struct device *d, struct vcpu *c, uint16_t port, bool write,
		      uint8_t *data, unsigned size)
{
	(void)c;
	if (!write) {
		memset(data, 0, size); /* controller idle: input and output buffers empty */
		return 0;
	}
	if (port == I8042_CMD && size == 1 && *data == I8042_CMD_RESET)
		vm_request_exit(d->vm, HF_STATUS_RESET, "guest requested a reset");
	return 0;
}

static void legacy_destroy(struct device *d)
{
	free(d);
}

static const struct device_ops legacy_ops = {
	.name = "i8042",
	.pio = legacy_pio,
	.destroy = legacy_destroy,
};

int legacy_add(struct vm *vm)
{
	struct device *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	/* 0x60..0x64 (0x61 is the PIT's speaker port, handled by KVM's in-kernel PIT first). */
	*d = (struct device){.ops = &legacy_ops, .vm = vm, .port_base = I8042_DATA,
			     .port_count = 5};
	if (bus_add(&vm->bus, d) < 0) {
		free(d);
		return -1;
	}
	return 0;
}
