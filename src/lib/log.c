#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "cocoon";
static enum cc_log_level log_lvl = CC_LOG_WARN;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void cc_log_init(const char *prog, enum cc_log_level level, int fd)
{
	log_prog = prog;
	log_lvl = level;
	log_fd = fd;
}

void cc_log_set_level(enum cc_log_level level)
{
	log_lvl = level;
}

enum cc_log_level cc_log_level(void)
{
	return log_lvl;
}

int cc_log_parse_level(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

uint64_t cc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cc_log(enum cc_log_level level, const char *fmt, ...)
{
	char line[2048];
	int n;
	va_list ap;

	if (level > log_lvl || log_fd < 0)
		return;
	uint64_t now = cc_now_ns();
	n = snprintf(line, sizeof(line), "%s[%d] %llu.%06llu %s: ", log_prog, (int)getpid(),
		     (unsigned long long)(now / 1000000000ull),
		     (unsigned long long)(now % 1000000000ull / 1000), level_names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write() per line keeps lines whole when processes share the fd. */
	if (write(log_fd, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
