/* Sandbox templates: keys, the store under the state root, the background maker. See
 * template.h and docs/vmm.md "Templates in the product". */
#include "host/template.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/magic.h>
#include <net/if.h>
#include <net/if_arp.h>

#include "host/child.h"
#include "host/config.h"
#include "host/host_cgroup.h"
#include "shared/log.h"
#include "host/sandbox.h"
#include "shared/ttrpc.h"
#include "shared/util.h"

#define STATE_FILE "vm.state"
#define MEMORY_FILE "memory"
#define KEY_FILE "key"
#define MAKER_ID_PREFIX "template-"

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/* A file's identity: a new build or package of it changes one of these. */
static int file_id(const char *what, const char *path, char *out, size_t len, struct cc_error *err)
{
	struct stat st;
	if (path == NULL || stat(path, &st) < 0)
		return cc_error_set(err, path ? errno : ENOENT, "template key: %s %s", what,
				    path ? path : "(none)");
	snprintf(out, len, "%s %s dev=%llu ino=%llu size=%lld mtime=%lld.%09ld\n", what, path,
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return 0;
}

int template_key(const struct sandbox_config *cfg, unsigned n_nics, struct template_key *k,
		 struct cc_error *err)
{
	char vmm[PATH_MAX], kern[PATH_MAX + 128], ird[PATH_MAX + 128], bin[PATH_MAX + 128];
	struct vm_config vc = { .vmm_binary = cfg->vmm_binary };
	if (hv_cocoon_vmm_binary(&vc, vmm, sizeof(vmm), err) < 0 ||
	    file_id("kernel", cfg->kernel, kern, sizeof(kern), err) < 0 ||
	    file_id("initrd", cfg->initrd, ird, sizeof(ird), err) < 0 ||
	    file_id("vmm", vmm, bin, sizeof(bin), err) < 0)
		return -1;
	snprintf(k->shape, sizeof(k->shape), "c%u-m%llu-n%u-", cfg->cpus,
		 (unsigned long long)cfg->memory_mib, n_nics);
	if ((size_t)snprintf(k->desc, sizeof(k->desc),
			     "cocoon template 1\n%s%s%scpus %u\nmemory_mib %llu\nnics %u\n"
			     "devices vsock fs net*%u\ncmdline %s%s\n",
			     kern, ird, bin, cfg->cpus, (unsigned long long)cfg->memory_mib, n_nics,
			     n_nics, cfg->debug ? "debug " : "",
			     cfg->extra_cmdline ? cfg->extra_cmdline : "") >= sizeof(k->desc))
		return cc_error_set(err, ENAMETOOLONG, "template key");
	snprintf(k->name, sizeof(k->name), "%s%016llx", k->shape,
		 (unsigned long long)fnv1a(k->desc));
	return 0;
}

static int templates_dir(const char *state_root, char *out, size_t len, struct cc_error *err)
{
	if ((size_t)snprintf(out, len, "%s/" TEMPLATE_DIR, state_root) >= len)
		return cc_error_set(err, ENAMETOOLONG, "state dir %s", state_root);
	return 0;
}

/* A root-only file or directory of the given kind, never a link. */
static int check_private(int fd, mode_t kind, const char *name, struct cc_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cc_error_set(err, errno, "%s", name);
	if ((st.st_mode & S_IFMT) != kind)
		return cc_error_set(err, 0, "%s is not a %s", name,
				    kind == S_IFDIR ? "directory" : "regular file");
	if (st.st_uid != 0 || (st.st_mode & 077) != 0)
		return cc_error_set(err, 0, "%s is not root-only (owner %u, mode %03o)", name,
				    (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
	return 0;
}

int template_open(const char *state_root, const struct template_key *k, int *state_fd,
		  int *memory_fd, struct cc_error *err)
{
	char dir[PATH_MAX];
	if (templates_dir(state_root, dir, sizeof(dir), err) < 0)
		return -1;
	size_t n = strlen(dir);
	snprintf(dir + n, sizeof(dir) - n, "/%s", k->name);
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 1;
		return cc_error_set(err, errno, "template %s", dir);
	}
	if (check_private(dfd, S_IFDIR, dir, err) < 0)
		return -1;
	static const char *const names[] = { KEY_FILE, STATE_FILE, MEMORY_FILE };
	int fds[3] = { -1, -1, -1 };
	for (int i = 0; i < 3; i++) {
		fds[i] = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fds[i] < 0)
			cc_error_set(err, errno, "template %s/%s", dir, names[i]);
		else if (check_private(fds[i], S_IFREG, names[i], err) < 0)
			cc_error_prefix(err, "template %s", dir);
		else
			continue;
		goto fail;
	}
	/* The hash names the key; the key file says it is this one, not a collision or a
	 * template of another build copied here. */
	char key[sizeof(k->desc) + 1];
	ssize_t got = pread(fds[0], key, sizeof(key), 0);
	if (got < 0 || (size_t)got != strlen(k->desc) || memcmp(key, k->desc, (size_t)got) != 0) {
		cc_error_set(err, 0, "template %s: its key file is not this sandbox's key", dir);
		goto fail;
	}
	close(fds[0]);
	*state_fd = fds[1];
	*memory_fd = fds[2];
	return 0;
fail:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return -1;
}

/* Removes a template directory under its spares lock: a filler writing a spare in it
 * finishes first, and one that takes the lock after sees the directory gone. */
static int remove_template_dir(const char *path, struct cc_error *err)
{
	cleanup_close int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int lfd = dfd < 0 ? -1
					: openat(dfd, TEMPLATE_SPARE_LOCK,
						 O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lfd >= 0)
		flock(lfd, LOCK_EX);
	return cc_rm_rf(path, err);
}

void template_discard(const char *state_root, const struct template_key *k)
{
	char path[PATH_MAX];
	struct cc_error err;
	if (templates_dir(state_root, path, sizeof(path), &err) < 0)
		return;
	size_t n = strlen(path);
	snprintf(path + n, sizeof(path) - n, "/%s", k->name);
	if (remove_template_dir(path, &err) < 0)
		cc_warn("removing template %s: %s", path, err.msg);
}

/* Runs argv[0] detached (its own session, reparented to init) so it outlives a `cocoon
 * run true`, stdout and stderr appended to log; only async-signal-safe calls between
 * fork and exec (the shim has threads). */
static int spawn_detached(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

void template_spawn_maker(const struct sandbox_config *cfg, unsigned n_nics)
{
	char prefix[PATH_MAX], cocoon[PATH_MAX + 16], tdir[PATH_MAX], log[PATH_MAX + 96];
	struct cc_error err;
	if (cc_install_prefix(prefix, sizeof(prefix), &err) < 0 ||
	    templates_dir(cfg->state_root, tdir, sizeof(tdir), &err) < 0 ||
	    cc_mkdir_p(tdir, 0700, &err) < 0) {
		cc_warn("templates: %s", err.msg);
		return;
	}
	snprintf(cocoon, sizeof(cocoon), "%s/bin/cocoon", prefix);
	snprintf(log, sizeof(log), "%s/maker.log", tdir);
	char *argv[32];
	size_t n = 0;
	char cpus[16], mem[32], nics[16], timeout[16], spares[16];
	snprintf(cpus, sizeof(cpus), "%u", cfg->cpus);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)cfg->memory_mib);
	snprintf(nics, sizeof(nics), "%u", n_nics);
	snprintf(timeout, sizeof(timeout), "%d", cfg->boot_timeout_ms);
	snprintf(spares, sizeof(spares), "%u", cfg->template_spares);
	argv[n++] = cocoon;
	argv[n++] = "template-make";
	argv[n++] = "--state-dir";
	argv[n++] = (char *)cfg->state_root;
	argv[n++] = "--kernel";
	argv[n++] = (char *)cfg->kernel;
	argv[n++] = "--initrd";
	argv[n++] = (char *)cfg->initrd;
	argv[n++] = "--virtiofsd";
	argv[n++] = (char *)cfg->virtiofsd;
	argv[n++] = "--cpus";
	argv[n++] = cpus;
	argv[n++] = "--memory";
	argv[n++] = mem;
	argv[n++] = "--nics";
	argv[n++] = nics;
	argv[n++] = "--timeout-ms";
	argv[n++] = timeout;
	argv[n++] = "--spares";
	argv[n++] = spares;
	if (cfg->vmm_binary != NULL) {
		argv[n++] = "--vmm";
		argv[n++] = (char *)cfg->vmm_binary;
	}
	if (cfg->extra_cmdline != NULL) {
		argv[n++] = "--cmdline";
		argv[n++] = (char *)cfg->extra_cmdline;
	}
	if (cfg->debug)
		argv[n++] = "--debug";
	argv[n] = NULL;
	if (spawn_detached(argv, log) < 0) {
		cc_warn("templates: fork: %s", strerror(errno));
		return;
	}
	cc_info("templates: making %s in the background (%s)", cfg->state_root, log);
}

