/* HyperFork bare-guest runtime: start code, console, exit, fork point, clone id, guest
 * facts, over the ports of include/hyperfork/abi.h. */
#include "hf.h"

static const struct hf_boot_info *boot_info;

__attribute__((weak)) void hf_secondary(unsigned cpu)
{
	(void)cpu;
	hf_halt();
}

__attribute__((noreturn, used)) void hf_start_c(unsigned cpu, const struct hf_boot_info *bi)
{
	if (cpu == 0) {
		boot_info = bi;
		hf_exit((unsigned)main());
	}
	while (!__atomic_load_n(&boot_info, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	hf_secondary(cpu);
	hf_halt();
}

const struct hf_boot_info *hf_info(void)
{
	return boot_info ? boot_info : (const struct hf_boot_info *)HF_BOOT_INFO_ADDR;
}

const char *hf_cmdline(void) { return (const char *)hf_info()->cmdline; }
uint64_t hf_ram_size(void) { return hf_info()->ram_size; }
unsigned hf_ncpus(void) { return hf_info()->ncpus; }
uint64_t hf_tsc_khz(void) { return hf_info()->tsc_khz; }
void *hf_heap_start(void) { return (void *)hf_info()->heap_start; }
uint64_t hf_clone_request_cycles(void)
{
	return ((volatile const struct hf_boot_info *)hf_info())->clone_request_tsc;
}
void *hf_heap_end(void) { return (void *)hf_info()->heap_end; }

uint64_t hf_ns(uint64_t cycles)
{
	uint64_t khz = hf_tsc_khz();
	if (!khz)
		return 0;
	return (uint64_t)((unsigned __int128)cycles * 1000000u / khz);
}

void hf_putc(char c) { hf_outb(HF_PORT_CONSOLE, (uint8_t)c); }

void hf_write(const void *buf, size_t len)
{
	struct hf_buf desc = {.addr = (uint64_t)(uintptr_t)buf, .len = len};
	uintptr_t at = (uintptr_t)&desc; /* on this vCPU's stack */

	if (at >= (1ull << 32)) { /* the port takes a 32-bit address: go byte by byte */
		for (size_t i = 0; i < len; i++)
			hf_putc(((const char *)buf)[i]);
		return;
	}
	while (len) {
		desc.len = len < HF_WRITE_MAX ? len : HF_WRITE_MAX;
		hf_outl(HF_PORT_WRITE, (uint32_t)at);
		desc.addr += desc.len;
		len -= desc.len;
	}
}

void hf_puts(const char *s)
{
	hf_write(s, strlen(s));
}

void hf_exit(unsigned code)
{
	for (;;)
		hf_outl(HF_PORT_EXIT, code);
}

unsigned hf_fork(void) { return hf_inl(HF_PORT_FORK); }
unsigned hf_clone_id(void) { return hf_inl(HF_PORT_CLONE_ID); }
void hf_mark(uint32_t tag) { hf_outl(HF_PORT_MARK, tag); }

void hf_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		uint32_t v = hf_inl(HF_PORT_RANDOM);
		size_t n = len < 4 ? len : 4;
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}

void hf_sleep_us(uint64_t us)
{
	while (us) {
		uint32_t n = us > HF_SLEEP_MAX ? HF_SLEEP_MAX : (uint32_t)us;
		hf_outl(HF_PORT_SLEEP, n);
		us -= n;
	}
}

int hf_cmdline_has(const char *word)
{
	size_t n = strlen(word);
	for (const char *p = hf_cmdline(); *p;) {
		while (*p == ' ')
			p++;
		size_t len = 0;
		while (p[len] && p[len] != ' ')
			len++;
		if (len == n && !memcmp(p, word, n))
			return 1;
		p += len;
	}
	return 0;
}

static uint64_t taken_cycles; /* when the last invocation was taken */

/* The ports take a 32-bit address: the structs live on this vCPU's stack (below 4 GiB). */
unsigned hf_next(struct hf_invocation *inv, void *buf, size_t cap)
{
	inv->buf = (uint64_t)(uintptr_t)buf;
	inv->cap = cap;
	hf_outl(HF_PORT_NEXT, (uint32_t)(uintptr_t)inv);
	taken_cycles = hf_cycles();
	return ((volatile struct hf_invocation *)inv)->status;
}

uint64_t hf_left_ms(const struct hf_invocation *inv)
{
	uint64_t spent = hf_ns(hf_cycles() - taken_cycles) / 1000000;
	return inv->left_ms > spent ? inv->left_ms - spent : 0;
}

void hf_respond(const void *buf, size_t len)
{
	struct hf_buf b = {.addr = (uint64_t)(uintptr_t)buf, .len = len};
	hf_outl(HF_PORT_RESPOND, (uint32_t)(uintptr_t)&b);
}

void hf_fail(const char *type, const void *body, size_t len)
{
	struct hf_fn_error e = {.addr = (uint64_t)(uintptr_t)body, .len = len};
	for (size_t i = 0; type && type[i] && i < sizeof(e.type) - 1; i++)
		e.type[i] = type[i] > ' ' && type[i] < 0x7f ? type[i] : '_';
	hf_outl(HF_PORT_FAIL, (uint32_t)(uintptr_t)&e);
}

const struct hf_invocation *hf_lambda_next(void *buf, size_t cap)
{
	static struct hf_invocation inv;
	static int started;
	if (!started) {
		started = 1;
		if (!hf_cmdline_has("hf.lambda=warm") && hf_fork() == HF_FORK_FAILED) {
			hf_puts("HF-LAMBDA-FORK-FAILED no clone could be made\n");
			hf_exit(1);
		}
	}
	if (hf_next(&inv, buf, cap) != HF_NEXT_OK) {
		hf_printf("HF-LAMBDA-TOO-LARGE invocation %s of %llu bytes, room for %llu\n",
			  inv.request_id, (unsigned long long)inv.len, (unsigned long long)cap);
		hf_exit(1);
	}
	return &inv;
}

void hf_init_error(const char *type, const char *body)
{
	hf_printf("HF-LAMBDA-INIT-ERROR %s %s\n", type, body);
	hf_fail(type, body, strlen(body));
	hf_exit(1);
}

void hf_halt(void)
{
	for (;;)
		hf_outb(HF_PORT_HALT, 0);
}

/* printf output is gathered here and written with one hypercall per line or buffer. */
struct out {
	size_t n;
	char buf[256];
};

static void out_flush(struct out *o)
{
	hf_write(o->buf, o->n);
	o->n = 0;
}

static void out_c(struct out *o, char c)
{
	o->buf[o->n++] = c;
	if (o->n == sizeof(o->buf) || c == '\n')
		out_flush(o);
}

static void out_s(struct out *o, const char *s)
{
	while (*s)
		out_c(o, *s++);
}

static void put_uint(struct out *o, uint64_t v, unsigned base, int width, char pad)
{
	char buf[24];
	int n = 0;
	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n < width && n < (int)sizeof(buf))
		buf[n++] = pad;
	while (n)
		out_c(o, buf[--n]);
}

void hf_vprintf(const char *fmt, va_list ap)
{
	struct out o;
	o.n = 0;
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_c(&o, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (v < 0) {
				out_c(&o, '-');
				v = -v;
			}
			put_uint(&o, (uint64_t)v, 10, width, pad);
			break;
		}
		case 'u':
			put_uint(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width, pad);
			break;
		case 'x':
			put_uint(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width, pad);
			break;
		case 'p':
			out_s(&o, "0x");
			put_uint(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, 0, ' ');
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			out_s(&o, s ? s : "(null)");
			break;
		}
		case 'c': out_c(&o, (char)va_arg(ap, int)); break;
		case '%': out_c(&o, '%'); break;
		default: out_c(&o, '?'); break;
		}
	}
	out_flush(&o);
}

void hf_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hf_vprintf(fmt, ap);
	va_end(ap);
}

uint64_t hf_strtou(const char **s)
{
	uint64_t v = 0;
	while (**s == ' ')
		(*s)++;
	while (**s >= '0' && **s <= '9')
		v = v * 10 + (uint64_t)(*(*s)++ - '0');
	return v;
}

int hf_strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

void *memset(void *d, int c, size_t n)
{
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *ret = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return ret;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (dp < sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}
