/* virtio-net over a host tap device. Transmit runs on the vCPU thread that notifies the
 * queue; receive runs on the VM's main loop, the thread that also forks clones, so a
 * clone never inherits a half-delivered frame.
 *
 * A clone gets a tap of its own, named after its parent's with ".N" appended (hf0 ->
 * hf0.1), created if it does not exist, with the MAC address of its parent's tap: the
 * guest keeps its own MAC and IP address, and the neighbour entries it had for the host
 * side stay right. Each tap is its own link, so clones with one address do not collide;
 * the host decides where each tap goes (a bridge, a network namespace, routing).
 *
 * Making a tap costs ~0.3 ms, so a clone's guest does not wait for it: the tap is made by
 * the clone's main loop while the guest already runs. Frames the guest sends meanwhile
 * stay in its transmit queue (nothing is lost) and go out once the tap exists; nothing
 * can arrive for the clone before then. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/loop.h"
#include "core/vm.h"
#include "api/proto.h"
#include "devices/devices.h"
#include "devices/virtio.h"
#include "util/log.h"
#include "util/rundir.h"

#define VIRTIO_ID_NET 1u
#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_STATUS (1ull << 16)
#define VIRTIO_NET_S_LINK_UP 1u

#define RXQ 0u
#define TXQ 1u
#define NET_HDR_LEN 12u   /* struct virtio_net_hdr_mrg_rxbuf: the header of virtio 1.x */
#define FRAME_MAX 65536u
#define RX_BATCH 64u      /* frames per wakeup, so that one busy tap cannot starve the loop */

struct vnet {
	struct virtio_dev v;
	char ifname[IFNAMSIZ];
	uint8_t mac[6];      /* the guest's */
	uint8_t host_mac[6]; /* the tap's, given to each clone's tap */
	bool have_host_mac;
	int tap;             /* -1: none (a clone before it has its own) */
	struct loop *loop;
	struct watch w;
	bool watching;       /* the tap is on the loop (off while the guest has no buffers) */
	uint8_t frame[NET_HDR_LEN + FRAME_MAX];
};

