/* OCI spec parser: a runc-style spec, malformed values naming their JSON path,
 * capability/rlimit/seccomp mapping, and the default spec round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "shared/oci_spec.h"
#include "shared/util.h"

static const char valid_spec[] =
	"{\"ociVersion\":\"1.0.2\","
	"\"process\":{\"terminal\":true,\"consoleSize\":{\"height\":25,\"width\":80},"
	"\"user\":{\"uid\":1000,\"gid\":100,\"additionalGids\":[10,20]},"
	"\"args\":[\"sh\",\"-c\",\"echo hi\"],"
	"\"env\":[\"PATH=/bin\",\"TERM=xterm\"],\"cwd\":\"/work\","
	"\"capabilities\":{\"bounding\":[\"CAP_SYS_ADMIN\",\"CAP_KILL\"],"
	"\"effective\":[\"CAP_KILL\"],\"ambient\":[\"CAP_NET_BIND_SERVICE\"]},"
	"\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":4096,\"soft\":1024},"
	"{\"type\":\"RLIMIT_CORE\",\"hard\":18446744073709551615,\"soft\":0}],"
	"\"noNewPrivileges\":true,\"oomScoreAdj\":-500},"
	"\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"box\","
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	"{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/src\","
	"\"options\":[\"rbind\",\"ro\"]}],"
	"\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\"},"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\","
	"\"path\":\"/proc/1/ns/net\"},{\"type\":\"mount\"}],"
	"\"resources\":{\"memory\":{\"limit\":268435456,\"swap\":536870912},"
	"\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\",\"mems\":\"0\"},"
	"\"pids\":{\"limit\":64}},"
	"\"cgroupsPath\":\"/kubepods/pod1/c1\","
	"\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},"
	"\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"],"
	"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
	"\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
	"\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	"{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
	"\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]},"
	"{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}}}";

static struct oci_spec *parse_ok(const char *json)
{
	struct oci_spec *s = NULL;
	struct cc_error err = { 0 };
	int r = oci_spec_parse(json, strlen(json), &s, &err);
	if (r < 0)
		print_error("unexpected error: %s\n", err.msg);
	assert_int_equal(r, 0);
	return s;
}

static void test_valid_spec(void **state)
{
	(void)state;
	struct oci_spec *s = parse_ok(valid_spec);
	assert_string_equal(s->root_path, "rootfs");
	assert_true(s->root_readonly);
	assert_string_equal(s->hostname, "box");
	struct oci_process *p = &s->process;
	assert_true(p->terminal);
	assert_int_equal(p->console_width, 80);
	assert_int_equal(p->console_height, 25);
	assert_string_equal(p->args[2], "echo hi");
	assert_null(p->args[3]);
	assert_string_equal(p->env[1], "TERM=xterm");
	assert_string_equal(p->cwd, "/work");
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->gid, 100);
	assert_int_equal(p->n_additional_gids, 2);
	assert_int_equal(p->additional_gids[1], 20);
	assert_int_equal(p->n_bounding, 2);
	assert_int_equal(p->cap_bounding[0], CAP_SYS_ADMIN);
	assert_int_equal(p->cap_bounding[1], CAP_KILL);
	assert_int_equal(p->n_effective, 1);
	assert_int_equal(p->n_permitted, 0);
	assert_int_equal(p->cap_ambient[0], CAP_NET_BIND_SERVICE);
	assert_int_equal(p->n_rlimits, 2);
	assert_int_equal(p->rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(p->rlimits[0].soft, 1024);
	assert_int_equal(p->rlimits[1].resource, RLIMIT_CORE);
	assert_true(p->rlimits[1].hard == UINT64_MAX);
	assert_true(p->no_new_privileges);
	assert_true(p->has_oom_score_adj);
	assert_int_equal(p->oom_score_adj, -500);
	assert_int_equal(s->n_mounts, 2);
	assert_string_equal(s->mounts[1].destination, "/data");
	assert_string_equal(s->mounts[1].options[1], "ro");
	assert_null(s->mounts[0].options);
	assert_int_equal(s->n_namespaces, 3);
	assert_int_equal(s->namespaces[1].type, OCI_NS_NETWORK);
	assert_string_equal(s->namespaces[1].path, "/proc/1/ns/net");
	assert_null(s->namespaces[0].path);
	assert_int_equal(s->resources.memory_limit, 268435456);
	assert_int_equal(s->resources.memory_swap, 536870912);
	assert_int_equal(s->resources.cpu_quota, 50000);
	assert_int_equal(s->resources.cpu_period, 100000);
	assert_int_equal(s->resources.cpu_shares, 512);
	assert_string_equal(s->resources.cpuset_cpus, "0-1");
	assert_int_equal(s->resources.pids_limit, 64);
	assert_string_equal(s->cgroups_path, "/kubepods/pod1/c1");
	assert_string_equal(s->sysctl_keys[0], "net.ipv4.ip_forward");
	assert_string_equal(s->sysctl_values[0], "1");
	assert_null(s->sysctl_keys[1]);
	assert_string_equal(s->masked_paths[0], "/proc/kcore");
	assert_string_equal(s->readonly_paths[0], "/proc/sys");
	assert_string_equal(oci_spec_annotation(s, "io.kubernetes.cri.container-type"), "sandbox");
	assert_null(oci_spec_annotation(s, "missing"));
	struct oci_seccomp *sc = s->seccomp;
	assert_non_null(sc);
	assert_int_equal(sc->default_action, SCMP_ACT_ERRNO(38));
	assert_string_equal(sc->architectures[1], "SCMP_ARCH_X86");
	assert_int_equal(sc->n_rules, 3);
	assert_string_equal(sc->rules[0].names[1], "write");
	assert_int_equal(sc->rules[0].action, SCMP_ACT_ALLOW);
	assert_int_equal(sc->rules[1].n_args, 1);
	assert_int_equal(sc->rules[1].args[0].op, SCMP_CMP_EQ);
	assert_true(sc->rules[1].args[0].value == 4294967295u);
	assert_int_equal(sc->rules[2].action, SCMP_ACT_ERRNO(1));
	uint32_t arch;
	assert_int_equal(oci_seccomp_arch("SCMP_ARCH_X86_64", &arch), 0);
	assert_int_equal(arch, SCMP_ARCH_X86_64);
	assert_int_equal(oci_seccomp_arch("SCMP_ARCH_VAX", &arch), -1);
	oci_spec_free(s);
}

static void test_minimal_defaults(void **state)
{
	(void)state;
	struct oci_spec *s = parse_ok(
		"{\"root\":{\"path\":\"/r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"}}");
	assert_int_equal(s->resources.memory_limit, -1);
	assert_int_equal(s->resources.cpu_quota, -1);
	assert_int_equal(s->resources.pids_limit, -1);
	assert_null(s->seccomp);
	assert_null(s->process.env[0]);
	assert_false(s->process.has_oom_score_adj);
	assert_int_equal(s->n_mounts, 0);
	oci_spec_free(s);
}

/* CRI's privileged container: a last rule allowing every device ("rwm"). */
static void test_devices_allow_all(void **state)
{
	(void)state;
	static const struct {
		const char *devices;
		bool all;
	} cases[] = {
		{ "[{\"allow\":true,\"access\":\"rwm\"}]", true },
		{ "[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"a\","
		  "\"major\":-1,\"minor\":-1,\"access\":\"rwm\"}]",
		  true },
		/* the default: deny all, then a few nodes */
		{ "[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\","
		  "\"major\":1,\"minor\":3,\"access\":\"rwm\"}]",
		  false },
		{ "[{\"allow\":true,\"access\":\"rwm\"},{\"allow\":false,\"access\":\"rwm\"}]",
		  false },
		{ "[{\"allow\":true,\"access\":\"r\"}]", false },
		{ "[{\"allow\":true,\"type\":\"b\",\"access\":\"rwm\"}]", false },
		{ "[]", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 "{\"root\":{\"path\":\"/r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
			 "\"linux\":{\"resources\":{\"devices\":%s}}}",
			 cases[i].devices);
		struct oci_spec *s = parse_ok(json);
		assert_int_equal(s->resources.devices_allow_all, cases[i].all);
		oci_spec_free(s);
	}
}

