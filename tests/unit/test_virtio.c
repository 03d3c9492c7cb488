/* Unit tests for the virtio-mmio transport and split virtqueues (src/devices/virtio.c):
 * driven through the register file as a guest driver would, over real guest RAM, with the
 * ways a guest can break the rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "core/vm.h"
#include "devices/devices.h"
#include "devices/virtio.h"
#include "virtio_driver.h"
#include "util/util.h"

#define QSIZE 8u
#define DESC 0x10000ull
#define AVAIL 0x11000ull
#define USED 0x12000ull
#define BUF 0x20000ull

struct fixture {
	struct vm vm;
	struct virtio_dev v;
	struct device *dev; /* the device under test, on vm's bus */
	unsigned notified[VIRTIO_MAX_QUEUES];
	char image[64];
};

static void t_notify(struct virtio_dev *v, unsigned q)
{
	struct fixture *f = v->owner;
	f->notified[q]++;
}

static void t_config(struct virtio_dev *v, uint32_t off, uint8_t *data, unsigned len)
{
	(void)v;
	static const uint8_t cfg[4] = {0xa1, 0xa2, 0xa3, 0xa4};
	for (unsigned i = 0; i < len && off + i < sizeof(cfg); i++)
		data[i] = cfg[off + i];
}

static const struct virtio_ops t_ops = {
	.name = "test",
	.device_id = 1,
	.features = 1ull << 5,
	.nqueues = 2,
	.notify = t_notify,
	.config = t_config,
};


static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	mem_layout(&f->vm.mem, 1 * MiB, 3 * GiB);
	if (mem_map(&f->vm.mem, false) < 0)
		return -1;
	f->vm.vm_fd = -1;
	f->vm.has_irqchip = false;
	bus_board(&f->vm.bus, (unsigned[]){5}, 1, BASE, BASE + VIRTIO_MMIO_SIZE);
	if (virtio_mmio_add(&f->vm, &f->v, &t_ops, f) < 0)
		return -1;
	f->dev = &f->v.dev;
	*state = f;
	return 0;
}

/* A virtio-blk device on a 4-sector image whose sector i is filled with 'A' + i. */
static int setup_blk(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	mem_layout(&f->vm.mem, 1 * MiB, 3 * GiB);
	if (mem_map(&f->vm.mem, false) < 0)
		return -1;
	f->vm.vm_fd = -1;
	snprintf(f->image, sizeof(f->image), "/tmp/hf-test-blk.XXXXXX");
	int fd = mkstemp(f->image);
	for (int i = 0; i < 4; i++) {
		char sector[512];
		memset(sector, 'A' + i, sizeof(sector));
		if (write(fd, sector, sizeof(sector)) != (ssize_t)sizeof(sector))
			return -1;
	}
	close(fd);
	char err[128];
	void *arg = virtio_blk_option.parse(f->image, err, sizeof(err)); /* --disk FILE */
	bus_board(&f->vm.bus, (unsigned[]){5}, 1, BASE, BASE + VIRTIO_MMIO_SIZE);
	int r = arg ? virtio_blk_option.add(&f->vm, arg) : -1;
	free(arg);
	if (r < 0)
		return -1;
	f->dev = f->vm.bus.devices[0];
	*state = f;
	return 0;
}

static int teardown_blk(void **state)
{
	struct fixture *f = *state;
	f->dev->ops->destroy(f->dev);
	unlink(f->image);
	mem_unmap(&f->vm.mem);
	free(f);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mem_unmap(&f->vm.mem);
	free(f);
	return 0;
}

static uint32_t rd(struct fixture *f, uint32_t off) { return drv_rd(f->dev, off); }
static void wr(struct fixture *f, uint32_t off, uint32_t value) { drv_wr(f->dev, off, value); }
static void *gp(struct fixture *f, uint64_t gpa) { return mem_ptr(&f->vm.mem, gpa, 1); }

