/* serve's functions: slots, lookups that hold, changes made by the main thread. */
#include "serve/table.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/rundir.h"
#include "util/util.h"

#define ARN_PREFIX "arn:aws:lambda:us-east-1:000000000000:function:"

void table_init(struct fn_table *t, const char *run_dir, const char *runtimes_dir,
		uint64_t reserve_bytes, bool jail, long uid, long gid)
{
	memset(t, 0, sizeof(*t));
	pthread_rwlock_init(&t->lock, NULL);
	t->run_dir = run_dir;
	t->runtimes_dir = runtimes_dir;
	t->reserve_bytes = reserve_bytes;
	t->jail = jail;
	t->uid = uid;
	t->gid = gid;
}

static struct fn_slot *slot_of(struct function *f)
{
	return (struct fn_slot *)((char *)f - offsetof(struct fn_slot, fn));
}

static struct fn_slot *find(struct fn_table *t, const char *name)
{
	for (unsigned i = 0; i < FN_MAX_FUNCTIONS; i++)
		if (t->slots[i].state != SLOT_FREE && !strcmp(t->slots[i].cfg.name, name))
			return &t->slots[i];
	return NULL;
}

/* Slot i's jail: uid + i and gid + i, which no user or group may have (a user's uid would
 * give that user the function's VMs, and them the user's files; a group's gid, its
 * members). */
static int jail_of(struct fn_table *t, unsigned i, const char *name, struct fn_jail *j,
		   char *err, size_t errlen)
{
	*j = (struct fn_jail){0};
	if (!t->jail)
		return 0;
	*j = (struct fn_jail){.on = true, .uid = t->uid + (long)i, .gid = t->gid + (long)i};
	if (j->uid > (long)UINT32_MAX - 2 || j->gid > (long)UINT32_MAX - 2) {
		snprintf(err, errlen, "--uid %ld / --gid %ld leave no uid and gid for function %s",
			 t->uid, t->gid, name);
		return -1;
	}
	struct passwd *pw = getpwuid((uid_t)j->uid);
	if (pw) {
		snprintf(err, errlen, "--uid %ld: uid %ld (function %s) is user %s's: give a range "
			 "of uids no user has", t->uid, j->uid, name, pw->pw_name);
		return -1;
	}
	struct group *gr = getgrgid((gid_t)j->gid);
	if (gr) {
		snprintf(err, errlen, "--gid %ld: gid %ld (function %s) is group %s's: give a "
			 "range of gids no group has", t->gid, j->gid, name, gr->gr_name);
		return -1;
	}
	return 0;
}

/* A managed runtime's function: its code's disk for this start, serve.XXXXXX/NAME.code.N. */
static int code_disk(struct fn_table *t, struct fn_slot *s, char *err, size_t errlen)
{
	if (!s->cfg.runtime)
		return 0;
	char disk[4200];
	snprintf(disk, sizeof(disk), "%s.code.%u", s->dir, ++s->code_gen);
	unlink(disk);
	return fn_code_prepare(&s->cfg, t->runtimes_dir, disk, &s->code, err, errlen);
}

static void drop_code_disk(struct fn_slot *s)
{
	if (s->code.disk[0])
		unlink(s->code.disk);
	s->code.disk[0] = 0;
}