/* ---- the maker ---- */

/* No maker of template `name` runs: ours (we hold its lock), or a template's name
 * whose lock is free. Anything else (a container a user named template-...) is left. */
static bool maker_gone(const char *tdir, const char *name, const struct template_key *k)
{
	if (strcmp(name, k->name) == 0)
		return true;
	unsigned cpus, nics;
	unsigned long long mib;
	int at = -1;
	if (sscanf(name, "c%u-m%llu-n%u-%n", &cpus, &mib, &nics, &at) != 3 || at < 0 ||
	    strlen(name + at) != 16 || strspn(name + at, "0123456789abcdef") != 16)
		return false;
	char lock[PATH_MAX + NAME_MAX + 8];
	snprintf(lock, sizeof(lock), "%s/%s.lock", tdir, name);
	cleanup_close int fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	return flock(fd, LOCK_EX | LOCK_NB) == 0; /* released when fd closes */
}

static void remove_debris_at(const char *path)
{
	struct cc_error err;
	cc_info("templates: removing %s, left by a maker that died", path);
	if (cc_rm_rf(path, &err) < 0)
		cc_warn("templates: %s", err.msg);
}

/* What makers that died left: their sandboxes (<state_root>/template-<name>, with its
 * host cgroup) and their unfinished templates (templates/.tmp-<name>-<pid>). A maker
 * holds its template's lock as long as it lives, so what belongs to a name whose lock
 * is free (or ours) is nobody's. Its VMM and virtiofsd died with it (parent-death
 * signal). */