/* Each malformed spec must fail with a message that starts with the offending path. */
static void test_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{ "", "invalid JSON" },
		{ "{\"root\":", "invalid JSON" },
		{ "{} x", "invalid JSON: trailing data" },
		{ "[]", "(root): expected an object" },
		{ "{\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"}}", "root: required" },
		{ "{\"root\":{\"path\":1}}", "root.path: expected a string" },
		{ "{\"root\":{\"path\":\"r\"}}", "process: required" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\"}}",
		  "process.args: required" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":\"sh\",\"cwd\":\"/\"}}",
		  "process.args: expected an array of strings" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\",3],\"cwd\":\"/\"}}",
		  "process.args: expected an array of strings" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[],\"cwd\":\"/\"}}",
		  "process.args: needs a non-empty first element" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\\u0000b\"],\"cwd\":\"/\"}}",
		  "process.args[0]: string contains a NUL byte" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]}}",
		  "process.cwd: required" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"rel\"}}",
		  "process.cwd: must be an absolute path" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"user\":{\"uid\":\"0\"}}}",
		  "process.user.uid: expected an integer" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"user\":{\"uid\":-1}}}",
		  "process.user.uid: -1 out of range" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"user\":{\"additionalGids\":[1,\"a\"]}}}",
		  "process.user.additionalGids[1]: expected an integer" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"capabilities\":{\"effective\":[\"CAP_FLY\"]}}}",
		  "process.capabilities.effective[0]: unknown capability \"CAP_FLY\"" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"rlimits\":[{\"type\":\"RLIMIT_BOGUS\",\"soft\":1,\"hard\":1}]}}",
		  "process.rlimits[0].type: unknown rlimit \"RLIMIT_BOGUS\"" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1}]}}",
		  "process.rlimits[0].hard: required" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":2,\"hard\":1}]}}",
		  "process.rlimits[0]: soft limit above hard limit" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":-2,\"hard\":1}]}}",
		  "process.rlimits[0].soft: expected a non-negative integer" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\","
		  "\"oomScoreAdj\":2000}}",
		  "process.oomScoreAdj: 2000 out of range" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"hostname\":7}",
		  "hostname: expected a string" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"mounts\":[{\"type\":\"tmpfs\"}]}",
		  "mounts[0].destination: required" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"mounts\":[{\"destination\":\"/a\",\"options\":[1]}]}",
		  "mounts[0].options: expected an array of strings" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}",
		  "linux.namespaces[1].type: duplicate namespace pid" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"namespaces\":[{\"type\":\"net\"}]}}",
		  "linux.namespaces[0].type: unknown namespace \"net\"" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"resources\":{\"memory\":{\"limit\":\"1G\"}}}}",
		  "linux.resources.memory.limit: expected an integer" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"resources\":{\"cpu\":{\"shares\":-5}}}}",
		  "linux.resources.cpu.shares: expected a non-negative integer" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"sysctl\":{\"kernel.x\":1}}}",
		  "linux.sysctl.kernel.x: expected a string" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"seccomp\":{}}}",
		  "linux.seccomp.defaultAction: required" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}}}",
		  "linux.seccomp.defaultAction: unsupported action \"SCMP_ACT_NOTIFY\"" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		  "\"architectures\":[\"SCMP_ARCH_VAX\"]}}}",
		  "linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_VAX\"" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		  "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		  "\"args\":[{\"index\":7,\"op\":\"SCMP_CMP_EQ\"}]}]}}}",
		  "linux.seccomp.syscalls[0].args[0].index: 7 out of range" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		  "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		  "\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_ABOUT\"}]}]}}}",
		  "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_ABOUT\"" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"/\"},"
		  "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		  "\"syscalls\":[{\"names\":[],\"action\":\"SCMP_ACT_ERRNO\"}]}}}",
		  "linux.seccomp.syscalls[0].names: required" },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(cases); i++) {
		struct oci_spec *s = NULL;
		struct cc_error err = { 0 };
		int r = oci_spec_parse(cases[i].json, strlen(cases[i].json), &s, &err);
		if (r == 0 || strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err.msg,
				 cases[i].msg);
		assert_null(s);
	}
}

