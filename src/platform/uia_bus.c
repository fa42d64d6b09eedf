/*
 * uia_bus: finds the accessibility bus the way libatspi will (AT_SPI_BUS_ADDRESS,
 * the bus the desktop advertises (desktop.h: the AT_SPI_BUS property of the X
 * root window), the session bus's org.a11y.Bus),
 * without ever letting libdbus autolaunch a session bus, and checks that it
 * answers before libatspi is started.
 */
#include "uia_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desktop.h"

/* Opens addr privately and says Hello within timeout_ms; NULL with *why on failure. */
static DBusConnection *open_bus(const char *addr, int timeout_ms, char *why, size_t n)
{
	DBusError err;
	DBusConnection *c;
	DBusMessage *msg, *reply;

	dbus_error_init(&err);
	c = dbus_connection_open_private(addr, &err);
	if (c == NULL) {
		snprintf(why, n, "%s", err.message != NULL ? err.message : "cannot connect");
		dbus_error_free(&err);
		return NULL;
	}
	dbus_connection_set_exit_on_disconnect(c, FALSE);
	msg = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
	                                   "Hello");
	reply = msg != NULL ?
	        dbus_connection_send_with_reply_and_block(c, msg, timeout_ms, &err) : NULL;
	if (msg != NULL)
		dbus_message_unref(msg);
	if (reply == NULL) {
		snprintf(why, n, "%s", err.message != NULL ? err.message : "no answer");
		dbus_error_free(&err);
		dbus_connection_close(c);
		dbus_connection_unref(c);
		return NULL;
	}
	dbus_message_unref(reply);
	return c;
}

static void close_bus(DBusConnection *c)
{
	if (c != NULL) {
		dbus_connection_close(c);
		dbus_connection_unref(c);
	}
}

/*
 * Finds the accessibility bus the way libatspi will, without ever letting libdbus
 * autolaunch a session bus, and checks that it answers. Returns 0, or -1 with
 * *why set.
 */
int uia_probe_bus(char *why, size_t n)
{
	char addr[1024], sess[1024], err[512];
	const char *env = getenv("AT_SPI_BUS_ADDRESS");
	DBusConnection *c;

	if (env != NULL && env[0] != '\0') {
		set_str(addr, env, sizeof addr);
	} else {
		desktop_a11y_bus(addr, sizeof addr);
	}
	if (addr[0] == '\0') {
		const char *sa = getenv("DBUS_SESSION_BUS_ADDRESS");
		DBusMessage *msg, *reply;
		DBusError derr;
		const char *a = NULL;

		if (sa != NULL && sa[0] != '\0') {
			set_str(sess, sa, sizeof sess);
		} else {
			/* libdbus's own fallback before it autolaunches: $XDG_RUNTIME_DIR/bus. */
			const char *rt = getenv("XDG_RUNTIME_DIR");
			struct stat st;
			char path[900];

			if (rt == NULL || rt[0] == '\0') {
				snprintf(why, n, "no session bus: DBUS_SESSION_BUS_ADDRESS and "
				         "XDG_RUNTIME_DIR are not set");
				return -1;
			}
			snprintf(path, sizeof path, "%s/bus", rt);
			if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != getuid()) {
				snprintf(why, n, "no session bus: DBUS_SESSION_BUS_ADDRESS is not set "
				         "and there is no $XDG_RUNTIME_DIR/bus");
				return -1;
			}
			snprintf(sess, sizeof sess, "unix:path=%s", path);
		}
		if (strncmp(sess, "autolaunch:", 11) == 0 || strstr(sess, ";autolaunch:") != NULL) {
			snprintf(why, n, "the session bus address asks for autolaunch, "
			         "which mimic does not do");
			return -1;
		}
		c = open_bus(sess, 1000, err, sizeof err);
		if (c == NULL) {
			snprintf(why, n, "the session bus cannot be reached: %s", err);
			return -1;
		}
		dbus_error_init(&derr);
		msg = dbus_message_new_method_call("org.a11y.Bus", "/org/a11y/bus", "org.a11y.Bus",
		                                   "GetAddress");
		reply = msg != NULL ? dbus_connection_send_with_reply_and_block(c, msg, 3000, &derr) :
		        NULL;
		if (msg != NULL)
			dbus_message_unref(msg);
		if (reply == NULL || !dbus_message_get_args(reply, &derr, DBUS_TYPE_STRING, &a,
		                                            DBUS_TYPE_INVALID) ||
		    a == NULL || a[0] == '\0') {
			snprintf(why, n, "no accessibility bus on the session bus (org.a11y.Bus): %s",
			         derr.message != NULL ? derr.message : "empty address");
			dbus_error_free(&derr);
			if (reply != NULL)
				dbus_message_unref(reply);
			close_bus(c);
			return -1;
		}
		set_str(addr, a, sizeof addr);
		dbus_message_unref(reply);
		close_bus(c);
	}
	c = open_bus(addr, 1000, err, sizeof err);
	if (c == NULL) {
		snprintf(why, n, "the accessibility bus cannot be reached: %s", err);
		return -1;
	}
	close_bus(c);
	return 0;
}

/*
 * Sets org.a11y.Status.IsEnabled on the session bus's org.a11y.Bus. Browsers
 * watch this property: Firefox registers its tree as soon as it turns true;
 * Chromium reads it only when it starts (docs/POLICY.md).
 */
int uia_enable_accessibility(char *why, size_t n)
{
	static const char *const iface = "org.a11y.Status", *const prop = "IsEnabled";
	const char *sa = getenv("DBUS_SESSION_BUS_ADDRESS");
	DBusMessage *msg = NULL, *reply = NULL;
	DBusMessageIter it, var;
	DBusConnection *c = NULL;
	DBusError derr;
	dbus_bool_t on = TRUE;
	char err[512];
	int rc = -1;

	dbus_error_init(&derr);
	if (sa == NULL || sa[0] == '\0' || strncmp(sa, "autolaunch:", 11) == 0) {
		snprintf(why, n, "no session bus: DBUS_SESSION_BUS_ADDRESS is not set");
		goto fail;
	}
	c = open_bus(sa, 1000, err, sizeof err);
	if (c == NULL) {
		snprintf(why, n, "the session bus cannot be reached: %s", err);
		goto fail;
	}
	msg = dbus_message_new_method_call("org.a11y.Bus", "/org/a11y/bus",
	                                   "org.freedesktop.DBus.Properties", "Set");
	if (msg == NULL) {
		snprintf(why, n, "out of memory");
		goto fail;
	}
	dbus_message_iter_init_append(msg, &it);
	dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &iface);
	dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &prop);
	dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, DBUS_TYPE_BOOLEAN_AS_STRING, &var);
	dbus_message_iter_append_basic(&var, DBUS_TYPE_BOOLEAN, &on);
	dbus_message_iter_close_container(&it, &var);
	reply = dbus_connection_send_with_reply_and_block(c, msg, 2000, &derr);
	if (reply == NULL) {
		snprintf(why, n, "cannot switch accessibility on (org.a11y.Status IsEnabled): %s",
		         derr.message != NULL ? derr.message : "no answer");
		goto fail;
	}
	rc = 0;
fail:
	dbus_error_free(&derr);
	if (reply != NULL)
		dbus_message_unref(reply);
	if (msg != NULL)
		dbus_message_unref(msg);
	close_bus(c);
	return rc;
}
