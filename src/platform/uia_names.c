/*
 * uia: the names of a result's status and source. They are linked into every
 * program, the `mimic` recorder included, which loads the rest of uia (AT-SPI's
 * client and the GLib stack it needs) only when UI elements are recorded
 * (uia_dl.c): a replay or a status line names a result without loading it.
 */
#include "uia.h"

#include <stddef.h>

const char *uia_status_name(int status)
{
	switch (status) {
	case UIA_OK: return "ok";
	case UIA_NO_ELEMENT: return "no-element";
	case UIA_MISMATCH: return "mismatch";
	case UIA_TIMEOUT: return "timeout";
	case UIA_DEGRADED: return "degraded";
	case UIA_DROPPED: return "dropped";
	default: return NULL;
	}
}

const char *uia_source_name(int source)
{
	switch (source) {
	case UIA_SOURCE_HOVER: return "hover";
	case UIA_SOURCE_HOVER_GONE: return "hover-gone";
	case UIA_SOURCE_PRESS: return "press";
	case UIA_SOURCE_FOCUS_EVENT: return "focus-event";
	case UIA_SOURCE_FOCUS_SEARCH: return "focus-search";
	case UIA_SOURCE_RECENT: return "recent";
	case UIA_SOURCE_MAP: return "map";
	default: return "";
	}
}
