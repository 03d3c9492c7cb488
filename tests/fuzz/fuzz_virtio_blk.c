/* libFuzzer target: virtio-blk (src/devices/virtio_blk.c and the virtio transport) against a
 * hostile driver, over real guest RAM, on a real 64-sector image file. The input's first
 * byte picks the disk: copy-on-write, read-only (",ro") or persistent (",persist"). After the
 * driver's bring-up (one queue of 8), the input is a program:
 *   0 OFF VALUE          write a device register (OFF: 0..0xfc)
 *   1 AT N BYTES         write N (<= 64) bytes into guest RAM at 0x10000 + AT
 *   2 T S L1 L2 LAYOUT C [DATA]  a request, type T (read, write, flush, get-id, or any), sector
 *                        S (on the disk, past its end, or huge), L (<= 8192) data bytes, its
 *                        chain laid out by LAYOUT: header of 16 bytes or of a wrong length,
 *                        split or not, data split at C or not, the status byte in its own
 *                        descriptor or after the data, data the wrong way, a status of 0
 *                        bytes; a write's data follows
 *   3 Q                  notify queue Q
 * While the driver has kept the rules (no register write or scribble yet), each request must
 * be answered as virtio-blk promises, checked against a model of the disk: a read within
 * the disk gets the disk's bytes and OK, one past its end IOERR and no data; a write within
 * the disk changes exactly its sectors (IOERR on a read-only disk), flush OK, get-id the
 * image's name (NUL-padded, 20 bytes at most), any other type UNSUPP; a chain without a
 * whole header or a status byte stops the device (DEVICE_NEEDS_RESET) unanswered. Whatever
 * the driver does, a copy-on-write or read-only disk's file is never written, and at the end
 * a persistent disk's file is what the model says (only the sectors requested changed). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "devices/devices.h"
#include "fuzz_virtio.h"
#include "util/log.h"

#define QSIZE 8u
#define SECTORS 64u
#define DISK (SECTORS * 512u)
#define HDRBUF 0x40000ull
#define DATABUF 0x42000ull
#define STATBUF 0x48000ull
#define LMAX 8192u
#define SPAN 0x39000u /* scribbles: the ring and the buffers */

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

static char dir[64] = "/tmp/hf-fuzz-blk.XXXXXX", path[128];
static const char *const mode_arg[3] = {"", ",ro", ",persist"};

struct fixture {
	struct vm vm;
	struct device *dev;
	int mode; /* 0 copy-on-write, 1 read-only, 2 persistent */
	bool clean;
	uint8_t orig[DISK], disk[DISK], file[DISK]; /* at the start; the guest's view; the file */
};

static const uint64_t huge[16] = {
	SECTORS, SECTORS + 1, SECTORS - 1, 1ull << 55, (1ull << 55) - 1, ~0ull / 512,
	~0ull / 512 + 1, ~0ull, ~0ull - 1, 1ull << 32, 1ull << 63, 127, 0xffffffffull,
	1ull << 54, (1ull << 54) + 1, ~0ull >> 1,
};

static void fail(const char *what)
{
	fprintf(stderr, "virtio-blk: %s\n", what);
	abort();
}

