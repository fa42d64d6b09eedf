/*
 * stream: NATS JetStream for the fleet (libnats): the collector publishes each
 * accepted bundle's manifest on a stream, deduplicated by the bundle's hash
 * (Nats-Msg-Id), and dataset builders read the stream through a durable pull
 * consumer, acknowledging each manifest once its bundle is built into shards.
 *
 * A `struct stream` is a connection to a NATS cluster (a list of URLs: the client
 * fails over to another node when one goes away) with its JetStream context.
 *
 * Errors: functions return 0 or a negative errno-style code and fill *cause (the
 * caller frees; cause may be NULL) with one line naming the servers, the stream or
 * subject, libnats's status text and the JetStream error code when there is one.
 * -ETIMEDOUT: no answer in time (a publish that timed out may or may not be stored:
 * publish it again with the same id, the stream drops the duplicate). -ECONNREFUSED:
 * no server could be reached. -E2BIG: a message over the server's max_payload.
 * -ENOENT: no such stream or consumer. -EIO: anything else. Nothing is retried.
 *
 * Threads: libnats is thread-safe; a struct stream may be shared, a consumer and
 * its messages are used by one thread at a time.
 */
#ifndef MIMIC_STREAM_H
#define MIMIC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stream;
struct stream_consumer;
struct stream_msg;

/*
 * Connects to the cluster: urls is a comma-separated list (at most 16) such as
 * "nats://127.0.0.1:4222,nats://127.0.0.1:4223". timeout_ms (0: 5000) bounds the
 * connection and every JetStream request.
 */
int stream_open(const char *urls, int64_t timeout_ms, struct stream **out /* OUT */,
                char **cause);

/* Closes the connection (messages not yet acknowledged are redelivered later). NULL ok. */
void stream_close(struct stream *s);

struct stream_config {
	const char *name;            /* the stream's name: no '.', '*', '>' or space */
	const char *subject;         /* what it stores, e.g. "mimic.manifests.>" */
	int replicas;                /* 1..5; 0: 1 */
	int64_t duplicate_window_ms; /* how long a Nats-Msg-Id is remembered; 0: 2 min */
	int64_t max_bytes;           /* 0: no limit */
	int32_t max_msg_size;        /* 0: the server's max_payload */
};

/*
 * Creates the stream, or brings an existing one of that name to this configuration.
 * -EINVAL with *cause for a bad name or replicas; the server's refusal (for example
 * more replicas than nodes) is -EIO naming the JetStream error.
 */
int stream_ensure(struct stream *s, const struct stream_config *cfg, char **cause);

/* The number of messages and bytes stored in the stream `name`. */
int stream_count(struct stream *s, const char *name, uint64_t *msgs /* OUT */,
                 uint64_t *bytes /* OUT */, char **cause);

struct stream_ack {
	uint64_t seq;     /* the message's sequence in the stream */
	bool duplicate;   /* the id was seen within the duplicate window: nothing stored */
};

/*
 * Publishes len bytes on subject with the header Nats-Msg-Id: msg_id (required, at
 * most 256 bytes: the bundle's hash) and waits for the stream's acknowledgement.
 * ack may be NULL.
 */
int stream_publish(struct stream *s, const char *subject, const void *data, size_t len,
                   const char *msg_id, struct stream_ack *ack /* OUT */, char **cause);

/*
 * Opens (creating it when missing) the durable pull consumer `durable` of the stream
 * `name`, reading the subjects that match filter (NULL: all). A message not
 * acknowledged within ack_wait_ms (0: 30 s) is delivered again, at most max_deliver
 * times (0: no limit). The consumer outlives the connection: another builder that
 * opens the same durable shares its messages (each goes to one of them).
 */
int stream_consumer_open(struct stream *s, const char *name, const char *durable,
                         const char *filter, int64_t ack_wait_ms, int64_t max_deliver,
                         struct stream_consumer **out /* OUT */, char **cause);

/* Closes the subscription; the durable consumer stays on the server. NULL ok. */
void stream_consumer_close(struct stream_consumer *c);

/* Deletes the durable consumer `durable` of stream `name` from the server. */
int stream_consumer_delete(struct stream *s, const char *name, const char *durable,
                           char **cause);

/*
 * Fetches up to max (1..1024) messages, waiting up to timeout_ms for the first.
 * msgs is an array of at least max pointers; *count is set to the number filled,
 * each to be freed with stream_msg_free after an ack or nak. No message before the
 * timeout is not an error: 0 with *count = 0.
 */
int stream_fetch(struct stream_consumer *c, int max, int64_t timeout_ms,
                 struct stream_msg **msgs /* OUT */, int *count /* OUT */, char **cause);

/* The message's bytes (owned by msg) and their number. */
const void *stream_msg_data(const struct stream_msg *msg, size_t *len /* OUT */);

/* The Nats-Msg-Id it was published with (owned by msg), or NULL. */
const char *stream_msg_id(const struct stream_msg *msg);

/* Its sequence in the stream, and how many times it has been delivered (1 the first). */
uint64_t stream_msg_seq(const struct stream_msg *msg);
uint64_t stream_msg_deliveries(const struct stream_msg *msg);

/* Acknowledges the message and waits for the server to confirm it. */
int stream_msg_ack(struct stream_msg *msg, char **cause);

/* Gives the message back, to be delivered again after delay_ms (0: at once). */
int stream_msg_nak(struct stream_msg *msg, int64_t delay_ms, char **cause);

/* Frees the message. NULL ok. */
void stream_msg_free(struct stream_msg *msg);

#endif