static void remove_debris(const char *state_root, const char *tdir, const struct template_key *k)
{
	const char *const where[] = { state_root, tdir };
	for (size_t i = 0; i < CC_ARRAY_SIZE(where); i++) {
		const char *dir = where[i];
		const char *prefix = i == 0 ? MAKER_ID_PREFIX : ".tmp-";
		DIR *d = opendir(dir);
		if (d == NULL)
			continue;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
				continue;
			char name[NAME_MAX + 1];
			snprintf(name, sizeof(name), "%s", e->d_name + strlen(prefix));
			char *pid = strrchr(name, '-');
			if (i == 1 && pid != NULL) /* .tmp-<name>-<pid> */
				*pid = '\0';
			if (!maker_gone(tdir, name, k))
				continue;
			char path[PATH_MAX + 256];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (i == 0)
				host_cgroup_remove(path);
			remove_debris_at(path);
		}
		closedir(d);
	}
}

/* Templates of the same shape with another hash: made for an older kernel, initrd or
 * VMM; and their lock files, unless a maker still holds one (never our own). */
static void remove_stale(const char *tdir, const struct template_key *k)
{
	cleanup_close int dfd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dup(dfd));
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char name[NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s", e->d_name);
		size_t n = strlen(name);
		bool lock = n > 5 && strcmp(name + n - 5, ".lock") == 0;
		if (lock)
			name[n - 5] = '\0';
		if (strncmp(name, k->shape, strlen(k->shape)) != 0 || strcmp(name, k->name) == 0 ||
		    (lock && !maker_gone(tdir, name, k)))
			continue;
		char path[PATH_MAX + 256];
		struct cc_error err;
		snprintf(path, sizeof(path), "%s/%s", tdir, e->d_name);
		cc_info("templates: removing %s (its key changed)", path);
		if ((lock ? cc_rm_rf(path, &err) : remove_template_dir(path, &err)) < 0)
			cc_warn("templates: %s", err.msg);
	}
	closedir(d);
}

/* NICs for the template: taps with known MACs in a network namespace of its own (the
 * template must have the pod's device set, not its network), held by a child until
 * *holder is killed; *path names it for pod_net. Taps, not dummy links: loading the
 * dummy module makes a dummy0 in the host's own namespace, which would outlive us. */