/* Open (creating if needed) tap ifname. Returns the fd or -1 (logged). */
static int tap_open(const char *ifname)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		pr_err("network: cannot open /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		pr_err("network: cannot attach to tap %s: %s%s", ifname, strerror(errno),
		       errno == EPERM ? " (needs CAP_NET_ADMIN, or a tap made for this user)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

/* Bring ifname up (unless it is), with hardware address mac if given (set through the tap's
 * own descriptor, which needs no capability). Returns 0 or -1 (logged). */
static int tap_configure(int tap, const char *ifname, const uint8_t *mac)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (mac) {
		ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
		memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
		if (ioctl(tap, SIOCSIFHWADDR, &ifr) < 0) {
			pr_err("network: cannot set the MAC address of tap %s: %s", ifname,
			       strerror(errno));
			return -1;
		}
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		pr_err("network: cannot read the flags of tap %s: %s", ifname, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	if (ifr.ifr_flags & IFF_UP) { /* as made for a jailed VM, which cannot bring it up */
		close(s);
		return 0;
	}
	ifr.ifr_flags |= IFF_UP;
	int r = ioctl(s, SIOCSIFFLAGS, &ifr);
	if (r < 0)
		pr_err("network: cannot bring tap %s up: %s", ifname, strerror(errno));
	close(s);
	return r;
}

static void rx_event(struct watch *w, uint32_t events);

static void watch_tap(struct vnet *n, bool on)
{
	if (!n->loop || n->tap < 0 || n->watching == on)
		return;
	if (on) {
		n->w = (struct watch){.fd = n->tap, .fn = rx_event, .arg = n};
		if (loop_add(n->loop, &n->w, EPOLLIN) < 0)
			return;
	} else {
		loop_del(n->loop, &n->w);
	}
	n->watching = on;
}

/* ---- transmit (vCPU thread) -------------------------------------------------------------- */

static void transmit(struct vnet *n)
{
	struct virtq_elem e;
	bool done = false;

	if (n->tap < 0)
		return; /* a clone's tap is being made: the frames wait in the queue */
	while (virtq_pop(&n->v, TXQ, &e) == 1) {
		/* Skip the virtio-net header, wherever the descriptors split it. */
		struct iovec iov[VIRTQ_MAX_SEGS];
		unsigned k = virtq_slice(e.out, e.nout, NET_HDR_LEN, SIZE_MAX, iov);
		if (e.out_len < NET_HDR_LEN)
			pr_debug("network: transmit buffer shorter than its header");
		else if (k && writev(n->tap, iov, (int)k) < 0)
			pr_debug("network: tap %s: frame dropped: %s", n->ifname, strerror(errno));
		virtq_push(&n->v, TXQ, e.head, 0);
		done = true;
	}
	if (done)
		virtio_notify_used(&n->v, TXQ);
}

/* ---- receive (main loop) -------------------------------------------------------------------- */

static void rx_event(struct watch *w, uint32_t events)
{
	struct vnet *n = w->arg;
	struct vm *vm = n->v.dev.vm;
	bool delivered = false;
	(void)events;

	pthread_mutex_lock(&n->v.lock);
	for (unsigned i = 0; i < RX_BATCH; i++) {
		if (vm->frozen || !virtq_has_avail(&n->v, RXQ)) {
			/* No buffer to put a frame in: stop watching until the driver adds one
			 * (it notifies the receive queue). A template's guest never runs again. */
			watch_tap(n, false);
			break;
		}
		ssize_t len = read(n->tap, n->frame + NET_HDR_LEN, FRAME_MAX);
		if (len <= 0)
			break; /* EAGAIN: drained */
		struct virtq_elem e;
		if (virtq_pop(&n->v, RXQ, &e) != 1)
			break;
		memset(n->frame, 0, NET_HDR_LEN);
		n->frame[10] = 1; /* num_buffers */
		size_t total = NET_HDR_LEN + (size_t)len;
		if (e.in_len < total) {
			pr_debug("network: %zd-byte frame does not fit a %zu-byte buffer: dropped",
				 len, e.in_len);
			total = 0;
		} else {
			virtq_copy_in(&e, 0, n->frame, total);
		}
		virtq_push(&n->v, RXQ, e.head, (uint32_t)total);
		delivered = true;
	}
	if (delivered)
		virtio_notify_used(&n->v, RXQ);
	pthread_mutex_unlock(&n->v.lock);
}

/* ---- virtio device ---------------------------------------------------------------------- */

static void vnet_notify(struct virtio_dev *v, unsigned q)
{
	struct vnet *n = v->owner;
	if (q == TXQ)
		transmit(n);
	else
		watch_tap(n, true); /* new receive buffers: frames can flow again */
}

static void vnet_config(struct virtio_dev *v, uint32_t off, uint8_t *data, unsigned len)
{
	struct vnet *n = v->owner;
	uint8_t cfg[8];
	memcpy(cfg, n->mac, 6);
	cfg[6] = VIRTIO_NET_S_LINK_UP;
	cfg[7] = 0;
	for (unsigned i = 0; i < len && off + i < sizeof(cfg); i++)
		data[i] = cfg[off + i];
}

static void vnet_reset(struct virtio_dev *v)
{
	watch_tap(v->owner, false);
}

/* ---- bus device: main loop and clone hooks ------------------------------------------------ */

/* A clone's own tap: the parent's name with ".id", the parent tap's MAC. Returns the fd
 * or -1 (logged). */
static int clone_tap(struct vnet *n, unsigned id, char *name, size_t size)
{
	int len = clone_name(name, size, n->ifname, id);
	if (len >= IFNAMSIZ) {
		pr_err("network: the clone's tap name %s is longer than %d characters", name,
		       IFNAMSIZ - 1);
		return -1;
	}
	int tap = tap_open(name);
	if (tap >= 0 && tap_configure(tap, name, n->have_host_mac ? n->host_mac : NULL) < 0) {
		close(tap);
		return -1;
	}
	return tap;
}

static int vnet_attach(struct virtio_dev *v, struct loop *l)
{
	struct vnet *n = v->owner;
	char name[64];
	int tap = -1;

	if (n->tap < 0) { /* a clone, its guest already running */
		tap = clone_tap(n, v->dev.vm->clone_id, name, sizeof(name));
		if (tap < 0)
			return -1;
	}
	pthread_mutex_lock(&n->v.lock);
	if (tap >= 0) {
		snprintf(n->ifname, sizeof(n->ifname), "%s", name);
		n->tap = tap;
		transmit(n); /* what the guest sent while the tap was being made */
	}
	n->loop = l;
	n->watching = false;
	watch_tap(n, true);
	pthread_mutex_unlock(&n->v.lock);
	return 0;
}

static int vnet_pre_fork(struct virtio_dev *v)
{
	struct vnet *n = v->owner;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	n->have_host_mac = n->tap >= 0 && ioctl(n->tap, SIOCGIFHWADDR, &ifr) == 0;
	if (n->have_host_mac)
		memcpy(n->host_mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static int vnet_post_fork(struct virtio_dev *v)
{
	struct vnet *n = v->owner;
	/* The tap and the loop are the parent's; the clone gets its own in vnet_attach. */
	if (n->tap >= 0)
		close(n->tap);
	n->tap = -1;
	n->loop = NULL;
	n->watching = false;
	return 0;
}

/* A reset: the queues are the template's again (the transport put them back); the tap
 * stays, and is watched again if the guest's receive queue has room. Lock held. */
static int vnet_rewind(struct virtio_dev *v)
{
	struct vnet *n = v->owner;
	watch_tap(n, true);
	return 0;
}

static void vnet_status(struct virtio_dev *v, struct hf_vm_status *st)
{
	struct vnet *n = v->owner;
	snprintf(st->net, sizeof(st->net), "%s", n->ifname);
}

static void vnet_destroy(struct virtio_dev *v)
{
	struct vnet *n = v->owner;
	if (n->tap >= 0)
		close(n->tap);
	free(n);
}

static const struct virtio_ops vnet_virtio_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS,
	.nqueues = 2,
	.notify = vnet_notify,
	.config = vnet_config,
	.reset = vnet_reset,
	.attach = vnet_attach,
	.pre_fork = vnet_pre_fork,
	.post_fork = vnet_post_fork,
	.status = vnet_status,
	.destroy = vnet_destroy,
	.rewind = vnet_rewind,
};

/* --net TAP[,mac=MAC] */
struct net_arg {
	char tap[IFNAMSIZ];
	bool have_mac;
	uint8_t mac[6];
};

static void *net_parse(const char *arg, char *err, size_t errlen)
{
	struct net_arg a = {0};
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
	if (comma) {
		unsigned m[6];
		char end;
		if (sscanf(comma + 1, "mac=%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3],
			   &m[4], &m[5], &end) != 6 || (m[0] & 1))
			goto bad; /* not a unicast MAC */
		for (int i = 0; i < 6; i++)
			a.mac[i] = (uint8_t)m[i];
		a.have_mac = true;
	}
	if (len == 0 || len >= IFNAMSIZ)
		goto bad;
	memcpy(a.tap, arg, len);
	if (!strcmp(a.tap, ".") || !strcmp(a.tap, "..") || strpbrk(a.tap, "/: \t\n"))
		goto bad; /* what Linux refuses as an interface name */
	struct net_arg *p = malloc(sizeof(*p));
	if (p)
		*p = a;
	else
		snprintf(err, errlen, "out of memory");
	return p;
bad:
	snprintf(err, errlen, "expected TAP[,mac=XX:XX:XX:XX:XX:XX] (a tap name of 1-%d "
		 "characters, a unicast MAC)", IFNAMSIZ - 1);
	return NULL;
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

/* The NIC on backend fd, taken over (closed on failure): frames to and from the guest, one
 * per read or write. mac: the guest's, or NULL for one derived from the VM's name. */
static int vnet_add(struct vm *vm, int fd, const char *ifname, const uint8_t *mac)
{
	struct vnet *n = calloc(1, sizeof(*n));
	if (!n) {
		close(fd);
		return -1;
	}
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifname);
	if (mac)
		memcpy(n->mac, mac, 6);
	else
		mac_from_name(vm->cfg.name, n->mac);
	n->tap = fd;
	if (virtio_mmio_add(vm, &n->v, &vnet_virtio_ops, n) < 0) {
		close(fd);
		free(n);
		return -1;
	}
	return 0;
}

int virtio_net_add_fd(struct vm *vm, int fd, const char *name)
{
	return vnet_add(vm, fd, name, NULL);
}

static int virtio_net_add(struct vm *vm, const void *parsed)
{
	const struct net_arg *a = parsed;
	const char *ifname = a->tap;
	if (strlen(ifname) > IFNAMSIZ - 3)
		pr_warn("network: tap name %s leaves no room for clones' taps (%s.N, at most %d "
			"characters): this VM cannot be cloned", ifname, ifname, IFNAMSIZ - 1);
	int tap = tap_open(ifname);
	if (tap < 0)
		return -1;
	if (tap_configure(tap, ifname, NULL) < 0) {
		close(tap);
		return -1;
	}
	return vnet_add(vm, tap, ifname, a->have_mac ? a->mac : NULL);
}

static void net_host_paths(const void *parsed, device_path_fn add, void *ctx)
{
	(void)parsed;
	add(ctx, "/dev/net/tun", DEV_PATH_OWN_NODE); /* each clone opens it for its tap */
}

const struct device_option virtio_net_option = {
	.name = "net",
	.metavar = "TAP[,mac=MAC]",
	.help = "  --net TAP[,mac=MAC]  Linux guests: a virtio-net NIC on host tap TAP (created\n"
		"                    if missing; needs CAP_NET_ADMIN), guest MAC address MAC\n"
		"                    (default derived from NAME). Clone N gets tap TAP.N with\n"
		"                    the same guest MAC and IP address\n",
	.max = 1,
	.linux_only = true,
	.parse = net_parse,
	.add = virtio_net_add,
	.host_paths = net_host_paths,
	.host_network = true,
};