/* Negotiate VERSION_1 and set queue q up at the fixed rings, as Linux's driver does. */
static void bring_up(struct fixture *f, unsigned q)
{
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, 0x024, 1);
	wr(f, 0x020, 1); /* VERSION_1 is bit 32 */
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	wr(f, 0x030, q);
	wr(f, 0x038, QSIZE);
	wr(f, 0x080, (uint32_t)DESC);
	wr(f, 0x090, (uint32_t)AVAIL);
	wr(f, 0x0a0, (uint32_t)USED);
	wr(f, 0x044, 1);
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static void set_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	drv_desc(&f->vm.mem, DESC, i, addr, len, flags, next);
}

/* Offer chain head as the next available entry. */
static void offer(struct fixture *f, uint16_t head) { drv_offer(&f->vm.mem, AVAIL, QSIZE, head); }

static void test_identity_registers(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd(f, 0x000), 0x74726976);
	assert_int_equal(rd(f, 0x004), 2);
	assert_int_equal(rd(f, 0x008), 1);
	wr(f, 0x014, 0);
	assert_int_equal(rd(f, 0x010), 1u << 5);
	wr(f, 0x014, 1);
	assert_int_equal(rd(f, 0x010), 1); /* VIRTIO_F_VERSION_1 */
	wr(f, 0x030, 1);
	assert_int_equal(rd(f, 0x034), VIRTQ_MAX_SIZE);
	wr(f, 0x030, 7);
	assert_int_equal(rd(f, 0x034), 0); /* no queue 7 */
}

static void test_config_space_any_width(void **state)
{
	struct fixture *f = *state;
	uint8_t b[4] = {0};
	f->dev->ops->mmio(f->dev, NULL, BASE + 0x101, false, b, 2);
	assert_int_equal(b[0], 0xa2);
	assert_int_equal(b[1], 0xa3);
	f->dev->ops->mmio(f->dev, NULL, BASE + 0x103, false, b, 4);
	assert_int_equal(b[0], 0xa4);
	assert_int_equal(b[1], 0); /* past the device's configuration: zero */
}

static void test_bad_register_width_is_ignored(void **state)
{
	struct fixture *f = *state;
	uint16_t v = 0;
	f->dev->ops->mmio(f->dev, NULL, BASE + 0x070, false, (uint8_t *)&v, 2);
	assert_int_equal(v, 0xffff);
	v = VIRTIO_STATUS_ACKNOWLEDGE;
	f->dev->ops->mmio(f->dev, NULL, BASE + 0x070, true, (uint8_t *)&v, 2);
	assert_int_equal(rd(f, 0x070), 0);
}

static void test_features_not_offered_are_refused(void **state)
{
	struct fixture *f = *state;
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, 0x024, 0);
	wr(f, 0x020, 1u << 6); /* not offered */
	wr(f, 0x024, 1);
	wr(f, 0x020, 1);
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_FEATURES_OK);

	wr(f, 0x070, 0);
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, 0x024, 0);
	wr(f, 0x020, 1u << 5); /* offered, but no VERSION_1: a legacy driver */
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_pop_and_push_a_chain(void **state)
{
	struct fixture *f = *state;
	bring_up(f, 1);
	assert_false(virtq_has_avail(&f->v, 1));
	set_desc(f, 3, BUF, 10, 1 /* NEXT */, 5);
	set_desc(f, 5, BUF + 100, 20, 1 | 2 /* NEXT, WRITE */, 6);
	set_desc(f, 6, BUF + 200, 30, 2 /* WRITE */, 0);
	offer(f, 3);
	assert_true(virtq_has_avail(&f->v, 1));
	wr(f, 0x050, 1);
	assert_int_equal(f->notified[1], 1);

	struct virtq_elem e;
	assert_int_equal(virtq_pop(&f->v, 1, &e), 1);
	assert_int_equal(e.head, 3);
	assert_int_equal(e.nout, 1);
	assert_int_equal(e.out_len, 10);
	assert_ptr_equal(e.out[0].iov_base, gp(f, BUF));
	assert_int_equal(e.nin, 2);
	assert_int_equal(e.in_len, 50);
	assert_int_equal(virtq_pop(&f->v, 1, &e), 0);

	const char msg[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	assert_int_equal(virtq_copy_in(&e, 15, msg, sizeof(msg)), 35);
	assert_memory_equal(gp(f, BUF + 115), msg, 5);
	assert_memory_equal(gp(f, BUF + 200), msg + 5, 30);
	virtq_push(&f->v, 1, e.head, 50);
	uint16_t *used = gp(f, USED);
	uint32_t *elem = gp(f, USED + 4);
	assert_int_equal(used[1], 1);
	assert_int_equal(elem[0], 3);
	assert_int_equal(elem[1], 50);
	assert_int_equal(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void assert_broken(struct fixture *f)
{
	struct virtq_elem e;
	assert_true(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(f, 0x060) & 2); /* configuration-change interrupt */
	assert_int_equal(virtq_pop(&f->v, 1, &e), 0); /* stopped until reset */
	wr(f, 0x070, 0);
	assert_int_equal(rd(f, 0x070), 0);
	assert_false(f->v.vq[1].ready);
}

static void test_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;
	struct virtq_elem e;
	bring_up(f, 1);
	set_desc(f, 0, 1 * MiB - 8, 16, 0, 0); /* runs off the end of guest RAM */
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->v, 1, &e), -1);
	assert_broken(f);
}

