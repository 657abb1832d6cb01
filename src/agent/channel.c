/* Where the host's connection comes from: a virtio-serial port named "agent", a vsock
 * listener (port AGENT_VSOCK_PORT), or a unix socket when run outside a VM. */
#include <dirent.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "shared/util.h"

/* /sys/class/virtio-ports/vportNpM/name holds the name QEMU gave the port. */
int channel_find_serial(char *path, size_t len, struct cc_error *err)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	if (d == NULL)
		return cc_error_set(err, errno,
				    "/sys/class/virtio-ports (no virtio-serial device?)");
	struct dirent *de;
	int found = -1;
	while (found < 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[300];
		cleanup_free char *name = NULL;
		struct cc_error e;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (cc_read_file(p, 256, &name, NULL, &e) < 0)
			continue;
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, AGENT_SERIAL_PORT_NAME) == 0) {
			snprintf(path, len, "/dev/%s", de->d_name);
			found = 0;
		}
	}
	closedir(d);
	if (found < 0)
		return cc_error_set(err, 0, "no virtio-serial port named '%s'",
				    AGENT_SERIAL_PORT_NAME);
	return 0;
}

int channel_listen_vsock(unsigned port, struct cc_error *err)
{
	cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cc_error_set(err, errno, "vsock socket");
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_port = port,
				  .svm_cid = VMADDR_CID_ANY };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return cc_error_set(err, errno, "bind vsock port %u", port);
	if (listen(fd, 4) < 0)
		return cc_error_set(err, errno, "listen vsock");
	return cc_steal_fd(&fd);
}

int channel_listen_unix(const char *path, struct cc_error *err)
{
	return cc_unix_listen(path, 4, SOCK_NONBLOCK | SOCK_CLOEXEC, err);
}
