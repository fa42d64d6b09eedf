/*
 * stream: JetStream publish with Nats-Msg-Id deduplication and durable pull
 * consumers, over libnats (see stream.h). The durable consumer is created with
 * js_AddConsumer before the pull subscription binds to it, because libnats deletes a
 * consumer that its own subscribe call created when the subscription ends, durable or
 * not; a dataset builder that exits must leave its consumer (and its position) behind.
 */
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define STREAM_URLS_MAX 16
#define STREAM_URL_LEN_MAX 256
#define STREAM_ID_MAX 256
#define STREAM_FETCH_MAX 1024

struct stream {
	natsConnection *nc;
	jsCtx *js;
	jsOptions jo;
	char *urls;           /* as given, for messages */
	int64_t timeout_ms;
};

struct stream_consumer {
	struct stream *s;
	natsSubscription *sub;
	char *name, *durable;
};

struct stream_msg {
	struct stream *s;
	natsMsg *m;
	jsMsgMetaData *meta;  /* NULL when the message carried none */
};

/* Maps a libnats status to an errno-style code. */
static int nats_err(natsStatus st)
{
	switch (st) {
	case NATS_TIMEOUT: return -ETIMEDOUT;
	case NATS_NO_SERVER: return -ECONNREFUSED;
	case NATS_MAX_PAYLOAD: return -E2BIG;
	case NATS_NOT_FOUND: return -ENOENT;
	default: return -EIO;
	}
}

/* Fails with "nats WHAT (SERVERS): STATUS[: detail][ (JetStream error N)]". */
static int fail_nats(char **cause, const struct stream *s, const char *what, natsStatus st,
                     jsErrCode jerr)
{
	natsStatus last = NATS_OK;
	const char *detail = nats_GetLastError(&last);
	char code[48] = "";
	if (jerr)
		snprintf(code, sizeof code, " (JetStream error %d)", (int)jerr);
	int e = jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr ? -ENOENT :
	        nats_err(st);
	char *safe = util_escape_ctl(detail && detail[0] && last == st ? detail : "");
	int rc = util_fail(cause, e, "nats %s (%s): %s%s%s%s", what, s ? s->urls : "?",
	                   natsStatus_GetText(st), safe[0] ? ": " : "", safe, code);
	free(safe);
	return rc;
}

/* A stream or consumer name: what NATS allows as one subject token. */
static bool name_ok(const char *n)
{
	return n && n[0] && strlen(n) <= 128 && strcspn(n, ". *>\t\r\n/\\") == strlen(n);
}

int stream_open(const char *urls, int64_t timeout_ms, struct stream **out, char **cause)
{
	*out = NULL;
	if (!urls || !urls[0])
		return util_fail(cause, -EINVAL, "nats: no server URL given");
	struct stream *s = util_xcalloc(1, sizeof *s);
	s->urls = util_xstrdup(urls);
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	natsOptions *o = NULL;
	const char *list[STREAM_URLS_MAX];
	char *copy = util_xstrdup(urls), *save = NULL;
	int n = 0, rc = 0;
	natsStatus st;
	for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		while (*u == ' ')
			u++;
		if (!*u)
			continue;
		if (n == STREAM_URLS_MAX || strlen(u) > STREAM_URL_LEN_MAX) {
			rc = util_fail(cause, -EINVAL, "nats: the server list '%s' has more than %d URLs "
			               "or one longer than %d characters", urls, STREAM_URLS_MAX,
			               STREAM_URL_LEN_MAX);
			goto fail;
		}
		if (strncmp(u, "nats://", 7) != 0 && strncmp(u, "tls://", 6) != 0) {
			rc = util_fail(cause, -EINVAL, "nats: '%s' is not a nats:// or tls:// URL", u);
			goto fail;
		}
		list[n++] = u;
	}
	if (n == 0) {
		rc = util_fail(cause, -EINVAL, "nats: no server URL in '%s'", urls);
		goto fail;
	}
	if ((st = natsOptions_Create(&o)) != NATS_OK ||
	    (st = natsOptions_SetServers(o, list, n)) != NATS_OK ||
	    (st = natsOptions_SetName(o, "mimic")) != NATS_OK ||
	    (st = natsOptions_SetTimeout(o, s->timeout_ms)) != NATS_OK ||
	    /*
	     * A node that goes away: move to another one. A whole cluster that goes away:
	     * keep trying for as long as the process lives (the collector's outbox waits
	     * meanwhile); every request still ends at its own timeout.
	     */
	    (st = natsOptions_SetMaxReconnect(o, -1)) != NATS_OK ||
	    (st = natsOptions_SetReconnectWait(o, 250)) != NATS_OK) {
		rc = fail_nats(cause, s, "options", st, 0);
		goto fail;
	}
	if ((st = natsConnection_Connect(&s->nc, o)) != NATS_OK) {
		rc = fail_nats(cause, s, "connect", st, 0);
		goto fail;
	}
	jsOptions_Init(&s->jo);
	s->jo.Wait = s->timeout_ms;
	if ((st = natsConnection_JetStream(&s->js, s->nc, &s->jo)) != NATS_OK) {
		rc = fail_nats(cause, s, "JetStream context", st, 0);
		goto fail;
	}
	natsOptions_Destroy(o);
	free(copy);
	*out = s;
	return 0;
