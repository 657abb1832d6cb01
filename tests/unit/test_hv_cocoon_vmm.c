/* The cocoon-vmm hypervisor backend through its ops table, with the freestanding vsock
 * guest standing in for the agent (it accepts one connection on vsock port 1024 and
 * echoes a message): start, agent_connect over the hybrid vsock socket, stop. Needs
 * build/bin/cocoon-vmm and the test guests (make bins vmm-guests) and a /dev/kvm; skipped
 * without. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/hypervisor.h"
#include "shared/log.h"
#include "shared/util.h"

static char vmm[PATH_MAX], guest[PATH_MAX];

static bool have_artifacts(void)
{
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return false;
	snprintf(vmm, sizeof(vmm), "%.3000s/build/bin/cocoon-vmm", cwd);
	snprintf(guest, sizeof(guest), "%.3000s/build/tests/vmm-guests/vsock.elf", cwd);
	if (access("/dev/kvm", W_OK) != 0) {
		/* tests/run.sh runs this binary again in the nested-KVM lab (tests/lab). */
		print_message("no /dev/kvm here: run in the lab\n");
		return false;
	}
	return access(vmm, X_OK) == 0 && access(guest, R_OK) == 0;
}

static void test_registered(void **state)
{
	(void)state;
	assert_ptr_equal(hypervisor_find("cocoon-vmm"), &hypervisor_cocoon_vmm);
}

/* The probe answers what this machine is: with vmx/svm and /dev/kvm (a KVM host, the
 * lab's L1) cocoon-vmm is usable; without, the refusal names what is missing. */
static void test_probe_answers_this_host(void **state)
{
	(void)state;
	struct vm_config cfg = { .vmm_binary = "/bin/true" };
	struct cc_error err = { 0 };
	if (hypervisor_hw_virt()) {
		assert_int_equal(hypervisor_cocoon_vmm.probe(&cfg, &err), 0);
	} else {
		assert_int_equal(hypervisor_cocoon_vmm.probe(&cfg, &err), -1);
		assert_non_null(strstr(err.msg, "hardware virtualization"));
	}
	cfg.vmm_binary = "/nonexistent/cocoon-vmm";
	assert_int_equal(hypervisor_cocoon_vmm.probe(&cfg, &err), -1);
	assert_non_null(strstr(err.msg, "not found"));
}

static void test_agent_channel_over_hybrid_vsock(void **state)
{
	(void)state;
	if (!have_artifacts())
		skip();
	char dir[] = "/tmp/cocoon-hv-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct vm vm = { .ops = &hypervisor_cocoon_vmm };
	vm.cfg = (struct vm_config){ .id = "t",
				     .dir = dir,
				     .vmm_binary = vmm,
				     .kernel = guest,
				     .cpus = 1,
				     .memory_mib = 16 };
	struct cc_error err = { 0 };
	if (vm.ops->start(&vm, &err) != 0)
		fail_msg("start: %s", err.msg);
	assert_true(vm.pid > 0);
	int fd = vm.ops->agent_connect(&vm, 10000, &err);
	if (fd < 0)
		fail_msg("agent_connect: %s", err.msg);
	assert_int_equal(write(fd, "hello agent\n", 12), 12);
	char buf[32] = { 0 };
	size_t got = 0;
	while (got < 12) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_string_equal(buf, "hello agent\n");
	close(fd);
	assert_int_equal(vm.ops->stop(&vm, 5000, &err), 0);
	assert_int_equal(vm.pid, 0);
	assert_true(WIFEXITED(vm.status));
	assert_int_equal(WEXITSTATUS(vm.status), 0);
	cleanup_free char *log = NULL;
	assert_int_equal(cc_read_file(vm.console_log, 1 << 16, &log, NULL, &err), 0);
	assert_non_null(strstr(log, "vsock: echoing 0c bytes"));
	vm.ops->destroy(&vm);
	assert_int_equal(cc_rm_rf(dir, &err), 0);
}

int main(void)
{
	cc_log_init("test_hv_cocoon_vmm", CC_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered),
		cmocka_unit_test(test_probe_answers_this_host),
		cmocka_unit_test(test_agent_channel_over_hybrid_vsock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