static void test_size_bounds(void **state)
{
	(void)state;
	struct oci_spec *s = NULL;
	struct cc_error err = { 0 };
	size_t len = OCI_MAX_SPEC_BYTES + 1;
	char *big = malloc(len + 1);
	assert_non_null(big);
	memset(big, ' ', len);
	big[len] = '\0';
	assert_int_equal(oci_spec_parse(big, len, &s, &err), -1);
	assert_non_null(strstr(err.msg, "larger than"));
	free(big);

	/* An env list longer than OCI_MAX_ITEMS. */
	size_t n = OCI_MAX_ITEMS + 1, cap = n * 4 + 128, off = 0;
	char *json = malloc(cap);
	assert_non_null(json);
	off += (size_t)snprintf(json, cap,
				"{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],"
				"\"cwd\":\"/\",\"env\":[");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(json + off, cap - off, "%s\"\"", i ? "," : "");
	snprintf(json + off, cap - off, "]}}");
	assert_int_equal(oci_spec_parse(json, strlen(json), &s, &err), -1);
	assert_string_equal(err.msg, "process.env: more than 8192 entries");
	free(json);
}

static void test_process_and_resources(void **state)
{
	(void)state;
	struct oci_process p;
	struct oci_resources r;
	struct cc_error err = { 0 };
	const char *pj = "{\"args\":[\"ls\",\"-l\"],\"cwd\":\"/tmp\",\"user\":{\"uid\":5}}";
	assert_int_equal(oci_process_parse(pj, strlen(pj), &p, &err), 0);
	assert_string_equal(p.args[1], "-l");
	assert_int_equal(p.uid, 5);
	oci_process_free(&p);
	pj = "{\"args\":[\"ls\"]}";
	assert_int_equal(oci_process_parse(pj, strlen(pj), &p, &err), -1);
	assert_string_equal(err.msg, "process.cwd: required");

	const char *rj = "{\"memory\":{\"limit\":1048576},\"cpu\":{\"cpus\":\"0\"}}";
	assert_int_equal(oci_resources_parse(rj, strlen(rj), &r, &err), 0);
	assert_int_equal(r.memory_limit, 1048576);
	assert_int_equal(r.cpu_quota, -1);
	assert_string_equal(r.cpuset_cpus, "0");
	free(r.cpuset_cpus);
	rj = "{\"pids\":{\"limit\":true}}";
	assert_int_equal(oci_resources_parse(rj, strlen(rj), &r, &err), -1);
	assert_string_equal(err.msg, "resources.pids.limit: expected an integer");
}

