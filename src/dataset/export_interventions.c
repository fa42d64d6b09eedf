/*
 * export_interventions: the corrective data of agent takeovers (export.h,
 * docs/EXPORT.md "Interventions"). The export hands every step it wrote, in
 * order, to export_iv_step; a step whose action is anchored inside an
 * intervention's span of events and is not the agent's is one of the person's
 * corrective actions, the agent's steps before it are its context. When the
 * span is over, the intervention gives two samples: a supervised one (the
 * observation before the person's first action -> the person's actions) and a
 * preference pair (same observation; chosen: the person's first action,
 * rejected: the agent's pending action, the call the takeover refused, or
 * without one the agent's last executed action). Both are built from the steps
 * as the export wrote them: redacted, with the images that passed the frame
 * gate, so that nothing here sees more than steps.jsonl shows.
 */
#include "export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testbreak.h"
#include "util.h"

void export_iv_init(struct export_iv *v, const struct store_intervention *ivs, size_t n,
                    export_iv_redact_fn *redact, export_iv_emit_fn *emit, void *arg)
{
	memset(v, 0, sizeof(*v));
	v->ivs = ivs;
	v->n = n;
	v->redact = redact;
	v->emit = emit;
	v->arg = arg;
	v->recent = json_array();
	v->human = json_array();
}

void export_iv_free(struct export_iv *v)
{
	json_decref(v->recent);
	json_decref(v->human);
	v->recent = v->human = NULL;
}

/* The computer-use form of a step's action ({"action": kind} when it has none). */
static json_t *action_of(json_t *step)
{
	json_t *cu = json_object_get(json_object_get(step, "action"), "computer_use");

	if (json_is_object(cu))
		return json_incref(cu);
	return json_pack("{s:O?}", "action", json_object_get(step, "kind"));
}

/*
 * The agent's pending call as the samples show it: the computer-use members of
 * its arguments (no task), its texts through the export's redaction. NULL when
 * it made none, or it does not read (it is then left out, never guessed).
 */
static json_t *pending_action(struct export_iv *v, const struct store_intervention *iv)
{
	static const char *const keep[] = { "action", "coordinate", "start_coordinate", "text",
	                                    "scroll_direction", "scroll_amount", "duration" };
	json_t *in, *out;

	if (iv->pending[0] == '\0' || (in = json_loads(iv->pending, 0, NULL)) == NULL)
		return NULL;
	if (!json_is_object(in) || !json_is_string(json_object_get(in, "action"))) {
		json_decref(in);
		return NULL;
	}
	out = json_object();
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		json_t *m = json_object_get(in, keep[i]);

		if (m == NULL)
			continue;
		if (json_is_string(m) && strcmp(keep[i], "action") != 0) {
			char *r = v->redact(v->arg, json_string_value(m));

			/* A text that could not be scanned is dropped, as in a step. */
			json_object_set_new(out, keep[i], r != NULL ? json_string(r) : json_null());
			free(r);
		} else {
			json_object_set(out, keep[i], m);
		}
	}
	json_decref(in);
	return out;
}

/* The user turn: the observation (an image when there is one) and the context in words. */
static json_t *user_turn(json_t *first, json_t *agent, int has_image)
{
	json_t *content = json_array();
	const char *task = json_string_value(json_object_get(first, "task"));
	char *ctx = json_dumps(agent, JSON_COMPACT), *text;

	if (has_image)
		json_array_append_new(content, json_pack("{s:s}", "type", "image"));
	text = util_xasprintf("Task: %s\nPrevious actions (computer_use, oldest first): %s\n"
	                      "What is the next action?", task != NULL ? task : "(not given)",
	                      ctx != NULL ? ctx : "[]");
	json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", text));
	free(text);
	free(ctx);
	return json_pack("[{s:s, s:o}]", "role", "user", "content", content);
}

/* An assistant turn whose text is the JSON of an action (or of a list of actions). */
static json_t *assistant_turn(json_t *what)
{
	char *s = json_dumps(what, JSON_COMPACT | JSON_ENCODE_ANY);
	json_t *t = json_pack("[{s:s, s:[{s:s, s:s}]}]", "role", "assistant", "content", "type",
	                      "text", "text", s != NULL ? s : "null");

	free(s);
	return t;
}

