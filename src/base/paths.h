/*
 * paths: where mimic keeps its data and its control socket.
 *
 * Data: --data-dir, else $XDG_DATA_HOME/mimic, else ~/.local/share/mimic (0700).
 * The person's files (settings, policy exclusions): $XDG_CONFIG_HOME/mimic, else
 * ~/.config/mimic.
 * Control socket: $XDG_RUNTIME_DIR/mimic/control.sock, else
 * $XDG_CACHE_HOME/mimic/run/control.sock, else ~/.cache/mimic/run/control.sock
 * (a place no other user can create first, unlike /tmp), and only with neither
 * HOME nor XDG_CACHE_HOME /tmp/mimic-UID/control.sock; its directory is created
 * 0700 and must belong to the user.
 *
 * Files mimic writes for the person (exports, frames taken out with -o, keys, the
 * database, the audit log, lock files) are made here too: created mode 0600 with
 * O_EXCL and O_NOFOLLOW or as a temporary file renamed into place, never written
 * through a symbolic link nor into another user's file.
 */
#ifndef MIMIC_PATHS_H
#define MIMIC_PATHS_H

#include <stddef.h>

/*
 * Sets *out (malloc'ed) to the data directory: override when not NULL, else the
 * XDG default (XDG_DATA_HOME counts only when absolute). Does not create it.
 * -EINVAL for an empty override; -ENOENT when neither XDG_DATA_HOME nor HOME is set.
 */
int paths_data_dir(const char *override, char **out /* OUT */, char **cause);

/*
 * Sets *out (malloc'ed) to the path of the person's file name in mimic's
 * configuration directory: $XDG_CONFIG_HOME/mimic/NAME, else
 * $HOME/.config/mimic/NAME (each variable counts only when absolute), whether or
 * not it exists. -ENOENT when neither variable is usable.
 */
int paths_config_file(const char *name, char **out /* OUT */);

/*
 * mkdir -p with mode 0700: creates the parts of dir that do not exist yet (a part
 * that exists must be a directory; one this user may not write to is fine).
 * Returns 0, or -errno (-ENOTDIR for a part that is not a directory) with *part,
 * when part is not NULL, set to the part that could not be created (malloc'ed,
 * the caller frees).
 */
int paths_mkdir_p(const char *dir, char **part /* OUT */);

/*
 * Creates dir (and missing parents) with mode 0700 and checks that this user can
 * write there. -EACCES / -ENOTDIR / -EROFS with a cause naming the directory and
 * the fix ("choose another with --data-dir").
 */
int paths_ensure_dir(const char *dir, char **cause);

/*
 * Sets *out (malloc'ed) to the control socket path, creating its directory 0700
 * when create is non-zero. Refuses (-EPERM) a directory owned by another user or
 * open to group/other, and (-ENOTDIR) one that is not a directory or is a symbolic
 * link. -ENAMETOOLONG when the path does not fit a Unix socket address. With
 * create == 0 a missing directory is not an error (nothing is running then).
 */
int paths_control_socket(int create, char **out /* OUT */, char **cause);

/*
 * Creates the new file path (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600 whatever the
 * umask) opened with access (O_WRONLY or O_RDWR) and returns its descriptor
 * (close-on-exec), or a negative errno with a cause naming the file: -EEXIST when
 * it exists, -ELOOP when it is a symbolic link.
 */
int paths_create_file(const char *path, int access, char **cause);

/* paths_write_file flags. */
enum {
	/* Replace an existing regular file of this user (by rename: it becomes 0600). */
	PATHS_REPLACE = 1 << 0,
};

/*
 * Writes len bytes of data to path through a new 0600 temporary file in the same
 * directory that is then renamed (PATHS_REPLACE) or linked (otherwise: an existing
 * file is never replaced, -EEXIST) into place, so that a reader sees all or
 * nothing. Refuses, with a cause naming the file and the fix, a symbolic link
 * (-ELOOP), something not a regular file (-EEXIST) and another user's file
 * (-EPERM). Returns 0 or a negative errno.
 */
int paths_write_file(const char *path, const void *data, size_t len, unsigned flags,
                     char **cause);

/*
 * Opens path (access O_RDWR, O_WRONLY or O_RDONLY, plus O_APPEND if wanted),
 * creating it with mode 0600 when missing, for the files mimic keeps open or
 * appends to (the database, the audit log, lock files). Never follows a symbolic
 * link (-ELOOP); refuses what is not a regular file (-EINVAL) and a file of
 * another user (-EPERM, the cause names the chown fix); a file of this user open
 * to group or others is made 0600. Returns the descriptor (close-on-exec) or a
 * negative errno with a cause.
 */
int paths_open_private(const char *path, int flags, char **cause);

/*
 * Makes the data directory dir and everything under it private: directories 0700,
 * files 0600 (symbolic links are neither followed nor changed). Key files (named
 * *.key, such as pseudonym.key) are left as they are: their readers refuse one
 * open to others and name the chmod, so the person learns it was exposed. With strict, a
 * directory or file of another user is refused (-EPERM, the cause names it and the
 * `chown` fix); without, such entries are left alone (a reader such as root
 * exporting another user's data). At most PATHS_TREE_DEPTH levels are visited.
 * Returns 0 or a negative errno with a cause.
 */
#define PATHS_TREE_DEPTH 8
int paths_secure_tree(const char *dir, int strict, char **cause);

/*
 * Removes dir with everything in it, as far as it can (a temporary directory of
 * ours: an export, an opened bundle). Nothing is reported; what could not be
 * removed stays.
 */
void paths_remove_tree(const char *dir);

#endif
