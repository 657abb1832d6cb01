/* The VMM's single event loop (epoll) run by the main thread: virtqueue kicks,
 * backend sockets and taps, the control API, console input and the exit request. */
#ifndef COCOON_VMM_LOOP_H
#define COCOON_VMM_LOOP_H

#include <stdint.h>

#include "shared/error.h"

typedef void (*loop_fn)(void *opaque, uint32_t events);

struct loop_handler;

struct loop {
	int epfd;
	struct loop_handler *live; /* every watched fd, freed by loop_destroy */
	struct loop_handler *dead; /* freed after the current dispatch round */
	int stop;
};

int loop_init(struct loop *l, struct cc_error *err);
void loop_destroy(struct loop *l);
/* Watches fd; returns the handle used by loop_mod/loop_del, NULL on failure. */
struct loop_handler *loop_add(struct loop *l, int fd, uint32_t events, loop_fn fn, void *opaque,
			      struct cc_error *err);
int loop_mod(struct loop *l, struct loop_handler *h, uint32_t events);
/* Stops watching; the handler is never called again (safe from inside a handler). */
void loop_del(struct loop *l, struct loop_handler *h);
/* Dispatches until loop->stop is set. */
int loop_run(struct loop *l, struct cc_error *err);
/* One round: waits up to timeout_ms (-1: forever) and dispatches what is ready.
 * Returns the number of events, <0 on failure. */
int loop_once(struct loop *l, int timeout_ms, struct cc_error *err);

#endif
