/*
 * paths: where mimic keeps its data and its control socket.
 *
 * Data: --data-dir, else $XDG_DATA_HOME/mimic, else ~/.local/share/mimic (0700).
 * The person's files (settings, policy exclusions): $XDG_CONFIG_HOME/mimic, else
 * ~/.config/mimic.
 * Control socket: $XDG_RUNTIME_DIR/mimic/control.sock, else
 * /tmp/mimic-UID/control.sock; its directory is created 0700 and must belong to
 * the user.
 */
#ifndef MIMIC_PATHS_H
#define MIMIC_PATHS_H

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

#endif
