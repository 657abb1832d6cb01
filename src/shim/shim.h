/* containerd-shim-cocoon-v2: one shim process per pod (or per plain `ctr run`
 * container) that owns the pod's VM and serves containerd's task API over ttrpc.
 *
 * Threads: the main thread accepts containerd's connections and runs the task API
 * handlers, except those that only forward to the guest (Kill, Stats...), which get a
 * thread each so a silent guest cannot hold up the others; one thread per process waits for its
 * exit in the guest (WaitProcess), up to three threads per process relay stdio between containerd's
 * FIFOs and the agent, and one thread forwards events to containerd. `shim.lock` guards the task
 * table and every process's state; nobody holds it across an agent call. */
#ifndef COCOON_SHIM_H
#define COCOON_SHIM_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "host/agent_client.h"
#include "host/stdio_relay.h"
#include "shared/error.h"
#include "shared/ttrpc.h"

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"

#define SHIM_SOCKET_DIR "/run/containerd/s"
#define SHIM_RUNTIME_NAME "io.containerd.cocoon.v2"
/* Bundle file naming the sandbox state dir, so `delete` finds it after a crash. */
#define SHIM_STATE_LINK "cocoon-state"

/* Command line, shared by every subcommand (containerd's shim v2 contract). */
struct shim_args {
	const char *ns;
	const char *address; /* containerd's gRPC socket */
	const char *publish_binary;
	const char *id;
	const char *bundle; /* -bundle, else the working directory */
	const char *config; /* -config: the runtime options' ConfigPath that `start`
			     * read on stdin, handed to the daemon (ours, not containerd's) */
	bool debug;
	const char *action; /* "start", "delete" or NULL to serve */
};

/* Parses the command line (args.c); err names a bad or missing flag. */
int shim_parse_args(int argc, char **argv, struct shim_args *a, struct cc_error *err);

/* ---- stdio relay (host/stdio_relay.h) ---- */

/* Starts the relays between containerd's FIFOs (paths may be "") and the agent's
 * streams of (id, exec_id). The relays keep their own reference, so a process may be
 * deleted while one is still blocked on a FIFO (stdio_relay_release). */
struct stdio_relay *shim_io_start(const char *id, const char *exec_id, const char *stdin_path,
				  const char *stdout_path, const char *stderr_path, bool terminal);

/* ---- tasks (task.c) ---- */

enum shim_status {
	SHIM_CREATED = CONTAINERD__V1__TYPES__STATUS__CREATED,
	SHIM_RUNNING = CONTAINERD__V1__TYPES__STATUS__RUNNING,
	SHIM_STOPPED = CONTAINERD__V1__TYPES__STATUS__STOPPED,
	SHIM_PAUSED = CONTAINERD__V1__TYPES__STATUS__PAUSED,
};

struct ttrpc_call;
struct shim_task;

struct shim_proc {
	struct shim_task *task;
	char *exec_id;	    /* "" for the init process */
	char *process_json; /* exec: the OCI process, sent to the agent at Start */
	char *stdin_path, *stdout_path, *stderr_path;
	bool terminal;
	struct stdio_relay *io; /* NULL until the process exists in the guest */
	enum shim_status status;
	uint32_t guest_pid; /* the agent's; never shown to containerd */
	/* What containerd is told: the VMM's pid, a host process of this sandbox. A guest
	 * pid would name some unrelated host process to anyone who signals or inspects it. */
	uint32_t host_pid;
	uint32_t exit_status;
	uint64_t exited_at_ns; /* CLOCK_REALTIME */
	bool exited;
	bool wait_started;
	pthread_t wait_thread;
	struct ttrpc_call **waiters; /* Wait calls answered at exit */
	size_t n_waiters;
	struct shim_proc *next; /* the task's exec list */
};

struct shim_task {
	char *id;
	char *bundle;
	char *share_name;      /* rootfs share in the sandbox, NULL if none */
	size_t n_mount_shares; /* spec bind mounts shared as "<id>-m<k>" */
	bool rootfs_mounted;   /* we mounted the Create rootfs at <bundle>/rootfs */
	bool is_sandbox;       /* the CRI pause container, or a plain ctr container */
	struct shim_proc init;
	struct shim_proc *execs;
	struct shim_task *next;
};

struct shim_task *shim_task_find(const char *id);
/* Process by (id, exec_id); exec_id NULL or "" is the init. */
struct shim_proc *shim_proc_find(const char *id, const char *exec_id);
/* The task API's error for a missing task/process, as a ttrpc code. */
void shim_task_add(struct shim_task *t);
void shim_task_remove(struct shim_task *t);
size_t shim_task_count(void);
void shim_task_free(struct shim_task *t);
void shim_proc_free(struct shim_proc *p);
/* Starts the thread that waits for the process's exit in the guest. */
int shim_proc_watch(struct shim_proc *p, struct cc_error *err);
/* Records the exit (once), answers Wait calls and publishes /tasks/exit. Lock held. */
void shim_proc_set_exited(struct shim_proc *p, uint32_t status, uint64_t at_ns);

/* ---- the pod VM (vm.c) ---- */

struct shim_spec;
struct sandbox;
struct cc_config;

/* Boots the pod VM for its first (sandbox) container, sized from its annotations on
 * top of the configured defaults (src/host/config.h; the file is the runtime options'
 * ConfigPath when containerd passes one). */
int shim_vm_boot(const struct shim_spec *spec, const char *group, const struct cc_config *cfg,
		 struct cc_error *err);
struct sandbox *shim_vm(void);
/* Host pid that stands for every task of the pod (the VMM). */
uint32_t shim_vm_pid(void);
/* The pod's hostname ("" if the sandbox spec named none). */
const char *shim_vm_hostname(void);
bool shim_vm_is_lost(void);
/* The pod VM's agent (host/agent_client.h): calls fail with UNAVAILABLE once the VM is
 * lost, and errors name the method. */
