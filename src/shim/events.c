/* Events to containerd: Events/Forward on TTRPC_ADDRESS. Handlers only queue; one
 * thread delivers in order, reconnecting when containerd restarts, so a slow or absent
 * containerd never blocks the task API. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "shim/shim.h"

#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define EVENT_TIMEOUT_MS 5000
/* How long one event is retried while containerd is away (e.g. restarting). */
#define EVENT_RETRY_MS 60000
#define EVENT_QUEUE_MAX 4096

struct event {
	char *topic, *type_url;
	uint8_t *data;
	size_t len;
	uint64_t at_ns;
	struct event *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct event *head, **tail;
	size_t n;
	bool stopping;
	char *path, *ns;
	pthread_t thread;
	bool started;
} ev = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static struct ttrpc_client *dial(struct cc_error *err)
{
	int fd = cc_unix_connect(ev.path, err);
	if (fd < 0)
		return NULL;
	struct ttrpc_client *c = ttrpc_client_new(fd, err);
	if (c && ttrpc_client_set_metadata(c, "containerd-namespace-ttrpc", ev.ns) < 0) {
		ttrpc_client_free(c);
		return cc_error_set(err, 0, "ttrpc metadata"), NULL;
	}
	return c;
}

static int forward(struct ttrpc_client *c, const struct event *e, struct cc_error *err)
{
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	Containerd__Services__Events__Ttrpc__V1__Envelope env =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	ProtobufCMessage *resp = NULL;

	shim_timestamp(&ts, e->at_ns);
	any.type_url = e->type_url;
	any.value.data = e->data;
	any.value.len = e->len;
	env.timestamp = &ts;
	env.namespace_ = ev.ns;
	env.topic = e->topic;
	env.event = &any;
	req.envelope = &env;
	if (ttrpc_client_call(c, EVENTS_SERVICE, "Forward", &req.base,
			      &google__protobuf__empty__descriptor, &resp, EVENT_TIMEOUT_MS,
			      err) < 0)
		return -1;
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static void event_free(struct event *e)
{
	free(e->topic);
	free(e->type_url);
	free(e->data);
	free(e);
}

static void *publisher(void *arg)
{
	struct ttrpc_client *c = NULL;
	struct cc_error err = { 0 };
	(void)arg;

	for (;;) {
		pthread_mutex_lock(&ev.lock);
		while (!ev.head && !ev.stopping)
			pthread_cond_wait(&ev.cond, &ev.lock);
		struct event *e = ev.head;
		bool stopping = ev.stopping;
		pthread_mutex_unlock(&ev.lock);
		if (!e)
			break;

		uint64_t give_up = cc_now_ns() + (uint64_t)EVENT_RETRY_MS * 1000000ull;
		for (unsigned attempt = 0;; attempt++) {
			if (c && ttrpc_client_closed(c)) {
				ttrpc_client_free(c);
				c = NULL;
			}
			if (!c)
				c = dial(&err);
			if (c && forward(c, e, &err) == 0)
				break;
			if (c && ttrpc_client_closed(c)) {
				ttrpc_client_free(c);
				c = NULL;
			}
			if (stopping || cc_now_ns() > give_up) {
				cc_warn("dropping event %s: %s", e->topic, err.msg);
				break;
			}
			struct timespec ts = { 0, (attempt < 10 ? 50 : 500) * 1000000L };
			nanosleep(&ts, NULL);
			pthread_mutex_lock(&ev.lock);
			stopping = ev.stopping;
			pthread_mutex_unlock(&ev.lock);
		}
		pthread_mutex_lock(&ev.lock);
		ev.head = e->next;
		if (!ev.head)
			ev.tail = &ev.head;
		ev.n--;
		pthread_cond_broadcast(&ev.cond); /* shim_events_flush waits for an empty queue */
		pthread_mutex_unlock(&ev.lock);
		cc_debug("event %s delivered", e->topic);
		event_free(e);
	}
	if (c)
		ttrpc_client_free(c);
	return NULL;
}

int shim_events_init(const char *ttrpc_address, const char *ns, struct cc_error *err)
{
	int rc;

	if (!ttrpc_address || !*ttrpc_address)
		return cc_error_set(err, 0, "TTRPC_ADDRESS is not set: cannot publish events");
	if (strncmp(ttrpc_address, "unix://", 7) == 0)
		ttrpc_address += 7;
	ev.path = strdup(ttrpc_address);
	ev.ns = strdup(ns);
	ev.tail = &ev.head;
	if (!ev.path || !ev.ns)
		return cc_error_set(err, ENOMEM, "events");
	rc = pthread_create(&ev.thread, NULL, publisher, NULL);
	if (rc != 0)
		return cc_error_set(err, rc, "starting the event publisher");
	ev.started = true;
	return 0;
}

void shim_publish(const char *topic, const char *type_url, const ProtobufCMessage *msg)
{
	struct event *e = calloc(1, sizeof(*e));

	if (!e || !(e->topic = strdup(topic)) || !(e->type_url = strdup(type_url)))
		goto oom;
	e->len = protobuf_c_message_get_packed_size(msg);
	e->data = malloc(e->len ? e->len : 1);
	if (!e->data)
		goto oom;
	protobuf_c_message_pack(msg, e->data);
	e->at_ns = cc_clock_ns(CLOCK_REALTIME);
	pthread_mutex_lock(&ev.lock);
	if (!ev.started || ev.n >= EVENT_QUEUE_MAX) {
		pthread_mutex_unlock(&ev.lock);
		cc_warn("event queue unavailable or full, dropping %s", topic);
		event_free(e);
		return;
	}
	*ev.tail = e;
	ev.tail = &e->next;
	ev.n++;
	pthread_cond_broadcast(&ev.cond);
	pthread_mutex_unlock(&ev.lock);
	return;
oom:
	cc_err("out of memory queueing event %s", topic);
	if (e)
		event_free(e);
}

void shim_events_flush(int timeout_ms)
{
	struct timespec until;

	if (!ev.started)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&ev.lock);
	while (ev.head)
		if (pthread_cond_timedwait(&ev.cond, &ev.lock, &until) == ETIMEDOUT)
			break;
	ev.stopping = true;
	pthread_cond_broadcast(&ev.cond);
	pthread_mutex_unlock(&ev.lock);
	/* A publisher stuck on a dead containerd gives up within one call timeout. */
	pthread_join(ev.thread, NULL);
	ev.started = false;
}
