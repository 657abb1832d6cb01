/* cocoon-agent's state and event loop. One thread, one epoll set: the host connection
 * (ttrpc), the listening socket or serial port waiting for the host, a signalfd
 * (SIGCHLD, and SIGTERM/SIGINT outside the VM), and every process's output fds and
 * stdin. Calls that cannot be answered at once (ReadStream, WaitProcess, a WriteStdin
 * into a full pipe) are parked on the process and answered from the loop. */
#ifndef COCOON_AGENT_AGENT_H
#define COCOON_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/container.h"
#include "agent/stream.h"
#include "shared/agent_proto.h"
#include "shared/error.h"
#include "shared/ttrpc.h"

/* After a process exits, WaitProcess waits for EOF on its output so the host gets every
 * byte; a background child that inherited the pipes could hold them open forever, so
 * the answer goes out anyway once the output has been idle this long. */
#define AGENT_DRAIN_IDLE_NS (2000ull * 1000 * 1000)
/* Bound on stdin bytes accepted but not yet written into the process. */
#define AGENT_STDIN_QUEUE_MAX (8u << 20)

enum watch_kind { WATCH_CONN, WATCH_LISTEN, WATCH_SIGNAL, WATCH_OUTPUT, WATCH_STDIN };

/* What an epoll event points at. */
struct watch {
	enum watch_kind kind;
	void *obj;
	int idx; /* WATCH_OUTPUT: 0 stdout, 1 stderr */
};

/* A parked call. */
struct pending {
	struct pending *next;
	struct ttrpc_call *call;
	uint32_t max_len; /* ReadStream */
	uint8_t *data;	  /* WriteStdin: owned copy */
	size_t len, off;
};

struct container;

struct process {
	struct process *next;
	struct container *ct;
	char exec_id[AGENT_MAX_ID_LEN + 1]; /* "" for the container's init */
	pid_t pid;
	bool terminal;
	bool exited;
	int exit_status;       /* code, or 128+signal */
	uint64_t exited_at_ns; /* CLOCK_REALTIME */
	bool oom_killed;
	uint64_t oom_kills_at_start;
	uint64_t last_output_ns; /* CLOCK_MONOTONIC of the last output activity */
	struct stream out[2];
	struct watch out_w[2];
	bool out_watched[2];
	struct pending *reads[2];
	int stdin_fd; /* -1 without stdin or once closed */
	bool stdin_close_queued;
	struct watch stdin_w;
	struct pending *writes;
	size_t queued;
	struct pending *waiters;
	bool wait_answered; /* exit reported; later waiters are answered at once */
	bool removed;	    /* out of the table, freed after the current epoll batch */
};

struct container {
	struct container *next;
	struct container_rt rt;
	struct process *procs; /* the init (exec_id "") first */
	bool started;
};

/* CHANNEL_FD: one connection handed in by agent_serve_fd; the loop ends with it. */
enum agent_channel { CHANNEL_SERIAL, CHANNEL_VSOCK, CHANNEL_UNIX, CHANNEL_FD };

struct agent {
	int epfd, sigfd;
	struct watch sig_w, conn_w, listen_w;
	enum agent_channel channel;
	int listen_fd;	       /* vsock/unix listener, -1 for serial */
	char serial_path[64];  /* /dev/vportNpM */
	uint64_t reopen_at_ns; /* serial: when to try the port again, 0 none */
	struct ttrpc_conn *conn;
	struct container *containers;
	struct process *removed; /* see agent_proc_remove */
	bool pid1;
	bool stop;		     /* leave the loop (Shutdown outside the VM, SIGTERM) */
	bool power_off;		     /* Shutdown asked for it: after the loop */
	uint64_t start_ns, ready_ns; /* CLOCK_BOOTTIME */
};

int agent_init(struct agent *a, bool pid1, struct cc_error *err);
/* Serves ttrpc on an already connected fd (owned); agent_run returns when it closes. */
int agent_serve_fd(struct agent *a, int fd, struct cc_error *err);
/* Runs until stop. Returns <0 on a fatal error. */
int agent_run(struct agent *a, struct cc_error *err);
/* Kills and removes every container, closes everything. */
void agent_cleanup(struct agent *a);

