#include "vmm/core/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct loop_handler {
	int fd;
	loop_fn fn;
	void *opaque;
	struct loop_handler *next; /* in loop->live, then in loop->dead */
};

int loop_init(struct loop *l, struct cc_error *err)
{
	l->live = l->dead = NULL;
	l->stop = 0;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return cc_error_set(err, errno, "epoll_create1");
	return 0;
}

static void free_list(struct loop_handler **list)
{
	while (*list != NULL) {
		struct loop_handler *h = *list;
		*list = h->next;
		free(h);
	}
}

static void reap(struct loop *l)
{
	free_list(&l->dead);
}

void loop_destroy(struct loop *l)
{
	reap(l);
	free_list(&l->live);
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

struct loop_handler *loop_add(struct loop *l, int fd, uint32_t events, loop_fn fn, void *opaque,
			      struct cc_error *err)
{
	struct loop_handler *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		cc_error_set(err, ENOMEM, "loop_add");
		return NULL;
	}
	*h = (struct loop_handler){ .fd = fd, .fn = fn, .opaque = opaque };
	struct epoll_event ev = { .events = events, .data.ptr = h };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		cc_error_set(err, errno, "epoll_ctl add fd %d", fd);
		free(h);
		return NULL;
	}
	h->next = l->live;
	l->live = h;
	return h;
}

int loop_mod(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, h->fd, &ev);
}

void loop_del(struct loop *l, struct loop_handler *h)
{
	if (h == NULL)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->fn = NULL;
	struct loop_handler **p = &l->live;
	while (*p != NULL && *p != h)
		p = &(*p)->next;
	if (*p == h)
		*p = h->next;
	h->next = l->dead;
	l->dead = h;
}

int loop_once(struct loop *l, int timeout_ms, struct cc_error *err)
{
	struct epoll_event evs[32];
	int n = epoll_wait(l->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : cc_error_set(err, errno, "epoll_wait");
	for (int i = 0; i < n && !l->stop; i++) {
		struct loop_handler *h = evs[i].data.ptr;
		if (h->fn != NULL)
			h->fn(h->opaque, evs[i].events);
	}
	reap(l);
	return n;
}

int loop_run(struct loop *l, struct cc_error *err)
{
	while (!l->stop)
		if (loop_once(l, -1, err) < 0)
			return -1;
	return 0;
}
