/* cocoon-agent's RPC layer driven through the real ttrpc client: the agent's event
 * loop runs in a thread on one end of a socketpair (as it would on the serial port),
 * the test calls methods on the other. The last test runs the built binary with
 * --listen unix:PATH. Processes run on the host through the container API. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "shared/oci_spec.h"
#include "shared/ttrpc.h"
#include "proto/agent.pb-c.h"

#define TIMEOUT_MS 10000

struct fixture {
	struct agent a;
	pthread_t thread;
	int run_rc;
	struct ttrpc_client *cl;
};

static char rootfs[256], cgroot[256];

static void *run_agent(void *arg)
{
	struct fixture *f = arg;
	struct cc_error err;
	f->run_rc = agent_run(&f->a, &err);
	return NULL;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(rootfs, sizeof(rootfs), "/tmp/cocoon-agent-rpc.%d", (int)getpid());
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "tests/busybox-rootfs.sh %s/rootfs", rootfs);
	if (system(cmd) != 0)
		return -1;
	strcat(rootfs, "/rootfs");
	/* The host's cgroup v2 hierarchy (on a v1 host, the unified mount). */
	const char *v2 = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0
				 ? "/sys/fs/cgroup/unified"
				 : "/sys/fs/cgroup";
	snprintf(cgroot, sizeof(cgroot), "%s/cocoon-agent-rpc-%d", v2, (int)getpid());
	struct cc_error err;
	return container_set_cgroup_root(cgroot, &err);
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[512];
	rmdir(cgroot); /* every container removed its own cgroup below */
	if (access(cgroot, F_OK) == 0)
		fprintf(stderr, "leftover cgroup %s\n", cgroot);
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(rootfs) - strlen("/rootfs")),
		 rootfs);
	return system(cmd) == 0 && access(cgroot, F_OK) != 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cc_error err;
	int sv[2];
	assert_non_null(f);
	/* agent_init blocks SIGCHLD here, before the thread exists, so every thread
	 * inherits the mask and the signalfd sees each child's exit. */
	assert_int_equal(agent_init(&f->a, false, &err), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(agent_serve_fd(&f->a, sv[0], &err), 0);
	f->cl = ttrpc_client_new(sv[1], &err);
	assert_non_null(f->cl);
	assert_int_equal(pthread_create(&f->thread, NULL, run_agent, f), 0);
	*state = f;
	return 0;
}

static int call(struct fixture *f, const char *method, const void *req,
		const ProtobufCMessageDescriptor *desc, void *resp, struct cc_error *err)
{
	return ttrpc_client_call(f->cl, AGENT_SERVICE, method, req, desc, resp, TIMEOUT_MS, err);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Cocoon__Agent__V1__Empty e = COCOON__AGENT__V1__EMPTY__INIT;
	assert_int_equal(call(f, "Shutdown", &e, NULL, NULL, &err), 0);
	pthread_join(f->thread, NULL);
	assert_int_equal(f->run_rc, 0);
	agent_cleanup(&f->a);
	ttrpc_client_free(f->cl);
	free(f);
	return 0;
}

static void expect_code(int rc, const struct cc_error *err, int code, const char *needle)
{
	assert_int_equal(rc, -1);
	if (err->code != code || strstr(err->msg, needle) == NULL)
		fail_msg("expected code %d with '%s', got %d: %s", code, needle, err->code,
			 err->msg);
}

/* ---- Hello and error paths ---- */

