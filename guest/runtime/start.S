/* Bare-guest entry: RDI = vCPU index, RSI = struct hf_boot_info, RSP = this vCPU's stack. */
	.section .text.start, "ax"
	.globl _start
	.type _start, @function
_start:
	xorl %ebp, %ebp
	call hf_start_c
1:	jmp 1b
	.size _start, . - _start
	.section .note.GNU-stack, "", @progbits