static void test_default_round_trip(void **state)
{
	(void)state;
	char *args[] = { "sh", "-c", "id", NULL };
	char *env[] = { "FOO=bar", "PATH=/opt/bin", NULL };
	struct oci_default_opts o = {
		.args = args,
		.env = env,
		.cwd = "/tmp",
		.uid = 1000,
		.gid = 1000,
		.terminal = true,
		.readonly = true,
		.root_path = "/run/rootfs",
		.memory_limit = 64 << 20,
		.cpu_quota = 50000,
		.cpu_period = 0,
	};
	struct cc_error err = { 0 };
	char *json = oci_spec_default_json(&o, &err);
	assert_non_null(json);
	struct oci_spec *s = parse_ok(json);
	free(json);
	assert_string_equal(s->root_path, "/run/rootfs");
	assert_true(s->root_readonly);
	assert_string_equal(s->hostname, "cocoon");
	assert_string_equal(s->process.args[2], "id");
	assert_true(s->process.terminal);
	assert_string_equal(s->process.cwd, "/tmp");
	assert_int_equal(s->process.uid, 1000);
	/* the caller's PATH replaces the default one */
	assert_string_equal(s->process.env[0], "TERM=xterm");
	assert_string_equal(s->process.env[1], "FOO=bar");
	assert_string_equal(s->process.env[2], "PATH=/opt/bin");
	assert_null(s->process.env[3]);
	assert_int_equal(s->process.n_bounding, 3);
	assert_int_equal(s->process.cap_bounding[0], CAP_AUDIT_WRITE);
	assert_int_equal(s->process.n_effective, 3);
	assert_int_equal(s->process.n_permitted, 3);
	assert_int_equal(s->process.n_inheritable, 0);
	assert_true(s->process.no_new_privileges);
	assert_int_equal(s->process.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(s->n_namespaces, 5);
	for (size_t i = 0; i < s->n_namespaces; i++)
		assert_int_not_equal(s->namespaces[i].type, OCI_NS_NETWORK);
	assert_int_equal(s->n_mounts, 7);
	assert_string_equal(s->mounts[0].destination, "/proc");
	assert_string_equal(s->mounts[5].destination, "/sys");
	assert_string_equal(s->mounts[5].options[3], "ro");
	assert_int_equal(s->resources.memory_limit, 64 << 20);
	assert_int_equal(s->resources.cpu_quota, 50000);
	assert_int_equal(s->resources.cpu_period, 100000);
	assert_string_equal(s->masked_paths[0], "/proc/acpi");
	assert_string_equal(s->readonly_paths[3], "/proc/sys");
	oci_spec_free(s);

	char *none[] = { NULL };
	o.args = none;
	assert_null(oci_spec_default_json(&o, &err));
	assert_string_equal(err.msg, "default spec: no command given");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_spec),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_devices_allow_all),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_size_bounds),
		cmocka_unit_test(test_process_and_resources),
		cmocka_unit_test(test_default_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
