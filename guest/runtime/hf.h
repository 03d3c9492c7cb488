/* HyperFork bare-guest runtime: start code, console, exit, fork point, clone id, guest
 * facts, a cycle counter and functions (invocations), over the ports of
 * include/hyperfork/abi.h. Freestanding. */
#ifndef HF_GUEST_H
#define HF_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperfork/abi.h"

/* The guest program: vCPU 0 runs main(); its return value is the exit code. */
int main(void);
/* Other vCPUs run hf_secondary(cpu) if the program defines it; otherwise they halt. */
void hf_secondary(unsigned cpu);

static inline void hf_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline void hf_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline uint32_t hf_inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* Cycle counter (TSC). hf_tsc_khz() converts: ns = cycles * 1e6 / khz. */
static inline uint64_t hf_cycles(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

void hf_putc(char c);
void hf_puts(const char *s); /* no newline added */
void hf_write(const void *buf, size_t len);
void hf_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hf_vprintf(const char *fmt, va_list ap);
__attribute__((noreturn)) void hf_exit(unsigned code);
/* Fork point: returns 0 in the original VM, the clone's number in a clone,
 * HF_FORK_FAILED if no clone could be made. */
unsigned hf_fork(void);
unsigned hf_clone_id(void);
/* Fill buf with bytes from the host's random number generator (HF_PORT_RANDOM). Never
 * buffered: after a fork, parent and clones read different bytes. */
void hf_random(void *buf, size_t len);
void hf_mark(uint32_t tag);
void hf_sleep_us(uint64_t us); /* the vCPU sleeps without using the CPU */
__attribute__((noreturn)) void hf_halt(void); /* this vCPU stops for good */

/* Functions (a VM run with --function; ports of include/hyperfork/abi.h, version 3).
 * hf_next: wait for the next invocation, its payload into buf (cap bytes, at most
 * HF_FN_PAYLOAD_MAX); fills inv. Returns HF_NEXT_OK, or HF_NEXT_TOO_LARGE (inv->len says how
 * much room it needs; the next call gets the same invocation).
 * hf_respond: the result of the invocation taken. hf_fail: its error (type: visible ASCII,
 * no spaces, under HF_FN_ERROR_TYPE_MAX bytes; longer is cut, others become '_'); before any
 * invocation was taken, an init error (see hf_init_error). */
unsigned hf_next(struct hf_invocation *inv, void *buf, size_t cap);
/* The time left to the invocation inv's deadline, in ms (Lambda's remaining time): what the
 * host gave when it was taken less the time since, by the cycle counter (ABI version 4: a
 * VMM of an older version gives 0). */
uint64_t hf_left_ms(const struct hf_invocation *inv);
void hf_respond(const void *buf, size_t len);
void hf_fail(const char *type, const void *body, size_t len);
/* A function's loop, as Lambda's runtimes (and hf-lambda in Linux guests) have it: the
 * first call is the end of the function's init, where it calls hf_fork() (under --template
 * the VM freezes there, and each clone takes its own invocation), unless the command line
 * has the word hf.lambda=warm (one VM takes invocation after invocation). Then as hf_next;
 * an invocation larger than cap ends the VM (code 1, a line on the console). */
const struct hf_invocation *hf_lambda_next(void *buf, size_t cap);
/* The function failed its init: "HF-LAMBDA-INIT-ERROR TYPE BODY" on the console, the
 * error to a client whose invocation waits, and the VM ends with code 1. */
__attribute__((noreturn)) void hf_init_error(const char *type, const char *body);
/* Whether the command line has word (between spaces). */
int hf_cmdline_has(const char *word);

const struct hf_boot_info *hf_info(void);
const char *hf_cmdline(void);
uint64_t hf_ram_size(void);
unsigned hf_ncpus(void);
uint64_t hf_tsc_khz(void);
uint64_t hf_ns(uint64_t cycles); /* cycles -> nanoseconds (0 if the rate is unknown) */
/* In a clone: guest TSC when the VMM took the request that made it (0 if booted). */
uint64_t hf_clone_request_cycles(void);
/* Free memory between the image and the stacks. */
void *hf_heap_start(void);
void *hf_heap_end(void);

/* Parse the decimal number at *s, advance *s past it. */
uint64_t hf_strtou(const char **s);
int hf_strncmp(const char *a, const char *b, size_t n);

/* The compiler may emit calls to these. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
