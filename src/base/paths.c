/*
 * paths: finds, creates and checks the directories mimic keeps its data and its
 * control socket in. Recordings are private, so directories are created 0700, and
 * the socket directory is refused when another user could reach into it: whoever
 * can connect to the control socket can pause or stop the recorder.
 *
 * It also creates every file mimic writes for the person, so that the 0600
 * promise holds for new and existing files alike: never through a symbolic link
 * (another user may plant one where a file is expected), never into another
 * user's file, and an existing data directory is made private again on open.
 */
#include "paths.h"

#include "testbreak.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
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
	const char *runtime = xdg_env("XDG_RUNTIME_DIR"), *cache = NULL;
	uid_t uid = geteuid();
	int in_tmp;
	struct sockaddr_un sa;
	char *dir, *path;
	struct stat st;
	int ret;

	*out = NULL;
	/*
	 * Without XDG_RUNTIME_DIR, a place in the user's home: in /tmp any user can
	 * create /tmp/mimic-UID first (a directory open to all, or a link) and so stop
	 * this user from recording. /tmp only when there is no home at all.
	 */
	if (runtime != NULL)
		dir = join(runtime, "mimic");
	else if ((cache = xdg_env("XDG_CACHE_HOME")) != NULL)
		dir = join(cache, "mimic/run");
	else if ((cache = xdg_env("HOME")) != NULL)
		dir = join(cache, ".cache/mimic/run");
	else
		dir = util_xasprintf("/tmp/mimic-%u", (unsigned)uid);
	in_tmp = runtime == NULL && cache == NULL;
	path = join(dir, "control.sock");

	if (strlen(path) >= sizeof sa.sun_path) {
		ret = util_fail(cause, -ENAMETOOLONG,
		                "control socket path %s is too long for a Unix socket (at most %zu "
		                "bytes); set XDG_RUNTIME_DIR to a shorter directory",
		                path, sizeof sa.sun_path - 1);
		goto fail;
	}

	if (create && (in_tmp || runtime != NULL ? mkdir(dir, 0700) < 0 && errno != EEXIST
	                                         : (errno = -paths_mkdir_p(dir, NULL)) != 0)) {
		int err = errno;
		ret = util_fail(cause, -err,
		                "cannot create the control socket directory %s (%s); %s", dir,
		                strerror(err),
		                runtime != NULL ? "check XDG_RUNTIME_DIR"
		                : in_tmp        ? "check that /tmp exists and is writable"
		                                : "set XDG_RUNTIME_DIR to a directory of your own");
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

/* The fix for a file of another user: whose it should be. */
static char *chown_fix(const char *path)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	uid_t uid = geteuid();

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		return util_xasprintf("`sudo chown -R %s %s`", pw.pw_name, path);
	return util_xasprintf("`sudo chown -R %u %s`", (unsigned)uid, path);
}

static int other_owner(char **cause, const char *path, uid_t owner)
{
	char *fix = chown_fix(path);
	int ret = util_fail(cause, -EPERM, "%s belongs to uid %u, not to you (uid %u); fix it "
	                    "with %s", path, (unsigned)owner, (unsigned)geteuid(), fix);

	free(fix);
	return ret;
}

static int symlink_refused(char **cause, const char *path)
{
	return util_fail(cause, -ELOOP, "%s is a symbolic link and mimic does not write "
	                 "through one; remove it or choose another file", path);
}

int paths_create_file(const char *path, int access, char **cause)
{
	struct stat st;
	int fd, err;

	fd = open(path, access | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	err = errno;
	if ((err == EEXIST || err == ELOOP) && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return symlink_refused(cause, path);
	if (err == EEXIST)
		return util_fail(cause, -EEXIST, "%s already exists; remove it or choose another "
		                 "name", path);
	return util_fail(cause, -err, "cannot create %s: %s", path, strerror(err));
}

static int write_all(int fd, const void *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	return 0;
}

/* The fault write-through-symlink: the old open that follows links and keeps modes. */
static int write_in_place(const char *path, const void *data, size_t len, char **cause)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err;

	if (fd < 0)
		return util_fail(cause, -errno, "cannot write %s: %s", path, strerror(errno));
	err = write_all(fd, data, len);
	close(fd);
	return err != 0 ? util_fail(cause, err, "cannot write %s: %s", path, strerror(-err)) : 0;
}

int paths_write_file(const char *path, const void *data, size_t len, unsigned flags,
                     char **cause)
{
	const char *slash = strrchr(path, '/');
	char *tmp = NULL;
	struct stat st;
	int fd = -1, ret, err;

	if (testbreak("write-through-symlink"))
		return write_in_place(path, data, len, cause);
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return symlink_refused(cause, path);
		if (!(flags & PATHS_REPLACE))
			return util_fail(cause, -EEXIST, "%s already exists; remove it or choose "
			                 "another name", path);
		if (!S_ISREG(st.st_mode))
			return util_fail(cause, -EEXIST, "%s exists and is not a regular file; "
			                 "choose another name", path);
		if (st.st_uid != geteuid())
			return other_owner(cause, path, st.st_uid);
	}
	if (slash == NULL)
		tmp = util_xasprintf(".%s.XXXXXX", path);
	else
		tmp = util_xasprintf("%.*s.%s.XXXXXX", (int)(slash - path + 1), path, slash + 1);
	/* mkostemp: O_CREAT | O_EXCL, mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		free(tmp);
		return util_fail(cause, -err, "cannot write %s: %s", path, strerror(err));
	}
	ret = write_all(fd, data, len);
	if (ret == 0 && fsync(fd) != 0)
		ret = -errno;
	if (close(fd) != 0 && ret == 0)
		ret = -errno;
	if (ret != 0) {
		ret = util_fail(cause, ret, "cannot write %s: %s", path, strerror(-ret));
		goto fail;
	}
	if (flags & PATHS_REPLACE) {
		/* rename replaces a symbolic link planted meanwhile; it never writes through it. */
		if (rename(tmp, path) != 0) {
			err = errno;
			ret = util_fail(cause, -err, "cannot write %s: %s", path, strerror(err));
			goto fail;
		}
	} else {
		/* link, not rename: a file made meanwhile is never replaced. */
		if (link(tmp, path) != 0) {
			err = errno;
			ret = err == EEXIST ? util_fail(cause, -EEXIST, "%s already exists; remove "
			                                "it or choose another name", path)
			                    : util_fail(cause, -err, "cannot write %s: %s", path,
			                                strerror(err));
			goto fail;
		}
		unlink(tmp);
	}
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	return ret;
}

