/*
 * indicator: what the recording indicator says in each state and the pause
 * hotkey it takes from the policy (see indicator.h); the display side, the
 * window, the hotkey grab and the lock state, is the platform's overlay.
 */
#include "indicator.h"

#include <stdlib.h>

#include "overlay.h"
#include "policy.h"
#include "util.h"

struct indicator {
	struct overlay *ov;
	int state;
};

static const struct overlay_look looks[] = {
	[INDICATOR_RECORDING] = {0xc0182a, 0xffffff, "REC  mimic"},
	[INDICATOR_PAUSED] = {0xe0a800, 0x000000, "PAUSED  mimic"},
	[INDICATOR_OUT_OF_SCOPE] = {0x5a5a5a, 0xffffff, "NOT IN SCOPE"},
	[INDICATOR_CONSENT] = {0xe0a800, 0x000000, "PAUSED  new notice"},
};

/* The policy's modifier bits are the overlay's, so hotkey_mods is handed on as it is. */
_Static_assert((int)POLICY_MOD_SHIFT == (int)OVERLAY_MOD_SHIFT &&
               (int)POLICY_MOD_CTRL == (int)OVERLAY_MOD_CTRL &&
               (int)POLICY_MOD_ALT == (int)OVERLAY_MOD_ALT &&
               (int)POLICY_MOD_SUPER == (int)OVERLAY_MOD_SUPER,
               "the policy's hotkey modifiers are the overlay's");

int indicator_open(const char *display, const char *hotkey_sym, uint32_t hotkey_mods,
                   struct indicator **out, char **cause)
{
	struct indicator *ind = util_xcalloc(1, sizeof(*ind));
	struct overlay_opts o = {
		.display = display,
		.name = INDICATOR_NAME,
		.instance = INDICATOR_INSTANCE,
		.class_name = INDICATOR_CLASS,
		.look = looks[INDICATOR_RECORDING],
		.hotkey_sym = hotkey_sym,
		.hotkey_mods = hotkey_mods,
	};
	int rc;

	*out = NULL;
	rc = overlay_open(&o, &ind->ov, cause);
	if (rc != 0)
		goto fail;
	ind->state = INDICATOR_RECORDING;
	*out = ind;
	return 0;
fail:
	free(ind);
	return rc;
}

void indicator_close(struct indicator *ind)
{
	if (ind == NULL)
		return;
	overlay_close(ind->ov);
	free(ind);
}

int indicator_fd(struct indicator *ind)
{
	return overlay_fd(ind->ov);
}

void indicator_set_state(struct indicator *ind, enum indicator_state state)
{
	if (ind == NULL || ind->state == (int)state)
		return;
	ind->state = (int)state;
	overlay_show(ind->ov, &looks[state]);
}

int indicator_dispatch(struct indicator *ind, int do_read)
{
	return overlay_dispatch(ind->ov, do_read);
}

uint32_t indicator_hotkey_keycode(const struct indicator *ind)
{
	return ind != NULL ? overlay_hotkey_keycode(ind->ov) : 0;
}

int indicator_screen_locked(struct indicator *ind)
{
	return ind != NULL ? overlay_screen_locked(ind->ov) : 0;
}

uint32_t indicator_window(const struct indicator *ind)
{
	return overlay_window(ind->ov);
}
