/* Register state across a clone: loads x87, MXCSR, XMM/YMM/ZMM and opmask registers and
 * the FS/GS bases with known values, forks, and checks in the original and in the clone
 * (from an XSAVE image taken right after the fork point) that every one survived. Prints
 * "fpu: <role> ok <features>". */
#include "hf.h"

static uint8_t pat[32][64] __attribute__((aligned(64)));
static uint8_t area[16384] __attribute__((aligned(64)));
static int64_t st_in[8] = {11, -22, 333, -4444, 55555, -666666, 7777777, -88888888};

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

int main(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	int xsave = (r[2] >> 27) & 1; /* OSXSAVE */
	uint64_t xcr0 = 0;
	if (xsave) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = ((uint64_t)hi << 32) | lo;
	}
	int avx = (xcr0 & 6) == 6;
	int avx512 = avx && (xcr0 & 0xe0) == 0xe0;
	cpuid(7, 0, r);
	int fsgs = r[1] & 1;

	for (int i = 0; i < 32; i++)
		for (int b = 0; b < 64; b++)
			pat[i][b] = (uint8_t)(i * 37 + b * 11 + 5);
	uint64_t fs_in = 0x1234567000ull, gs_in = 0x7654321000ull, fs_out = 0, gs_out = 0;
	uint16_t fcw = 0x27f;
	uint32_t mxcsr = 0x3f80;
	unsigned id;

	/* One asm block from loading to saving: no compiler code in between may touch the
	 * vector registers. */
	__asm__ volatile(
		"fninit\n\t"
		"fldcw %[fcw]\n\t"
		"ldmxcsr %[mxcsr]\n\t"
		"lea %[st], %%rbx\n\t"
		"fildq 0(%%rbx)\n\t fildq 8(%%rbx)\n\t fildq 16(%%rbx)\n\t fildq 24(%%rbx)\n\t"
		"fildq 32(%%rbx)\n\t fildq 40(%%rbx)\n\t fildq 48(%%rbx)\n\t fildq 56(%%rbx)\n\t"
		"lea %[pat], %%rbx\n\t"
		"test %[avx512], %[avx512]\n\t jnz 3f\n\t"
		"test %[avx], %[avx]\n\t jnz 2f\n\t"
		".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
		"movdqu \\n*64(%%rbx), %%xmm\\n\n\t"
		".endr\n\t"
		"jmp 4f\n"
		"2:\n\t"
		".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
		"vmovdqu \\n*64(%%rbx), %%ymm\\n\n\t"
		".endr\n\t"
		"jmp 4f\n"
		"3:\n\t"
		".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n\t"
		"vmovdqu64 \\n*64(%%rbx), %%zmm\\n\n\t"
		".endr\n\t"
		".irp n,0,1,2,3,4,5,6,7\n\t"
		"kmovq \\n*8(%%rbx), %%k\\n\n\t"
		".endr\n"
		"4:\n\t"
		"test %[fsgs], %[fsgs]\n\t jz 5f\n\t"
		"wrfsbase %[fsin]\n\t wrgsbase %[gsin]\n"
		"5:\n\t"
		"inl $0xe2, %%eax\n\t" /* HF_PORT_FORK */
		"mov %%eax, %[id]\n\t"
		"test %[fsgs], %[fsgs]\n\t jz 6f\n\t"
		"rdfsbase %%rcx\n\t mov %%rcx, %[fsout]\n\t rdgsbase %%rcx\n\t mov %%rcx, %[gsout]\n"
		"6:\n\t"
		"lea %[area], %%rbx\n\t"
		"test %[xsave], %[xsave]\n\t jz 7f\n\t"
		"mov %[xlo], %%eax\n\t mov %[xhi], %%edx\n\t"
		"xsave (%%rbx)\n\t jmp 8f\n"
		"7:\n\t fxsave (%%rbx)\n"
		"8:\n\t"
		: [id] "=m"(id), [fsout] "=m"(fs_out), [gsout] "=m"(gs_out), [area] "=m"(area)
		: [fcw] "m"(fcw), [mxcsr] "m"(mxcsr), [st] "m"(st_in), [pat] "m"(pat),
		  [avx] "r"(avx), [avx512] "r"(avx512), [fsgs] "r"(fsgs), [xsave] "r"(xsave),
		  [fsin] "r"(fs_in), [gsin] "r"(gs_in), [xlo] "r"((uint32_t)xcr0),
		  [xhi] "r"((uint32_t)(xcr0 >> 32))
		: "rax", "rbx", "rcx", "rdx", "memory", "cc", "st", "st(1)", "st(2)", "st(3)",
		  "st(4)", "st(5)", "st(6)", "st(7)");

	if (id == HF_FORK_FAILED) {
		hf_printf("fpu: fork failed\n");
		return 3;
	}
	const char *role = id ? "clone" : "original";
	int bad = 0;
	uint16_t fcw_out;
	uint32_t mxcsr_out;
	memcpy(&fcw_out, area, 2);
	memcpy(&mxcsr_out, area + 24, 4);
	if (fcw_out != fcw)
		hf_printf("fpu: %s: x87 control word %x, expected %x\n", role, fcw_out, fcw), bad++;
	if (mxcsr_out != mxcsr)
		hf_printf("fpu: %s: MXCSR %x, expected %x\n", role, mxcsr_out, mxcsr), bad++;
	/* ST(0) is the last value pushed; check each 80-bit register's integer value via the
	 * FPU itself would disturb it, so compare mantissas: integers are exact. */
	for (int i = 0; i < 8; i++) {
		uint64_t mant;
		memcpy(&mant, area + 32 + 16 * i, 8);
		int64_t v = st_in[7 - i];
		uint64_t a = (uint64_t)(v < 0 ? -v : v);
		int shift = 0;
		while (!(a & (1ull << 63)))
			a <<= 1, shift++;
		if (mant != a)
			hf_printf("fpu: %s: ST(%d) mantissa %lx, expected %lx\n", role, i, mant, a), bad++;
	}
	for (int i = 0; i < 16; i++)
		if (memcmp(area + 160 + 16 * i, pat[i], 16))
			hf_printf("fpu: %s: XMM%d differs\n", role, i), bad++;
	if (avx) {
		cpuid(0xd, 2, r);
		for (int i = 0; i < 16; i++)
			if (memcmp(area + r[1] + 16 * i, pat[i] + 16, 16))
				hf_printf("fpu: %s: YMM%d upper half differs\n", role, i), bad++;
	}
	if (avx512) {
		uint32_t k[4], z[4], h[4];
		cpuid(0xd, 5, k);
		cpuid(0xd, 6, z);
		cpuid(0xd, 7, h);
		for (int i = 0; i < 8; i++)
			if (memcmp(area + k[1] + 8 * i, pat[i], 8))
				hf_printf("fpu: %s: k%d differs\n", role, i), bad++;
		for (int i = 0; i < 16; i++)
			if (memcmp(area + z[1] + 32 * i, pat[i] + 32, 32))
				hf_printf("fpu: %s: ZMM%d upper half differs\n", role, i), bad++;
		for (int i = 16; i < 32; i++)
			if (memcmp(area + h[1] + 64 * (i - 16), pat[i], 64))
				hf_printf("fpu: %s: ZMM%d differs\n", role, i), bad++;
	}
	if (fsgs && (fs_out != fs_in || gs_out != gs_in))
		hf_printf("fpu: %s: FS/GS base %lx/%lx, expected %lx/%lx\n", role, fs_out, gs_out,
			  fs_in, gs_in), bad++;
	if (bad)
		return 1;
	hf_printf("fpu: %s %u ok x87 sse%s%s%s\n", role, id, avx ? " avx" : "",
		  avx512 ? " avx512" : "", fsgs ? " fsgsbase" : "");
	return 0;
}
