/* HyperFork guest ABI: the contract between the VMM and the guest side
 * (bare-guest runtime, Linux guest tools). Shared verbatim by both sides;
 * freestanding C, no host headers beyond <stdint.h>.
 *
 * ABI version 4 (version 1 had no HF_PORT_RANDOM; version 2 had no HF_PORT_NEXT,
 * HF_PORT_RESPOND, HF_PORT_FAIL; version 3 left struct hf_invocation's left_ms 0).
 *
 * Hypercall ports (all guests)
 * ----------------------------
 * A guest talks to the VMM with x86 port I/O on ports HF_PORT_BASE ..
 * HF_PORT_BASE + HF_PORT_COUNT - 1. Ports below 0x100 are used because some
 * hosts (software KVM) only forward ring-3 port I/O below 0x100. Linux guest
 * programs must call ioperm(HF_PORT_BASE, HF_PORT_SPAN, 1) first: a 32-bit
 * access to port p uses the permission bits of p .. p+3, so the span reaches
 * three ports past the last one.
 *
 *   HF_PORT_CONSOLE  out8   write one byte to the VM's console.
 *   HF_PORT_EXIT     out32  end the VM; the VMM exits with this code.
 *                           Codes 0..HF_EXIT_CODE_MAX are the guest's; a larger
 *                           value is treated as guest misbehaviour.
 *   HF_PORT_FORK     in32   fork point: the VM is cloned here. Returns 0 in
 *                           the original VM and the clone's number (1, 2, ...)
 *                           in each clone, like fork(2) with the roles swapped.
 *                           Returns HF_FORK_FAILED if no clone could be made.
 *   HF_PORT_CLONE_ID in32   which clone this VM is: 0 for a VM that was
 *                           booted, N for the VM named NAME.N.
 *   HF_PORT_MARK     out32  record a host timestamp tagged with the value
 *                           (benchmarks; see `hyperfork run --marks`). Tags from
 *                           HF_MARK_VMM up are the VMM's own.
 *   HF_PORT_HALT     out8   this vCPU stops for good (the VM goes on).
 *   HF_PORT_SLEEP    out32  this vCPU sleeps for the given number of microseconds
 *                           (at most HF_SLEEP_MAX): an idle guest costs no CPU.
 *                           Guest time goes on meanwhile.
 *   HF_PORT_WRITE    out32  write a buffer to the console: the value is the
 *                           guest-physical address (below 4 GiB) of a struct
 *                           hf_buf; the buffer may be anywhere in guest RAM and
 *                           at most HF_WRITE_MAX bytes long. An address or
 *                           length outside guest RAM is guest misbehaviour.
 *   HF_PORT_RANDOM   in32   32 bits from the host's random number generator,
 *                           fresh on every read (never buffered, so a clone
 *                           never repeats what its parent or a sibling read).
 *                           A clone starts with its parent's memory, and so
 *                           with its parent's random state: a guest reseeds
 *                           from here after a fork (`hf-fork` in Linux guests
 *                           reseeds the kernel's RNG this way; see hf-reseed).
 *
 * Function ports (bare guests run with `--function`; elsewhere these are unknown ports):
 * the VM serves invocations that host programs send to its Unix socket RUN_DIR/NAME.fn
 * (one at a time, with the exchange of include/hyperfork/lambda.h without its CONNECT
 * line), as an AWS Lambda runtime does. A client whose first line is "WORKER\n" keeps
 * its connection: in a clone of a --reusable template it is told "READY <clone id>\n",
 * and after each answer the VM is reset to its template's state and says "READY <new
 * clone id>\n" before it reads the next INVOKE (elsewhere: "REFUSED <why>\n", and the
 * connection ends). Each port takes the guest-physical address (below
 * 4 GiB) of a struct, which must lie in guest RAM, as must every buffer it names; any
 * other value, or a field out of its range, is guest misbehaviour (HF_STATUS_CRASH).
 *   HF_PORT_NEXT     out32  take the next invocation (struct hf_invocation): the vCPU
 *                           waits (using no CPU) until one arrives, then its payload is
 *                           in buf and the out fields are set. status HF_NEXT_TOO_LARGE:
 *                           the payload (len bytes) is larger than cap; nothing was
 *                           written, and the next HF_PORT_NEXT gets the same invocation.
 *                           An invocation taken and not answered when the guest asks
 *                           for the next one is closed unanswered (the client sees its
 *                           connection end). One vCPU at a time may wait here. A clone
 *                           made while a vCPU waits here waits for its own invocation.
 *   HF_PORT_RESPOND  out32  answer the invocation taken with the result (struct hf_buf):
 *                           sent as "RESPONSE <len>"; a result over HF_FN_PAYLOAD_MAX
 *                           bytes is sent as the error Function.ResponseSizeTooLarge.
 *   HF_PORT_FAIL     out32  report an error (struct hf_fn_error): for the invocation
 *                           taken, sent as "ERROR <len> <type>"; before this VM (or the
 *                           VM it was cloned from) took any invocation, it is an init
 *                           error, sent as "INIT_ERROR <len> <type>" to a client whose
 *                           invocation waits (the runtime then ends the VM).
 *                           RESPOND or FAIL with no invocation taken (but for an init
 *                           error) is guest misbehaviour; an answer to an invocation
 *                           whose client has hung up (or that was taken before this
 *                           clone was made) is dropped quietly.
 *
 * Any other port, or a wrong access size on these, ends a bare guest with
 * HF_STATUS_CRASH. Linux guests may probe legacy ports; there unknown ports
 * read as all ones and writes are ignored.
 *
 * Bare guests
 * -----------
 * A bare guest is a static ELF64 x86-64 executable (ET_EXEC) whose PT_LOAD
 * segments have p_paddr == p_vaddr, lie inside guest RAM at or above
 * HF_LOAD_MIN and below the vCPU stacks. The VMM builds page tables that
 * identity-map all guest RAM (virtual == physical, user-accessible, writable,
 * executable) except the page at 0, which is left unmapped so that a null
 * pointer access faults, and the VMM area below HF_LOAD_MIN, read-only. Each vCPU starts at the ELF entry point:
 *   - 64-bit mode, ring 3: CS = HF_SEL_UCODE, SS = DS = ES = FS = GS =
 *     HF_SEL_UDATA, GS base 0, FS base = the lowest address of the vCPU's stack
 *     area, whose first page is zero: thread-local storage for the vCPU (code
 *     built with stack protectors reads its canary at %fs:0x28); RFLAGS = 0x3002
 *     (IOPL 3, interrupts off), and
 *     a TSS whose I/O bitmap grants every port;
 *   - RDI = vCPU index (0 .. ncpus-1), RSI = guest address of the
 *     struct hf_boot_info below, RSP = top of the vCPU's own stack
 *     (16-byte aligned), all other general registers 0;
 *   - SSE enabled; AVX (and AVX-512 where the host has it) enabled through
 *     XCR0 when the host supports XSAVE;
 *   - no interrupt descriptor table: any exception ends the VM with
 *     HF_STATUS_CRASH (reported as a triple fault).
 * Guest RAM layout (guest-physical == guest-virtual):
 *   [0, 4 KiB)                    unmapped
 *   [4 KiB, HF_LOAD_MIN)          VMM area: boot info, command line, GDT,
 *                                 TSS, page tables. Readable by the guest,
 *                                 not writable (a write ends the VM with
 *                                 HF_STATUS_CRASH): ring 3 stays ring 3.
 *   [HF_LOAD_MIN, heap_start)     the ELF image
 *   [heap_start, heap_end)        free memory for the guest
 *   [heap_end, ram_size)          vCPU stacks, HF_STACK_SIZE each; vCPU i's
 *                                 stack top is ram_size - i * HF_STACK_SIZE
 */
