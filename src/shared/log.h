/* Logging to stderr (or a file): "prog[pid] +T.TTTms level: message".
 * The monotonic timestamp lets benchmarks build a breakdown from logs. */
#ifndef COCOON_LOG_H
#define COCOON_LOG_H

#include <stdint.h>
#include <time.h>

enum cc_log_level { CC_LOG_ERROR, CC_LOG_WARN, CC_LOG_INFO, CC_LOG_DEBUG };

void cc_log_init(const char *prog, enum cc_log_level level, int fd);
void cc_log_set_level(enum cc_log_level level);
enum cc_log_level cc_log_level(void);
/* Caps output at lines_per_sec (0: no cap), for a process whose messages a guest can
 * provoke at will; dropped lines are counted in the next line written. */
void cc_log_set_rate_limit(unsigned lines_per_sec);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int cc_log_parse_level(const char *s);
void cc_log(enum cc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Nanoseconds on CLOCK_MONOTONIC (comparable across host processes). */
uint64_t cc_now_ns(void);
/* Nanoseconds on clock clk (CLOCK_REALTIME for timestamps others read, CLOCK_BOOTTIME). */
uint64_t cc_clock_ns(clockid_t clk);

#define cc_err(...) cc_log(CC_LOG_ERROR, __VA_ARGS__)
#define cc_warn(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define cc_info(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define cc_debug(...) cc_log(CC_LOG_DEBUG, __VA_ARGS__)

#endif
