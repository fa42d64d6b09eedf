/*
 * paths: finds, creates and checks the directories mimic keeps its data and its
 * control socket in. Recordings are private, so directories are created 0700, and
 * the socket directory is refused when another user could reach into it: whoever
 * can connect to the control socket can pause or stop the recorder.
 */
#include "paths.h"

#include "testbreak.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* Joins a and b with exactly one '/' between them. */
static char *join(const char *a, const char *b)
{
	size_t n = strlen(a);

	while (n > 1 && a[n - 1] == '/')
		n--;
	return util_xasprintf("%.*s/%s", (int)n, a, b);
}

/* An XDG variable counts only when set to an absolute path (XDG Base Directory spec). */
static const char *xdg_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] != '/')
		return NULL;
	return v;
}

int paths_data_dir(const char *override, char **out, char **cause)
{
	const char *base;

	*out = NULL;
	if (override != NULL) {
		if (override[0] == '\0')
			return util_fail(cause, -EINVAL,
			                 "the data directory given with --data-dir is empty");
		*out = util_xstrdup(override);
		return 0;
	}
	base = xdg_env("XDG_DATA_HOME");
	if (base != NULL) {
		*out = join(base, "mimic");
		return 0;
	}
	base = getenv("HOME");
	if (base != NULL && base[0] != '\0') {
		*out = join(base, ".local/share/mimic");
		return 0;
	}
	return util_fail(cause, -ENOENT,
	                 "cannot tell where to keep data: neither XDG_DATA_HOME nor HOME is set; "
	                 "choose a directory with --data-dir");
}

int paths_config_file(const char *name, char **out)
{
	const char *base = xdg_env("XDG_CONFIG_HOME");
	char *dir;

	*out = NULL;
	if (base != NULL)
		dir = join(base, "mimic");
	else if ((base = xdg_env("HOME")) != NULL)
		dir = join(base, ".config/mimic");
	else
		return -ENOENT;
	*out = join(dir, name);
	free(dir);
	return 0;
}

/* Turns a failed mkdir or create into the documented error and a cause. */
static int dir_fail(char **cause, const char *dir, const char *part, int err, const char *what)
{
	const char *fix = "choose another with --data-dir";
	int ret = -err;

	switch (err) {
	case EACCES:
	case EPERM:
		ret = -EACCES;
		break;
	case EDQUOT:
		ret = -ENOSPC;
		break;
	default:
		break;
	}
	if (part != NULL && strcmp(part, dir) != 0)
		return util_fail(cause, ret, "data directory %s %s (%s: %s); %s", dir, what, part,
		                 strerror(err), fix);
	return util_fail(cause, ret, "data directory %s %s (%s); %s", dir, what, strerror(err),
	                 fix);
}

int paths_mkdir_p(const char *dir, char **part)
{
	char *buf = util_xstrdup(dir);
	struct stat st;
	size_t i, n;
	int ret = 0;

	if (part != NULL)
		*part = NULL;
	n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';

	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue; /* "a//b": nothing new to create */
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0) {
			int err = errno;
			/*
			 * mkdir reports EACCES or EROFS for a directory that already exists in
			 * a place we may not write to; that is fine for parents.
			 */
			if (stat(buf, &st) == 0) {
				if (!S_ISDIR(st.st_mode)) {
					ret = -ENOTDIR;
					goto fail;
				}
			} else {
				ret = -(err == EEXIST ? errno : err);
				goto fail;
			}
		}
		if (i < n)
			buf[i] = '/';
	}
	free(buf);
	return 0;
fail:
	/* buf ends where the part that could not be created ends. */
	if (part != NULL)
		*part = buf;
	else
		free(buf);
	return ret;
}

/* paths_mkdir_p with the cause a person reads. */
static int mkdir_p(const char *dir, char **cause)
{
	char *part = NULL;
	int ret;

	ret = paths_mkdir_p(dir, &part);
	if (ret < 0)
		ret = dir_fail(cause, dir, part, -ret, "cannot be created");
	free(part);
	return ret;
}

int paths_ensure_dir(const char *dir, char **cause)
{
	struct stat st;
	char *probe = NULL;
	int fd, ret;

	if (dir == NULL || dir[0] == '\0')
		return util_fail(cause, -EINVAL, "the data directory is empty; choose one with --data-dir");

	ret = mkdir_p(dir, cause);
	if (ret < 0)
		goto fail;
	if (stat(dir, &st) < 0) {
		ret = dir_fail(cause, dir, NULL, errno, "cannot be used");
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = dir_fail(cause, dir, NULL, ENOTDIR, "cannot be used");
		goto fail;
	}

	/*
	 * access(W_OK) says yes to root everywhere, even on a read-only mount, so the
	 * only honest test is to create a file and remove it again.
	 */
	probe = join(dir, ".mimic-write-test-XXXXXX");
	fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0) {
		ret = dir_fail(cause, dir, NULL, errno, "is not writable");
		goto fail;
	}
	close(fd);
	unlink(probe);
	free(probe);
	return 0;
fail:
	free(probe);
	return ret;
}

int paths_control_socket(int create, char **out, char **cause)
{
	const char *runtime = xdg_env("XDG_RUNTIME_DIR");
	uid_t uid = geteuid();
	struct sockaddr_un sa;
	char *dir, *path;
	struct stat st;
	int ret;

	*out = NULL;
	if (runtime != NULL)
		dir = join(runtime, "mimic");
	else
		dir = util_xasprintf("/tmp/mimic-%u", (unsigned)uid);
	path = join(dir, "control.sock");

	if (strlen(path) >= sizeof sa.sun_path) {
		ret = util_fail(cause, -ENAMETOOLONG,
		                "control socket path %s is too long for a Unix socket (at most %zu "
		                "bytes); set XDG_RUNTIME_DIR to a shorter directory",
		                path, sizeof sa.sun_path - 1);
		goto fail;
	}

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int err = errno;
		ret = util_fail(cause, -err,
		                "cannot create the control socket directory %s (%s); %s", dir,
		                strerror(err),
		                runtime != NULL ? "check XDG_RUNTIME_DIR"
		                                : "check that /tmp exists and is writable");
		goto fail;
	}

	/* lstat: in /tmp, a symbolic link planted by someone else must not be followed. */
	if (lstat(dir, &st) < 0) {
		int err = errno;
		if (err == ENOENT && !create) {
			ret = 0; /* nothing runs; the caller will find no socket */
			goto fail;
		}
		ret = util_fail(cause, -err, "cannot use the control socket directory %s (%s)", dir,
		                strerror(err));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = util_fail(cause, -ENOTDIR,
		                "control socket directory %s is not a directory; remove it", dir);
		goto fail;
	}
	if (st.st_uid != uid && !testbreak("control-dir-owner-ignored")) {
		ret = util_fail(cause, -EPERM,
		                "control socket directory %s belongs to uid %u, not to you (uid %u); "
		                "remove it or set XDG_RUNTIME_DIR to a directory of your own",
		                dir, (unsigned)st.st_uid, (unsigned)uid);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		ret = util_fail(cause, -EPERM,
		                "control socket directory %s is open to other users (mode %04o); "
		                "fix it with `chmod 700 %s`",
		                dir, (unsigned)(st.st_mode & 07777), dir);
		goto fail;
	}
	ret = 0;
fail:
	free(dir);
	if (ret == 0)
		*out = path;
	else
		free(path);
	return ret;
}
