/*
 * mimic-keyring: the one program of mimic that talks to the desktop keyring
 * (the Secret Service, through libsecret). The vault (src/store/vault.c) runs it
 * as a child when a data directory's key is, or is to be, kept in the keyring,
 * so that no mimic process maps libsecret and the GLib, GIO, D-Bus and gcrypt
 * libraries it brings: the recorder stays that much smaller for as long as it
 * runs (bench/RESULTS.md, "Input capture").
 *
 *   mimic-keyring lookup ID     prints the 64 hex digits of key ID and a newline
 *   mimic-keyring store ID      reads 64 hex digits from standard input and keeps
 *                               them in the default collection as key ID
 *
 * Exit status: 0 done; 3 the keyring holds no key ID; 4 the keyring cannot be
 * used (one line on standard error says why); 2 a wrong command line. The
 * protocol is private to the vault: only it runs this program.
 */
#include <stdio.h>
#include <string.h>

#include <libsecret/secret.h>

#define KEY_HEX 64

enum { EXIT_NO_KEY = 3, EXIT_UNUSABLE = 4, EXIT_USAGE = 2 };

/* The schema the vault has always used: keys stored before stay found. */
static const SecretSchema key_schema = {
	"org.mimic.DataKey", SECRET_SCHEMA_NONE,
	{
		{ "mimic-key-id", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

static int valid_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= 64 && strspn(id, "0123456789abcdef") == n;
}

static int lookup(const char *id)
{
	GError *gerr = NULL;
	gchar *pw;
	int rc = 0;

	pw = secret_password_lookup_sync(&key_schema, NULL, &gerr, "mimic-key-id", id, NULL);
	if (gerr != NULL) {
		fprintf(stderr, "%s\n", gerr->message);
		g_clear_error(&gerr);
		return EXIT_UNUSABLE;
	}
	if (pw == NULL)
		return EXIT_NO_KEY;
	if (strlen(pw) != KEY_HEX || strspn(pw, "0123456789abcdefABCDEF") != KEY_HEX)
		rc = EXIT_NO_KEY;
	else if (printf("%s\n", pw) < 0 || fflush(stdout) != 0)
		rc = EXIT_UNUSABLE;
	secret_password_free(pw);
	return rc;
}

static int store(const char *id)
{
	char hexkey[KEY_HEX + 2], label[96];
	GError *gerr = NULL;
	size_t n;
	gboolean ok;

	n = fread(hexkey, 1, sizeof(hexkey) - 1, stdin);
	hexkey[n] = '\0';
	if (n > 0 && hexkey[n - 1] == '\n')
		hexkey[--n] = '\0';
	if (n != KEY_HEX || strspn(hexkey, "0123456789abcdef") != KEY_HEX) {
		fprintf(stderr, "mimic-keyring: standard input is not a key of %d hex digits\n",
		        KEY_HEX);
		return EXIT_USAGE;
	}
	snprintf(label, sizeof(label), "mimic data key %.8s", id);
	ok = secret_password_store_sync(&key_schema, SECRET_COLLECTION_DEFAULT, label, hexkey,
	                                NULL, &gerr, "mimic-key-id", id, NULL);
	memset(hexkey, 0, sizeof(hexkey));
	if (!ok) {
		fprintf(stderr, "%s\n", gerr != NULL ? gerr->message : "unknown reason");
		g_clear_error(&gerr);
		return EXIT_UNUSABLE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && valid_id(argv[2])) {
		if (strcmp(argv[1], "lookup") == 0)
			return lookup(argv[2]);
		if (strcmp(argv[1], "store") == 0)
			return store(argv[2]);
	}
	fprintf(stderr, "usage: mimic-keyring lookup ID | store ID (the key on standard input); "
	        "only mimic's vault runs it\n");
	return EXIT_USAGE;
}