fail:
	natsOptions_Destroy(o);
	free(copy);
	stream_close(s);
	return rc;
}

void stream_close(struct stream *s)
{
	if (!s)
		return;
	if (s->js)
		jsCtx_Destroy(s->js);
	if (s->nc) {
		natsConnection_Close(s->nc);
		natsConnection_Destroy(s->nc);
	}
	free(s->urls);
	free(s);
}

int stream_ensure(struct stream *s, const struct stream_config *cfg, char **cause)
{
	if (!cfg || !name_ok(cfg->name))
		return util_fail(cause, -EINVAL, "nats: stream name '%s' is empty, too long or has "
		                 "'.', '*', '>' or a space", cfg && cfg->name ? cfg->name : "");
	if (!cfg->subject || !cfg->subject[0])
		return util_fail(cause, -EINVAL, "nats: stream %s needs a subject", cfg->name);
	if (cfg->replicas < 0 || cfg->replicas > 5)
		return util_fail(cause, -EINVAL, "nats: stream %s: replicas %d is outside 1..5",
		                 cfg->name, cfg->replicas);
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	const char *subjects[1] = { cfg->subject };
	sc.Name = cfg->name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Replicas = cfg->replicas > 0 ? cfg->replicas : 1;
	sc.Duplicates = (cfg->duplicate_window_ms > 0 ? cfg->duplicate_window_ms : 120000) *
	                (int64_t)1000000;
	sc.MaxBytes = cfg->max_bytes > 0 ? cfg->max_bytes : -1;
	sc.MaxMsgSize = cfg->max_msg_size > 0 ? cfg->max_msg_size : -1;
	/* A full stream refuses new manifests rather than dropping ones not yet built. */
	sc.Discard = cfg->max_bytes > 0 ? js_DiscardNew : js_DiscardOld;
	jsErrCode jerr = 0;
	natsStatus st = js_AddStream(NULL, s->js, &sc, &s->jo, &jerr);
	if (st != NATS_OK && jerr == JSStreamNameExistErr) {
		jerr = 0;
		st = js_UpdateStream(NULL, s->js, &sc, &s->jo, &jerr);
	}
	if (st != NATS_OK) {
		char *what = util_xasprintf("creating stream %s", cfg->name);
		int rc = fail_nats(cause, s, what, st, jerr);
		free(what);
		return rc;
	}
	return 0;
}

