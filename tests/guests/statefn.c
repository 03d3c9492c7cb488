/* State across invocations, a bare function (tests/integration/test_reuse.sh): before its
 * fork point (the first call for an invocation) it fills 64 pages with a pattern and keeps
 * their sum, a counter (0) and a value in xmm15. Each invocation is answered with
 *   {"clone":ID,"counter":C,"state":"template"|"changed","rand":"HEX"}
 * ("template": the counter, the pages' sum and xmm15 as the template left them; HEX: 16
 * fresh bytes from the host), and then it changes all of that (new contents in the pages,
 * counter + 1, a new xmm15) before it asks for the next. */
#include "hf.h"

#define PAGES 64
#define XMM_TEMPLATE 0x5e5e7e7e12345678ull

static uint64_t counter, template_sum;

static uint64_t sum(volatile uint64_t *p)
{
	uint64_t s = 0;
	for (uint64_t i = 0; i < PAGES * 512; i += 64)
		s += p[i] * (i + 1);
	return s;
}

static void fill(volatile uint64_t *p, uint64_t seed)
{
	for (uint64_t i = 0; i < PAGES * 512; i++)
		p[i] = seed ^ (i * 0x9e3779b97f4a7c15ull);
}

static void put_hex(char **o, uint64_t v)
{
	for (int s = 60; s >= 0; s -= 4)
		*(*o)++ = "0123456789abcdef"[(v >> s) & 15];
}

static void put_dec(char **o, uint64_t v)
{
	char d[24];
	int k = 0;
	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (k)
		*(*o)++ = d[--k];
}

static void put_str(char **o, const char *s)
{
	while (*s)
		*(*o)++ = *s++;
}

int main(void)
{
	volatile uint64_t *pages = hf_heap_start();
	uint8_t *in = (uint8_t *)hf_heap_start() + PAGES * 4096;
	char out[256];
	fill(pages, 0x7e7e7e7e);
	template_sum = sum(pages);
	__asm__ volatile("movq %0, %%xmm15" : : "r"(XMM_TEMPLATE) : "xmm15");
	for (;;) {
		hf_lambda_next(in, 4096);
		uint64_t x, r[2];
		__asm__ volatile("movq %%xmm15, %0" : "=r"(x));
		int same = counter == 0 && sum(pages) == template_sum && x == XMM_TEMPLATE;
		hf_random(r, sizeof(r));
		char *o = out;
		put_str(&o, "{\"clone\":");
		put_dec(&o, hf_clone_id());
		put_str(&o, ",\"counter\":");
		put_dec(&o, counter);
		put_str(&o, same ? ",\"state\":\"template\",\"rand\":\"" : ",\"state\":\"changed\",\"rand\":\"");
		put_hex(&o, r[0]);
		put_hex(&o, r[1]);
		put_str(&o, "\"}");
		hf_respond(out, (size_t)(o - out));
		fill(pages, r[0]);
		counter++;
		__asm__ volatile("movq %0, %%xmm15" : : "r"(r[1]) : "xmm15");
	}
}