#ifndef HYPERFORK_ABI_H
#define HYPERFORK_ABI_H

#include <stdint.h>

#define HF_ABI_VERSION 4u

#define HF_PORT_BASE 0xE0u
#define HF_PORT_COUNT 12u
#define HF_PORT_SPAN (HF_PORT_COUNT + 3u) /* ports to allow with ioperm() */
#define HF_PORT_CONSOLE (HF_PORT_BASE + 0u)
#define HF_PORT_EXIT (HF_PORT_BASE + 1u)
#define HF_PORT_FORK (HF_PORT_BASE + 2u)
#define HF_PORT_CLONE_ID (HF_PORT_BASE + 3u)
#define HF_PORT_MARK (HF_PORT_BASE + 4u)
#define HF_PORT_HALT (HF_PORT_BASE + 5u)
#define HF_PORT_WRITE (HF_PORT_BASE + 6u)
#define HF_PORT_SLEEP (HF_PORT_BASE + 7u)
#define HF_PORT_RANDOM (HF_PORT_BASE + 8u)
#define HF_PORT_NEXT (HF_PORT_BASE + 9u)
#define HF_PORT_RESPOND (HF_PORT_BASE + 10u)
#define HF_PORT_FAIL (HF_PORT_BASE + 11u)

#define HF_SLEEP_MAX 60000000u /* one minute */

#define HF_WRITE_MAX (1u << 20)

/* Argument of HF_PORT_WRITE. */
struct hf_buf {
	uint64_t addr; /* guest-physical address of the bytes */
	uint64_t len;  /* number of bytes */
};

