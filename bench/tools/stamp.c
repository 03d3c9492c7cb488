/* Benchmark helper: run a command and time, from launch, its first byte of output, the
 * first line containing a marker, and its exit. Prints "first_ms marker_ms exit_ms status
 * cpu_ms" (-1 for events that did not happen; cpu_ms is the user+system time of the command
 * and every descendant it waited for). The command's output is copied to --log FILE. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
	const char *marker = NULL, *log = "/dev/null";
	int i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--marker") && i + 1 < argc)
			marker = argv[++i];
		else if (!strcmp(argv[i], "--log") && i + 1 < argc)
			log = argv[++i];
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: stamp [--marker STR] [--log FILE] -- COMMAND...\n");
		return 2;
	}
	int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int p[2];
	if (logfd < 0 || pipe(p) < 0) {
		perror("stamp");
		return 2;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execvp(argv[i], argv + i);
		perror("exec");
		_exit(127);
	}
	close(p[1]);
	double first = -1, mark = -1;
	char buf[65536], line[4096];
	size_t linelen = 0;
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (first < 0)
			first = ms_since(&t0);
		if (write(logfd, buf, (size_t)n) < 0)
			break;
		for (ssize_t k = 0; k < n && marker && mark < 0; k++) {
			if (buf[k] == '\n' || linelen == sizeof(line) - 1) {
				line[linelen] = 0;
				if (strstr(line, marker))
					mark = ms_since(&t0);
				linelen = 0;
			} else {
				line[linelen++] = buf[k];
			}
		}
	}
	int status;
	struct rusage ru;
	wait4(pid, &status, 0, &ru);
	double end = ms_since(&t0);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	printf("%.3f %.3f %.3f %d %.1f\n", first, mark, end,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), cpu);
	return 0;
}