int stream_count(struct stream *s, const char *name, uint64_t *msgs, uint64_t *bytes,
                 char **cause)
{
	*msgs = 0;
	*bytes = 0;
	if (!name_ok(name))
		return util_fail(cause, -EINVAL, "nats: bad stream name '%s'", name ? name : "");
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus st = js_GetStreamInfo(&si, s->js, name, &s->jo, &jerr);
	if (st != NATS_OK) {
		char *what = util_xasprintf("stream info %s", name);
		int rc = fail_nats(cause, s, what, st, jerr);
		free(what);
		return rc;
	}
	*msgs = si->State.Msgs;
	*bytes = si->State.Bytes;
	jsStreamInfo_Destroy(si);
	return 0;
}

int stream_publish(struct stream *s, const char *subject, const void *data, size_t len,
                   const char *msg_id, struct stream_ack *ack, char **cause)
{
	if (ack)
		memset(ack, 0, sizeof *ack);
	if (!subject || !subject[0])
		return util_fail(cause, -EINVAL, "nats publish: no subject");
	if (!msg_id || !msg_id[0] || strlen(msg_id) > STREAM_ID_MAX)
		return util_fail(cause, -EINVAL, "nats publish %s: the message id (the bundle hash) is "
		                 "missing or longer than %d bytes", subject, STREAM_ID_MAX);
	int64_t maxp = natsConnection_GetMaxPayload(s->nc);
	/* Headers ride in the same payload: keep room for them. */
	if (maxp > 0 && (int64_t)len + 512 > maxp)
		return util_fail(cause, -E2BIG, "nats publish %s (%s): %zu bytes is over the server's "
		                 "max_payload of %" PRId64 " bytes (raise max_payload)", subject,
		                 s->urls, len, maxp);
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MsgId = msg_id;
	po.MaxWait = s->timeout_ms;
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;
	natsStatus st = js_Publish(&pa, s->js, subject, data, (int)len, &po, &jerr);
	if (st != NATS_OK) {
		char *what = util_xasprintf("publish %s", subject);
		int rc = fail_nats(cause, s, what, st, jerr);
		free(what);
		return rc;
	}
	if (ack) {
		ack->seq = pa->Sequence;
		ack->duplicate = pa->Duplicate;
	}
	jsPubAck_Destroy(pa);
	return 0;
}

