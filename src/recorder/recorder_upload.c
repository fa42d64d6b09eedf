/*
 * recorder_upload: the recorder's own uploads (recorder_int.h). On an enrolled
 * machine it starts `mimic-data upload` as a child every [upload]
 * upload_interval while recording is not paused: the child does what the
 * command does (the delay, the spool, resume, retries, the audit), in its own
 * process so that the export's libraries and the network never reach the
 * input thread. Between two checks a turn of the input loop costs a comparison.
 */
#include "recorder_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleet_device.h"
#include "log.h"
#include "util.h"

/* The first run waits this long after the start, so that it never slows the start. */
#define FIRST_RUN_MS 10000

/* Starts the child; its output goes to /dev/null but its error line to the recorder's stderr. */
static pid_t start_child(struct recorder *r)
{
	char *exe = NULL, *why = NULL;
	pid_t pid;

	if (util_sibling_exe("mimic-data", &exe, &why) != 0) {
		log_warn("no automatic upload: %s", why != NULL ? why : "");
		free(why);
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		/* The recorder's descriptors (database, X, sockets) are not the child's. */
		close_range(3, ~0U, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (r->opts->policy_path != NULL)
			execl(exe, exe, "upload", "--data-dir", r->data_dir, "--policy",
			      r->opts->policy_path, (char *)NULL);
		else
			execl(exe, exe, "upload", "--data-dir", r->data_dir, (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		log_warn("no automatic upload this time: fork failed: %s", strerror(errno));
		pid = 0;
	}
	free(exe);
	return pid;
}

int recorder_upload_tick(struct recorder *r, int64_t now)
{
	int64_t interval_ms = guard_upload_interval_ms(r->guard);
	struct fleet_enrolment e;
	char *cause = NULL;

	if (interval_ms <= 0)
		return -1;
	if (r->upload.next_ns == 0)
		r->upload.next_ns = now + (interval_ms < FIRST_RUN_MS ? interval_ms : FIRST_RUN_MS) *
		                    INT64_C(1000000);
	if (now < r->upload.next_ns) {
		int64_t left = (r->upload.next_ns - now) / 1000000 + 1;
		return left > 60000 ? 60000 : (int)left;
	}
	r->upload.next_ns = now + interval_ms * INT64_C(1000000);
	/* Reaped here, once an interval, not on every turn of the input loop. */
	if (r->upload.pid > 0 && waitpid(r->upload.pid, NULL, WNOHANG) == r->upload.pid)
		r->upload.pid = 0;
	/* One at a time; none while paused; only on an enrolled machine. */
	if (r->upload.pid == 0 && !guard_paused(r->guard)) {
		if (fleet_device_load(r->data_dir, &e, &cause) == 0)
			r->upload.pid = start_child(r);
		free(cause);
	}
	return (int)(interval_ms > 60000 ? 60000 : interval_ms);
}

void recorder_upload_stop(struct recorder *r)
{
	if (r->upload.pid <= 0)
		return;
	kill(r->upload.pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(r->upload.pid, NULL, WNOHANG) != 0)
			goto done;
		usleep(10000);
	}
	kill(r->upload.pid, SIGKILL);
	waitpid(r->upload.pid, NULL, 0);
done:
	r->upload.pid = 0;
}