static void test_hello(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	struct utsname u;
	Cocoon__Agent__V1__HelloRequest req = COCOON__AGENT__V1__HELLO_REQUEST__INIT;
	Cocoon__Agent__V1__HelloResponse *resp = NULL;
	req.version = AGENT_PROTOCOL_VERSION;
	assert_int_equal(
		call(f, "Hello", &req, &cocoon__agent__v1__hello_response__descriptor, &resp, &err),
		0);
	assert_int_equal(resp->version, AGENT_PROTOCOL_VERSION);
	assert_int_equal(uname(&u), 0);
	assert_string_equal(resp->kernel_release, u.release);
	assert_int_equal(strlen(resp->boot_id), 36); /* a UUID */
	assert_true(resp->agent_start_ns > 0);
	assert_true(resp->boot_to_ready_ns >= resp->agent_start_ns);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void test_hello_version_mismatch(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Cocoon__Agent__V1__HelloRequest req = COCOON__AGENT__V1__HELLO_REQUEST__INIT;
	req.version = AGENT_PROTOCOL_VERSION + 1;
	expect_code(
		call(f, "Hello", &req, &cocoon__agent__v1__hello_response__descriptor, NULL, &err),
		&err, TTRPC_FAILED_PRECONDITION, "protocol version");
}

/* Reseed (after a restore from a template): bounds on the entropy, and the answer of an
 * agent that is not the guest's init: entropy credited (harmless on the host running
 * the test), the clock never set. MountShared is the guest init's only. */
static void test_reseed_and_mount_shared(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	uint8_t bytes[GUEST_ENTROPY_MAX + 1];
	/* Real random bytes: the call below mixes them into the test host's pool. */
	assert_int_equal(getrandom(bytes, sizeof(bytes), 0), sizeof(bytes));
	Cocoon__Agent__V1__ReseedRequest req = COCOON__AGENT__V1__RESEED_REQUEST__INIT;
	Cocoon__Agent__V1__ReseedResponse *resp = NULL;
	const ProtobufCMessageDescriptor *rd = &cocoon__agent__v1__reseed_response__descriptor;
	req.entropy = (ProtobufCBinaryData){ GUEST_ENTROPY_MIN - 1, bytes };
	expect_code(call(f, "Reseed", &req, rd, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "entropy must be 32..512 bytes, got 31");
	req.entropy.len = GUEST_ENTROPY_MAX + 1;
	expect_code(call(f, "Reseed", &req, rd, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "entropy must be 32..512 bytes, got 513");
	req.entropy.len = 64;
	req.realtime_ns = -5;
	expect_code(call(f, "Reseed", &req, rd, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "realtime_ns -5 is negative");
	/* A day in the future: were it applied, the test host's clock would jump. */
	struct timespec before, after;
	clock_gettime(CLOCK_REALTIME, &before);
	req.realtime_ns = ((int64_t)before.tv_sec + 86400) * 1000000000;
	int rc = call(f, "Reseed", &req, rd, &resp, &err);
	if (geteuid() != 0) {
		expect_code(rc, &err, TTRPC_FAILED_PRECONDITION, "adding entropy");
	} else {
		assert_int_equal(rc, 0);
		assert_false(resp->clock_set);
		assert_int_equal(resp->clock_step_ns, 0);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
	clock_gettime(CLOCK_REALTIME, &after);
	assert_true(after.tv_sec - before.tv_sec < 60);

	Cocoon__Agent__V1__Empty e = COCOON__AGENT__V1__EMPTY__INIT;
	expect_code(call(f, "MountShared", &e, NULL, NULL, &err), &err, TTRPC_FAILED_PRECONDITION,
		    "only the guest's init mounts the shared directory");
}

static void test_guest_cmdline_template(void **state)
{
	(void)state;
	struct guest_cmdline cl;
	guest_parse_cmdline("console=ttyS0 cocoon.channel=vsock quiet", &cl);
	assert_false(cl.template);
	assert_int_equal(cl.channel, CHANNEL_VSOCK);
	guest_parse_cmdline("cocoon.template=1 cocoon.channel=vsock", &cl);
	assert_true(cl.template);
	guest_parse_cmdline("cocoon.template=10 xcocoon.template=1", &cl);
	assert_false(cl.template);
}

static void test_unknown_ids(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = "nope";
	static const char *const methods[] = { "StatsContainer",  "PauseContainer",
					       "ResumeContainer", "ListProcesses",
					       "RemoveContainer", "StartContainer" };
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		expect_code(call(f, methods[i], &cr, NULL, NULL, &err), &err, TTRPC_NOT_FOUND,
			    "container nope not found");
	Cocoon__Agent__V1__WaitProcessRequest wr = COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
	wr.container_id = "nope";
	expect_code(call(f, "WaitProcess", &wr, NULL, NULL, &err), &err, TTRPC_NOT_FOUND, "nope");
	Cocoon__Agent__V1__ReadStreamRequest rr = COCOON__AGENT__V1__READ_STREAM_REQUEST__INIT;
	rr.container_id = "nope";
	expect_code(call(f, "ReadStream", &rr, NULL, NULL, &err), &err, TTRPC_NOT_FOUND, "nope");
	Cocoon__Agent__V1__SignalProcessRequest sr =
		COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	sr.container_id = "nope";
	sr.signal = SIGTERM;
	expect_code(call(f, "SignalProcess", &sr, NULL, NULL, &err), &err, TTRPC_NOT_FOUND, "nope");
}

static void test_invalid_ids(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	char longid[AGENT_MAX_ID_LEN + 2];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = "";
	expect_code(call(f, "StatsContainer", &cr, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "container_id is empty");
	cr.container_id = "../etc";
	expect_code(call(f, "StatsContainer", &cr, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "container_id contains '/'");
	cr.container_id = longid;
	expect_code(call(f, "StatsContainer", &cr, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "longer than");
	Cocoon__Agent__V1__CreateContainerRequest cc =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	cc.container_id = "a b";
	expect_code(call(f, "CreateContainer", &cc, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "container_id contains ' '");
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	Cocoon__Agent__V1__CreateContainerRequest cc =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	cc.container_id = "c1";
	expect_code(call(f, "CreateContainer", &cc, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "spec_json");
	cc.spec_json.data = (uint8_t *)"{not json";
	cc.spec_json.len = strlen("{not json");
	expect_code(call(f, "CreateContainer", &cc, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "spec_json");
	/* Nothing was left behind. */
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = "c1";
	expect_code(call(f, "StatsContainer", &cr, NULL, NULL, &err), &err, TTRPC_NOT_FOUND, "c1");
	expect_code(call(f, "UnknownMethod", &cr, NULL, NULL, &err), &err, TTRPC_UNIMPLEMENTED, "");
}

/* ---- processes ---- */

static int create(struct fixture *f, const char *id, const char *script, bool terminal,
		  bool want_stdin, struct cc_error *err)
{
	char *const args[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct oci_default_opts o = { .args = args,
				      .root_path = rootfs,
				      .terminal = terminal,
				      .memory_limit = -1,
				      .cpu_quota = -1 };
	char *json = oci_spec_default_json(&o, err);
	assert_non_null(json);
	Cocoon__Agent__V1__CreateContainerRequest req =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	req.spec_json.data = (uint8_t *)json;
	req.spec_json.len = strlen(json);
	req.stdin = want_stdin;
	Cocoon__Agent__V1__CreateContainerResponse *resp = NULL;
	int rc = call(f, "CreateContainer", &req,
		      &cocoon__agent__v1__create_container_response__descriptor, &resp, err);
	free(json);
	if (rc == 0) {
		assert_true(resp->pid > 0);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
	return rc;
}

static void create_and_start(struct fixture *f, const char *id, const char *script, bool terminal,
			     bool want_stdin)
{
	struct cc_error err;
	if (create(f, id, script, terminal, want_stdin, &err) < 0)
		fail_msg("CreateContainer: %s", err.msg);
	Cocoon__Agent__V1__StartContainerRequest s =
		COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	s.container_id = (char *)id;
	if (call(f, "StartContainer", &s, NULL, NULL, &err) < 0)
		fail_msg("StartContainer: %s", err.msg);
}

/* Reads a stream to EOF into a malloc'ed NUL-terminated string. */
static char *read_all(struct fixture *f, const char *cid, const char *eid, int stream,
		      uint32_t max_len)
{
	size_t len = 0;
	char *out = calloc(1, 1);
	for (;;) {
		struct cc_error err;
		Cocoon__Agent__V1__ReadStreamRequest r =
			COCOON__AGENT__V1__READ_STREAM_REQUEST__INIT;
		Cocoon__Agent__V1__ReadStreamResponse *resp = NULL;
		r.container_id = (char *)cid;
		r.exec_id = (char *)eid;
		r.stream = stream;
		r.max_len = max_len;
		if (call(f, "ReadStream", &r, &cocoon__agent__v1__read_stream_response__descriptor,
			 &resp, &err) < 0)
			fail_msg("ReadStream: %s", err.msg);
		bool eof = resp->eof;
		assert_true(eof ? resp->data.len == 0 : resp->data.len > 0);
		if (max_len > 0)
			assert_true(resp->data.len <= max_len);
		char *grown = realloc(out, len + resp->data.len + 1);
		assert_non_null(grown);
		out = grown;
		if (resp->data.len > 0)
			memcpy(out + len, resp->data.data, resp->data.len);
		len += resp->data.len;
		out[len] = '\0';
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (eof)
			return out;
	}
}

static int wait_exit(struct fixture *f, const char *cid, const char *eid)
{
	struct cc_error err;
	Cocoon__Agent__V1__WaitProcessRequest w = COCOON__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
	Cocoon__Agent__V1__WaitProcessResponse *resp = NULL;
	w.container_id = (char *)cid;
	w.exec_id = (char *)eid;
	if (call(f, "WaitProcess", &w, &cocoon__agent__v1__wait_process_response__descriptor, &resp,
		 &err) < 0)
		fail_msg("WaitProcess: %s", err.msg);
	int st = resp->exit_status;
	assert_true(resp->exited_at_ns > 0);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return st;
}

static void remove_container(struct fixture *f, const char *id)
{
	struct cc_error err;
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = (char *)id;
	if (call(f, "RemoveContainer", &cr, NULL, NULL, &err) < 0)
		fail_msg("RemoveContainer: %s", err.msg);
}

static void test_run_output_and_exit(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	create_and_start(f, "c1", "echo out; echo err >&2; exit 3", false, false);
	/* Same id again. */
	expect_code(create(f, "c1", "true", false, false, &err), &err, TTRPC_ALREADY_EXISTS, "c1");
	char *out = read_all(f, "c1", "", 0, 2); /* tiny reads: several replies */
	char *errs = read_all(f, "c1", "", 1, 0);
	assert_string_equal(out, "out\n");
	assert_string_equal(errs, "err\n");
	free(out);
	free(errs);
	assert_int_equal(wait_exit(f, "c1", ""), 3);
	assert_int_equal(wait_exit(f, "c1", ""), 3); /* again: answered at once */
	remove_container(f, "c1");
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = "c1";
	expect_code(call(f, "StatsContainer", &cr, NULL, NULL, &err), &err, TTRPC_NOT_FOUND, "c1");
}

/* WaitProcess comes back only after the output reached EOF: everything the process
 * wrote is then readable, even when the host waits before reading anything. */
static void test_wait_after_output_drained(void **state)
{
	struct fixture *f = *state;
	/* 512 KiB of 'x' then "END": fits the agent's buffer, far exceeds a pipe. */
	create_and_start(f, "big", "head -c 524288 /dev/zero | tr '\\0' x; echo END; exit 0", false,
			 false);
	assert_int_equal(wait_exit(f, "big", ""), 0);
	char *out = read_all(f, "big", "", 0, 0);
	assert_int_equal(strlen(out), 524288 + 4);
	assert_string_equal(out + 524288, "END\n");
	free(out);
	remove_container(f, "big");
}

static void test_signal_and_stdin(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	create_and_start(f, "cat", "cat; echo done", false, true);
	Cocoon__Agent__V1__WriteStdinRequest w = COCOON__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
	Cocoon__Agent__V1__WriteStdinResponse *wr = NULL;
	w.container_id = "cat";
	w.exec_id = "";
	w.data.data = (uint8_t *)"ping\n";
	w.data.len = 5;
	assert_int_equal(call(f, "WriteStdin", &w,
			      &cocoon__agent__v1__write_stdin_response__descriptor, &wr, &err),
			 0);
	assert_int_equal(wr->len, 5);
	protobuf_c_message_free_unpacked(&wr->base, NULL);
	/* A running container cannot be removed. */
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = "cat";
	expect_code(call(f, "RemoveContainer", &cr, NULL, NULL, &err), &err,
		    TTRPC_FAILED_PRECONDITION, "running");
	Cocoon__Agent__V1__CloseStdinRequest c = COCOON__AGENT__V1__CLOSE_STDIN_REQUEST__INIT;
	c.container_id = "cat";
	c.exec_id = "";
	assert_int_equal(call(f, "CloseStdin", &c, NULL, NULL, &err), 0);
	expect_code(call(f, "WriteStdin", &w, NULL, NULL, &err), &err, TTRPC_FAILED_PRECONDITION,
		    "no open stdin");
	char *out = read_all(f, "cat", "", 0, 0);
	assert_string_equal(out, "ping\ndone\n");
	free(out);
	assert_int_equal(wait_exit(f, "cat", ""), 0);
	remove_container(f, "cat");

	/* Death by signal is 128+N; a finished process is NOT_FOUND for signals. */
	create_and_start(f, "sleeper", "exec sleep 100", false, false);
	Cocoon__Agent__V1__SignalProcessRequest s = COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	s.container_id = "sleeper";
	s.exec_id = "";
	s.signal = 0;
	expect_code(call(f, "SignalProcess", &s, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "signal 0");
	s.signal = SIGKILL;
	assert_int_equal(call(f, "SignalProcess", &s, NULL, NULL, &err), 0);
	assert_int_equal(wait_exit(f, "sleeper", ""), 128 + SIGKILL);
	expect_code(call(f, "SignalProcess", &s, NULL, NULL, &err), &err, TTRPC_NOT_FOUND,
		    "already exited");
	remove_container(f, "sleeper");
}

static void test_exec(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	create_and_start(f, "ex", "exec sleep 100", false, false);
	const char *pj = "{\"args\":[\"/bin/sh\",\"-c\",\"echo from exec; exit 7\"],\"cwd\":\"/\","
			 "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";
	Cocoon__Agent__V1__ExecProcessRequest e = COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	Cocoon__Agent__V1__ExecProcessResponse *er = NULL;
	e.container_id = "ex";
	e.exec_id = "e1";
	e.process_json.data = (uint8_t *)pj;
	e.process_json.len = strlen(pj);
	if (call(f, "ExecProcess", &e, &cocoon__agent__v1__exec_process_response__descriptor, &er,
		 &err) < 0)
		fail_msg("ExecProcess: %s", err.msg);
	assert_true(er->pid > 0);
	protobuf_c_message_free_unpacked(&er->base, NULL);
	expect_code(call(f, "ExecProcess", &e, NULL, NULL, &err), &err, TTRPC_ALREADY_EXISTS, "e1");
	e.exec_id = "";
	expect_code(call(f, "ExecProcess", &e, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "exec_id is empty");
	char *out = read_all(f, "ex", "e1", 0, 0);
	assert_string_equal(out, "from exec\n");
	free(out);
	assert_int_equal(wait_exit(f, "ex", "e1"), 7);
	Cocoon__Agent__V1__ProcessRequest pr = COCOON__AGENT__V1__PROCESS_REQUEST__INIT;
	pr.container_id = "ex";
	pr.exec_id = "e1";
	assert_int_equal(call(f, "RemoveProcess", &pr, NULL, NULL, &err), 0);
	expect_code(call(f, "RemoveProcess", &pr, NULL, NULL, &err), &err, TTRPC_NOT_FOUND, "e1");
	Cocoon__Agent__V1__SignalProcessRequest s = COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	s.container_id = "ex";
	s.exec_id = "";
	s.signal = SIGKILL;
	s.all = true;
	assert_int_equal(call(f, "SignalProcess", &s, NULL, NULL, &err), 0);
	assert_int_equal(wait_exit(f, "ex", ""), 128 + SIGKILL);
	remove_container(f, "ex");
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A background child that inherited stdout keeps the pipe open after the process
 * exited: WaitProcess still answers once the output stayed idle for a while. */
static void test_wait_with_pipe_held_open(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	create_and_start(f, "bg", "exec sleep 100", false, false);
	const char *pj = "{\"args\":[\"/bin/sh\",\"-c\",\"sleep 30 & echo started; exit 4\"],"
			 "\"cwd\":\"/\",\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";
	Cocoon__Agent__V1__ExecProcessRequest e = COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	e.container_id = "bg";
	e.exec_id = "holder";
	e.process_json.data = (uint8_t *)pj;
	e.process_json.len = strlen(pj);
	if (call(f, "ExecProcess", &e, NULL, NULL, &err) < 0)
		fail_msg("ExecProcess: %s", err.msg);
	uint64_t t0 = mono_ms();
	assert_int_equal(wait_exit(f, "bg", "holder"), 4);
	uint64_t waited = mono_ms() - t0;
	assert_true(waited >= AGENT_DRAIN_IDLE_NS / 1000000 / 2);
	assert_true(waited < 10000);
	Cocoon__Agent__V1__SignalProcessRequest s = COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	s.container_id = "bg";
	s.exec_id = "";
	s.signal = SIGKILL;
	s.all = true;
	assert_int_equal(call(f, "SignalProcess", &s, NULL, NULL, &err), 0);
	/* With the holder killed, the stream ends and keeps what was written. */
	char *out = read_all(f, "bg", "holder", 0, 0);
	assert_string_equal(out, "started\n");
	free(out);
	assert_int_equal(wait_exit(f, "bg", ""), 128 + SIGKILL);
	remove_container(f, "bg");
}

static void test_terminal(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	create_and_start(f, "tty", "test -t 0 && test -t 1 && echo is-a-tty; exit 0", true, false);
	char *out = read_all(f, "tty", "", 0, 0);
	assert_non_null(strstr(out, "is-a-tty\r\n")); /* the pty turns \n into \r\n */
	free(out);
	char *errs = read_all(f, "tty", "", 1, 0); /* one stream with a terminal */
	assert_string_equal(errs, "");
	free(errs);
	assert_int_equal(wait_exit(f, "tty", ""), 0);
	Cocoon__Agent__V1__ResizePtyRequest r = COCOON__AGENT__V1__RESIZE_PTY_REQUEST__INIT;
	r.container_id = "tty";
	r.exec_id = "";
	r.width = 0;
	r.height = 10;
	expect_code(call(f, "ResizePty", &r, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "terminal size");
	remove_container(f, "tty");
}

/* An exec'd process with a terminal gets a pty of the container's devpts, sized as
 * asked before it runs. */
static void test_exec_terminal(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	create_and_start(f, "ext", "exec sleep 100", false, false);
	const char *pj = "{\"args\":[\"/bin/sh\",\"-c\",\"tty; stty size\"],\"cwd\":\"/\","
			 "\"terminal\":true,\"consoleSize\":{\"height\":24,\"width\":80},"
			 "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";
	Cocoon__Agent__V1__ExecProcessRequest e = COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	e.container_id = "ext";
	e.exec_id = "t1";
	e.process_json.data = (uint8_t *)pj;
	e.process_json.len = strlen(pj);
	if (call(f, "ExecProcess", &e, NULL, NULL, &err) < 0)
		fail_msg("ExecProcess: %s", err.msg);
	char *out = read_all(f, "ext", "t1", 0, 0);
	assert_string_equal(out, "/dev/pts/0\r\n24 80\r\n");
	free(out);
	assert_int_equal(wait_exit(f, "ext", "t1"), 0);
	Cocoon__Agent__V1__SignalProcessRequest s = COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	s.container_id = "ext";
	s.exec_id = "";
	s.signal = SIGKILL;
	assert_int_equal(call(f, "SignalProcess", &s, NULL, NULL, &err), 0);
	assert_int_equal(wait_exit(f, "ext", ""), 128 + SIGKILL);
	remove_container(f, "ext");
}

static void test_container_ops(void **state)
{
	struct fixture *f = *state;
	struct cc_error err;
	create_and_start(f, "ops", "exec sleep 100", false, false);
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = "ops";
	Cocoon__Agent__V1__ListProcessesResponse *lp = NULL;
	if (call(f, "ListProcesses", &cr, &cocoon__agent__v1__list_processes_response__descriptor,
		 &lp, &err) < 0)
		fail_msg("ListProcesses: %s", err.msg);
	assert_int_equal(lp->n_pids, 1);
	protobuf_c_message_free_unpacked(&lp->base, NULL);
	Cocoon__Agent__V1__StatsResponse *st = NULL;
	if (call(f, "StatsContainer", &cr, &cocoon__agent__v1__stats_response__descriptor, &st,
		 &err) < 0)
		fail_msg("StatsContainer: %s", err.msg);
	/* 0 where the pids controller is not delegated (a v1 host's unified mount). */
	assert_true(st->pids_current <= 1);
	protobuf_c_message_free_unpacked(&st->base, NULL);
	if (call(f, "PauseContainer", &cr, NULL, NULL, &err) < 0)
		fail_msg("PauseContainer: %s", err.msg);
	if (call(f, "ResumeContainer", &cr, NULL, NULL, &err) < 0)
		fail_msg("ResumeContainer: %s", err.msg);
	Cocoon__Agent__V1__UpdateContainerRequest up =
		COCOON__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	up.container_id = "ops";
	up.resources_json.data = (uint8_t *)"{\"memory\": 5}";
	up.resources_json.len = strlen("{\"memory\": 5}");
	expect_code(call(f, "UpdateContainer", &up, NULL, NULL, &err), &err, TTRPC_INVALID_ARGUMENT,
		    "resources_json");
	/* Removal of a created, never started container kills its waiting init. */
	assert_int_equal(create(f, "never", "true", false, false, &err), 0);
	remove_container(f, "never");
	Cocoon__Agent__V1__SignalProcessRequest s = COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	s.container_id = "ops";
	s.exec_id = "";
	s.signal = SIGKILL; /* a pid namespace's init ignores SIGTERM without a handler */
	assert_int_equal(call(f, "SignalProcess", &s, NULL, NULL, &err), 0);
	assert_int_equal(wait_exit(f, "ops", ""), 128 + SIGKILL);
	remove_container(f, "ops");
}

/* ---- the binary, outside a VM ---- */

static const char *agent_bin = "build/bin/cocoon-agent";

/* Starts `cocoon-agent --listen unix:<sock>` with containers below <cgroot>-bin. */
static pid_t start_binary(char *sock, size_t len)
{
	char listen[128], cg[300];
	snprintf(sock, len, "/tmp/cocoon-agent-test.%d.sock", (int)getpid());
	snprintf(listen, sizeof(listen), "unix:%s", sock);
	snprintf(cg, sizeof(cg), "%s-bin", cgroot);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test must not leave it running */
		execl(agent_bin, agent_bin, "--listen", listen, "--cgroup-root", cg, "--log-level",
		      "error", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static struct ttrpc_client *connect_binary(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cc_error err;
	strcpy(sa.sun_path, sock);
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			struct ttrpc_client *cl = ttrpc_client_new(fd, &err);
			assert_non_null(cl);
			return cl;
		}
		close(fd);
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	fail_msg("cannot connect to %s", sock);
	return NULL;
}

static void stop_binary(struct ttrpc_client *cl, pid_t pid, const char *sock)
{
	struct cc_error err;
	Cocoon__Agent__V1__Empty e = COCOON__AGENT__V1__EMPTY__INIT;
	assert_int_equal(ttrpc_client_call(cl, AGENT_SERVICE, "Shutdown", &e.base, NULL, NULL,
					   TIMEOUT_MS, &err),
			 0);
	ttrpc_client_free(cl);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(access(sock, F_OK), -1); /* socket removed */
	char cg[300];
	snprintf(cg, sizeof(cg), "%s-bin", cgroot);
	rmdir(cg);
}

static void test_listen_binary(void **state)
{
	(void)state;
	if (access(agent_bin, X_OK) != 0)
		skip(); /* `make bins` not run */
	char sock[108];
	pid_t pid = start_binary(sock, sizeof(sock));
	struct ttrpc_client *cl = connect_binary(sock);
	struct cc_error err;
	Cocoon__Agent__V1__HelloRequest req = COCOON__AGENT__V1__HELLO_REQUEST__INIT;
	req.version = 0;
	int rc = ttrpc_client_call(cl, AGENT_SERVICE, "Hello", &req.base, NULL, NULL, TIMEOUT_MS,
				   &err);
	expect_code(rc, &err, TTRPC_FAILED_PRECONDITION, "host sent 0");
	req.version = AGENT_PROTOCOL_VERSION;
	assert_int_equal(ttrpc_client_call(cl, AGENT_SERVICE, "Hello", &req.base, NULL, NULL,
					   TIMEOUT_MS, &err),
			 0);
	Cocoon__Agent__V1__ContainerRequest cr = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	cr.container_id = "missing";
	expect_code(ttrpc_client_call(cl, AGENT_SERVICE, "StatsContainer", &cr.base, NULL, NULL,
				      TIMEOUT_MS, &err),
		    &err, TTRPC_NOT_FOUND, "container missing not found");
	stop_binary(cl, pid, sock);
}

struct parked_read {
	struct fixture f; /* only .cl is used */
	int rc;
	struct cc_error err;
};

static void *read_in_thread(void *arg)
{
	struct parked_read *r = arg;
	Cocoon__Agent__V1__ReadStreamRequest rr = COCOON__AGENT__V1__READ_STREAM_REQUEST__INIT;
	rr.container_id = "rc";
	rr.exec_id = "";
	r->rc = call(&r->f, "ReadStream", &rr, NULL, NULL, &r->err);
	return NULL;
}

/* A host that goes away loses its parked calls but no output: the next connection
 * reads what the process wrote meanwhile. */
static void test_reconnect_keeps_output(void **state)
{
	(void)state;
	if (access(agent_bin, X_OK) != 0)
		skip();
	char sock[108];
	pid_t pid = start_binary(sock, sizeof(sock));
	struct parked_read r = { .f.cl = connect_binary(sock) };
	struct cc_error err;
	if (create(&r.f, "rc", "sleep 1; echo late", false, false, &err) < 0)
		fail_msg("CreateContainer: %s", err.msg);
	Cocoon__Agent__V1__StartContainerRequest s =
		COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
	s.container_id = "rc";
	assert_int_equal(call(&r.f, "StartContainer", &s, NULL, NULL, &err), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_in_thread, &r), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
	ttrpc_client_free(r.f.cl); /* disconnect with the ReadStream parked */
	pthread_join(t, NULL);
	assert_int_equal(r.rc, -1);

	struct fixture f2 = { .cl = connect_binary(sock) };
	char *out = read_all(&f2, "rc", "", 0, 0);
	assert_string_equal(out, "late\n");
	free(out);
	assert_int_equal(wait_exit(&f2, "rc", ""), 0);
	remove_container(&f2, "rc");
	stop_binary(f2.cl, pid, sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_version_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reseed_and_mount_shared, setup, teardown),
		cmocka_unit_test(test_guest_cmdline_template),
		cmocka_unit_test_setup_teardown(test_unknown_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_output_and_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_after_output_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_and_stdin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_with_pipe_held_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_container_ops, setup, teardown),
		cmocka_unit_test(test_listen_binary),
		cmocka_unit_test(test_reconnect_keeps_output),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