/* Function ports: payloads and answers are at most HF_FN_PAYLOAD_MAX bytes (Lambda's
 * synchronous limit, HF_LAMBDA_MAX_PAYLOAD of lambda.h). */
#define HF_FN_PAYLOAD_MAX (6u * 1024 * 1024)
#define HF_FN_REQUEST_ID_MAX 40u /* with its NUL */
#define HF_FN_ERROR_TYPE_MAX 64u /* with its NUL */

/* Argument of HF_PORT_NEXT. */
struct hf_invocation {
	uint64_t buf;	      /* in: guest-physical address of the payload buffer */
	uint64_t cap;	      /* in: its size, at most HF_FN_PAYLOAD_MAX */
	uint64_t len;	      /* out: the payload's length */
	uint64_t deadline_ms; /* out: when the client gives up, ms since the Unix epoch */
	uint32_t status;      /* out: HF_NEXT_OK or HF_NEXT_TOO_LARGE */
	uint32_t left_ms;     /* out: ms to the deadline by the host's clock as the guest took
			       * it (0 if past; a bare guest has no wall clock of its own) */
	char request_id[HF_FN_REQUEST_ID_MAX]; /* out: NUL-terminated */
};
#define HF_NEXT_OK 0u
#define HF_NEXT_TOO_LARGE 1u

/* Argument of HF_PORT_FAIL. */
struct hf_fn_error {
	uint64_t addr; /* guest-physical address of the error document (JSON, by convention) */
	uint64_t len;  /* its length, at most HF_FN_PAYLOAD_MAX */
	/* the error type: NUL-terminated, visible ASCII without spaces; "" for none */
	char type[HF_FN_ERROR_TYPE_MAX];
};

#define HF_FORK_FAILED 0xFFFFFFFFu

/* Marks the VMM records itself. FORK_REQUEST: when it took the request that made the
 * clone named in the line (fork point or control socket). */
#define HF_MARK_VMM 0xFFFF0000u
#define HF_MARK_FORK_REQUEST (HF_MARK_VMM + 1u)
/* The VM's (or clone's) first byte of console output. */
#define HF_MARK_FIRST_OUTPUT (HF_MARK_VMM + 2u)

/* Exit statuses of `hyperfork run`. Guest exit codes 0..HF_EXIT_CODE_MAX
 * pass through unchanged; the VMM reports everything else with these. */
#define HF_EXIT_CODE_MAX 239
#define HF_STATUS_ERROR 240   /* VMM error: bad flag, bad image, KVM failure */
#define HF_STATUS_CRASH 241   /* guest crashed or misbehaved */
#define HF_STATUS_RESET 242   /* guest asked for a reset/reboot */
#define HF_STATUS_TIMEOUT 243 /* --timeout expired */
#define HF_STATUS_STOPPED 244 /* stopped by `hyperfork stop` or a signal */

/* Bare guest memory layout. */
#define HF_LOAD_MIN 0x100000ull     /* 1 MiB: lowest address an image may use */
#define HF_BOOT_INFO_ADDR 0x1000ull /* struct hf_boot_info */
#define HF_CMDLINE_ADDR 0x2000ull   /* NUL-terminated command line */
#define HF_CMDLINE_MAX 4096u        /* including the NUL */
#define HF_STACK_SIZE 0x40000ull    /* 256 KiB per vCPU */

/* Bare guest segment selectors (GDT built by the VMM). */
#define HF_SEL_KCODE 0x08
#define HF_SEL_KDATA 0x10
#define HF_SEL_UDATA 0x2b
#define HF_SEL_UCODE 0x33
#define HF_SEL_TSS 0x38

#define HF_BOOT_INFO_MAGIC 0x49424648u /* "HFBI" */

/* Written by the VMM at HF_BOOT_INFO_ADDR before the first instruction. */
struct hf_boot_info {
	uint32_t magic;       /* HF_BOOT_INFO_MAGIC */
	uint32_t abi_version; /* HF_ABI_VERSION */
	uint64_t ram_size;    /* bytes of guest RAM, starting at address 0 */
	uint64_t heap_start;  /* first free byte after the image, page aligned */
	uint64_t heap_end;    /* end of free memory (start of the stacks) */
	uint64_t tsc_khz;     /* guest TSC frequency in kHz, 0 if unknown */
	uint64_t cmdline;     /* guest address of the command line */
	uint32_t cmdline_len; /* its length without the NUL */
	uint32_t ncpus;       /* number of vCPUs */
	uint64_t stack_size;  /* bytes of stack per vCPU */
	/* Set by the VMM in each clone before it runs: */
	uint32_t clone_id;          /* as HF_PORT_CLONE_ID */
	uint32_t reserved;
	uint64_t clone_request_tsc; /* guest TSC when the VMM took the request that made this
	                               clone (fork point or control socket); 0 if booted */
};

#endif
