/* hf-lambda's small helpers, shared by its parts (lambda-util.h): the agent's name, the
 * clock, a line on the console, allocation that ends the agent when memory runs out,
 * Lambda's JSON error body, the checks and decoding of what the host and the runtime send
 * (visible fields, decimal lengths, base64), how a process ended, and a listening socket. */
#define _GNU_SOURCE /* strsignal */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hf-tool.h"
#include "lambda-util.h"

const char prog[] = "hf-lambda";

long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

void say(const char *fmt, ...)
{
	char b[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(b) - 2)
		n = sizeof(b) - 2;
	b[n++] = '\n';
	hf_write_all(1, b, (size_t)n);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		say("%s: out of memory (%zu bytes)", prog, n);
		exit(1);
	}
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

/* s as a JSON string's contents (no quotes), into out (size outsz, always terminated). */
static void json_escape(char *out, size_t outsz, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < outsz; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
}

char *error_json(const char *type, size_t *len, const char *fmt, ...)
{
	char msg[1024], emsg[6 * 1024], etype[6 * ERRTYPE_MAX + 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_escape(emsg, sizeof(emsg), msg);
	json_escape(etype, sizeof(etype), type);
	size_t n = strlen(emsg) + strlen(etype) + 64;
	char *b = xmalloc(n);
	*len = (size_t)snprintf(b, n, "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", emsg, etype);
	return b;
}

int visible(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return 0;
	return 1;
}

int parse_len(const char *s, unsigned long long max, size_t *out)
{
	unsigned long long v = 0;
	if (!*s || strlen(s) > 19 || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

long base64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int v;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad) /* data after padding */
			return -1;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6 || acc || (pad && (n % 4)))
		return -1; /* a dangling 6 bits, nonzero leftover bits, or bad padding */
	return (long)o;
}

void exit_reason(int status, char *out, size_t n)
{
	if (WIFEXITED(status)) {
		snprintf(out, n, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(out, n, "signal: %s", strsignal(WTERMSIG(status)));
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	} else {
		snprintf(out, n, "status 0x%x", status);
	}
}

int listener(int family, const void *a, socklen_t alen, int backlog)
{
	int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	if (s < 0)
		return -1;
	if (family == AF_INET)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (const struct sockaddr *)a, alen) < 0 || listen(s, backlog) < 0) {
		close(s);
		return -1;
	}
	return s;
}
