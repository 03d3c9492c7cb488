/* hf-lambda's child, the function's runtime (lambda-runtime.c): started, and watched
 * through SIGCHLD from main's loop. */
#ifndef LAMBDA_RUNTIME_H
#define LAMBDA_RUNTIME_H

/* Watch for the runtime's end: SIGCHLD wakes runtime_fd(). 0, or -1 with errno. */
int runtime_watch(void);
/* What to poll (POLLIN) for SIGCHLD. */
int runtime_fd(void);
/* After runtime_fd() woke: reap children. The runtime's end ends the VM: an init error
 * before its first /next, else ERROR Runtime.ExitError to the invocation in progress and
 * "HF-LAMBDA-RUNTIME-EXIT REASON" on the console. */
void runtime_reap(void);
/* Start the runtime, argv[0] with argv (NULL-terminated), stdin /dev/null, stdout and
 * stderr inherited. Its exec failing is an init error (Runtime.InvalidEntrypoint: the VM
 * ends); if no pipe or process can be made, says so and exits 1. */
void runtime_start(char **argv);

#endif
