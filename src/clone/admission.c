/* Admission of clones: the live clones of this VM (forked or activated, not yet reaped),
 * which --max-clones counts, held against the limits (util/admit.h) before each clone. */
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "clone/internal.h"
#include "util/log.h"
#include "util/rundir.h"

int admit(struct clones *cl, unsigned extra, unsigned count, char *why, size_t whylen)
{
	if (admit_clones_now(&cl->cfg.limits, cl->nlive + extra, count, why, whylen) != ADMIT_OK)
		return -1;
	if (count > cl->live_cap - cl->nlive) {
		unsigned cap = cl->nlive + count + 64;
		struct live_clone *c = realloc(cl->live, cap * sizeof(*c));
		if (!c)
			return errf(why, whylen, "out of memory counting live clones");
		cl->live = c;
		cl->live_cap = cap;
	}
	return 0;
}

void live_add(struct clones *cl, pid_t pid, unsigned id)
{
	if (cl->nlive < cl->live_cap)
		cl->live[cl->nlive++] = (struct live_clone){pid, id};
}

void live_forget(struct clones *cl)
{
	free(cl->live);
	cl->live = NULL;
	cl->nlive = cl->live_cap = 0;
}

/* Forget clone pid; its number into *id. Returns false if it is not a live clone. */
static bool live_remove(struct clones *cl, pid_t pid, unsigned *id)
{
	for (unsigned i = 0; i < cl->nlive; i++)
		if (cl->live[i].pid == pid) {
			*id = cl->live[i].id;
			cl->live[i] = cl->live[--cl->nlive];
			return true;
		}
	return false;
}

bool clone_forget(struct clones *cl, pid_t pid)
{
	unsigned id;
	if (!live_remove(cl, pid, &id))
		return false;
	/* Its names are its own (ids are never reused by this VM): whatever it left (killed
	 * by a signal), no one else will remove. */
	struct vm *vm = cl->vm;
	char name[HF_NAME_MAX + 16], path[PATH_MAX];
	clone_name(name, sizeof(name), vm->cfg.name, id);
	for (unsigned i = 0; i < ARRAY_SIZE(run_file_sockets); i++) {
		run_file(path, sizeof(path), vm->cfg.run_dir, name, run_file_sockets[i]);
		unlink(path);
	}
	return true;
}
