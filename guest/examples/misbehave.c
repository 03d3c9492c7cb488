/* A guest that misbehaves on request (its --cmdline names how), for the tests that check
 * the VMM stops such guests cleanly: exit CODE, triple, port, mmio, spin, badexit,
 * badsize, null, halt, badbuf, baddesc, badsleep, clonecrash (the clone triple-faults, the original
 * goes on printing), gdt and pagetable (writes to the read-only VMM area: its GDT, its page
 * tables), syscall (SYSCALL into ring 0 at an unmapped address), forkloop (fork points without
 * end: the first clone sleeps, every later fork point is refused by --max-clones 1 and logged). */
#include "hf.h"

static int is(const char *cmd, const char *word)
{
	size_t n = strlen(word);
	return !hf_strncmp(cmd, word, n) && (cmd[n] == 0 || cmd[n] == ' ');
}

int main(void)
{
	const char *cmd = hf_cmdline();

	hf_printf("misbehave: %s\n", cmd);
	if (is(cmd, "exit")) {
		const char *p = cmd + 4;
		return (int)hf_strtou(&p);
	}
	if (is(cmd, "triple")) /* invalid opcode with no IDT: triple fault */
		__asm__ volatile("ud2");
	if (is(cmd, "null")) /* page 0 is unmapped */
		return *(volatile int *)0;
	if (is(cmd, "gdt")) /* a DPL 3 code descriptor for ring 0's selector: refused */
		*(volatile uint64_t *)(uintptr_t)(0x3000 + HF_SEL_KCODE) = 0x00affb000000ffffull;
	if (is(cmd, "pagetable")) /* map page 0 (it would take SYSCALL's ring 0): refused */
		*(volatile uint64_t *)(uintptr_t)0x10000 |= 4;
	if (is(cmd, "syscall")) /* ring 0 at LSTAR (0): unmapped */
		__asm__ volatile("syscall" ::: "rcx", "r11", "memory");
	if (is(cmd, "port")) /* a port nobody serves */
		hf_outb(0x99, 1);
	if (is(cmd, "mmio")) /* just past guest RAM: mapped if RAM is not 2 MiB aligned */
		return *(volatile int *)hf_ram_size();
	if (is(cmd, "badbuf")) { /* a console buffer outside guest RAM */
		static struct hf_buf b;
		b.addr = hf_ram_size() - 8;
		b.len = 64;
		hf_outl(HF_PORT_WRITE, (uint32_t)(uintptr_t)&b);
	}
	if (is(cmd, "badsleep")) /* longer than the ABI allows */
		hf_outl(HF_PORT_SLEEP, HF_SLEEP_MAX + 1);
	if (is(cmd, "baddesc")) /* a descriptor address outside guest RAM */
		hf_outl(HF_PORT_WRITE, 0xfffff000u);
	if (is(cmd, "badexit"))
		hf_exit(1000);
	if (is(cmd, "badsize")) /* the exit port takes 32-bit writes */
		hf_outb(HF_PORT_EXIT, 3);
	if (is(cmd, "spin"))
		for (;;)
			__asm__ volatile("pause");
	if (is(cmd, "halt")) /* the only vCPU stops: nothing left to run */
		hf_halt();
	if (is(cmd, "clonecrash")) {
		unsigned id = hf_fork();
		if (id && id != HF_FORK_FAILED)
			__asm__ volatile("ud2");
		for (uint64_t n = 0;; n++) {
			hf_printf("original alive %lu\n", n);
			uint64_t end = hf_cycles() + 20 * (hf_tsc_khz() ? hf_tsc_khz() : 2000000);
			while (hf_cycles() < end)
				__asm__ volatile("pause");
		}
	}
	if (is(cmd, "forkloop"))
		for (uint64_t n = 0;; n++) {
			unsigned id = hf_fork();
			while (id && id != HF_FORK_FAILED) /* a clone: it holds its place */
				hf_sleep_us(HF_SLEEP_MAX);
			if (n % 4096 == 0)
				hf_printf("forkloop %lu\n", n);
		}
	hf_printf("misbehave: unknown mode\n");
	return 99;
}
