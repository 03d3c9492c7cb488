/* How serve starts its VMMs without being able to start anything itself: a spawner, a
 * small process forked (root, unfiltered) before serve puts its own seccomp filter on,
 * starts each `hyperfork run` on serve's word, as serve's own child (clone with
 * CLONE_PARENT: serve waits for and signals it as before). serve itself may then no longer
 * exec, fork, ptrace, mount, change its ids or namespaces (spawn_filter_enter): what a
 * client who took over one of its HTTP threads could do as root is bounded. */
#ifndef HF_SERVE_SPAWN_H
#define HF_SERVE_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* Fork the spawner, which starts serve's own binary. Returns 0, or -1 with why. */
int spawn_start(char *why, size_t whylen);
/* Start argv (NULL-terminated) as a child of this process, in a process group of its own,
 * its stdout and stderr in the file log (created, truncated, never through a link), stdin
 * /dev/null. Returns its pid, or -1 with why. Thread-safe. */
pid_t spawn(const char *const *argv, const char *log, char *why, size_t whylen);
/* Put serve's own filter on this thread and the threads it makes from now on. Returns 0,
 * or -1 with why. */
int spawn_filter_enter(char *why, size_t whylen);
/* End the spawner (serve's end). */
void spawn_stop(void);

#endif
