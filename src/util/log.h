/* Logging: every line names the VM and the process, since clones share terminals and logs. */
#ifndef HF_LOG_H
#define HF_LOG_H

#include <stdarg.h>

enum hf_log_level { HF_LOG_ERROR, HF_LOG_WARN, HF_LOG_INFO, HF_LOG_DEBUG };

/* Set the VM name shown in every log line (NULL: none). Copies the name. */
void log_set_name(const char *name);
/* Messages above this level are dropped. Default HF_LOG_INFO. */
void log_set_level(enum hf_log_level level);
enum hf_log_level log_level(void);
/* A log that is a regular file is cut back when it would pass this (as a console file is). */
#define LOG_FILE_MAX (8u << 20)

/* Redirect log output to fd (default 2). */
void log_set_fd(int fd);
int log_get_fd(void);

/* Async-signal-safe logging (a signal handler's last words): fill a log_buf piecewise, then
 * log_error_safe writes it as one error line with the usual prefix. */
struct log_buf {
	char s[512];
	unsigned n;
};
void logbuf_str(struct log_buf *b, const char *s);
void logbuf_num(struct log_buf *b, unsigned long long v, unsigned base); /* base 10 or 16 */
void log_error_safe(const struct log_buf *b);

void hf_log(enum hf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hf_vlog(enum hf_log_level level, const char *fmt, va_list ap);

#define pr_err(...) hf_log(HF_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) hf_log(HF_LOG_WARN, __VA_ARGS__)
#define pr_info(...) hf_log(HF_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)                                                                              \
	do {                                                                                       \
		if (log_level() >= HF_LOG_DEBUG)                                                   \
			hf_log(HF_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

#endif
