/*
 * ocr_image: a test helper that prints the text mimic's OCR (ocr.h) reads in
 * image files (PNG, JPEG or WebP), one line of text per output line, so that the
 * integration tests can check what an exported image still shows.
 *
 * usage: ocr_image FILE...   (exit status 1 when a file cannot be read)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "ocr.h"

static int read_file(const char *path, void **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	*data = malloc((size_t)n + 1);
	*len = fread(*data, 1, (size_t)n, f);
	fclose(f);
	return *len == (size_t)n ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct ocr *o = NULL;
	struct encode *e = NULL;
	char *cause = NULL;
	int status = 0;

	if (argc < 2) {
		fputs("usage: ocr_image FILE...\n", stderr);
		return 2;
	}
	if (ocr_new(NULL, &o, &cause) != 0 || encode_new(&e, &cause) != 0) {
		fprintf(stderr, "ocr_image: %s\n", cause);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct image img = { 0 };
		struct ocr_result res;
		void *data = NULL;
		size_t len = 0;

		if (read_file(argv[i], &data, &len) != 0 ||
		    encode_decode(e, data, len, &img, NULL, &cause) != 0 ||
		    ocr_read(o, &img, NULL, &res, &cause) != 0) {
			fprintf(stderr, "ocr_image: %s: %s\n", argv[i], cause ? cause : "cannot read");
			free(cause);
			cause = NULL;
			status = 1;
		} else {
			for (size_t k = 0; k < res.n_lines; k++)
				printf("%s\n", res.lines[k].text);
			ocr_result_free(&res);
		}
		free(img.pixels);
		free(data);
	}
	encode_free(e);
	ocr_free(o);
	return status;
}