int paths_open_private(const char *path, int flags, char **cause)
{
	struct stat st;
	int fd, err;

	fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
		if (err == ELOOP)
			return symlink_refused(cause, path);
		return util_fail(cause, -err, "cannot open %s: %s", path, strerror(err));
	}
	if (fstat(fd, &st) != 0) {
		err = errno;
		close(fd);
		return util_fail(cause, -err, "cannot open %s: %s", path, strerror(err));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return util_fail(cause, -EINVAL, "%s is not a regular file; move it away", path);
	}
	if (st.st_uid != geteuid()) {
		close(fd);
		return other_owner(cause, path, st.st_uid);
	}
	if ((st.st_mode & 077) != 0 && !testbreak("data-dir-modes-kept") && fchmod(fd, 0600) != 0) {
		err = errno;
		close(fd);
		return util_fail(cause, -err, "cannot make %s private (chmod 600): %s", path,
		                 strerror(err));
	}
	return fd;
}

/* A key file (pseudonym.key, NAME.key): left to its reader to refuse. */
static int is_key_file(const char *name)
{
	size_t n = strlen(name);

	return n >= 4 && strcmp(name + n - 4, ".key") == 0;
}

/* paths_secure_tree below dfd (the directory path, already made private). */
static int secure_dir(int dfd, const char *path, int strict, int depth, char **cause)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char *sub = NULL;
	int ret = 0, fd;

	d = fdopendir(dfd);
	if (d == NULL) {
		ret = util_fail(cause, -errno, "cannot read %s: %s", path, strerror(errno));
		close(dfd);
		return ret;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* removed meanwhile */
		if (S_ISLNK(st.st_mode) || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		free(sub);
		sub = join(path, de->d_name);
		if (st.st_uid != geteuid()) {
			if (!strict)
				continue;
			ret = other_owner(cause, sub, st.st_uid);
			goto fail;
		}
		if (S_ISREG(st.st_mode)) {
			if ((st.st_mode & 077) == 0 || testbreak("data-dir-modes-kept"))
				continue;
			/*
			 * A key others could read may have been copied: its reader refuses it
			 * and names the chmod, so that the person learns of it, instead of
			 * this walk hiding it.
			 */
			if (is_key_file(de->d_name))
				continue;
			/* Not a link (lstat above); the directory is 0700 and ours: no one swaps it. */
			if (fchmodat(dirfd(d), de->d_name, 0600, 0) != 0) {
				ret = util_fail(cause, -errno, "cannot make %s private (chmod 600): %s",
				                sub, strerror(errno));
				goto fail;
			}
			continue;
		}
		if (depth >= PATHS_TREE_DEPTH)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if ((st.st_mode & 077) != 0 && !testbreak("data-dir-modes-kept") &&
		    fchmod(fd, 0700) != 0) {
			ret = util_fail(cause, -errno, "cannot make %s private (chmod 700): %s", sub,
			                strerror(errno));
			close(fd);
			goto fail;
		}
		ret = secure_dir(fd, sub, strict, depth + 1, cause);
		if (ret != 0)
			goto fail;
	}
fail:
	free(sub);
	closedir(d);
	return ret;
}

int paths_secure_tree(const char *dir, int strict, char **cause)
{
	struct stat st;
	int fd, err;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		return util_fail(cause, -err, "cannot open the data directory %s: %s", dir,
		                 strerror(err));
	}
	if (fstat(fd, &st) != 0) {
		err = errno;
		close(fd);
		return util_fail(cause, -err, "cannot open the data directory %s: %s", dir,
		                 strerror(err));
	}
	if (st.st_uid != geteuid()) {
		close(fd);
		if (!strict)
			return 0;
		return other_owner(cause, dir, st.st_uid);
	}
	if ((st.st_mode & 077) != 0 && !testbreak("data-dir-modes-kept") && fchmod(fd, 0700) != 0) {
		err = errno;
		close(fd);
		return util_fail(cause, -err, "cannot make %s private (chmod 700): %s", dir,
		                 strerror(err));
	}
	return secure_dir(fd, dir, strict, 1, cause);
}

void paths_remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno == EISDIR) {
			char *sub = util_xasprintf("%s/%s", dir, de->d_name);
			paths_remove_tree(sub);
			free(sub);
		}
	}
	closedir(d);
	rmdir(dir);
}
