/* The serving shim's state, shared by serve.c (the loop, connections), task.c (the Task
 * service and its VMs) and out.c (answers and events sent). */
#ifndef HF_SHIM_INTERNAL_H
#define HF_SHIM_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "shim/bundle.h"
#include "shim/shim.h"
#include "shim/ttrpc.h"
#include "util/loop.h"

#define SHIM_TASKS_MAX 256   /* tasks one shim (one pod) holds at once */
#define SHIM_CONNS_MAX 64    /* containerd's connections at once */
#define SHIM_WAITERS_MAX 16  /* Wait calls pending on one task */

struct shim;

struct shim_conn {
	struct shim *shim;
	struct watch w;
	struct ttrpc_reader reader;
	bool used;
};

enum task_state { TASK_CREATED, TASK_RUNNING, TASK_PAUSED, TASK_STOPPED };

struct shim_task {
	bool used;
	struct shim *shim;
	char id[SHIM_ID_MAX + 1];
	char bundle[PATH_MAX], stdin_path[PATH_MAX], stdout_path[PATH_MAX], stderr_path[PATH_MAX];
	struct shim_spec spec;
	enum task_state state;
	/* its VM */
	bool clone;                     /* activated from spec.template_ (else booted) */
	bool sandbox;                   /* a pod's sandbox: no VM (shim_spec_is_sandbox) */
	char run_dir[PATH_MAX];
	char vm_name[72];               /* the clone's name (TEMPLATE.N) or the booted VM's */
	pid_t pid;                      /* the VMM */
	int pidfd;                      /* readable once it ended; -1: none */
	struct watch exit_w;
	/* its output (io.c) */
	int out_fd, err_fd;             /* containerd's fifos; -1: none */
	char console_path[PATH_MAX];    /* the VM's console file */
	int console_fd, console_wd;     /* it, followed; its inotify watch; -1: none */
	uint8_t *pend;                  /* read from it, waiting for out_fd to take it */
	size_t pend_off, pend_len;
	struct watch out_w;             /* out_fd's EPOLLOUT, while something waits */
	bool out_w_on;
	bool draining;                  /* the VM ended: out_fd closed once all is out */
	uint64_t progress_ns;           /* when out_fd last took something */
	void (*io_done)(struct shim_task *t); /* to call once it is out (task_io_end) */
	bool reported;                  /* its end: the exit event sent, Wait answered */
	int killed_by;                  /* the last signal Kill sent, 0: none */
	uint64_t mem_bytes;             /* its guest's RAM, once Stats asked (0: not yet) */
	/* once ended */
	uint32_t exit_status;
	struct timespec exited_at;
	struct {
		struct shim_conn *conn;
		uint32_t stream;
	} waiters[SHIM_WAITERS_MAX];
	unsigned nwaiters;
};

struct shim_event {
	char topic[32];
	uint8_t *any; /* a packed google.protobuf.Any */
	size_t len;
};

struct shim {
	const struct shim_opts *o;
	struct loop loop;
	struct watch listen_w;
	const char *socket_path;
	struct shim_conn conns[SHIM_CONNS_MAX];
	struct shim_task tasks[SHIM_TASKS_MAX];
	struct shim_conn *cur; /* the connection whose request is being answered */
	bool shutdown;         /* Shutdown asked with no task left: end after answering */
	/* events, published one at a time in order by running the publish binary */
	struct shim_event *events;
	size_t nevents, events_cap;
	pid_t publisher;
	int publisher_fd; /* its pidfd */
	struct watch publisher_w;
	int inotify_fd; /* the tasks' console files growing (io.c) */
	struct watch inotify_w;
};

/* task.c */
extern const struct ttrpc_table *shim_task_table(struct shim *s);
/* A task's VMM ended (its pidfd is readable). */
void task_exited(struct shim_task *t);

/* io.c: a task's output, its VM's console file pumped into containerd's stdout fifo. */
int shim_io_init(struct shim *s);
/* Open the task's fifos (Create). */
void task_io_open(struct shim_task *t);
/* Copy what its console file gained since to the task's stdout fifo, as far as it takes. */
void task_io_follow(struct shim_task *t);
void task_io_writable(struct watch *w, uint32_t events);
/* Its VM ended: the rest of its output goes out, then its stdout fifo is closed and done
 * called (or once its reader took nothing for a while, or at task_io_close). */
void task_io_end(struct shim_task *t, void (*done)(struct shim_task *t));
/* Close all of it (Delete). */
void task_io_close(struct shim_task *t);
/* Every pass of the loop: follow the consoles not yet made. Returns how long the loop may
 * sleep (ms). */
int shim_io_tick(struct shim *s);
#define SHIM_FOLLOW_MS 20
/* Drop the Wait calls of conn (it closed). */
void shim_conn_forget(struct shim *s, struct shim_conn *c);

/* stats.c: answer Stats with the figures of the VMM pid (mem_limit: the guest's RAM). */
void shim_stats_answer(pid_t pid, uint64_t mem_limit, struct ttrpc_result *res);

/* out.c */
/* Queue event msg on topic (as a google.protobuf.Any of type containerd.events.NAME). */
void shim_publish(struct shim *s, const char *topic, const char *type,
		  const ProtobufCMessage *msg);
/* Send a whole frame to c (blocking briefly if its socket is full). */
void shim_send(struct shim_conn *c, const uint8_t *frame, size_t len);

#endif
