#include "vmm/core/profile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/core/vcpu.h"
#include "vmm/core/vmm.h"

void profile_init(struct profile *p, uint64_t start_ns)
{
	memset(p, 0, sizeof(*p));
	p->start_ns = start_ns;
	pthread_mutex_init(&p->lock, NULL);
}

void profile_mark(struct profile *p, enum profile_phase ph)
{
	uint64_t unset = 0, now = cc_now_ns();
	__atomic_compare_exchange_n(&p->phase_ns[ph], &unset, now, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

void profile_count_exit(struct profile *p, enum profile_exit why, uint64_t ns)
{
	__atomic_fetch_add(&p->exits[why], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->exit_ns[why], ns, __ATOMIC_RELAXED);
}

void profile_count_unclaimed(struct profile *p, bool mmio, uint64_t addr)
{
	pthread_mutex_lock(&p->lock);
	unsigned i = 0;
	while (i < p->n_unclaimed && (p->unclaimed[i].addr != addr || p->unclaimed[i].mmio != mmio))
		i++;
	if (i < p->n_unclaimed) {
		p->unclaimed[i].n++;
	} else if (i < PROFILE_UNCLAIMED) {
		p->unclaimed[i].addr = addr;
		p->unclaimed[i].mmio = mmio;
		p->unclaimed[i].n = 1;
		p->n_unclaimed++;
	} else {
		p->unclaimed_other++;
	}
	pthread_mutex_unlock(&p->lock);
}

/* Counters worth a line: exits by reason, and the work KVM does for the guest in place
 * of an exit to us. */
static bool kvm_stat_wanted(const struct kvm_stats_desc *d, const char *name)
{
	size_t n = strlen(name);
	if ((d->flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE ||
	    (d->flags & KVM_STATS_UNIT_MASK) != KVM_STATS_UNIT_NONE || d->size != 1)
		return false;
	return strcmp(name, "exits") == 0 || (n > 6 && strcmp(name + n - 6, "_exits") == 0) ||
	       strcmp(name, "insn_emulation") == 0 || strcmp(name, "hypercalls") == 0 ||
	       strcmp(name, "irq_injections") == 0 || strcmp(name, "pf_taken") == 0;
}

static void learn_kvm_stats(struct profile *p, int fd)
{
	struct kvm_stats_header h;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.name_size == 0 ||
	    h.name_size > 256 || h.num_desc > 4096)
		return;
	size_t dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	cleanup_free struct kvm_stats_desc *d = calloc(1, dsize + 1);
	if (d == NULL)
		return;
	for (uint32_t i = 0; i < h.num_desc && p->n_kvm < PROFILE_KVM_STATS; i++) {
		if (pread(fd, d, dsize, (off_t)h.desc_offset + (off_t)i * (off_t)dsize) !=
		    (ssize_t)dsize)
			return;
		d->name[h.name_size - 1] = '\0';
		if (!kvm_stat_wanted(d, d->name) || strlen(d->name) >= sizeof(p->kvm[0].name))
			continue;
		snprintf(p->kvm[p->n_kvm].name, sizeof(p->kvm[0].name), "%s", d->name);
		p->kvm[p->n_kvm++].offset = h.data_offset + d->offset;
	}
}

void profile_open_vcpu_stats(struct profile *p, struct vcpu *c)
{
	c->stats_fd = ioctl(c->fd, KVM_GET_STATS_FD, NULL);
	if (c->stats_fd >= 0 && c->id == 0)
		learn_kvm_stats(p, c->stats_fd);
}

struct out {
	char *buf;
	size_t len, off;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->off >= o->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->off = o->off + (size_t)n < o->len ? o->off + (size_t)n : o->len - 1;
}

static void put_bus(struct out *o, struct bus *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		uint64_t n = __atomic_load_n(&b->r[i].hits, __ATOMIC_RELAXED);
		if (n > 0)
			put(o, " dev.%s=%llu", b->r[i].name, (unsigned long long)n);
	}
}

size_t profile_format(struct vmm *v, char *buf, size_t len)
{
	static const char *const phases[PROFILE_PHASES] = { "loaded", "running", "first_output",
							    "agent" };
	static const char *const exits[PROFILE_EXITS] = { "io", "mmio", "intr", "other" };
	struct profile *p = &v->prof;
	struct out o = { buf, len, 0 };
	if (len == 0)
		return 0;
	buf[0] = '\0';
	put(&o, "uptime_ms=%.1f", (double)(cc_now_ns() - p->start_ns) / 1e6);
	for (int i = 0; i < PROFILE_PHASES; i++) {
		uint64_t t = __atomic_load_n(&p->phase_ns[i], __ATOMIC_RELAXED);
		if (t != 0)
			put(&o, " %s_ms=%.1f", phases[i], (double)(t - p->start_ns) / 1e6);
	}
	uint64_t total = 0;
	for (int i = 0; i < PROFILE_EXITS; i++)
		total += __atomic_load_n(&p->exits[i], __ATOMIC_RELAXED);
	put(&o, " vmm_exits=%llu", (unsigned long long)total);
	for (int i = 0; i < PROFILE_EXITS; i++)
		put(&o, " %s=%llu %s_ms=%.1f", exits[i],
		    (unsigned long long)__atomic_load_n(&p->exits[i], __ATOMIC_RELAXED), exits[i],
		    (double)__atomic_load_n(&p->exit_ns[i], __ATOMIC_RELAXED) / 1e6);
	put_bus(&o, &v->pio);
	put_bus(&o, &v->mmio);
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < p->n_unclaimed; i++)
		put(&o, " unclaimed.%s.0x%llx=%llu", p->unclaimed[i].mmio ? "mmio" : "pio",
		    (unsigned long long)p->unclaimed[i].addr,
		    (unsigned long long)p->unclaimed[i].n);
	if (p->unclaimed_other > 0)
		put(&o, " unclaimed.other=%llu", (unsigned long long)p->unclaimed_other);
	pthread_mutex_unlock(&p->lock);
	for (unsigned s = 0; s < p->n_kvm; s++) {
		uint64_t sum = 0, val;
		for (unsigned i = 0; i < v->n_vcpus && v->vcpus != NULL; i++)
			if (v->vcpus[i].stats_fd >= 0 &&
			    pread(v->vcpus[i].stats_fd, &val, sizeof(val), p->kvm[s].offset) ==
				    (ssize_t)sizeof(val))
				sum += val;
		put(&o, " kvm.%s=%llu", p->kvm[s].name, (unsigned long long)sum);
	}
	return o.off;
}
