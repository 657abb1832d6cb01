/* What must differ between clones of one template: right after a restore every clone has
 * the template's CRNG state (so the same "random" bytes) and the wall clock of the moment
 * the template was saved. The host sends fresh entropy; it is credited to the kernel's
 * pool (RNDADDENTROPY) and the CRNG is forced to reseed from it (RNDRESEEDCRNG) before
 * the host lets anything else run, then CLOCK_REALTIME is set from the host's. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/random.h>

#include "agent/agent.h"
#include "shared/ttrpc.h"
#include "shared/util.h"

int guest_reseed(const uint8_t *entropy, size_t len, int64_t realtime_ns, bool set_clock,
		 int64_t *clock_step_ns, struct cc_error *err)
{
	*clock_step_ns = 0;
	if (len < GUEST_ENTROPY_MIN || len > GUEST_ENTROPY_MAX)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "entropy must be %d..%d bytes, got %zu", GUEST_ENTROPY_MIN,
				     GUEST_ENTROPY_MAX, len);
	if (realtime_ns < 0)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "realtime_ns %lld is negative",
				     (long long)realtime_ns);
	struct {
		struct rand_pool_info info;
		uint8_t buf[GUEST_ENTROPY_MAX];
	} pool;
	pool.info.entropy_count = (int)(len * 8);
	pool.info.buf_size = (int)len;
	memcpy(pool.buf, entropy, len);
	cleanup_close int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	int rc = fd < 0 ? -1 : ioctl(fd, RNDADDENTROPY, &pool.info);
	int saved = errno;
	explicit_bzero(&pool, sizeof(pool));
	if (rc < 0)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "adding entropy: %s",
				     strerror(saved));
	if (ioctl(fd, RNDRESEEDCRNG) < 0)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "reseeding the CRNG: %s",
				     strerror(errno));
	if (realtime_ns == 0 || !set_clock)
		return 0;
	struct timespec now,
		to = { .tv_sec = realtime_ns / 1000000000, .tv_nsec = realtime_ns % 1000000000 };
	clock_gettime(CLOCK_REALTIME, &now);
	if (clock_settime(CLOCK_REALTIME, &to) < 0)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "setting the clock: %s",
				     strerror(errno));
	*clock_step_ns = realtime_ns - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	return 0;
}
