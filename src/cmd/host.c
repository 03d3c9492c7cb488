/* `hyperfork host`: what this host's KVM offers and how HyperFork adapts to it. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "core/host.h"
#include "hyperfork/abi.h"

int cmd_host(int argc, char **argv)
{
	struct host h;
	(void)argc;
	(void)argv;
	if (host_open(&h) < 0)
		return HF_STATUS_ERROR;
	printf("backend:        %s\n", host_backend_name(h.backend));
	printf("max vcpus:      %d\n", h.max_vcpus);
	printf("guest phys bits %u\n", h.phys_bits);
	printf("host RAM:       %llu MiB\n", (unsigned long long)(h.host_ram >> 20));
	printf("irqchip/pit:    %s/%s\n", h.irqchip ? "yes" : "no", h.pit2 ? "yes" : "no");
	printf("xsave:          %s (%d bytes)\n", h.xsave ? "yes" : "no", h.xsave2_size);
	printf("vcpu attrs:     %s\n", h.vcpu_attrs ? "yes" : "no");
	printf("adjust clock:   0x%x\n", h.adjust_clock);
	printf("msrs listed:    %u\n", h.msrs->nmsrs);
	printf("linux flags:    %s\n", host_linux_flags(&h)[0] ? host_linux_flags(&h) : "(none)");
	host_close(&h);
	return 0;
}
