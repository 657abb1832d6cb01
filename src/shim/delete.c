/* `delete`: containerd's cleanup after a shim died (killed, crashed). The pod's mounts
 * lived in the dead shim's private mount namespace and are gone with it; what can
 * outlive it are the VMM and virtiofsd (found by their command lines, which name the
 * sandbox state dir) and the state dir and socket. Prints a DeleteResponse. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host_cgroup.h"
#include "shared/log.h"
#include "host/sandbox.h"
#include "shared/util.h"
#include "shim/shim.h"
#include "shim/spec.h"

static bool cmdline_mentions(pid_t pid, const char *needle)
{
	char path[64];
	cleanup_free char *text = NULL;
	size_t len = 0;
	struct cc_error err = { 0 };

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (cc_read_file(path, 1 << 20, &text, &len, &err) < 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] == 0)
			text[i] = ' ';
	return strstr(text, needle) != NULL;
}

/* SIGKILLs every process whose command line names dir, and waits until they are gone. */
static void kill_users_of(const char *dir)
{
	cleanup_free char *needle = cc_strdup_printf("%s/", dir);

	if (!needle)
		return;
	for (int round = 0; round < 50; round++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		int found = 0;

		if (!d)
			return;
		while ((de = readdir(d))) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			pid_t pid = (pid_t)atoi(de->d_name);
			if (pid == getpid() || !cmdline_mentions(pid, needle))
				continue;
			if (round == 0)
				cc_info("killing %d, left behind in %s", (int)pid, dir);
			kill(pid, SIGKILL);
			found++;
		}
		closedir(d);
		if (!found)
			return;
		struct timespec ts = { 0, 40 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static bool shim_alive(const struct shim_args *args, const char *bundle)
{
	char group[256], address[256];
	struct sockaddr_un sa;
	struct cc_error err = { 0 };

	if (shim_spec_group(bundle, args->id, group, sizeof(group), &err) < 0 ||
	    shim_socket_address(args, group, address, sizeof(address), &err) < 0 ||
	    shim_sockaddr(address, &sa, &err) < 0)
		return false;
	/* containerd runs us as soon as the shim's connection drops: its listener may
	 * still be there. */
	bool up = shim_listening(&sa, 300);
	if (!up)
		unlink(sa.sun_path);
	return up;
}

/* The bundle's state file names what delete kills and removes, so it must name a sandbox
 * state dir of this pod: an absolute path without "." or ".." components, a directory
 * (not a link) owned by us, whose last component is the pod id and whose id file (written
 * by sandbox_start) says the same. Anything else is refused, untouched. */
static int check_state_dir(const char *state, const char *group, struct cc_error *err)
{
	const char *base = strrchr(state, '/');
	struct stat st;
	cleanup_free char *marker = NULL, *id = NULL;
	size_t len = 0;

	if (state[0] != '/' || !base || base == state)
		return cc_error_set(err, 0, "not an absolute path below a state directory");
	for (const char *c = state; c; c = strchr(c + 1, '/'))
		if (strncmp(c, "//", 2) == 0 || strncmp(c, "/./", 3) == 0 ||
		    strncmp(c, "/../", 4) == 0 || strcmp(c, "/.") == 0 || strcmp(c, "/..") == 0)
			return cc_error_set(err, 0, "it has empty, '.' or '..' components");
	if (strcmp(base + 1, group) != 0)
		return cc_error_set(err, 0, "it does not name pod %s", group);
	if (lstat(state, &st) < 0)
		return cc_error_set(err, errno, "stat");
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return cc_error_set(err, 0, "not a directory owned by uid %d", (int)geteuid());
	marker = cc_strdup_printf("%s/%s", state, SANDBOX_ID_FILE);
	if (!marker || cc_read_file(marker, 256, &id, &len, err) < 0 || strcmp(id, group) != 0)
		return cc_error_set(err, 0, "it has no %s naming pod %s", SANDBOX_ID_FILE, group);
	return 0;
}

int shim_delete(const struct shim_args *args, struct cc_error *err)
{
	char cwd[PATH_MAX];
	const char *bundle = args->bundle;
	cleanup_free char *link = NULL, *state = NULL;
	size_t len = 0;
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint8_t buf[64];

	if (!bundle) {
		if (!getcwd(cwd, sizeof(cwd)))
			return cc_error_set(err, errno, "getcwd");
		bundle = cwd;
	}
	link = cc_strdup_printf("%s/%s", bundle, SHIM_STATE_LINK);
	if (!link)
		return cc_error_set(err, ENOMEM, "delete");
	/* A live pod shim (another container's delete failed) still owns the VM. */
	if (!shim_alive(args, bundle) && cc_read_file(link, PATH_MAX, &state, &len, err) == 0) {
		char group[256];
		state[strcspn(state, "\n")] = 0;
		if (shim_spec_group(bundle, args->id, group, sizeof(group), err) < 0 ||
		    check_state_dir(state, group, err) < 0)
			return cc_error_prefix(err, "%s: refusing state path '%s'", link, state);
		kill_users_of(state);
		/* Retried: processes killed a moment ago may still be tearing down. */
		for (int i = 0; i < 20 && access(state, F_OK) == 0; i++) {
			if (cc_rm_rf(state, err) < 0)
				cc_warn("removing %s: %s", state, err->msg);
			if (access(state, F_OK) == 0)
				usleep(100 * 1000);
		}
		host_cgroup_remove(state);
	}
	unlink(link);
	cc_error_clear(err);

	resp.exit_status = 128 + SIGKILL;
	shim_timestamp(&ts, cc_clock_ns(CLOCK_REALTIME));
	resp.exited_at = &ts;
	size_t n = protobuf_c_message_pack(&resp.base, buf);
	if (cc_write_all(STDOUT_FILENO, buf, n, err) < 0)
		return -1;
	return 0;
}
