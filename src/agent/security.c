/* Process security set up in the container child: rlimits and OOM score, user and
 * groups, capabilities (libcap), no_new_privs, and the seccomp filter (libseccomp). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/container_priv.h"
#include "shared/util.h"

static int add_rule(scmp_filter_ctx ctx, const struct oci_seccomp_rule *r, int nr,
		    struct cc_error *err)
{
	struct scmp_arg_cmp cmp[6];
	int dup_index = 0, rc;
	for (size_t i = 0; i < r->n_args; i++) {
		cmp[i] = (struct scmp_arg_cmp){ .arg = r->args[i].index,
						.op = (enum scmp_compare)r->args[i].op,
						.datum_a = r->args[i].value,
						.datum_b = r->args[i].value_two };
		for (size_t j = 0; j < i; j++)
			dup_index |= r->args[j].index == r->args[i].index;
	}
	/* libseccomp takes one comparison per argument in a rule; several on the same
	 * argument mean "any of them" (as runc reads it), so each gets its own rule. */
	if (dup_index) {
		for (size_t i = 0; i < r->n_args; i++) {
			rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &cmp[i]);
			if (rc < 0)
				return cc_error_set(err, -rc, "seccomp rule for %s", r->names[0]);
		}
		return 0;
	}
	rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->n_args, cmp);
	if (rc < 0)
		return cc_error_set(err, -rc, "seccomp rule for syscall %d", nr);
	return 0;
}

int security_build_seccomp(const struct oci_seccomp *sc, scmp_filter_ctx *out, struct cc_error *err)
{
	*out = NULL;
	if (sc == NULL)
		return 0;
	scmp_filter_ctx ctx = seccomp_init(sc->default_action);
	if (ctx == NULL)
		return cc_error_set(err, EINVAL, "seccomp_init");
	/* no_new_privs is the spec's choice, set by security_drop, not libseccomp's. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	for (size_t i = 0; rc == 0 && sc->architectures && sc->architectures[i]; i++) {
		uint32_t arch;
		if (oci_seccomp_arch(sc->architectures[i], &arch) < 0)
			rc = -EINVAL;
		else if (arch != seccomp_arch_native())
			rc = seccomp_arch_add(ctx, arch);
		if (rc == -EEXIST)
			rc = 0;
	}
	if (rc < 0) {
		seccomp_release(ctx);
		return cc_error_set(err, -rc, "seccomp architectures");
	}
	for (size_t i = 0; i < sc->n_rules; i++) {
		const struct oci_seccomp_rule *r = &sc->rules[i];
		if (r->action == sc->default_action)
			continue;
		for (char **name = r->names; *name != NULL; name++) {
			/* Names unknown to this kernel/libseccomp are skipped, as runc does:
			 * profiles list syscalls of many kernel versions. */
			int nr = seccomp_syscall_resolve_name(*name);
			if (nr == __NR_SCMP_ERROR)
				continue;
			if (add_rule(ctx, r, nr, err) < 0) {
				seccomp_release(ctx);
				return cc_error_prefix(err, "linux.seccomp.syscalls[%zu] (%s)", i,
						       *name);
			}
		}
	}
	*out = ctx;
	return 0;
}

int security_limits(const struct oci_process *p, struct cc_error *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = { .rlim_cur = p->rlimits[i].soft,
				     .rlim_max = p->rlimits[i].hard };
		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return cc_error_set(err, errno, "setrlimit %d", p->rlimits[i].resource);
	}
	if (p->has_oom_score_adj) {
		char v[16];
		snprintf(v, sizeof(v), "%d", p->oom_score_adj);
		if (cc_write_file("/proc/self/oom_score_adj", v, strlen(v), 0, err) < 0)
			return -1;
	}
	return 0;
}

static int set_caps(const struct oci_process *p, struct cc_error *err)
{
	cap_t caps = cap_init();
	if (caps == NULL)
		return cc_error_set(err, errno, "cap_init");
	struct {
		cap_flag_t flag;
		const int *set;
		size_t n;
	} sets[] = { { CAP_EFFECTIVE, p->cap_effective, p->n_effective },
		     { CAP_PERMITTED, p->cap_permitted, p->n_permitted },
		     { CAP_INHERITABLE, p->cap_inheritable, p->n_inheritable } };
	for (size_t i = 0; i < CC_ARRAY_SIZE(sets); i++) {
		for (size_t j = 0; j < sets[i].n; j++) {
			cap_value_t v = sets[i].set[j];
			if (v <= CAP_LAST_CAP &&
			    cap_set_flag(caps, sets[i].flag, 1, &v, CAP_SET) < 0) {
				cap_free(caps);
				return cc_error_set(err, errno, "capability %d", v);
			}
		}
	}
	int r = cap_set_proc(caps);
	int saved = errno;
	cap_free(caps);
	if (r < 0)
		return cc_error_set(err, saved, "set capabilities");
	for (size_t i = 0; i < p->n_ambient; i++) {
		if (cap_set_ambient(p->cap_ambient[i], CAP_SET) < 0)
			return cc_error_set(err, errno,
					    "ambient capability %d (it must also be permitted "
					    "and inheritable)",
					    p->cap_ambient[i]);
	}
	return 0;
}

static int in_set(const int *set, size_t n, int cap)
{
	for (size_t i = 0; i < n; i++) {
		if (set[i] == cap)
			return 1;
	}
	return 0;
}

int security_drop(const struct oci_process *p, scmp_filter_ctx filter, struct cc_error *err)
{
	int rc;
	/* Without no_new_privs the kernel only accepts a filter from a process with
	 * CAP_SYS_ADMIN, so it goes in before the capabilities are dropped. */
	if (filter != NULL && !p->no_new_privileges && (rc = seccomp_load(filter)) < 0)
		return cc_error_set(err, -rc, "load seccomp filter");
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (!in_set(p->cap_bounding, p->n_bounding, cap) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return cc_error_set(err, errno, "drop bounding capability %d", cap);
	}
	/* Keep the permitted set across setuid so set_caps can choose from it. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return cc_error_set(err, errno, "PR_SET_KEEPCAPS");
	if (setgroups(p->n_additional_gids, p->additional_gids) < 0)
		return cc_error_set(err, errno, "setgroups");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return cc_error_set(err, errno, "setgid %u", (unsigned)p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return cc_error_set(err, errno, "setuid %u", (unsigned)p->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return cc_error_set(err, errno, "PR_SET_KEEPCAPS");
	if (set_caps(p, err) < 0)
		return -1;
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return cc_error_set(err, errno, "PR_SET_NO_NEW_PRIVS");
	if (filter != NULL && p->no_new_privileges && (rc = seccomp_load(filter)) < 0)
		return cc_error_set(err, -rc, "load seccomp filter");
	return 0;
}