/* One request (op 2); returns the input bytes used, 0 if too few are left. */
static size_t request(struct fixture *f, const uint8_t *d, size_t left)
{
	if (left < 6)
		return 0;
	static const uint32_t types[4] = {T_IN, T_OUT, T_FLUSH, T_GET_ID};
	uint32_t type = d[0] < 0x80 ? types[d[0] % 4] : (uint32_t)(d[0] - 0x80);
	uint64_t sector = d[1] < 0xf0 ? d[1] % 80u : huge[d[1] - 0xf0];
	size_t len = ((size_t)d[2] | (size_t)d[3] << 8) % (LMAX + 1);
	uint8_t lay = d[4];
	size_t cut = len ? d[5] * 37u % len : 0;
	static const unsigned hlens[8] = {16, 16, 16, 24, 8, 0, 15, 17};
	size_t hlen = hlens[lay & 7];
	bool hsplit = lay & 8, dsplit = lay & 16, merged = lay & 32, flip = lay & 64,
	     nostat = lay & 128;
	bool readable = (type == T_OUT) != flip; /* the data is the driver's (out) */
	if (readable)
		merged = false; /* the status byte cannot share a readable descriptor */
	size_t used = 6;
	struct guest_mem *m = &f->vm.mem;
	uint8_t *hdr = mem_ptr(m, HDRBUF, 32), *data = mem_ptr(m, DATABUF, LMAX + 1),
		*stat = mem_ptr(m, STATBUF, 1);

	memset(hdr, 0xee, 32);
	memcpy(hdr, &type, 4);
	memset(hdr + 4, 0, 4);
	memcpy(hdr + 8, &sector, 8);
	memset(data, 0x5a, LMAX + 1);
	if (readable) {
		size_t n = len < left - used ? len : left - used;
		memcpy(data, d + used, n);
		used += n;
	}
	*stat = 0xff;

	/* The chain: header (one or two), data (none, one or two), status. */
	unsigned i = 0;
	size_t h1 = hsplit && hlen > 5 ? 5 : hlen;
	drv_desc(m, FZ_RING(0), i, HDRBUF, (uint32_t)h1, 1, (uint16_t)(i + 1)), i++;
	if (h1 < hlen)
		drv_desc(m, FZ_RING(0), i, HDRBUF + h1, (uint32_t)(hlen - h1), 1, (uint16_t)(i + 1)),
			i++;
	uint16_t dflags = readable ? 1 : 3;
	size_t dlen = len + (merged ? 1 : 0), d1 = dsplit ? cut : dlen;
	if (len || merged) {
		drv_desc(m, FZ_RING(0), i, DATABUF, (uint32_t)d1, dflags, (uint16_t)(i + 1)), i++;
		if (d1 < dlen)
			drv_desc(m, FZ_RING(0), i, DATABUF + d1, (uint32_t)(dlen - d1), dflags,
				 (uint16_t)(i + 1)), i++;
	}
	if (!merged) /* nostat: a status descriptor of 0 bytes */
		drv_desc(m, FZ_RING(0), i, STATBUF, nostat ? 0 : 1, 2, 0), i++;
	/* the last descriptor ends the chain */
	uint16_t *last_flags = mem_ptr(m, FZ_RING(0) + 16ull * (i - 1) + 12, 2);
	*last_flags &= (uint16_t)~1u;

	uint16_t before = fz_used_idx(&f->vm, 0);
	drv_offer(m, FZ_AVAIL(0), QSIZE, 0);
	drv_wr(f->dev, 0x050, 0);
	if (!f->clean)
		return used;

	/* What the device must have done. */
	size_t out_len = hlen + (readable ? len : 0);
	size_t in_len = (readable ? 0 : len) + (merged || !nostat ? 1 : 0);
	if (out_len < 16 || in_len < 1 || (!merged && nostat)) {
		if (fz_running(f->dev) || fz_used_idx(&f->vm, 0) != before)
			fail("a chain without a whole header or a status byte was answered");
		f->clean = false;
		return used;
	}
	size_t in_data = in_len - 1, out_data = out_len - 16, written = 0;
	uint8_t want = S_OK;
	/* the header is the chain's first 16 readable bytes, wherever they are */
	uint8_t out_bytes[24 + LMAX];
	memcpy(out_bytes, hdr, hlen);
	if (readable)
		memcpy(out_bytes + hlen, data, len);
	memcpy(&type, out_bytes, 4);
	memcpy(&sector, out_bytes + 8, 8);
	switch (type) {
	case T_IN:
	case T_OUT: {
		size_t n = type == T_IN ? in_data : out_data;
		if (sector > SECTORS || n > DISK - sector * 512)
			want = S_IOERR;
		else if (type == T_IN)
			written = n;
		else if (f->mode == 1)
			want = S_IOERR;
		else {
			memcpy(f->disk + sector * 512, out_bytes + 16, n);
			if (f->mode == 2)
				memcpy(f->file + sector * 512, out_bytes + 16, n);
		}
		break;
	}
	case T_FLUSH:
		break;
	case T_GET_ID:
		written = in_data < 20 ? in_data : 20;
		break;
	default:
		want = S_UNSUPP;
	}
	uint32_t head, ulen;
	fz_used_elem(&f->vm, 0, QSIZE, before, &head, &ulen);
	uint8_t got = merged ? data[len] : *stat;
	if (fz_used_idx(&f->vm, 0) != (uint16_t)(before + 1) || head != 0)
		fail("request not answered once");
	if (got != want || ulen != written + 1) {
		fprintf(stderr, "type %u sector %llu len %zu: status %u (want %u), used %u (want "
			"%zu)\n", type, (unsigned long long)sector, len, got, want, ulen, written + 1);
		fail("wrong answer");
	}
	if (type == T_IN && written && memcmp(data, f->disk + sector * 512, written))
		fail("a read got other bytes than the disk's");
	if (type == T_GET_ID && written) {
		char id[20] = {0};
		const char *base = strrchr(path, '/') + 1;
		snprintf(id, sizeof(id), "%s", base);
		if (memcmp(data, id, written))
			fail("get-id: not the image's name");
	}
	if (!fz_running(f->dev))
		fail("a well-formed request stopped the device");
	return used;
}

