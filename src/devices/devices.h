/* The VMM's devices: each lives in its own file and is put on a VM's board by the board
 * builder (vmm/board.c), either by its constructor below or, for those the command line
 * adds, through its struct device_option. */
#ifndef HF_DEVICES_H
#define HF_DEVICES_H

#include "core/vm.h"
#include "hyperfork/abi.h"

struct marks;

/* Hypercall ports of include/hyperfork/abi.h (all guests); HF_PORT_MARK writes go to marks
 * (core/marks.h; NULL: none). */
int hfport_add(struct vm *vm, struct marks *marks);
/* What a guest hands a hypercall port, checked in one place (the guest is told off with
 * vcpu_guest_error, naming what, when it is wrong). guest_struct: the len-byte struct
 * (kind, e.g. "descriptor") at guest-physical at; guest_buffer: the kind addr+len, at
 * most max bytes. Each returns a pointer into guest RAM, or NULL. Copy what the struct
 * holds before using it: the guest may change it meanwhile. */
const void *guest_struct(struct vm *vm, struct vcpu *c, const char *what, const char *kind,
			 uint32_t at, size_t len);
const void *guest_buffer(struct vm *vm, struct vcpu *c, const char *what, const char *kind,
			 uint64_t addr, uint64_t len, uint64_t max);
/* 8250 UART at 0x3f8, IRQ 4 (Linux guests). */
int serial_add(struct vm *vm);
/* Legacy PC ports a Linux guest touches: the i8042 controller's status and reset line
 * (0x60-0x64). */
int legacy_add(struct vm *vm);

/* What a host file a device opens once the VM runs is to it (host_paths below). */
#define DEV_PATH_WRITABLE 1u /* it writes there (a persistent disk, a directory of sockets) */
#define DEV_PATH_OWN_NODE 2u /* a character device each clone opens anew (/dev/net/tun): a
			      * jail makes a node of its own for its user */
typedef void (*device_path_fn)(void *ctx, const char *path, unsigned flags);

/* A device the command line adds: `--NAME ARG`, given once per device. Each device's file
 * defines its own and parses its own argument; device_options lists them all. */
struct device_option {
	const char *name;    /* the option, without the dashes */
	const char *metavar; /* what ARG looks like, for usage lines; NULL: the option takes
	                        no argument (parse gets "") */
	const char *help;    /* --help lines, each indented by 2 spaces, ending in '\n' */
	unsigned max;        /* how many the VM may have (0: as many as the board has lines) */
	bool linux_only;     /* only Linux guests have drivers for it */
	bool bare_only;      /* only bare guests can use it */
	bool host_network;   /* it reaches the host's network (a tap device there): a jail
				keeps the host's network namespace (or --netns's) for it */
	/* Check arg; returns what add needs (freed with free()), or NULL with the reason in
	 * err (the caller names the option and the argument). Pure: touches nothing. */
	void *(*parse)(const char *arg, char *err, size_t errlen);
	/* Put the device on vm's board (its interrupt line and MMIO window from the bus).
	 * Returns 0 or -1 (logged). */
	int (*add)(struct vm *vm, const void *parsed);
	/* The host files the device parsed will open once the VM runs (a jail binds them into
	 * its root), each handed to add with DEV_PATH_* flags; the strings live as long as
	 * parsed. Optional (none). Pure. */
	void (*host_paths)(const void *parsed, device_path_fn add, void *ctx);
};

/* A device option given on the command line: the option and what its parse made. */
struct device_arg {
	const struct device_option *opt;
	void *arg;
};

/* Every device option, NULL-terminated, in the order --help shows them. */
extern const struct device_option *const device_options[];

/* virtio-net over a host tap, created if it does not exist (--net). Clones get taps of
 * their own. */
extern const struct device_option virtio_net_option;
/* For tests: a virtio-net NIC on an open descriptor fd in place of a tap (e.g. one end of a
 * SOCK_DGRAM socketpair: a datagram per frame), named name, taken over (closed on
 * failure). Returns 0 or -1 (logged). */
int virtio_net_add_fd(struct vm *vm, int fd, const char *name);
/* virtio-blk on a disk image (--disk): mapped copy-on-write (the file is never written; a
 * clone inherits the disk as it was at the fork), read-only, or persistent (writes reach
 * the file; the VM cannot be cloned). */
extern const struct device_option virtio_blk_option;
/* virtio-vsock on a host Unix socket, Firecracker's hybrid model (--vsock). Clones get
 * sockets of their own. */
extern const struct device_option virtio_vsock_option;

/* Invocations for a bare guest over the function ports of include/hyperfork/abi.h, from
 * the Unix socket RUN_DIR/NAME.fn (--function). Clones get sockets of their own. */
extern const struct device_option fnport_option;

#endif
