/* A function's zip, checked before it is kept (libzip, reading its directory only). */
#include "serve/zipcheck.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

/* Whether path (relative, '/'-separated), taken from directory dir_depth levels below the
 * root, stays inside it: no absolute path, no ".." that climbs out. */
static bool stays_inside(const char *path, int depth)
{
	if (path[0] == '/' || path[0] == '\\')
		return false;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			depth--;
		else if (n && !(n == 1 && p[0] == '.'))
			depth++;
		if (depth < 0)
			return false;
		p += n + (p[n] == '/');
	}
	return true;
}

int zip_check(const void *data, size_t len, uint64_t *unzipped, char *err, size_t errlen)
{
	return zip_check_in(data, len, "/var/task", unzipped, err, errlen);
}

int zip_check_in(const void *data, size_t len, const char *root, uint64_t *unzipped, char *err,
		 size_t errlen)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
	zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
	if (!z) {
		snprintf(err, errlen, "Could not unzip uploaded file. Please check your file, then "
			 "try to upload again. (%s)", zip_error_strerror(&ze));
		zip_error_fini(&ze);
		if (src)
			zip_source_free(src);
		return -1;
	}
	zip_error_fini(&ze);
	int r = -1;
	zip_int64_t n = zip_get_num_entries(z, 0);
	uint64_t total = 0;
	if (n > ZIP_ENTRIES_MAX) {
		snprintf(err, errlen, "the zip has %lld entries, over the %u taken",
			 (long long)n, ZIP_ENTRIES_MAX);
		goto out;
	}
	for (zip_int64_t i = 0; i < n; i++) {
		zip_stat_t st;
		if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME) ||
		    !(st.valid & ZIP_STAT_SIZE)) {
			snprintf(err, errlen, "Could not unzip uploaded file: entry %lld unreadable",
				 (long long)i);
			goto out;
		}
		if (!st.name[0] || strchr(st.name, '\\') || !stays_inside(st.name, 0)) {
			snprintf(err, errlen, "the zip's entry %.200s would be unpacked outside "
				 "%s", st.name, root);
			goto out;
		}
		total += st.size;
		if (total > ZIP_UNZIPPED_MAX) {
			snprintf(err, errlen, "Unzipped size must be smaller than %u bytes",
				 ZIP_UNZIPPED_MAX);
			goto out;
		}
		zip_uint8_t os;
		zip_uint32_t attr;
		if (zip_file_get_external_attributes(z, (zip_uint64_t)i, 0, &os, &attr) < 0 ||
		    os != ZIP_OPSYS_UNIX || !S_ISLNK(attr >> 16))
			continue;
		/* A link: where it points must be inside too, from the link's own directory. */
		char target[1024];
		zip_int64_t got = -1;
		zip_file_t *zf = st.size < sizeof(target) ? zip_fopen_index(z, (zip_uint64_t)i, 0)
							   : NULL;
		if (zf) {
			got = zip_fread(zf, target, sizeof(target) - 1);
			zip_fclose(zf);
		}
		if (got < 0) {
			snprintf(err, errlen, "the zip's link %.200s cannot be read", st.name);
			goto out;
		}
		target[got] = 0;
		int depth = 0;
		for (const char *p = st.name; (p = strchr(p, '/')); p++)
			depth++;
		if (!target[0] || !stays_inside(target, depth)) {
			snprintf(err, errlen, "the zip's link %.200s points out of %s (to "
				 "%.200s)", st.name, root, target);
			goto out;
		}
	}
	*unzipped = total;
	r = 0;
out:
	zip_discard(z);
	return r;
}
