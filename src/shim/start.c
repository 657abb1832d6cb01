/* `start`: print the address of the shim that serves this container. Containers of one
 * CRI pod share a shim (and its VM), so the socket is named after the pod's sandbox id;
 * if that shim already listens we only print its address. Otherwise the daemon is
 * started detached (own session, stdio on /dev/null, the socket on fd 3) so containerd's
 * pipes close when this process exits. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "shared/log.h"
#include "shared/util.h"
#include "shim/shim.h"
#include "shim/spec.h"

/* Hex SHA-256, as containerd's own shims name their sockets: a fixed length keeps the
 * path under the 108-byte unix socket limit. */
static int sha256_hex(const char *data, char out[65], struct cc_error *err)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	if (!SHA256((const unsigned char *)data, strlen(data), md))
		return cc_error_set(err, 0, "sha256 failed");
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int shim_socket_address(const struct shim_args *args, const char *group, char *out, size_t len,
			struct cc_error *err)
{
	cleanup_free char *key = cc_strdup_printf("%s/%s/%s", args->address, args->ns, group);
	char hex[65];
	int n;

	if (!key)
		return cc_error_set(err, ENOMEM, "socket address");
	if (sha256_hex(key, hex, err) < 0)
		return -1;
	n = snprintf(out, len, "unix://%s/%s", SHIM_SOCKET_DIR, hex);
	if (n < 0 || (size_t)n >= len)
		return cc_error_set(err, 0, "socket address too long");
	return 0;
}

int shim_sockaddr(const char *address, struct sockaddr_un *sa, struct cc_error *err)
{
	const char *path = address + strlen("unix://");

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return cc_error_set(err, 0, "socket path too long: %s", path);
	strcpy(sa->sun_path, path);
	return 0;
}

bool shim_listening(const struct sockaddr_un *sa, int hangup_wait_ms)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up;

	if (fd < 0)
		return false;
	up = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	if (up && hangup_wait_ms > 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		up = poll(&p, 1, hangup_wait_ms) == 0;
	}
	close(fd);
	return up;
}

static int write_address(const char *address, struct cc_error *err)
{
	return cc_write_file("address", address, strlen(address), 0644, err);
}

/* containerd 1.6 writes the runtime options (a protobuf Any) to our stdin: the CRI
 * handler's `options` from its config, with ConfigPath. */
static void read_config_path(char *out, size_t len)
{
	uint8_t buf[65536];
	size_t n = 0;
	ssize_t r;
	Google__Protobuf__Any *any;

	out[0] = '\0';
	if (isatty(STDIN_FILENO))
		return;
	while (n < sizeof(buf) && (r = read(STDIN_FILENO, buf + n, sizeof(buf) - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		n += (size_t)r;
	}
	if (n == 0 || n == sizeof(buf))
		return;
	any = google__protobuf__any__unpack(NULL, n, buf);
	if (!any)
		return;
	shim_options_config_path(any, out, len);
	google__protobuf__any__free_unpacked(any, NULL);
}

static int spawn_daemon(const struct shim_args *args, const char *config, int listen_fd,
			struct cc_error *err)
{
	pid_t pid = fork();

	if (pid < 0)
		return cc_error_set(err, errno, "fork");
	if (pid == 0) {
		const char *argv[16];
		int n = 0, null = open("/dev/null", O_RDWR);

		argv[n++] = "containerd-shim-cocoon-v2";
		argv[n++] = "-namespace", argv[n++] = args->ns;
		argv[n++] = "-id", argv[n++] = args->id;
		argv[n++] = "-address", argv[n++] = args->address;
		if (args->publish_binary)
			argv[n++] = "-publish-binary", argv[n++] = args->publish_binary;
		if (args->debug)
			argv[n++] = "-debug";
		if (config[0])
			argv[n++] = "-config", argv[n++] = config;
		argv[n] = NULL;
		setsid();
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    dup2(listen_fd, 3) < 0)
			_exit(127);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	return 0;
}

int shim_start(const struct shim_args *args, struct cc_error *err)
{
	char cwd[PATH_MAX], group[256], address[256], config[4096];
	struct sockaddr_un sa;
	cleanup_close int fd = -1;

	if (!getcwd(cwd, sizeof(cwd)))
		return cc_error_set(err, errno, "getcwd");
	if (shim_spec_group(cwd, args->id, group, sizeof(group), err) < 0 ||
	    shim_socket_address(args, group, address, sizeof(address), err) < 0 ||
	    shim_sockaddr(address, &sa, err) < 0)
		return -1;
	/* No hang-up wait: it would delay every container that joins a live pod. */
	if (shim_listening(&sa, 0)) {
		cc_debug("%s joins the shim of pod %s", args->id, group);
	} else {
		if (cc_mkdir_p(SHIM_SOCKET_DIR, 0711, err) < 0)
			return -1;
		fd = cc_unix_listen(sa.sun_path, 64, 0, err); /* the daemon's fd 3 */
		if (fd < 0)
			return -1;
		read_config_path(config, sizeof(config));
		if (spawn_daemon(args, config, fd, err) < 0) {
			unlink(sa.sun_path);
			return -1;
		}
	}
	if (write_address(address, err) < 0)
		return -1;
	if (printf("%s", address) < 0 || fflush(stdout) != 0)
		return cc_error_set(err, errno, "writing the address to stdout");
	return 0;
}
