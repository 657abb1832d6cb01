/* Sandbox templates (docs/vmm.md "Templates in the product"): a cocoon-vmm VM booted
 * once to a ready agent with nothing pod-specific in it, saved, and restored for each
 * new sandbox of the same shape instead of booting a kernel.
 *
 * A template lives in <state_root>/templates/<name>, root-only (0700 directory, 0600
 * files): memory and vm.state as cocoon-vmm saved them, and key (the text the name is
 * a hash of). The name is <shape>-<hash>: the shape is vCPUs, memory and NIC count; the
 * hash covers the kernel, initrd and VMM binary (path, inode, size, mtime), the shape
 * and the kernel command line, so any change makes a new name. It is made by a
 * background `cocoon template-make` (a sandbox of its own, booted with
 * cocoon.template=1) in a temporary directory beside it and renamed into place, under
 * an flock so only one is made; the maker removes templates of the same shape with
 * another hash. Readers see a whole template or none. */
#ifndef COCOON_TEMPLATE_H
#define COCOON_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"

struct sandbox_config;

#define TEMPLATE_DIR "templates"
/* A template's guest: the agent mounts nothing pod-specific; and the kernel's clocksource
 * watchdog leaves the TSC alone: a clone's TSC and kvm-clock resume from values saved
 * a few KVM calls apart, and the watchdog would mark the TSC unstable after each
 * restore (at debug log level its warning alone held a clone's vCPU for 0.4-1 s on
 * the serial port in the lab). Which clocksource the guest picks is as after a boot. */
#define TEMPLATE_CMDLINE "cocoon.template=1 tsc=nowatchdog"
/* MACs the template's NICs have (taps in the maker's namespace): the agent replaces
 * them with the pod's after a restore. */
#define TEMPLATE_MAC(i)                                          \
	{                                                        \
		0x02, 0xcc, 0x7e, 0x00, 0x00, (uint8_t)((i) + 1) \
	}

struct template_key {
	char name[96];	 /* c<cpus>-m<MiB>-n<nics>-<hash> */
	char shape[64];	 /* c<cpus>-m<MiB>-n<nics>- */
	char desc[2048]; /* what was hashed, one item a line */
};

/* The key of a sandbox of cfg's shape with n_nics NICs. */
int template_key(const struct sandbox_config *cfg, unsigned n_nics, struct template_key *k,
		 struct cc_error *err);
/* Opens the template for k: 0 with the fds of vm.state and memory; 1 when there is
 * none; -1 when there is one this host must not use (err says why: not root-only, a
 * key that differs, a file missing or of the wrong kind). */
int template_open(const char *state_root, const struct template_key *k, int *state_fd,
		  int *memory_fd, struct cc_error *err);
/* Removes the template k names (refused or corrupt); a new one is made on next need. */
void template_discard(const char *state_root, const struct template_key *k);
/* Starts `cocoon template-make` for cfg in the background, detached: it outlives the
 * caller. Unless one is being made already (the lock); errors are only logged. */
void template_spawn_maker(const struct sandbox_config *cfg, unsigned n_nics);
/* The maker's work (cocoon template-make): boots, saves, renames into place, then fills
 * cfg->template_spares spares. */
int template_make(const struct sandbox_config *cfg, unsigned n_nics, struct cc_error *err);

/* Spares (docs/vmm.md "Spare memory"): copies of a template's RAM made ahead of need in
 * its directory, each a file on the state root's memory filesystem that one restore
 * takes as its guest's RAM instead of copying the template's. A spare is written as
 * .spare-<pid> (locked by its filler while written) and renamed to spare-<pid>-<n> when
 * whole, both under spares.lock; an unlocked .spare-* is a dead filler's. */
#define TEMPLATE_SPARE_PREFIX "spare-"
#define TEMPLATE_SPARE_LOCK "spares.lock"
#define TEMPLATE_MAX_SPARES 16 /* config template_spares: 0..16 */
/* Whether name is a whole spare's file name (spare-<digits>-<digits>). */
bool template_spare_name(const char *name);
/* Takes one spare of the template open at tdirfd for the sandbox whose directory is
 * sbdirfd: renamed to sbdirfd/as (of two restores racing for it, one rename wins),
 * opened read-write, unlinked (its pages live as long as the VM maps them). 0 with
 * *fd, 1 when there is none; -1 when a claimed file is not a root-only regular file of
 * size bytes (it is removed). */
int template_spare_claim(int tdirfd, int sbdirfd, const char *as, uint64_t size, int *fd,
			 struct cc_error *err);
/* template_spare_claim for the template k names and the sandbox directory sb_dir,
 * sized like memory_fd (the template's memory file). */
int template_take_spare(const char *state_root, const struct template_key *k, const char *sb_dir,
			int memory_fd, int *fd, struct cc_error *err);
/* Writes one spare of memfd (the template's memory file) into tdirfd: data extents
 * only, holes stay holes; *pages counts what was copied. lockfd (or -1) is the spares
 * lock, held on entry and on return: released, at idle priority, for the copy. */
int template_spare_fill(int tdirfd, int lockfd, int memfd, uint64_t *pages, struct cc_error *err);
/* Spares of the template at tdirfd, whole or being written (their filler holds an flock
 * on them), after removing a dead filler's unfinished ones (unlocked). The caller holds
 * the spares lock: no spare is started meanwhile. */
unsigned template_spare_count(int tdirfd);
/* The filler's work (cocoon template-spare, and the maker after it made a template):
 * in the host cgroup <state_root>/templates (its pages are charged there, not to a
 * pod), tops the template up to `spares` spares, where the state root is on a memory
 * filesystem. Errors are logged. */
void template_fill_spares(const char *state_root, const char *name, unsigned spares);
/* Starts `cocoon template-spare` for template `name` in the background, detached. */
void template_spawn_filler(const char *state_root, const char *name, unsigned spares);
/* Whether the state root keeps spares: on tmpfs, where a spare is memory like a memfd
 * (on a disk, a spare would page guest RAM to and from the disk). */
bool template_spares_here(const char *state_root);

#endif