static void test_descriptor_loop(void **state)
{
	struct fixture *f = *state;
	struct virtq_elem e;
	bring_up(f, 1);
	set_desc(f, 0, BUF, 4, 1, 1);
	set_desc(f, 1, BUF, 4, 1, 0); /* back to 0: a cycle */
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->v, 1, &e), -1);
	assert_broken(f);
}

static void test_next_out_of_range(void **state)
{
	struct fixture *f = *state;
	struct virtq_elem e;
	bring_up(f, 1);
	set_desc(f, 0, BUF, 4, 1, QSIZE);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->v, 1, &e), -1);
	assert_broken(f);
}

static void test_head_out_of_range(void **state)
{
	struct fixture *f = *state;
	struct virtq_elem e;
	bring_up(f, 1);
	offer(f, QSIZE + 1);
	assert_int_equal(virtq_pop(&f->v, 1, &e), -1);
	assert_broken(f);
}

static void test_avail_index_jump(void **state)
{
	struct fixture *f = *state;
	struct virtq_elem e;
	bring_up(f, 1);
	uint16_t *avail = gp(f, AVAIL);
	avail[1] = QSIZE + 1;
	assert_int_equal(virtq_pop(&f->v, 1, &e), -1);
	assert_broken(f);
}

static void test_readable_after_writable(void **state)
{
	struct fixture *f = *state;
	struct virtq_elem e;
	bring_up(f, 1);
	set_desc(f, 0, BUF, 4, 1 | 2, 1);
	set_desc(f, 1, BUF, 4, 0, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->v, 1, &e), -1);
	assert_broken(f);
}

static void test_indirect_refused(void **state)
{
	struct fixture *f = *state;
	struct virtq_elem e;
	bring_up(f, 1);
	set_desc(f, 0, BUF, 16, 4 /* INDIRECT */, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->v, 1, &e), -1);
	assert_broken(f);
}

static void test_rings_outside_ram(void **state)
{
	struct fixture *f = *state;
	bring_up(f, 1);
	f->v.vq[1].used = 1 * MiB - 16; /* as if the driver had written it */
	assert_false(virtq_has_avail(&f->v, 1));
	assert_broken(f);
}

