/*
 * recorder_agent: takeovers of an agent run (docs/AGENTS.md). While `mimic agent
 * serve` is attached to the recorder, a press of a key, a button or the wheel
 * that the recorder keeps and that comes from any device but the agent's (a
 * person's keyboard, or another program's XTEST input such as a remote desktop's)
 * starts an intervention: the status says so, and the agent server refuses the
 * agent's calls with human_control until the hand-back (`mimic agent handback`,
 * or the agent's idle time without input of the person). The intervention is
 * stored at the hand-back with its span of events and the agent's first refused
 * call. Pointer motion alone does not take over: moving the mouse changes
 * nothing in an application. Input the safeguards drop (out of scope, paused)
 * does not either: what is not recorded cannot be a correction, and even its
 * timing is not kept.
 */
#include "recorder_int.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* Whether the attached agent server still runs; forgets it when it does not. */
static int agent_alive(struct recorder *r)
{
	if (r->agent.pid == 0)
		return 0;
	if (kill(r->agent.pid, 0) == 0 || errno == EPERM)
		return 1;
	log_info("agent server %d went away", (int)r->agent.pid);
	recorder_agent_end(r, STORE_HANDBACK_AGENT_GONE);
	r->agent.pid = 0;
	return 0;
}

void recorder_agent_end(struct recorder *r, int how)
{
	struct store_intervention *iv = &r->agent.iv;

	if (!r->agent.active)
		return;
	iv->end_ns = util_now_mono_ns();
	iv->end_event = r->next_event_id;
	iv->handback = how;
	if (r->writer != NULL)
		writer_push_intervention(r->writer, iv);
	r->agent.active = 0;
	r->agent.count++;
	log_info("intervention ended (hand-back %d, %d agent calls refused)", how, iv->refused);
}

void recorder_agent_on_event(struct recorder *r, const struct event *ev)
{
	int press = ev->kind == EVENT_KEY_PRESS || ev->kind == EVENT_BUTTON_PRESS ||
	            ev->kind == EVENT_SCROLL;
	int input = press || ev->kind == EVENT_KEY_RELEASE || ev->kind == EVENT_BUTTON_RELEASE;

	if (r->agent.pid == 0 || !input || ev->source == EVENT_SOURCE_AGENT)
		return;
	if (r->agent.active) {
		r->agent.last_input_ns = util_now_mono_ns();
		return;
	}
	if (!press || !agent_alive(r))
		return;
	memset(&r->agent.iv, 0, sizeof r->agent.iv);
	r->agent.iv.t_ns = ev->t_ns;
	r->agent.iv.first_event = ev->id;
	r->agent.last_input_ns = util_now_mono_ns();
	r->agent.active = 1;
	log_info("intervention: input of the person took over from the agent");
}

int recorder_agent_tick(struct recorder *r, int64_t now)
{
	int64_t left;

	if (!r->agent.active || r->agent.idle_ms <= 0)
		return -1;
	left = r->agent.last_input_ns + r->agent.idle_ms * 1000000 - now;
	if (left <= 0) {
		recorder_agent_end(r, STORE_HANDBACK_IDLE);
		return -1;
	}
	return (int)(left / 1000000) + 1;
}

const char *recorder_agent_request(struct recorder *r, const struct ipc_request *req)
{
	switch (req->agent) {
	case IPC_AGENT_ATTACH:
		if (r->agent.pid != 0 && r->agent.pid != req->agent_pid && agent_alive(r))
			return "another agent server is attached to this recorder";
		r->agent.pid = (pid_t)req->agent_pid;
		r->agent.idle_ms = req->idle_ms;
		log_info("agent server %d attached", (int)r->agent.pid);
		break;
	case IPC_AGENT_DETACH:
		if (r->agent.pid != req->agent_pid)
			return "that agent server is not attached";
		recorder_agent_end(r, STORE_HANDBACK_AGENT_GONE);
		r->agent.pid = 0;
		log_info("agent server %d detached", (int)req->agent_pid);
		break;
	case IPC_AGENT_HANDBACK:
		if (!r->agent.active)
			return "nobody has taken over from an agent: there is nothing to hand back";
		recorder_agent_end(r, STORE_HANDBACK_COMMAND);
		break;
	case IPC_AGENT_REFUSED:
		if (!r->agent.active)
			return "no takeover is under way";
		/* The first refused call is the agent's pending action: what it would have done. */
		if (r->agent.iv.refused++ == 0)
			util_strlcpy_utf8(r->agent.iv.pending, req->description,
			                  sizeof r->agent.iv.pending);
		break;
	default:
		return "unknown agent request";
	}
	return NULL;
}

json_t *recorder_agent_json(const struct recorder *r)
{
	json_t *o = json_object();
	int taken = r->agent.active;

	json_object_set_new(o, "attached", json_boolean(r->agent.pid != 0));
	json_object_set_new(o, "takeover", json_boolean(taken));
	if (taken) {
		int64_t now = util_now_mono_ns();

		json_object_set_new(o, "idle_ms", json_integer((now - r->agent.last_input_ns) /
		                                               1000000));
		json_object_set_new(o, "refused", json_integer(r->agent.iv.refused));
	}
	json_object_set_new(o, "handback_idle_ms", json_integer(r->agent.idle_ms));
	json_object_set_new(o, "interventions", json_integer((json_int_t)r->agent.count));
	return o;
}