int stream_consumer_open(struct stream *s, const char *name, const char *durable,
                         const char *filter, int64_t ack_wait_ms, int64_t max_deliver,
                         struct stream_consumer **out, char **cause)
{
	*out = NULL;
	if (!name_ok(name) || !name_ok(durable))
		return util_fail(cause, -EINVAL, "nats: stream '%s' or consumer '%s' is empty, too "
		                 "long or has '.', '*', '>' or a space", name ? name : "",
		                 durable ? durable : "");
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = durable;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = (ack_wait_ms > 0 ? ack_wait_ms : 30000) * (int64_t)1000000;
	cc.MaxDeliver = max_deliver > 0 ? max_deliver : -1;
	cc.FilterSubject = filter;
	cc.DeliverPolicy = js_DeliverAll;
	jsErrCode jerr = 0;
	natsStatus st = js_AddConsumer(NULL, s->js, name, &cc, &s->jo, &jerr);
	/* An existing durable of the same configuration is fine: several builders share it. */
	if (st != NATS_OK && jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr) {
		char *what = util_xasprintf("creating consumer %s on stream %s", durable, name);
		int rc = fail_nats(cause, s, what, st, jerr);
		free(what);
		return rc;
	}
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = name;
	so.Consumer = durable;
	struct stream_consumer *c = util_xcalloc(1, sizeof *c);
	c->s = s;
	c->name = util_xstrdup(name);
	c->durable = util_xstrdup(durable);
	jerr = 0;
	st = js_PullSubscribe(&c->sub, s->js, filter ? filter : NULL, durable, &s->jo, &so, &jerr);
	if (st != NATS_OK) {
		char *what = util_xasprintf("pull subscribe %s on stream %s", durable, name);
		int rc = fail_nats(cause, s, what, st, jerr);
		free(what);
		stream_consumer_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void stream_consumer_close(struct stream_consumer *c)
{
	if (!c)
		return;
	/* Destroy without Unsubscribe: the server keeps the durable consumer. */
	if (c->sub)
		natsSubscription_Destroy(c->sub);
	free(c->name);
	free(c->durable);
	free(c);
}

int stream_consumer_delete(struct stream *s, const char *name, const char *durable,
                           char **cause)
{
	if (!name_ok(name) || !name_ok(durable))
		return util_fail(cause, -EINVAL, "nats: bad stream '%s' or consumer '%s'",
		                 name ? name : "", durable ? durable : "");
	jsErrCode jerr = 0;
	natsStatus st = js_DeleteConsumer(s->js, name, durable, &s->jo, &jerr);
	if (st != NATS_OK) {
		char *what = util_xasprintf("deleting consumer %s on stream %s", durable, name);
		int rc = fail_nats(cause, s, what, st, jerr);
		free(what);
		return rc;
	}
	return 0;
}

int stream_fetch(struct stream_consumer *c, int max, int64_t timeout_ms,
                 struct stream_msg **msgs, int *count, char **cause)
{
	*count = 0;
	if (max < 1 || max > STREAM_FETCH_MAX)
		return util_fail(cause, -EINVAL, "nats fetch: batch %d is outside 1..%d", max,
		                 STREAM_FETCH_MAX);
	natsMsgList list = { 0 };
	jsErrCode jerr = 0;
	natsStatus st = natsSubscription_Fetch(&list, c->sub, max, timeout_ms > 0 ? timeout_ms : 1,
	                                       &jerr);
	if (st == NATS_TIMEOUT) {
		natsMsgList_Destroy(&list);
		return 0;
	}
	if (st != NATS_OK) {
		natsMsgList_Destroy(&list);
		char *what = util_xasprintf("fetch from consumer %s on stream %s", c->durable,
		                            c->name);
		int rc = fail_nats(cause, c->s, what, st, jerr);
		free(what);
		return rc;
	}
	int n = 0;
	for (int i = 0; i < list.Count && n < max; i++) {
		struct stream_msg *m = util_xcalloc(1, sizeof *m);
		m->s = c->s;
		m->m = list.Msgs[i];
		list.Msgs[i] = NULL;
		if (natsMsg_GetMetaData(&m->meta, m->m) != NATS_OK)
			m->meta = NULL;
		msgs[n++] = m;
	}
	natsMsgList_Destroy(&list);  /* the messages taken are NULL in it */
	*count = n;
	return 0;
}

const void *stream_msg_data(const struct stream_msg *msg, size_t *len)
{
	*len = (size_t)natsMsg_GetDataLength(msg->m);
	return natsMsg_GetData(msg->m);
}

const char *stream_msg_id(const struct stream_msg *msg)
{
	const char *v = NULL;
	if (natsMsgHeader_Get(msg->m, "Nats-Msg-Id", &v) != NATS_OK)
		return NULL;
	return v;
}

uint64_t stream_msg_seq(const struct stream_msg *msg)
{
	return msg->meta ? msg->meta->Sequence.Stream : 0;
}

uint64_t stream_msg_deliveries(const struct stream_msg *msg)
{
	return msg->meta ? msg->meta->NumDelivered : 0;
}

int stream_msg_ack(struct stream_msg *msg, char **cause)
{
	jsErrCode jerr = 0;
	natsStatus st = natsMsg_AckSync(msg->m, &msg->s->jo, &jerr);
	if (st != NATS_OK)
		return fail_nats(cause, msg->s, "ack", st, jerr);
	return 0;
}

int stream_msg_nak(struct stream_msg *msg, int64_t delay_ms, char **cause)
{
	natsStatus st = delay_ms > 0 ? natsMsg_NakWithDelay(msg->m, delay_ms, &msg->s->jo) :
	                natsMsg_Nak(msg->m, &msg->s->jo);
	if (st != NATS_OK)
		return fail_nats(cause, msg->s, "nak", st, 0);
	return 0;
}

void stream_msg_free(struct stream_msg *msg)
{
	if (!msg)
		return;
	if (msg->meta)
		jsMsgMetaData_Destroy(msg->meta);
	natsMsg_Destroy(msg->m);
	free(msg);
}
