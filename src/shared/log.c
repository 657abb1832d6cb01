#include "shared/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "cocoon";
static enum cc_log_level log_lvl = CC_LOG_WARN;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* Token bucket for processes whose messages a guest can trigger (the VMM): at most
 * `rate` lines a second after a burst of as many, then a count of what was dropped. */
static struct {
	pthread_mutex_t lock;
	unsigned rate; /* 0: unlimited */
	double tokens;
	uint64_t last_ns;
	unsigned long dropped;
} limit = { .lock = PTHREAD_MUTEX_INITIALIZER };

void cc_log_set_rate_limit(unsigned lines_per_sec)
{
	pthread_mutex_lock(&limit.lock);
	limit.rate = lines_per_sec;
	limit.tokens = lines_per_sec;
	limit.last_ns = cc_now_ns();
	pthread_mutex_unlock(&limit.lock);
}

/* Whether a line may be written now; *dropped gets what was dropped before it. */
static int rate_allows(uint64_t now, unsigned long *dropped)
{
	int ok = 1;
	*dropped = 0;
	pthread_mutex_lock(&limit.lock);
	if (limit.rate > 0) {
		limit.tokens += (double)(now - limit.last_ns) * limit.rate / 1e9;
		if (limit.tokens > limit.rate)
			limit.tokens = limit.rate;
		limit.last_ns = now;
		if (limit.tokens >= 1) {
			limit.tokens -= 1;
			*dropped = limit.dropped;
			limit.dropped = 0;
		} else {
			limit.dropped++;
			ok = 0;
		}
	}
	pthread_mutex_unlock(&limit.lock);
	return ok;
}

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

uint64_t cc_clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cc_now_ns(void)
{
	return cc_clock_ns(CLOCK_MONOTONIC);
}

void cc_log(enum cc_log_level level, const char *fmt, ...)
{
	char line[2048];
	int n;
	va_list ap;

	if (level > log_lvl || log_fd < 0)
		return;
	uint64_t now = cc_now_ns();
	unsigned long dropped;
	if (!rate_allows(now, &dropped))
		return;
	n = snprintf(line, sizeof(line), "%s[%d] %llu.%06llu %s: ", log_prog, (int)getpid(),
		     (unsigned long long)(now / 1000000000ull),
		     (unsigned long long)(now % 1000000000ull / 1000), level_names[level]);
	if (dropped > 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "(%lu lines dropped) ", dropped);
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
