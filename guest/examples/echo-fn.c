/* A bare function (run with --function; see hf_lambda_next): answers each invocation with
 * {"echo":PAYLOAD,"clone":N}. A payload holding "cmd":"X" asks for something else:
 *   fail   an error: ERROR Echo.Failed {"errorMessage":"asked to fail",...}
 *   crash  a triple fault (the VMM ends the VM, status 241)
 *   exit   hf_exit(3) without answering
 *   spin   loops for ever (past any timeout)
 *   slow   sleeps 2 s, then answers as usual
 *   left   sleeps 1 s, then answers {"left":MS}: the time left to its deadline (hf_left_ms)
 *   print  writes 1 MiB to the console, then answers as usual
 *   big    a result over HF_FN_PAYLOAD_MAX bytes (sent as Function.ResponseSizeTooLarge)
 *   twice  answers, then answers again (the VMM ends the VM: no invocation taken)
 * With echo.init=fail on the command line its init fails (hf_init_error). */
#include "hf.h"

static int has(const uint8_t *p, uint64_t len, const char *s)
{
	size_t n = strlen(s);
	for (uint64_t i = 0; i + n <= len; i++)
		if (!memcmp(p + i, s, n))
			return 1;
	return 0;
}

static int cmd(const struct hf_invocation *inv, const char *name)
{
	char want[32] = "\"cmd\":\"";
	size_t n = strlen(want);
	memcpy(want + n, name, strlen(name));
	want[n + strlen(name)] = '"';
	want[n + strlen(name) + 1] = 0;
	return has((const uint8_t *)(uintptr_t)inv->buf, inv->len, want);
}

/* v in decimal at out + n; returns the new length. */
static size_t put_num(uint8_t *out, size_t n, uint64_t v)
{
	char num[24];
	int k = 0;
	do
		num[k++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (k)
		out[n++] = (uint8_t)num[--k];
	return n;
}

int main(void)
{
	uint8_t *in = hf_heap_start();
	uint8_t *out = in + HF_FN_PAYLOAD_MAX;
	if ((uint64_t)((uint8_t *)hf_heap_end() - in) < 2ull * HF_FN_PAYLOAD_MAX + 64)
		hf_init_error("Echo.NoMemory",
			      "{\"errorMessage\":\"give the VM 32 MiB or more\",\"errorType\":"
			      "\"Echo.NoMemory\"}");
	if (hf_cmdline_has("echo.init=fail"))
		hf_init_error("Echo.InitFailed",
			      "{\"errorMessage\":\"asked to fail its init\",\"errorType\":"
			      "\"Echo.InitFailed\"}");
	hf_printf("echo-fn: ready\n");
	for (;;) {
		const struct hf_invocation *inv = hf_lambda_next(in, HF_FN_PAYLOAD_MAX);
		hf_printf("echo-fn: invocation %s, %llu bytes, clone %u\n", inv->request_id,
			  (unsigned long long)inv->len, hf_clone_id());
		if (cmd(inv, "fail")) {
			const char *e = "{\"errorMessage\":\"asked to fail\",\"errorType\":"
					"\"Echo.Failed\"}";
			hf_fail("Echo.Failed", e, strlen(e));
			continue;
		}
		if (cmd(inv, "crash"))
			__asm__ volatile("ud2");
		if (cmd(inv, "exit"))
			hf_exit(3);
		if (cmd(inv, "spin"))
			for (;;)
				__asm__ volatile("pause");
		if (cmd(inv, "slow"))
			hf_sleep_us(2000000);
		if (cmd(inv, "left")) { /* after 1 s: {"left":MS} */
			hf_sleep_us(1000000);
			static const char left[] = "{\"left\":";
			memcpy(out, left, sizeof(left) - 1);
			size_t m = put_num(out, sizeof(left) - 1, hf_left_ms(inv));
			out[m++] = '}';
			hf_respond(out, m);
			continue;
		}
		if (cmd(inv, "big")) {
			hf_respond(out, HF_FN_PAYLOAD_MAX + 1);
			continue;
		}
		if (cmd(inv, "print")) {
			char line[64];
			memset(line, 'x', sizeof(line) - 1);
			line[sizeof(line) - 1] = '\n';
			for (unsigned i = 0; i < 16384; i++)
				hf_write(line, sizeof(line));
		}
		static const char head[] = "{\"echo\":", mid[] = ",\"clone\":";
		size_t n = 0;
		memcpy(out, head, sizeof(head) - 1);
		n += sizeof(head) - 1;
		memcpy(out + n, in, inv->len);
		n += inv->len;
		memcpy(out + n, mid, sizeof(mid) - 1);
		n += sizeof(mid) - 1;
		n = put_num(out, n, hf_clone_id());
		out[n++] = '}';
		hf_respond(out, n);
		if (cmd(inv, "twice"))
			hf_respond(out, n);
	}
}
