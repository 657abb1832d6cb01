#include "lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

int cc_find_executable(const char *name, char *out, size_t out_len, struct cc_error *err)
{
	if (strchr(name, '/') != NULL) {
		if (access(name, X_OK) < 0)
			return cc_error_set(err, errno == ENOENT ? 0 : errno,
					    errno == ENOENT ? "%s not found" : "%s", name);
		if ((size_t)snprintf(out, out_len, "%s", name) >= out_len)
			return cc_error_set(err, ENAMETOOLONG, "%s", name);
		return 0;
	}
	const char *path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");
		if (n > 0 &&
		    (size_t)snprintf(out, out_len, "%.*s/%s", (int)n, path, name) < out_len &&
		    access(out, X_OK) == 0)
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return cc_error_set(err, 0, "%s not found", name);
}

static int sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	return nanosleep(&ts, NULL);
}

int cc_child_spawn(char *const argv[], const char *log_path, const char *netns, pid_t *pid,
		   struct cc_error *err)
{
	/* The exec error travels back through a close-on-exec pipe: EOF means exec worked. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cc_error_set(err, errno, "pipe");
	pid_t parent = getpid();
	pid_t c = fork();
	if (c < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return cc_error_set(err, e, "fork %s", argv[0]);
	}
	if (c == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		if (netns != NULL) {
			int ns = open(netns, O_RDONLY | O_CLOEXEC);
			if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
				int e = errno;
				(void)!write(p[1], &e, sizeof(e));
				_exit(127);
			}
			close(ns);
		}
		int in = open("/dev/null", O_RDONLY);
		int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
			int e = errno;
			(void)!write(p[1], &e, sizeof(e));
			_exit(127);
		}
		execv(argv[0], argv);
		int e = errno;
		(void)!write(p[1], &e, sizeof(e));
		_exit(127);
	}
	close(p[1]);
	int child_errno = 0;
	ssize_t n;
	do
		n = read(p[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		waitpid(c, NULL, 0);
		return cc_error_set(err, child_errno, "exec %s", argv[0]);
	}
	*pid = c;
	return 0;
}

int cc_child_wait(pid_t *pid, int timeout_ms, int *status)
{
	if (*pid <= 0)
		return 1;
	int waited = 0, step = 1;
	for (;;) {
		int st;
		pid_t r = waitpid(*pid, &st, WNOHANG);
		if (r == *pid || (r < 0 && errno == ECHILD)) {
			if (status != NULL)
				*status = r == *pid ? st : 0;
			*pid = 0;
			return 1;
		}
		if (waited >= timeout_ms)
			return 0;
		sleep_ms(step);
		waited += step;
		if (step < 10)
			step++;
	}
}

void cc_child_stop(pid_t *pid, int grace_ms)
{
	if (*pid <= 0)
		return;
	if (cc_child_wait(pid, 0, NULL))
		return;
	kill(*pid, SIGTERM);
	if (cc_child_wait(pid, grace_ms, NULL))
		return;
	cc_warn("process %d ignored SIGTERM for %d ms; killing it", (int)*pid, grace_ms);
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}
