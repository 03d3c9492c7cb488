/* The devices the command line can add, one line each. */
#include <stddef.h>

#include "devices/devices.h"

const struct device_option *const device_options[] = {
	&virtio_net_option,
	&virtio_blk_option,
	&virtio_vsock_option,
	&fnport_option,
	NULL,
};