/* Ops 2 (a request) and 3 (a notify). */
static size_t blk_op(void *ctx, uint8_t op, const uint8_t *d, size_t left)
{
	struct fixture *f = ctx;
	if (op == 2)
		return request(f, d, left);
	if (!left)
		return 0;
	drv_wr(f->dev, 0x050, d[0] % 2);
	return 1;
}

static void remove_disk(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	log_set_level(HF_LOG_ERROR);
	assert(mkdtemp(dir));
	/* a long name: the id is cut to 20 bytes */
	snprintf(path, sizeof(path), "%s/hf-fuzz-virtio-blk-disk.img", dir);
	atexit(remove_disk);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fixture f;
	if (!size)
		return 0;
	f.mode = data[0] % 3;
	for (unsigned i = 0; i < DISK; i++)
		f.orig[i] = (uint8_t)(i / 512 * 31 + i % 251);
	memcpy(f.disk, f.orig, DISK);
	memcpy(f.file, f.orig, DISK);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert(fd >= 0 && write(fd, f.orig, DISK) == DISK);
	close(fd);

	fz_vm_init(&f.vm);
	char arg[200], err[128];
	snprintf(arg, sizeof(arg), "%s%s", path, mode_arg[f.mode]);
	void *a = virtio_blk_option.parse(arg, err, sizeof(err));
	assert(a && virtio_blk_option.add(&f.vm, a) == 0);
	free(a);
	f.dev = f.vm.bus.devices[0];
	/* the read-only disk says so (feature bit 5), the others offer flush (bit 9) */
	uint32_t feat = drv_rd(f.dev, 0x010);
	assert(!!(feat & 1u << 5) == (f.mode == 1) && (feat & 1u << 9));
	fz_bringup(f.dev, 1, QSIZE, feat & (1u << 5 | 1u << 9));
	f.clean = true;

	fz_program(data + 1, size - 1, 4, f.dev, &f.vm, SPAN, &f.clean, blk_op, &f);
	f.dev->ops->destroy(f.dev);
	mem_unmap(&f.vm.mem);

	/* The file: never written unless persistent, and then only where the model says. */
	uint8_t now[DISK];
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert(fd >= 0 && pread(fd, now, DISK, 0) == DISK);
	close(fd);
	if (f.mode != 2 && memcmp(now, f.orig, DISK))
		fail("the image of a copy-on-write or read-only disk was written");
	if (f.mode == 2 && f.clean && memcmp(now, f.file, DISK)) {
		for (unsigned s = 0; s < SECTORS; s++)
			if (memcmp(now + s * 512, f.file + s * 512, 512))
				fprintf(stderr, "sector %u differs from the model\n", s);
		fail("the persistent disk's file changed outside the requested sectors");
	}
	return 0;
}
