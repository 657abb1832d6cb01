/* The stdio relay between a process in the guest and host ends: its stdout and stderr
 * read from the agent (ReadStream) and written to a file descriptor or a FIFO, and what
 * arrives on the host's stdin written to it (WriteStdin). One thread per stream. Used by
 * `cocoon run` (the terminal's fds) and the shim (containerd's FIFOs and log pipes).
 *
 * A relay given a path opens it itself, in its thread: open() of a FIFO blocks until
 * containerd has the other end. Output keeps being drained from the guest when the host
 * end goes away (EPIPE), so the process never blocks on a full pipe. */
#ifndef COCOON_STDIO_RELAY_H
#define COCOON_STDIO_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "host/agent_client.h"

struct stdio_relay_config {
	const struct agent_client *agent; /* must outlive the relay's threads */
	const char *cid, *eid;		  /* eid "" for the container's init */
	/* Each end: a path (NULL or "": none) or, when the path is none, a descriptor the
	 * caller keeps open until stdio_relay_join (-1: none). */
	const char *stdin_path, *stdout_path, *stderr_path;
	int stdin_fd, stdout_fd, stderr_fd;
	bool terminal;	      /* the guest's pty carries both streams on stdout */
	size_t read_max;      /* bytes asked for in one ReadStream */
	int write_timeout_ms; /* WriteStdin; <= 0 waits as long as the process does */
	int close_timeout_ms; /* CloseStdin */
};

struct stdio_relay;

/* Starts the relays. NULL when out of memory; a relay thread that cannot start is
 * logged and left out. */
struct stdio_relay *stdio_relay_start(const struct stdio_relay_config *cfg);
/* Closes the process's stdin in the guest, once (CloseIO, or EOF on the host's stdin). */
void stdio_relay_close_stdin(struct stdio_relay *r);
/* Waits up to timeout_ms for the output relays to reach EOF; true if they did. */
bool stdio_relay_wait_outputs(struct stdio_relay *r, int timeout_ms);
/* Ends the stdin relay (the process is gone). */
void stdio_relay_cancel_stdin(struct stdio_relay *r);
/* Waits until every relay thread has returned: after it, the agent client and the
 * descriptors may go. */
void stdio_relay_join(struct stdio_relay *r);
/* Ends the stdin relay and drops the caller's reference; relays still running keep
 * their own. NULL is fine. */
void stdio_relay_release(struct stdio_relay *r);

#endif