int table_add(struct fn_table *t, struct fn_config *cfg, bool from_file, char *err,
	      size_t errlen)
{
	pthread_rwlock_wrlock(&t->lock);
	struct fn_slot *s = NULL;
	unsigned i;
	if (find(t, cfg->name)) {
		snprintf(err, errlen, "Function already exist: %s", cfg->name);
		errno = EEXIST;
		goto refused;
	}
	for (i = 0; i < FN_MAX_FUNCTIONS && !s; i++)
		if (t->slots[i].state == SLOT_FREE)
			s = &t->slots[i];
	if (!s) {
		snprintf(err, errlen, "serve has %u functions, as many as it takes",
			 FN_MAX_FUNCTIONS);
		errno = ENOSPC;
		goto refused;
	}
	i = (unsigned)(s - t->slots);
	if (jail_of(t, i, cfg->name, &s->jail, err, errlen) < 0) {
		errno = EPERM;
		goto refused;
	}
	if (strlen(t->run_dir) + 1 + strlen(cfg->name) + 16 >= sizeof(s->dir)) {
		snprintf(err, errlen, "function %s's run directory would be too long", cfg->name);
		errno = ENAMETOOLONG;
		goto refused;
	}
	snprintf(s->dir, sizeof(s->dir), "%s/%s", t->run_dir, cfg->name);
	if (mkdir(s->dir, 0700) < 0 ||
	    (s->jail.on && chown(s->dir, (uid_t)s->jail.uid, (gid_t)s->jail.gid) < 0)) {
		snprintf(err, errlen, "cannot make function %s's run directory %s: %s", cfg->name,
			 s->dir, strerror(errno));
		goto refused;
	}
	s->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	if (code_disk(t, s, err, errlen) < 0) {
		*cfg = s->cfg; /* the caller's again */
		memset(&s->cfg, 0, sizeof(s->cfg));
		remove_tree(s->dir);
		errno = EINVAL;
		goto refused;
	}
	s->from_file = from_file;
	s->refs = 0;
	s->state = SLOT_NEW;
	pthread_rwlock_unlock(&t->lock);
	return 0;
refused:
	pthread_rwlock_unlock(&t->lock);
	return -1;
}

struct function *table_get(struct fn_table *t, const char *name, enum table_found *found)
{
	if (!strncmp(name, ARN_PREFIX, strlen(ARN_PREFIX)))
		name += strlen(ARN_PREFIX);
	pthread_rwlock_rdlock(&t->lock);
	struct fn_slot *s = find(t, name);
	struct function *f = NULL;
	*found = !s || s->state == SLOT_DELETING ? TABLE_ABSENT
		 : s->state == SLOT_LIVE	 ? TABLE_FOUND
						 : TABLE_CHANGING;
	if (*found == TABLE_FOUND) {
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
		f = &s->fn;
	}
	pthread_rwlock_unlock(&t->lock);
	return f;
}

void table_put(struct function *f)
{
	if (f)
		__atomic_sub_fetch(&slot_of(f)->refs, 1, __ATOMIC_ACQ_REL);
}

static int request(struct fn_table *t, const char *name, struct fn_config *cfg)
{
	pthread_rwlock_wrlock(&t->lock);
	struct fn_slot *s = find(t, name);
	int e = !s || s->state == SLOT_DELETING		      ? ENOENT
		: s->from_file					      ? EPERM
		: s->state == SLOT_LIVE || (!cfg && s->state == SLOT_NEW) ? 0
									  : EBUSY;
	if (!e) {
		s->state = cfg ? SLOT_CHANGING : SLOT_DELETING;
		if (cfg) {
			s->next = *cfg;
			memset(cfg, 0, sizeof(*cfg));
		}
	}
	pthread_rwlock_unlock(&t->lock);
	errno = e;
	return e ? -1 : 0;
}

int table_change(struct fn_table *t, const char *name, struct fn_config *cfg)
{
	return request(t, name, cfg);
}

int table_delete(struct fn_table *t, const char *name)
{
	return request(t, name, NULL);
}

int table_with(struct fn_table *t, const char *name, void (*fn)(struct fn_slot *s, void *arg),
	       void *arg)
{
	if (!strncmp(name, ARN_PREFIX, strlen(ARN_PREFIX)))
		name += strlen(ARN_PREFIX);
	pthread_rwlock_rdlock(&t->lock);
	struct fn_slot *s = find(t, name);
	bool there = s && s->state != SLOT_DELETING;
	if (there)
		fn(s, arg);
	pthread_rwlock_unlock(&t->lock);
	return there ? 0 : -1;
}