/* loop.c: epoll_ctl on the agent's set, w carried back with the event (process.c). */
int agent_watch(struct agent *a, int op, int fd, uint32_t events, struct watch *w);

/* process.c: the process table, used by the RPC handlers and the loop. */
struct container *agent_find_container(struct agent *a, const char *id);
struct process *agent_find_process(struct container *c, const char *exec_id);
/* Takes ownership of the parent's ends (out/err read ends, stdin write end; -1 none). */
struct process *agent_add_process(struct agent *a, struct container *c, const char *exec_id,
				  pid_t pid, bool terminal, int out_fd, int err_fd, int stdin_fd);
void agent_proc_read(struct agent *a, struct process *p, int idx, struct ttrpc_call *call,
		     uint32_t max_len);
void agent_wait_process(struct agent *a, struct process *p, struct ttrpc_call *call);
void agent_proc_write(struct agent *a, struct process *p, struct ttrpc_call *call,
		      const uint8_t *data, size_t len);
void agent_proc_close_stdin(struct agent *a, struct process *p);
/* Drops the process's table entry, failing its parked calls. */
void agent_proc_remove(struct agent *a, struct process *p);
/* Destroys the container (kills what is left) and frees it with its processes. */
int agent_container_remove(struct agent *a, struct container *c, struct cc_error *err);
/* What the loop hands to the process table: output or stdin ready, SIGCHLD, the end of
 * an epoll batch, a timer tick, the host connection gone. */
void agent_proc_on_output(struct agent *a, struct process *p, int idx);
void agent_proc_on_stdin(struct agent *a, struct process *p);
void agent_reap(struct agent *a);
/* Frees the processes agent_proc_remove took out of the table. */
void agent_free_removed(struct agent *a);
void agent_proc_answer_waiters(struct process *p, uint64_t now);
/* Fails the parked calls of a connection that left; output stays buffered. */
void agent_proc_drop_calls(struct agent *a, struct process *p);
/* When a parked WaitProcess is answered even without EOF (CLOCK_MONOTONIC), 0 none. */
uint64_t agent_proc_drain_deadline(const struct process *p);

/* server.c: the method table of service AGENT_SERVICE. */
extern const struct ttrpc_method agent_methods[];
extern const size_t agent_n_methods;

/* channel.c */
int channel_find_serial(char *path, size_t len, struct cc_error *err);
int channel_listen_vsock(unsigned port, struct cc_error *err);
int channel_listen_unix(const char *path, struct cc_error *err);

/* guest_init.c: PID 1 duties. */
struct guest_cmdline {
	enum agent_channel channel;
	bool debug;
	/* cocoon.template=1: booting a VM to be saved as a template, so nothing pod-specific
	 * at boot: the shared directory is mounted when the host asks (MountShared). */
	bool template;
};
void guest_parse_cmdline(const char *cmdline, struct guest_cmdline *out);
int guest_setup(struct cc_error *err);
/* Mounts the virtio-fs share on SANDBOX_GUEST_SHARED unless it is mounted already. */
int guest_mount_shared(struct cc_error *err);

/* reseed.c: what must differ between clones of one template (proto ReseedRequest).
 * Credits entropy to the CRNG and forces a reseed; sets the wall clock when realtime_ns
 * is not 0 and set_clock (the guest's PID 1 only: never the host's clock in tests).
 * Fails with INVALID_ARGUMENT / FAILED_PRECONDITION codes. */
int guest_reseed(const uint8_t *entropy, size_t len, int64_t realtime_ns, bool set_clock,
		 int64_t *clock_step_ns, struct cc_error *err);
#define GUEST_ENTROPY_MIN 32
#define GUEST_ENTROPY_MAX 512
/* Ends the VM; never returns. */
void guest_power_off(void) __attribute__((noreturn));

/* network.c: pod networking inside the guest. validate fails with INVALID_ARGUMENT. */
struct Cocoon__Agent__V1__ConfigureNetworkRequest;
int guest_net_validate(const struct Cocoon__Agent__V1__ConfigureNetworkRequest *r,
		       struct cc_error *err);
int guest_net_configure(const struct Cocoon__Agent__V1__ConfigureNetworkRequest *r,
			struct cc_error *err);

#endif