static void test_queue_size_not_power_of_two(void **state)
{
	struct fixture *f = *state;
	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, 0x030, 0);
	wr(f, 0x038, 12);
	assert_true(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(f->v.vq[0].num, 0);
	wr(f, 0x070, 0);
	wr(f, 0x038, 2 * VIRTQ_MAX_SIZE);
	assert_true(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_notify_before_driver_ok_is_ignored(void **state)
{
	struct fixture *f = *state;
	wr(f, 0x050, 0);
	wr(f, 0x050, 9);
	assert_int_equal(f->notified[0], 0);
	bring_up(f, 0);
	wr(f, 0x050, 0);
	wr(f, 0x050, 1); /* queue 1 never made ready */
	wr(f, 0x050, 9);
	assert_int_equal(f->notified[0], 1);
	assert_int_equal(f->notified[1], 0);
}

/* ---- virtio-blk --------------------------------------------------------------------- */

#define HDR 0x30000ull
#define STATUS 0x31000ull

/* Submit one request on queue 0: header (type, sector), one data buffer of len bytes at
 * BUF (device-writable for reads), status byte at STATUS. Returns the status byte. */
static uint8_t blk_request(struct fixture *f, uint32_t type, uint64_t sector, uint32_t len)
{
	uint8_t *h = gp(f, HDR);
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)gp(f, STATUS) = 0xee;
	set_desc(f, 0, HDR, 16, 1, 1);
	set_desc(f, 1, BUF, len, 1 | (type == 0 ? 2 : 0), 2);
	set_desc(f, 2, STATUS, 1, 2, 0);
	offer(f, 0);
	wr(f, 0x050, 0);
	return *(uint8_t *)gp(f, STATUS);
}

static void test_blk_capacity_and_read(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd(f, 0x008), 2);
	assert_int_equal(rd(f, 0x100), 4); /* capacity: 4 sectors */
	bring_up(f, 0);
	assert_int_equal(blk_request(f, 0, 2, 1024), 0);
	assert_int_equal(((uint8_t *)gp(f, BUF))[0], 'C');
	assert_int_equal(((uint8_t *)gp(f, BUF))[1023], 'D');
	uint32_t *elem = gp(f, USED + 4);
	assert_int_equal(elem[1], 1025); /* data and status written */
}

static void test_blk_write_is_private(void **state)
{
	struct fixture *f = *state;
	bring_up(f, 0);
	memset(gp(f, BUF), 'z', 512);
	assert_int_equal(blk_request(f, 1, 1, 512), 0);
	memset(gp(f, BUF), 0, 512);
	assert_int_equal(blk_request(f, 0, 1, 512), 0);
	assert_int_equal(((uint8_t *)gp(f, BUF))[100], 'z'); /* the VM sees its write */
	char sector[512];
	FILE *img = fopen(f->image, "rb");
	assert_non_null(img);
	assert_int_equal(fseek(img, 512, SEEK_SET), 0);
	assert_int_equal(fread(sector, 1, sizeof(sector), img), sizeof(sector));
	fclose(img);
	assert_int_equal(sector[100], 'B'); /* the image file does not */
}

static void test_blk_out_of_range(void **state)
{
	struct fixture *f = *state;
	bring_up(f, 0);
	assert_int_equal(blk_request(f, 0, 3, 1024), 1); /* runs past the end: IOERR */
	assert_int_equal(blk_request(f, 0, ~0ull, 512), 1); /* sector * 512 would overflow */
	assert_int_equal(blk_request(f, 1, 4, 512), 1);
	assert_int_equal(blk_request(f, 0, 4, 0), 0); /* nothing, at the end: fine */
	assert_int_equal(blk_request(f, 99, 0, 512), 2); /* unknown type: UNSUPP */
	assert_int_equal(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_blk_request_without_status(void **state)
{
	struct fixture *f = *state;
	bring_up(f, 0);
	set_desc(f, 0, HDR, 16, 0, 0); /* a header and nothing else */
	offer(f, 0);
	wr(f, 0x050, 0);
	assert_true(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_identity_registers),
		T(test_config_space_any_width),
		T(test_bad_register_width_is_ignored),
		T(test_features_not_offered_are_refused),
		T(test_pop_and_push_a_chain),
		T(test_buffer_outside_ram),
		T(test_descriptor_loop),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_avail_index_jump),
		T(test_readable_after_writable),
		T(test_indirect_refused),
		T(test_rings_outside_ram),
		T(test_queue_size_not_power_of_two),
		T(test_notify_before_driver_ok_is_ignored),
#undef T
#define B(fn) cmocka_unit_test_setup_teardown(fn, setup_blk, teardown_blk)
		B(test_blk_capacity_and_read),
		B(test_blk_write_is_private),
		B(test_blk_out_of_range),
		B(test_blk_request_without_status),
#undef B
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
