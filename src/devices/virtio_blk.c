/* virtio-blk over a disk image mapped copy-on-write (or shared, for a persistent disk).
 *
 * The image is mapped MAP_PRIVATE: the guest reads the file's pages (page cache, shared by
 * every VM and clone using the image) and its writes land in private copies in the VMM's
 * memory. The image file is never written. A clone, made by fork(), inherits its parent's
 * disk exactly as it was at the fork, writes included, and from then on each side sees
 * only its own writes: a writable root disk per clone at the cost of the blocks it
 * changes. With ",ro" the mapping is read-only and the guest is told the disk is. With
 * ",persist" the mapping is shared: writes reach the file (flushed on the guest's FLUSH),
 * and the VM cannot be cloned, since clones would write into one file.
 *
 * In a clone that can be reset (a copy-on-write disk of a clone of a --reusable template),
 * each page of the disk the guest writes is first saved as it was (once per page until
 * the next reset): a reset copies them back, so no write survives it.
 *
 * Requests run on the vCPU thread that notifies the queue: a request is a memcpy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/vm.h"
#include "devices/devices.h"
#include "devices/virtio.h"
#include "util/log.h"

#define VIRTIO_ID_BLOCK 2u
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u
#define VIRTIO_BLK_ID_BYTES 20u

enum disk_mode {
	DISK_COW,     /* mapped copy-on-write: writes stay in the VM (and its clones) */
	DISK_RO,      /* read-only to the guest */
	DISK_PERSIST, /* writes reach the file; the VM cannot be cloned */
};

#define SECTOR 512u
#define REQ_HDR 16u /* type, reserved, sector */

struct vblk {
	struct virtio_dev v;
	uint8_t *data; /* the image, mapped */
	uint64_t size; /* bytes, a multiple of SECTOR */
	enum disk_mode mode;
	char id[VIRTIO_BLK_ID_BYTES];
	char why_not_clone[160]; /* persistent disks: why the VM cannot be cloned */
	/* a resettable clone: the disk's pages as they were before its first writes */
	uint64_t *saved;         /* a bit per page saved, NULL until the first */
	struct undo {
		uint64_t page;
		uint8_t *copy;
	} *undo;
	size_t nundo, undo_cap;
};

#define DISK_PAGE 4096u

/* The bytes of disk page p (the last may be short). */
static uint64_t page_len(const struct vblk *b, uint64_t p)
{
	uint64_t at = p * DISK_PAGE;
	return b->size - at < DISK_PAGE ? b->size - at : DISK_PAGE;
}

/* Before len bytes at off are written in a clone that can be reset: save each page not
 * saved since the last reset. Returns 0, or -1 out of memory (nothing written then). */
static int save_before_write(struct vblk *b, uint64_t off, size_t len)
{
	uint64_t pages = (b->size + DISK_PAGE - 1) / DISK_PAGE;
	if (!b->saved && !(b->saved = calloc((pages + 63) / 64, sizeof(uint64_t))))
		return -1;
	for (uint64_t p = off / DISK_PAGE; len && p <= (off + len - 1) / DISK_PAGE; p++) {
		if (b->saved[p / 64] >> (p % 64) & 1)
			continue;
		if (b->nundo == b->undo_cap) {
			size_t cap = b->undo_cap ? b->undo_cap * 2 : 64;
			struct undo *u = realloc(b->undo, cap * sizeof(*u));
			if (!u)
				return -1;
			b->undo = u;
			b->undo_cap = cap;
		}
		uint8_t *copy = malloc(page_len(b, p));
		if (!copy)
			return -1;
		memcpy(copy, b->data + p * DISK_PAGE, page_len(b, p));
		b->undo[b->nundo++] = (struct undo){.page = p, .copy = copy};
		b->saved[p / 64] |= 1ull << (p % 64);
	}
	return 0;
}

/* Serve one request; returns the status and sets *written (bytes put in in-buffers,
 * status excluded). */
