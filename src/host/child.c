#include "host/child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"

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

/* ---- the child side: only syscalls and stack buffers (the parent may have threads,
 * and a lock another thread held at fork stays held in the child) ---- */

struct spawn_args {
	char *const *argv;
	const char *log_path;
	const char *netns;
	const struct cc_jail *jail;
	pid_t parent;
	int err_fd; /* close-on-exec pipe: an errno written here means the spawn failed */
};

static void __attribute__((noreturn)) child_fail(int fd)
{
	int e = errno;
	(void)!write(fd, &e, sizeof(e));
	_exit(127);
}

/* mkdir -p of every parent of path (a buffer we may write). */
static void mkdir_parents(char *path)
{
	for (char *s = strchr(path + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
}

/* Makes host path src visible at the same path under the jail's root. A relative
 * symlink (the merged-/usr /lib -> usr/lib) is copied as a link; a character device
 * gets a node of its own owned by the jail's uid (as Firecracker's jailer does: the
 * host's node may be root's alone, without udev); anything else is bind-mounted. */
static int jail_bind(const struct cc_jail *j, const char *src, bool rw)
{
	const char *root = j->root;
	char dst[PATH_MAX], target[PATH_MAX];
	struct stat st;
	if ((size_t)snprintf(dst, sizeof(dst), "%s%s", root, src) >= sizeof(dst)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (lstat(src, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n > 0 && target[0] != '/') {
			target[n] = '\0';
			mkdir_parents(dst);
			return symlink(target, dst) < 0 && errno != EEXIST ? -1 : 0;
		}
	}
	if (stat(dst, &st) == 0) /* already visible through an earlier directory */
		return 0;
	if (stat(src, &st) < 0)
		return -1;
	mkdir_parents(dst);
	if (S_ISCHR(st.st_mode))
		return mknod(dst, S_IFCHR | (rw ? 0600 : 0400), st.st_rdev) < 0 ||
				       chown(dst, j->uid, j->gid) < 0
			       ? -1
			       : 0;
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(dst, 0755) < 0)
			return -1;
	} else {
		int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		close(fd);
	}
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -1;
	return mount(NULL, dst, NULL,
		     MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (rw ? 0 : MS_RDONLY), NULL);
}

/* Hands a persistent tap to the jail's ids: the kernel then lets them attach to it
 * without CAP_NET_ADMIN. */
static int tap_give(const char *name, uid_t uid, gid_t gid)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int rc = ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ||
				 ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0
			 ? -1
			 : 0;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int jail_enter(const struct cc_jail *j)
{
	char path[PATH_MAX];
	for (const char *const *c = j->cgroups; c != NULL && *c != NULL; c++) {
		int fd = open(*c, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			return -1;
		close(fd);
	}
	if (j->root == NULL)
		return 0;
	for (const char *const *t = j->taps; t != NULL && *t != NULL; t++)
		if (tap_give(*t, j->uid, j->gid) < 0)
			return -1;
	/* Nothing we mount here may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", j->root, "tmpfs", MS_NOSUID, "mode=0755,size=1m") < 0)
		return -1;
	for (const char *const *p = j->ro; p != NULL && *p != NULL; p++)
		if (jail_bind(j, *p, false) < 0)
			return -1;
	for (const char *const *p = j->rw; p != NULL && *p != NULL; p++)
		if (jail_bind(j, *p, true) < 0)
			return -1;
	/* Our own pid namespace's /proc: the VMM alone. */
	snprintf(path, sizeof(path), "%s/proc", j->root);
	if (mkdir(path, 0555) < 0 ||
	    mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/.old", j->root);
	if (mkdir(path, 0700) < 0 || syscall(SYS_pivot_root, j->root, path) < 0 || chdir("/") < 0 ||
	    umount2("/.old", MNT_DETACH) < 0 || rmdir("/.old") < 0)
		return -1;
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL) < 0)
		return -1;
	/* No capability can come back: empty bounding set, then a non-zero uid (which
	 * clears the permitted and effective sets), then no_new_privs. */
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -1;
	/* Raw system calls: glibc's wrappers would signal the parent's other threads, whose
	 * records a clone()d child still has, and wait for them forever. */
	if (syscall(SYS_setgroups, 0, NULL) < 0 ||
	    syscall(SYS_setresgid, j->gid, j->gid, j->gid) < 0 ||
	    syscall(SYS_setresuid, j->uid, j->uid, j->uid) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* Changing ids cleared the parent-death signal: the VMM must still die with us. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -1;
	return 0;
}

static int child_main(void *arg)
{
	const struct spawn_args *a = arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* In a new pid namespace the parent is outside it and getppid() says 0. */
	if ((a->jail == NULL || a->jail->root == NULL) && getppid() != a->parent)
		_exit(127);
	setpgid(0, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (a->netns != NULL) {
		int ns = open(a->netns, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
			child_fail(a->err_fd);
		close(ns);
	}
	int in = open("/dev/null", O_RDONLY);
	int out = a->log_path != NULL ? open(a->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600)
		  : a->jail != NULL   ? a->jail->log_fd
				      : -1;
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		child_fail(a->err_fd);
	if (a->jail != NULL && jail_enter(a->jail) < 0)
		child_fail(a->err_fd);
	for (size_t i = 0; a->jail != NULL && i < a->jail->n_fds; i++)
		if (fcntl(a->jail->fds[i], F_SETFD, 0) < 0)
			child_fail(a->err_fd);
	execv(a->argv[0], a->argv);
	child_fail(a->err_fd);
}

void cc_jail_ids(uid_t *uid, gid_t *gid)
{
	static unsigned counter;
	unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	/* pids stay below 2^22: ids in [0x60000000, 0x64000000), far above any account. */
	*uid = 0x60000000u + (((unsigned)getpid() & 0x3fffffu) << 4) + (n & 15u);
	*gid = *uid;
}

#define JAIL_STACK (256u << 10)

int cc_child_spawn_jail(char *const argv[], const char *log_path, const char *netns,
			const struct cc_jail *jail, pid_t *pid, struct cc_error *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cc_error_set(err, errno, "pipe");
	struct spawn_args a = { .argv = argv,
				.log_path = log_path,
				.netns = netns,
				.jail = jail,
				.parent = getpid(),
				.err_fd = p[1] };
	pid_t c;
	if (jail == NULL || jail->root == NULL) {
		c = fork();
		if (c == 0)
			_exit(child_main(&a));
	} else {
		/* clone, not fork: the child must be created in the new pid namespace to be
		 * its PID 1. Without CLONE_VM it gets a copy of our memory, as after fork. */
		char *stack = malloc(JAIL_STACK);
		c = stack == NULL ? -1
				  : clone(child_main, stack + JAIL_STACK,
					  CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, &a);
		if (stack == NULL)
			errno = ENOMEM;
		int e = errno;
		free(stack);
		errno = e;
	}
	close(p[1]);
	if (c < 0) {
		int e = errno;
		close(p[0]);
		return cc_error_set(err, e, "starting %s", argv[0]);
	}
	/* EOF on the pipe means exec worked. */
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

static void *log_pump_main(void *arg)
{
	struct cc_log_pump *p = arg;
	char buf[4096];
	size_t size = 0;
	for (;;) {
		ssize_t n = read(p->rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write(p->file, buf, (size_t)n) != n)
			continue; /* a full disk costs lines, never the writer */
		size += (size_t)n;
		if (size <= p->max)
			continue;
		/* Keep the newer half (file opened O_RDWR for this): the last lines say what
		 * happened. */
		size_t keep = p->max / 2;
		char *tail = malloc(keep);
		if (tail != NULL &&
		    pread(p->file, tail, keep, (off_t)(size - keep)) == (ssize_t)keep &&
		    ftruncate(p->file, 0) == 0 && write(p->file, tail, keep) == (ssize_t)keep)
			size = keep;
		free(tail);
	}
	return NULL;
}

int cc_log_pump_start(struct cc_log_pump *p, const char *path, size_t max, struct cc_error *err)
{
	int sv[2];
	*p = (struct cc_log_pump){ .wr = -1, .rd = -1, .file = -1, .max = max };
	p->file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (p->file < 0)
		return cc_error_set(err, errno, "create %s", path);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cc_error_set(err, errno, "log socket for %s", path);
	p->rd = sv[0];
	p->wr = sv[1];
	int rc = pthread_create(&p->thread, NULL, log_pump_main, p);
	if (rc != 0)
		return cc_error_set(err, rc, "starting the log thread for %s", path);
	p->started = true;
	return 0;
}

void cc_log_pump_detach(struct cc_log_pump *p)
{
	if (p->wr >= 0)
		close(p->wr);
	p->wr = -1;
}

void cc_log_pump_stop(struct cc_log_pump *p)
{
	cc_log_pump_detach(p);
	if (p->started)
		pthread_join(p->thread, NULL);
	p->started = false;
	if (p->rd >= 0)
		close(p->rd);
	if (p->file >= 0)
		close(p->file);
	p->rd = p->file = -1;
}
