/* The run directory and the names in it (see rundir.h). */
#include "util/rundir.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"

const char *run_dir(const char *opt)
{
	if (opt && *opt)
		return opt;
	const char *env = getenv("HYPERFORK_RUN_DIR");
	return env && *env ? env : RUN_DIR_DEFAULT;
}

int run_dir_prepare(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		pr_err("cannot create run directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		pr_err("run directory %s: %s", dir, errno ? strerror(errno) : "not a directory");
		return -1;
	}
	/* Every user could put sockets and links where the VM's own go. */
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		pr_err("run directory %s is writable by every user: use one only its user writes "
		       "(or one with the sticky bit)", dir);
		return -1;
	}
	return 0;
}

bool valid_vm_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > HF_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!isalnum((unsigned char)c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

int clone_name(char *buf, size_t len, const char *name, unsigned id)
{
	return snprintf(buf, len, "%s.%u", name, id);
}

const char *const run_file_sockets[3] = {RUN_FILE_SOCKET, RUN_FILE_FUNCTION, RUN_FILE_VSOCK};

void run_file(char *buf, size_t len, const char *dir, const char *name, const char *ext)
{
	snprintf(buf, len, "%s/%s%s", dir, name, ext);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		pr_warn("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