const struct agent_client *shim_agent(void);
#define SHIM_AGENT_TIMEOUT_MS 30000
/* Every process of the pod exits with an error status: the VM is gone. */
void shim_vm_lost(const char *why);
/* The host stops the pod itself (SIGKILL to the VMM), without the guest's help; every
 * process is then reported exited with 128+SIGKILL. Lock held. */
void shim_vm_kill(const char *why);
/* Exit status of a process whose VM was lost: 137 after shim_vm_kill, else 255. */
uint32_t shim_vm_lost_status(void);
void shim_vm_destroy(void);

/* ---- port-forward (portfwd.c) ---- */

/* Forwards TCP connections to 127.0.0.1/::1 (any port) in the pod netns at netns_path to
 * the same port on the guest's loopback, through the agent as a process of container. */
int shim_portfwd_start(const char *netns_path, const char *container, struct cc_error *err);
void shim_portfwd_stop(void);

/* Limits from the configuration the pod VM booted with (src/host/config.h). */
struct shim_limits {
	int stop_grace_ms;
	unsigned max_execs;
};
extern struct shim_limits shim_limits;

/* ---- create orchestration (create.c), the rootfs (rootfs.c), metrics (metrics.c) ---- */

/* Everything a new task needs before it exists in the guest, and the agent's
 * CreateContainer: boots the pod VM for the sandbox container (*booted), mounts and
 * shares the rootfs and the spec's bind mounts, rewrites the spec for the guest. */
int shim_task_create(const Containerd__Task__V2__CreateTaskRequest *r, struct shim_task *t,
		     bool *booted, struct cc_error *err);
/* Undoes shim_task_create for a task that never made it into the table; frees t. */
void shim_task_abandon(struct shim_task *t, bool booted);
/* Stops sharing the task's rootfs and bind mounts with the guest. */
void shim_task_unshare(struct shim_task *t);
/* containerd's rootfs mounts stacked on target, like containerd's mount.All. */
int shim_rootfs_mount(Containerd__Types__Mount **mounts, size_t n, const char *target,
		      struct cc_error *err);
/* Unmounts whatever is stacked on <bundle>/rootfs. */
void shim_rootfs_umount(const char *bundle);
/* The agent's StatsResponse as a packed cgroup v1 Metrics message (malloc'd; NULL when
 * out of memory). */
struct Cocoon__Agent__V1__StatsResponse;
uint8_t *shim_metrics_pack(const struct Cocoon__Agent__V1__StatsResponse *s, size_t *len);

/* ---- events (events.c) ---- */

int shim_events_init(const char *ttrpc_address, const char *ns, struct cc_error *err);
/* Queues an event (never blocks on containerd). msg is packed at once. */
void shim_publish(const char *topic, const char *type_url, const ProtobufCMessage *msg);
/* Delivers what is queued (bounded wait) and stops the publisher. */
void shim_events_flush(int timeout_ms);

/* ---- the daemon (serve.c, service.c) ---- */

struct shim {
	const struct shim_args *args;
	pthread_mutex_t lock;
	struct shim_task *tasks;
	volatile sig_atomic_t shutdown; /* leave the accept loop */
	int wake_fd;			/* eventfd: tells the main loop to look at `shutdown` */
	unsigned n_async;		/* handlers running on their own thread */
	pthread_cond_t async_done;	/* signalled when one of them returns */
};
extern struct shim shim;

int shim_serve(const struct shim_args *args, int listen_fd);
void shim_request_exit(void);
/* Waits until the handlers running on their own threads returned; if the guest keeps
 * them waiting past timeout_ms, kills the VM so they fail at once. */
void shim_async_drain(int timeout_ms);
/* Runs a handler on a thread of its own (at most 32 at once); the call is the thread's
 * from then on (async.c). */
int shim_run_async(ttrpc_handler_fn fn, struct ttrpc_call *call, const ProtobufCMessage *req,
		   struct cc_error *err);
/* After a SIGKILL to id/exec_id ("" for the task): stops the pod VM if the process has
 * not exited within stop_grace_ms (async.c). */
void shim_watch_kill(const char *id, const char *exec_id);
extern const struct ttrpc_method shim_task_methods[];
extern const size_t shim_n_task_methods;

/* ---- subcommands and helpers ---- */

int shim_start(const struct shim_args *args, struct cc_error *err);
int shim_delete(const struct shim_args *args, struct cc_error *err);
/* ConfigPath of runtime options (runtimeoptions.v1.Options in an Any), copied to out;
 * "" when opts are absent or of another type. */
void shim_options_config_path(const Google__Protobuf__Any *opts, char *out, size_t len);
/* unix:///run/containerd/s/<sha256(address/ns/group)>: the group is the pod's
 * sandbox id for CRI containers, else the container id. */
int shim_socket_address(const struct shim_args *args, const char *group, char *out, size_t len,
			struct cc_error *err);
/* The sockaddr of a unix:// address; fails naming a path too long for it. */
int shim_sockaddr(const char *address, struct sockaddr_un *sa, struct cc_error *err);
/* Whether a shim listens at sa: a stale socket file (killed shim) refuses connect().
 * connect() also succeeds on a dying shim whose listener is not closed yet (the kernel
 * queues it); with hangup_wait_ms > 0 a connection hung up within that time counts as
 * no shim, since a live shim keeps it open and silent. */
bool shim_listening(const struct sockaddr_un *sa, int hangup_wait_ms);
/* Protobuf Timestamp of a CLOCK_REALTIME nanosecond value. */
void shim_timestamp(Google__Protobuf__Timestamp *ts, uint64_t ns);

#endif