json_t *export_iv_samples(const struct store_intervention *iv, json_t *agent_steps,
                          json_t *human_steps, json_t *pending)
{
	json_t *out = json_array(), *first, *images, *agent, *human, *steps, *base, *o, *rejected;
	json_t *pre;
	size_t i;
	json_t *st;
	const char *from;
	char id[160];

	if (json_array_size(human_steps) == 0)
		return out;
	first = json_array_get(human_steps, 0);
	pre = json_object_get(json_object_get(first, "images"), "pre");
	images = json_is_string(pre) ? json_pack("[O]", pre) : json_array();
	agent = json_array();
	json_array_foreach(agent_steps, i, st)
		json_array_append_new(agent, action_of(st));
	human = json_array();
	steps = json_array();
	json_array_foreach(human_steps, i, st) {
		json_array_append_new(human, action_of(st));
		json_array_append(steps, json_object_get(st, "step"));
	}
	snprintf(id, sizeof id, "%s-i%lld", json_string_value(json_object_get(first, "episode")) ?
	         json_string_value(json_object_get(first, "episode")) : "?", (long long)iv->id);
	/* What both samples say about where they come from. */
	base = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:s, s:i, s:O}",
	                 "intervention", id, "session", json_object_get(first, "session"),
	                 "episode", json_object_get(first, "episode"),
	                 "task", json_object_get(first, "task"),
	                 "app", json_object_get(first, "app"),
	                 "interaction", json_object_get(first, "interaction"),
	                 "observation_step", json_object_get(first, "step"),
	                 "handback", store_handback_name(iv->handback), "refused", iv->refused,
	                 "images", images);

	o = json_deep_copy(base);
	json_object_set_new(o, "type", json_string("sft"));
	/* A conversation: the user turn, then the assistant turn with the person's actions. */
	json_t *msgs = user_turn(first, agent, json_array_size(images) > 0);
	json_t *answer = assistant_turn(human);

	json_array_extend(msgs, answer);
	json_decref(answer);
	json_object_set_new(o, "messages", msgs);
	json_object_set(o, "agent_actions", agent);
	json_object_set(o, "human_actions", human);
	json_object_set(o, "human_steps", steps);
	json_array_append_new(out, o);

	/* rejected: what the agent would have done next, else what it did last. */
	if (pending != NULL && !testbreak("iv-rejected-executed")) {
		rejected = json_incref(pending);
		from = "pending";
	} else if (json_array_size(agent) > 0) {
		rejected = json_incref(json_array_get(agent, json_array_size(agent) - 1));
		from = "executed";
	} else {
		rejected = NULL;
		from = NULL;
	}
	if (rejected != NULL) {
		json_t *chosen = json_array_get(human, 0);
		json_t *prompt = user_turn(first, agent, json_array_size(images) > 0);

		o = json_deep_copy(base);
		json_object_set_new(o, "type", json_string("preference"));
		json_object_set_new(o, "prompt", prompt);
		json_object_set_new(o, "chosen", assistant_turn(chosen));
		json_object_set_new(o, "rejected", assistant_turn(rejected));
		json_object_set(o, "chosen_action", chosen);
		json_object_set(o, "rejected_action", rejected);
		json_object_set_new(o, "rejected_from", json_string(from));
		json_object_set(o, "agent_actions", agent);
		json_array_append_new(out, o);
		json_decref(rejected);
	}
	json_decref(base);
	json_decref(images);
	json_decref(agent);
	json_decref(human);
	json_decref(steps);
	return out;
}

/* The current intervention is over: its samples go out, and its context starts afresh. */
static int finish_one(struct export_iv *v)
{
	const struct store_intervention *iv = &v->ivs[v->next];
	json_t *pending = pending_action(v, iv);
	json_t *samples = export_iv_samples(iv, v->recent, v->human, pending);
	size_t i;
	json_t *o;
	int rc = 0;

	json_array_foreach(samples, i, o) {
		rc = v->emit(v->arg, iv, o);
		if (rc != 0)
			break;
	}
	json_decref(samples);
	json_decref(pending);
	json_array_clear(v->recent);
	json_array_clear(v->human);
	v->next++;
	return rc;
}

int export_iv_step(struct export_iv *v, int64_t anchor_id, int source, json_t *step)
{
	int rc = 0;

	while (rc == 0 && v->next < v->n && anchor_id >= v->ivs[v->next].end_event)
		rc = finish_one(v);
	if (rc != 0)
		return rc;
	if (v->next < v->n && anchor_id >= v->ivs[v->next].first_event) {
		/* Inside the span: the person's actions (an agent action still in flight is not). */
		if (source != EVENT_SOURCE_AGENT)
			json_array_append(v->human, step);
		return 0;
	}
	if (source == EVENT_SOURCE_AGENT) {
		json_array_append(v->recent, step);
		if (json_array_size(v->recent) > EXPORT_IV_CONTEXT)
			json_array_remove(v->recent, 0);
	}
	return 0;
}

int export_iv_finish(struct export_iv *v)
{
	int rc = 0;

	while (rc == 0 && v->next < v->n)
		rc = finish_one(v);
	return rc;
}