unsigned table_hold_all(struct fn_table *t, struct function **fns, unsigned max)
{
	unsigned n = 0;
	pthread_rwlock_rdlock(&t->lock);
	for (unsigned i = 0; i < FN_MAX_FUNCTIONS && n < max; i++) {
		struct fn_slot *s = &t->slots[i];
		if (s->state == SLOT_LIVE) { /* (a CHANGING one is being set up) */
			__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
			fns[n++] = &s->fn;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

void table_each(struct fn_table *t, void (*fn)(struct fn_slot *s, void *arg), void *arg)
{
	pthread_rwlock_rdlock(&t->lock);
	for (unsigned i = 0; i < FN_MAX_FUNCTIONS; i++)
		if (t->slots[i].state != SLOT_FREE && t->slots[i].state != SLOT_DELETING)
			fn(&t->slots[i], arg);
	pthread_rwlock_unlock(&t->lock);
}

static void start(struct fn_table *t, struct fn_slot *s)
{
	function_start(&s->fn, &s->cfg, s->dir, t->reserve_bytes, &s->jail,
		       s->cfg.runtime ? &s->code : NULL);
	s->started = true;
	if (s->cfg.mode == FN_MODE_BOOT)
		printf("serve: function %s ready (a VM is booted for each invocation)\n",
		       s->cfg.name);
}

/* A changed or deleted function nobody holds: stop it, then start its new configuration
 * or free its slot. */
static void apply(struct fn_table *t, struct fn_slot *s)
{
	char name[FN_NAME_MAX + 1];
	memcpy(name, s->cfg.name, sizeof(name));
	if (s->started)
		function_stop(&s->fn);
	drop_code_disk(s);
	pthread_rwlock_wrlock(&t->lock);
	fn_config_free(&s->cfg);
	if (s->state == SLOT_DELETING) {
		printf("serve: function %s deleted\n", name);
		remove_tree(s->dir);
		fn_config_free(&s->next);
		memset(s, 0, sizeof(*s));
		pthread_rwlock_unlock(&t->lock);
		return;
	}
	s->cfg = s->next;
	memset(&s->next, 0, sizeof(s->next));
	s->changes++;
	char err[600];
	int r = code_disk(t, s, err, sizeof(err));
	pthread_rwlock_unlock(&t->lock);
	printf("serve: function %s changed: initialising it again\n", s->cfg.name);
	start(t, s); /* (still CHANGING: nobody finds it before it is set up) */
	if (r < 0) { /* (its zip was checked when it was taken: a disk full, say) */
		pthread_mutex_lock(&s->fn.lock);
		s->fn.state = FN_FAILED;
		snprintf(s->fn.why, sizeof(s->fn.why), "%s", err);
		pthread_mutex_unlock(&s->fn.lock);
	}
	pthread_rwlock_wrlock(&t->lock);
	s->state = SLOT_LIVE;
	pthread_rwlock_unlock(&t->lock);
}

void table_tick(struct fn_table *t, unsigned init_timeout_ms)
{
	uint64_t now = now_ns();
	for (unsigned i = 0; i < FN_MAX_FUNCTIONS; i++) {
		struct fn_slot *s = &t->slots[i];
		/* (Only this thread moves a slot out of NEW, CHANGING and DELETING.) */
		enum slot_state st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (st == SLOT_FREE)
			continue;
		if (st == SLOT_NEW) { /* started before anyone can find it */
			start(t, s);
			pthread_rwlock_wrlock(&t->lock);
			if (s->state == SLOT_NEW) /* (else deleted meanwhile: stopped next tick) */
				s->state = SLOT_LIVE;
			pthread_rwlock_unlock(&t->lock);
			continue;
		}
		if ((st == SLOT_CHANGING || st == SLOT_DELETING) &&
		    !__atomic_load_n(&s->refs, __ATOMIC_ACQUIRE)) {
			apply(t, s);
			fflush(stdout);
			continue;
		}
		struct function *f = &s->fn;
		function_reap_idle(f, now);
		if (!function_poll(f, init_timeout_ms))
			continue;
		if (f->state == FN_READY)
			printf("serve: function %s ready (%s in %llu ms)\n", f->cfg->name,
			       fn_cloned(f->cfg) ? "booted, initialised and frozen"
						 : "its warm VM booted, its agent up",
			       (unsigned long long)((now_ns() - f->boot_ns) / 1000000));
		else if (f->state == FN_FAILED)
			printf("serve: function %s failed: %s\n", f->cfg->name, f->why);
		else
			printf("serve: function %s: %s; initialising it again\n", f->cfg->name,
			       f->why);
		fflush(stdout);
	}
}

void table_stop_all(struct fn_table *t)
{
	for (unsigned i = 0; i < FN_MAX_FUNCTIONS; i++) {
		struct fn_slot *s = &t->slots[i];
		if (s->state == SLOT_FREE)
			continue;
		if (s->started)
			function_stop(&s->fn);
		drop_code_disk(s);
		fn_config_free(&s->cfg);
		fn_config_free(&s->next);
	}
}
