/* hf-lambda's life (lambda-agent.c): its mode (warm or fork), the end of the runtime's init
 * (where, unless warm, the VM becomes a template), an init error, the end of the VM. It sits
 * below the parts that drive it (lambda-http.c, lambda-runtime.c, main in hf-lambda.c) and
 * acts on the parts above it only through the hooks main hands it. */
#ifndef LAMBDA_AGENT_H
#define LAMBDA_AGENT_H

#include <stddef.h>

/* What the agent's life does to the parts above it; a NULL hook does nothing. */
struct agent_hooks {
	/* Before the VM ends, in this order: give what is queued a moment to leave. */
	void (*flush[2])(void);
	/* The runtime failed its init: tell a host already waiting (INIT_ERROR TYPE, with
	 * body, blen bytes). Takes body. If NULL, body is dropped. */
	void (*init_error)(const char *type, char *body, size_t blen);
};

/* The agent's mode and hooks (hooks is kept, not copied): with warm set (hf.lambda=warm)
 * it never forks and invocations may be taken from now on; else only once hf-fork returned
 * (agent_end_init()). */
void agent_setup(int warm, const struct agent_hooks *hooks);
/* 1 if invocations may be taken (after the fork, or warm), else 0. */
int agent_accepting(void);
/* Run the flush hooks in order (as main wires them: the host's answer, then the runtime's
 * HTTP responses get a moment to leave), then end the VM with hf-done 1. Does not return;
 * if hf-done cannot be run, says so and exits 1. */
void agent_end_vm(void);
/* The runtime failed its init: say so ("HF-LAMBDA-INIT-ERROR TYPE BODY" on the console),
 * hand it to the init_error hook (warm mode: INIT_ERROR to a host already waiting), end the
 * VM. Takes body (blen bytes); type is as it stands in an answer line. Does not return. */
void agent_init_error(const char *type, char *body, size_t blen);
/* 1 once the runtime asked for its first invocation (its init is over), else 0. */
int agent_init_done(void);
/* The runtime asked for its first invocation: its init is over. Unless warm, the VM
 * becomes a template here: hf-fork, which returns in the original and in each clone (if it
 * fails, "HF-LAMBDA-FORK-FAILED ..." and the VM ends). From then on invocations may be
 * taken. */
void agent_end_init(void);
/* This VM's generation: 32 hex digits drawn when invocations may first be taken (once the
 * fork returned, in each clone and again in a clone reset to its template's state, whose
 * kernel generator hf-fork has reseeded from the host): it differs in every VM that came
 * from the same memory. Runtimes get it with each invocation (the Runtime API's
 * Lambda-Runtime-Vm-Generation header) and reseed their own random generators (which a
 * clone would otherwise share with its siblings) when it changed. "" before. */
const char *agent_generation(void);

#endif
