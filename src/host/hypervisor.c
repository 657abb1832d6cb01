#include "host/hypervisor.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/util.h"

/* One line per backend. */
static const struct hypervisor_ops *const backends[] = {
	&hypervisor_qemu,
	&hypervisor_cocoon_vmm,
};

static const char *names[CC_ARRAY_SIZE(backends) + 1];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void fill_names(void)
{
	for (size_t i = 0; i < CC_ARRAY_SIZE(backends); i++)
		names[i] = backends[i]->name;
}

const char *const *hypervisor_names(void)
{
	pthread_once(&names_once, fill_names);
	return names;
}

const struct hypervisor_ops *hypervisor_find(const char *name)
{
	for (size_t i = 0; i < CC_ARRAY_SIZE(backends); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const struct hypervisor_ops *hypervisor_select(const char *name, bool hw_virt, const char **why)
{
	if (strcmp(name, "auto") != 0) {
		*why = "named in the configuration";
		return hypervisor_find(name);
	}
	/* Our VMM where a Linux guest runs at hardware speed; QEMU is the only backend that
	 * can emulate a CPU, so it is what a host without vmx/svm gets. */
	if (hw_virt) {
		*why = "auto: hardware virtualization";
		return &hypervisor_cocoon_vmm;
	}
	*why = "auto: no hardware virtualization, so QEMU's software emulation (TCG)";
	return &hypervisor_qemu;
}

bool hypervisor_hw_virt(void)
{
	cleanup_fclose FILE *f = fopen("/proc/cpuinfo", "re");
	if (f == NULL)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		found = strstr(line, " vmx") != NULL || strstr(line, " svm") != NULL;
		break;
	}
	if (!found)
		return false;
	cleanup_close int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	return fd >= 0;
}
