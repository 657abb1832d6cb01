/* Which backend a configured hypervisor name gives: "auto" follows the host's hardware
 * virtualization, any other name is taken as is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "host/hypervisor.h"

static void test_auto_follows_hardware(void **state)
{
	(void)state;
	const char *why = NULL;
	assert_ptr_equal(hypervisor_select("auto", true, &why), &hypervisor_cocoon_vmm);
	assert_non_null(strstr(why, "hardware virtualization"));
	assert_ptr_equal(hypervisor_select("auto", false, &why), &hypervisor_qemu);
	assert_non_null(strstr(why, "software emulation"));
}

static void test_named_backend_wins(void **state)
{
	(void)state;
	const char *why = NULL;
	assert_ptr_equal(hypervisor_select("qemu", true, &why), &hypervisor_qemu);
	assert_string_equal(why, "named in the configuration");
	assert_ptr_equal(hypervisor_select("cocoon-vmm", false, &why), &hypervisor_cocoon_vmm);
	assert_null(hypervisor_select("xen", true, &why));
	assert_null(hypervisor_select("", false, &why));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_follows_hardware),
		cmocka_unit_test(test_named_backend_wins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
