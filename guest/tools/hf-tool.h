/* Shared by the Linux guest tools (static programs in the guest's initramfs): access to
 * the hypercall ports of include/hyperfork/abi.h, and reseeding the kernel's random
 * number generator from the host; writing a whole buffer; vsock addresses. */
#ifndef HF_TOOL_H
#define HF_TOOL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hyperfork/abi.h"

/* From <linux/random.h>, which musl does not ship. */
#ifndef RNDADDENTROPY
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#endif
#ifndef RNDRESEEDCRNG
#define RNDRESEEDCRNG _IO('R', 0x07)
#endif

/* From <linux/vm_sockets.h>, which musl does not ship. */
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define VMADDR_CID_ANY 0xffffffffu
#define IOCTL_VM_SOCKETS_GET_LOCAL_CID _IO(7, 0xb9)
struct sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_zero[sizeof(struct sockaddr) - sizeof(sa_family_t) -
			       sizeof(unsigned short) - 2 * sizeof(unsigned int)];
};

#define HF_RESEED_BYTES 64

/* Write all n bytes of p to fd, retrying short writes and EINTR. Returns 0 or -1. */
static inline int hf_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Allow this process the hypercall ports. Returns 0, or -1 with a message naming prog. */
static inline int hf_ports(const char *prog)
{
	if (ioperm(HF_PORT_BASE, HF_PORT_SPAN, 1) == 0)
		return 0;
	fprintf(stderr, "%s: ioperm(0x%x, %u): %s (kernel needs CONFIG_X86_IOPL_IOPERM=y and root)\n",
		prog, HF_PORT_BASE, HF_PORT_SPAN, strerror(errno));
	return -1;
}

/* A clone starts with its parent's kernel RNG state, so without this it would produce
 * the same "random" numbers (keys, UUIDs, ASLR of new processes) as its parent and
 * siblings. Mix HF_RESEED_BYTES from the host into the input pool, credited as entropy,
 * and make the kernel reseed its generator from it at once. Needs hf_ports() and
 * CAP_SYS_ADMIN. Returns 0, or -1 with a message naming prog. */
static inline int hf_reseed(const char *prog)
{
	struct {
		int entropy_count; /* bits */
		int buf_size;      /* bytes */
		uint32_t buf[HF_RESEED_BYTES / 4];
	} pool = {.entropy_count = HF_RESEED_BYTES * 8, .buf_size = HF_RESEED_BYTES};
	const char *step = "open /dev/urandom";

	for (unsigned i = 0; i < HF_RESEED_BYTES / 4; i++)
		pool.buf[i] = inl(HF_PORT_RANDOM);
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		step = "RNDADDENTROPY";
		if (ioctl(fd, RNDADDENTROPY, &pool) == 0) {
			step = "RNDRESEEDCRNG";
			if (ioctl(fd, RNDRESEEDCRNG) == 0) {
				close(fd);
				return 0;
			}
		}
		int e = errno;
		close(fd);
		errno = e;
	}
	fprintf(stderr, "%s: cannot reseed the kernel's random number generator: %s: %s\n", prog,
		step, strerror(errno));
	memset(&pool, 0, sizeof(pool));
	return -1;
}

#endif