static int make_nics(unsigned n, pid_t *holder, char *path, size_t len, struct cc_error *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cc_error_set(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return cc_error_set(err, errno, "fork");
	if (pid == 0) {
		close(p[0]);
		/* Dies with the maker, even a maker that crashed. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || unshare(CLONE_NEWNET) < 0)
			_exit(1);
		/* Each tap lives while this child holds its fd. */
		for (unsigned i = 0; i < n; i++) {
			uint8_t mac[6] = TEMPLATE_MAC(i);
			struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth%u", i);
			int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
			if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
				_exit(1);
			ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
			memcpy(ifr.ifr_hwaddr.sa_data, mac, sizeof(mac));
			if (ioctl(fd, SIOCSIFHWADDR, &ifr) < 0)
				_exit(1);
		}
		char ok = 1;
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	char ok = 0;
	ssize_t r = read(p[0], &ok, 1);
	close(p[0]);
	*holder = pid;
	if (r != 1 || ok != 1)
		return cc_error_set(err, 0, "creating %u taps for the template's NICs", n);
	snprintf(path, len, "/proc/%d/ns/net", (int)pid);
	return 0;
}

/* Moves the VMM's two files into tmp as root's, 0600: the VMM (its own uid) wrote them. */
static int adopt(const char *from_dir, int tmpfd, const char *name, struct cc_error *err)
{
	cleanup_close int from = open(from_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (from < 0)
		return cc_error_set(err, errno, "%s", from_dir);
	cleanup_close int fd = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cc_error_set(err, errno, "%s/%s", from_dir, name);
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		return cc_error_set(err, 0, "%s/%s is not a plain file", from_dir, name);
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0)
		return cc_error_set(err, errno, "%s/%s", from_dir, name);
	if (renameat(from, name, tmpfd, name) < 0)
		return cc_error_set(err, errno, "moving %s/%s", from_dir, name);
	return 0;
}

int template_make(const struct sandbox_config *in, unsigned n_nics, struct cc_error *err)
{
	struct template_key k;
	char tdir[PATH_MAX], lock[PATH_MAX + 128], final[PATH_MAX + 128], tmp[PATH_MAX + 128];
	if (template_key(in, n_nics, &k, err) < 0 ||
	    templates_dir(in->state_root, tdir, sizeof(tdir), err) < 0 ||
	    cc_mkdir_p(tdir, 0700, err) < 0)
		return -1;
	snprintf(lock, sizeof(lock), "%s/%s.lock", tdir, k.name);
	snprintf(final, sizeof(final), "%s/%s", tdir, k.name);
	cleanup_close int lfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lfd < 0)
		return cc_error_set(err, errno, "%s", lock);
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		cc_info("templates: %s is being made by another process", k.name);
		return 0;
	}
	remove_debris(in->state_root, tdir, &k);
	struct stat st;
	if (lstat(final, &st) == 0) {
		cc_info("templates: %s exists", k.name);
		return 0;
	}
	/* Out of the cgroup we were started in (a pod's, which its teardown removes: a pod
	 * removed while its template boots would find it busy) into one of Cocoon's own,
	 * with the netns holder we start; the template VM's VMM and virtiofsd go to its
	 * sandbox's cgroup, as any sandbox's. One maker per template at a time (the lock):
	 * what a dead one left under this name is removed first. */
	char cgname[PATH_MAX + 160];
	snprintf(cgname, sizeof(cgname), "%s/%s-maker", tdir, k.name);
	host_cgroup_remove(cgname);
	struct host_cgroup_limits lim = { 0 };
	__attribute__((cleanup(host_cgroup_destroy))) struct host_cgroup cg = { 0 };
	if (host_cgroup_create(cgname, &lim, &cg, err) < 0 || host_cgroup_join_self(&cg, err) < 0)
		return cc_error_prefix(err, "the maker's cgroup");
	pid_t holder = 0;
	char netns[64];
	if (n_nics > 0 && make_nics(n_nics, &holder, netns, sizeof(netns), err) < 0) {
		cc_child_stop(&holder, 1000);
		return -1;
	}
	struct sandbox_config cfg = *in;
	/* Named after the template, not the process: the next maker (under the lock) knows
	 * a sandbox of this name is a dead maker's. */
	char id[sizeof(k.name) + 16];
	snprintf(id, sizeof(id), MAKER_ID_PREFIX "%s", k.name);
	cfg.id = id;
	cfg.make_template = true;
	cfg.use_template = false;
	cfg.netns = n_nics > 0 ? netns : NULL;
	struct sandbox *sb;
	uint64_t t0 = cc_now_ns();
	if (sandbox_start(&cfg, &sb, err) < 0) {
		cc_child_stop(&holder, 1000);
		return cc_error_prefix(err, "booting the template VM");
	}
	uint64_t booted = cc_now_ns();
	char saved[PATH_MAX];
	int rc = sb->vm.ops->snapshot == NULL
			 ? cc_error_set(err, 0, "%s cannot save a VM", sb->vm.ops->name)
			 : sb->vm.ops->snapshot(&sb->vm, saved, sizeof(saved), cfg.boot_timeout_ms,
						err);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%d", tdir, k.name, (int)getpid());
	cleanup_close int tmpfd = -1;
	if (rc == 0) {
		if (mkdir(tmp, 0700) < 0 ||
		    (tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			rc = cc_error_set(err, errno, "%s", tmp);
	}
	if (rc == 0 &&
	    (adopt(saved, tmpfd, MEMORY_FILE, err) < 0 || adopt(saved, tmpfd, STATE_FILE, err) < 0))
		rc = -1;
	struct cc_error e2;
	/* The saved VM stays paused: no Shutdown for its agent, the VMM is stopped. */
	ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	sandbox_destroy(sb, &e2);
	cc_child_stop(&holder, 1000);
	if (rc == 0) {
		char kpath[PATH_MAX + 200];
		snprintf(kpath, sizeof(kpath), "%s/" KEY_FILE, tmp);
		if (cc_write_file(kpath, k.desc, strlen(k.desc), 0600, err) < 0)
			rc = -1;
		else if (fsync(tmpfd) < 0 || rename(tmp, final) < 0)
			rc = cc_error_set(err, errno, "rename %s", tmp);
	}
	if (rc < 0) {
		cc_rm_rf(tmp, &e2);
		return rc;
	}
	remove_stale(tdir, &k);
	cc_info("templates: made %s (boot %.0f ms, save %.0f ms)", final,
		(double)(booted - t0) / 1e6, (double)(cc_now_ns() - booted) / 1e6);
	/* Still in the background: the first restores find a spare. */
	if (in->template_spares > 0)
		template_fill_spares(in->state_root, k.name, in->template_spares);
	return 0;
}

/* ---- spares ---- */

bool template_spares_here(const char *state_root)
{
	struct statfs fs;
	return statfs(state_root, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

bool template_spare_name(const char *name)
{
	const char *p = name + strlen(TEMPLATE_SPARE_PREFIX);
	if (strncmp(name, TEMPLATE_SPARE_PREFIX, strlen(TEMPLATE_SPARE_PREFIX)) != 0)
		return false;
	size_t a = strspn(p, "0123456789");
	if (a == 0 || a > 10 || p[a] != '-')
		return false;
	size_t b = strspn(p + a + 1, "0123456789");
	return b > 0 && b <= 20 && p[a + 1 + b] == '\0';
}

/* A listing of dirfd from its start, on a dup (closedir closes that, not dirfd). */
static DIR *list_dir(int dirfd)
{
	cleanup_close int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL)
		return NULL;
	fd = -1;      /* the DIR has it */
	rewinddir(d); /* a dup shares the offset of the last listing */
	return d;
}

int template_spare_claim(int tdirfd, int sbdirfd, const char *as, uint64_t size, int *fd,
			 struct cc_error *err)
{
	DIR *d = list_dir(tdirfd);
	if (d == NULL)
		return cc_error_set(err, errno, "listing the template's spares");
	int rc = 1;
	struct dirent *e;
	while (rc == 1 && (e = readdir(d)) != NULL) {
		if (!template_spare_name(e->d_name))
			continue;
		/* Another restore renamed it first: the next one. */
		if (renameat(tdirfd, e->d_name, sbdirfd, as) < 0) {
			if (errno == ENOENT)
				continue;
			rc = cc_error_set(err, errno, "claiming spare %s", e->d_name);
			break;
		}
		cleanup_close int f = openat(sbdirfd, as, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (f < 0)
			rc = cc_error_set(err, errno, "opening spare %s", e->d_name);
		else if (check_private(f, S_IFREG, e->d_name, err) < 0)
			rc = -1;
		else if (fstat(f, &st) < 0 || (uint64_t)st.st_size != size)
			rc = cc_error_set(
				err, 0, "spare %s: %lld bytes, the template's RAM is %llu",
				e->d_name, (long long)st.st_size, (unsigned long long)size);
		else {
			*fd = cc_steal_fd(&f);
			rc = 0;
		}
		unlinkat(sbdirfd, as, 0);
	}
	closedir(d);
	return rc;
}

int template_take_spare(const char *state_root, const struct template_key *k, const char *sb_dir,
			int memory_fd, int *fd, struct cc_error *err)
{
	char dir[PATH_MAX];
	struct stat st;
	if (templates_dir(state_root, dir, sizeof(dir), err) < 0)
		return -1;
	size_t n = strlen(dir);
	snprintf(dir + n, sizeof(dir) - n, "/%s", k->name);
	cleanup_close int tfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int sfd = open(sb_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0 || sfd < 0 || fstat(memory_fd, &st) < 0)
		return cc_error_set(err, errno, "%s", tfd < 0 ? dir : sb_dir);
	return template_spare_claim(tfd, sfd, "ram", (uint64_t)st.st_size, fd, err);
}

/* The scheduling class of this process: the copy is ahead of need and must not slow a
 * sandbox that starts meanwhile (in the lab a filler at normal priority doubled the
 * create and start times of the container whose restore started it), but the spares
 * lock is held at normal priority, never by a process that may wait for a CPU. */
static void idle_priority(bool idle)
{
	if (sched_setscheduler(0, idle ? SCHED_IDLE : SCHED_OTHER, &(struct sched_param){ 0 }) < 0)
		cc_debug("templates: scheduling class: %s", strerror(errno));
}

int template_spare_fill(int tdirfd, int lockfd, int memfd, uint64_t *pages, struct cc_error *err)
{
	char tmp[64], name[64];
	static unsigned seq;
	struct stat st;
	if (fstat(memfd, &st) < 0)
		return cc_error_set(err, errno, "template memory");
	snprintf(tmp, sizeof(tmp), ".%s%d", TEMPLATE_SPARE_PREFIX, (int)getpid());
	snprintf(name, sizeof(name), TEMPLATE_SPARE_PREFIX "%d-%llu", (int)getpid(),
		 (unsigned long long)(cc_now_ns() / 1000 + seq++));
	cleanup_close int fd =
		openat(tdirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cc_error_set(err, errno, "creating spare %s", tmp);
	/* Held while it is written: a filler that finds it locked counts it as coming, one
	 * that finds it free removes it as a dead filler's. */
	int rc = flock(fd, LOCK_EX) < 0 ? cc_error_set(err, errno, "locking spare %s", tmp) : 0;
	if (rc == 0 && ftruncate(fd, st.st_size) < 0)
		rc = cc_error_set(err, errno, "sizing spare %s", tmp);
	/* The copy without the spares lock: a restore's discard of the template never
	 * waits for it (its tmp file is removed with the rest, and the rename below fails). */
	if (lockfd >= 0) {
		flock(lockfd, LOCK_UN);
		idle_priority(true);
	}
	/* Data extents only, as a restore copies: a hole stays a hole (no page). */
	if (rc == 0 && cc_copy_extents(fd, memfd, (uint64_t)st.st_size, pages, err) < 0)
		rc = cc_error_prefix(err, "writing spare %s", tmp);
	struct stat dst;
	if (lockfd >= 0) {
		idle_priority(false);
		if (flock(lockfd, LOCK_EX) < 0 && rc == 0)
			rc = cc_error_set(err, errno, "locking the spares");
		if (rc == 0 && fstat(tdirfd, &dst) == 0 && dst.st_nlink == 0)
			rc = cc_error_set(err, 0, "the template was removed");
	}
	if (rc == 0 && renameat(tdirfd, tmp, tdirfd, name) < 0)
		rc = cc_error_set(err, errno, "naming spare %s", name);
	if (rc < 0)
		unlinkat(tdirfd, tmp, 0);
	return rc;
}

unsigned template_spare_count(int tdirfd)
{
	DIR *d = list_dir(tdirfd);
	if (d == NULL)
		return 0;
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (template_spare_name(e->d_name))
			n++;
		else if (strncmp(e->d_name, "." TEMPLATE_SPARE_PREFIX,
				 strlen("." TEMPLATE_SPARE_PREFIX)) == 0) {
			cleanup_close int fd =
				openat(tdirfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
				n++;
				continue;
			}
			cc_info("templates: removing %s, left by a filler that died", e->d_name);
			unlinkat(tdirfd, e->d_name, 0);
		}
	}
	closedir(d);
	return n;
}

void template_fill_spares(const char *state_root, const char *name, unsigned spares)
{
	char dir[PATH_MAX], tdir[PATH_MAX], cgname[PATH_MAX + 32];
	struct cc_error err;
	if (templates_dir(state_root, tdir, sizeof(tdir), &err) < 0 ||
	    (size_t)snprintf(dir, sizeof(dir), "%s/%s", tdir, name) >= sizeof(dir)) {
		cc_warn("templates: spares of %s: name too long", name);
		return;
	}
	if (!template_spares_here(state_root)) {
		cc_info("templates: no spares for %s: %s is not on a memory filesystem (tmpfs)",
			name, state_root);
		return;
	}
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int mfd =
		dfd < 0 ? -1 : openat(dfd, MEMORY_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (mfd < 0 || fstat(mfd, &st) < 0) {
		cc_info("templates: no spares for %s: %s", dir, strerror(errno));
		return;
	}
	/* First of all out of the cgroup we were started in (a pod's, which its teardown
	 * removes) into one of Cocoon's own, of this filler alone (fillers of one template
	 * wait for each other in theirs): the spare's pages are charged there, not to the
	 * pod whose restore started us, at most `spares` copies of the template's touched
	 * pages. */
	char dead[PATH_MAX + 16];
	snprintf(dead, sizeof(dead), "%s-spares-", dir);
	host_cgroup_remove_dead(dead); /* of fillers killed before they removed theirs */
	snprintf(cgname, sizeof(cgname), "%s-spares-%d", dir, (int)getpid());
	struct host_cgroup cg;
	struct host_cgroup_limits lim = {
		.memory_mib = ((uint64_t)st.st_size >> 20) * spares,
	};
	if (host_cgroup_create(cgname, &lim, &cg, &err) < 0 ||
	    host_cgroup_join_self(&cg, &err) < 0) {
		cc_warn("templates: no spares for %s: %s", name, err.msg);
		host_cgroup_destroy(&cg);
		return;
	}
	/* Each filler counts (whole spares and those being written) under the lock and
	 * starts a spare there, so several never make more than `spares`, and spares
	 * claimed meanwhile are made up for; the copy runs without it. */
	cleanup_close int lfd =
		openat(dfd, TEMPLATE_SPARE_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat dst;
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0 || fstat(dfd, &dst) < 0 || dst.st_nlink == 0)
		goto out; /* discarded or replaced while we waited */
	for (unsigned have = template_spare_count(dfd); have < spares;
	     have = template_spare_count(dfd)) {
		uint64_t pages, t0 = cc_now_ns();
		if (template_spare_fill(dfd, lfd, mfd, &pages, &err) < 0) {
			cc_warn("templates: spare of %s: %s", name, err.msg);
			break;
		}
		cc_info("templates: spare %u of %s filled (%llu pages in %.0f ms)", have + 1, name,
			(unsigned long long)pages, (double)(cc_now_ns() - t0) / 1e6);
	}
out:
	host_cgroup_destroy(&cg);
}

void template_spawn_filler(const char *state_root, const char *name, unsigned spares)
{
	char prefix[PATH_MAX], cocoon[PATH_MAX + 16], tdir[PATH_MAX], log[PATH_MAX + 96];
	char n[16];
	struct cc_error err;
	if (cc_install_prefix(prefix, sizeof(prefix), &err) < 0 ||
	    templates_dir(state_root, tdir, sizeof(tdir), &err) < 0) {
		cc_warn("templates: %s", err.msg);
		return;
	}
	snprintf(cocoon, sizeof(cocoon), "%s/bin/cocoon", prefix);
	snprintf(log, sizeof(log), "%s/maker.log", tdir);
	snprintf(n, sizeof(n), "%u", spares);
	char *argv[] = { cocoon,       "template-spare", "--state-dir", (char *)state_root,
			 "--template", (char *)name,	 "--spares",	n,
			 NULL };
	if (spawn_detached(argv, log) < 0)
		cc_warn("templates: fork: %s", strerror(errno));
}