static uint8_t request(struct vblk *b, struct virtq_elem *e, uint32_t type, uint64_t sector,
		     size_t *written)
{
	size_t in_data = e->in_len - 1; /* the last in-byte is the status */
	size_t out_data = e->out_len - REQ_HDR;

	*written = 0;
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		size_t len = type == VIRTIO_BLK_T_IN ? in_data : out_data;
		if (sector > b->size / SECTOR || len > b->size - sector * SECTOR) {
			pr_debug("virtio-blk: %s of %zu bytes at sector %llu is past the end of "
				 "the disk", type == VIRTIO_BLK_T_IN ? "read" : "write", len,
				 (unsigned long long)sector);
			return VIRTIO_BLK_S_IOERR;
		}
		uint8_t *at = b->data + sector * SECTOR;
		if (type == VIRTIO_BLK_T_IN) {
			*written = virtq_copy_in(e, 0, at, len);
		} else {
			if (b->mode == DISK_RO)
				return VIRTIO_BLK_S_IOERR;
			if (b->mode == DISK_COW && b->v.dev.vm->resettable &&
			    save_before_write(b, sector * SECTOR, len) < 0) {
				pr_warn("virtio-blk: out of memory to keep the disk's state for a "
					"reset: the write fails");
				return VIRTIO_BLK_S_IOERR;
			}
			virtq_copy_out(e, REQ_HDR, at, len);
		}
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_FLUSH:
		/* Copy-on-write disks are never written back: nothing to flush. */
		if (b->mode == DISK_PERSIST && msync(b->data, b->size, MS_SYNC) < 0) {
			pr_warn("virtio-blk: flushing to the image failed: %s", strerror(errno));
			return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		*written = virtq_copy_in(e, 0, b->id,
					 in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES);
		return VIRTIO_BLK_S_OK;
	}
	return VIRTIO_BLK_S_UNSUPP;
}

static void vblk_notify(struct virtio_dev *v, unsigned q)
{
	struct vblk *b = v->owner;
	struct virtq_elem e;
	bool done = false;

	while (virtq_pop(v, q, &e) == 1) {
		uint8_t hdr[REQ_HDR];
		uint32_t type;
		uint64_t sector;
		if (e.out_len < REQ_HDR || e.in_len < 1 || e.in[e.nin - 1].iov_len < 1) {
			virtio_needs_reset(v, "block request without a header or a status byte");
			return;
		}
		virtq_copy_out(&e, 0, hdr, REQ_HDR);
		memcpy(&type, hdr, 4);
		memcpy(&sector, hdr + 8, 8);
		size_t written;
		uint8_t status = request(b, &e, type, sector, &written);
		struct iovec *last = &e.in[e.nin - 1];
		((uint8_t *)last->iov_base)[last->iov_len - 1] = status;
		virtq_push(v, q, e.head, (uint32_t)(written + 1));
		done = true;
	}
	if (done)
		virtio_notify_used(v, q);
}

static void vblk_config(struct virtio_dev *v, uint32_t off, uint8_t *data, unsigned len)
{
	struct vblk *b = v->owner;
	uint64_t capacity = b->size / SECTOR; /* offset 0: capacity in sectors */
	for (unsigned i = 0; i < len && off + i < sizeof(capacity); i++)
		data[i] = ((const uint8_t *)&capacity)[off + i];
}

static const char *vblk_cannot_clone(struct virtio_dev *v)
{
	struct vblk *b = v->owner;
	return b->mode == DISK_PERSIST ? b->why_not_clone : NULL;
}

/* Drop the saved pages (put back first if restore). */
static void undo_all(struct vblk *b, bool restore)
{
	for (size_t i = 0; i < b->nundo; i++) {
		uint64_t p = b->undo[i].page;
		if (restore)
			memcpy(b->data + p * DISK_PAGE, b->undo[i].copy, page_len(b, p));
		free(b->undo[i].copy);
		b->saved[b->undo[i].page / 64] &= ~(1ull << (b->undo[i].page % 64));
	}
	b->nundo = 0;
}

/* A reset: every page written since the clone started (or its last reset) as it was. */
static int vblk_rewind(struct virtio_dev *v)
{
	undo_all(v->owner, true);
	return 0;
}

/* A fork child: what the parent saved is the parent's to put back. */
static int vblk_post_fork(struct virtio_dev *v)
{
	undo_all(v->owner, false);
	return 0;
}

static void vblk_destroy(struct virtio_dev *v)
{
	struct vblk *b = v->owner;
	undo_all(b, false);
	free(b->saved);
	free(b->undo);
	munmap(b->data, b->size);
	free(b);
}

static const struct virtio_ops vblk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features = VIRTIO_BLK_F_FLUSH,
	.nqueues = 1,
	.notify = vblk_notify,
	.config = vblk_config,
	.cannot_clone = vblk_cannot_clone, /* the mapping is the clone's, by fork() */
	.post_fork = vblk_post_fork,
	.destroy = vblk_destroy,
	.rewind = vblk_rewind,
};

/* --disk FILE[,ro|,persist] */
struct disk_arg {
	enum disk_mode mode;
	char path[]; /* NUL-terminated */
};

static void *disk_parse(const char *arg, char *err, size_t errlen)
{
	size_t len = strlen(arg);
	enum disk_mode mode = DISK_COW;
	if (len > 3 && !strcmp(arg + len - 3, ",ro"))
		mode = DISK_RO, len -= 3;
	else if (len > 8 && !strcmp(arg + len - 8, ",persist"))
		mode = DISK_PERSIST, len -= 8;
	if (!len || !strcmp(arg, ",ro") || !strcmp(arg, ",persist")) {
		snprintf(err, errlen, "expected FILE, FILE,ro or FILE,persist");
		return NULL;
	}
	struct disk_arg *d = malloc(sizeof(*d) + len + 1);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->mode = mode;
	memcpy(d->path, arg, len);
	d->path[len] = 0;
	return d;
}

static int virtio_blk_add(struct vm *vm, const void *parsed)
{
	const struct disk_arg *arg = parsed;
	const char *path = arg->path;
	enum disk_mode mode = arg->mode;

	int fd = open(path, (mode == DISK_PERSIST ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		pr_err("cannot open disk image %s: %s", path, strerror(errno));
		return -1;
	}
	off_t end = lseek(fd, 0, SEEK_END);
	if (end <= 0 || end % SECTOR) {
		pr_err("disk image %s: size %lld is not a positive multiple of %u bytes", path,
		       (long long)end, SECTOR);
		close(fd);
		return -1;
	}
	struct vblk *b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		return -1;
	}
	b->size = (uint64_t)end;
	b->mode = mode;
	snprintf(b->why_not_clone, sizeof(b->why_not_clone),
		 "disk %s is persistent (its writes go to the file, which clones cannot share)",
		 path);
	b->data = mmap(NULL, b->size, PROT_READ | (mode == DISK_RO ? 0 : PROT_WRITE),
		       mode == DISK_PERSIST ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	close(fd);
	if (b->data == MAP_FAILED) {
		pr_err("cannot map disk image %s: %s", path, strerror(errno));
		free(b);
		return -1;
	}
	const char *base = strrchr(path, '/');
	snprintf(b->id, sizeof(b->id), "%s", base ? base + 1 : path); /* NUL-padded, may fill */
	if (virtio_mmio_add(vm, &b->v, &vblk_ops, b) < 0) {
		munmap(b->data, b->size);
		free(b);
		return -1;
	}
	if (mode == DISK_RO)
		b->v.features |= VIRTIO_BLK_F_RO;
	return 0;
}

static void disk_host_paths(const void *parsed, device_path_fn add, void *ctx)
{
	const struct disk_arg *d = parsed;
	add(ctx, d->path, d->mode == DISK_PERSIST ? DEV_PATH_WRITABLE : 0);
}

const struct device_option virtio_blk_option = {
	.name = "disk",
	.metavar = "FILE[,ro|,persist]",
	.help = "  --disk FILE[,ro|,persist]  Linux guests: a virtio-blk disk (vda, vdb, ... in\n"
		"                    order) on image FILE, mapped copy-on-write: the guest's\n"
		"                    writes stay in the VM and pass to its clones, the file is\n"
		"                    never written; ,ro: a read-only disk; ,persist: writes go\n"
		"                    to the file (the VM cannot then be cloned)\n",
	.linux_only = true,
	.parse = disk_parse,
	.add = virtio_blk_add,
	.host_paths = disk_host_paths,
};
