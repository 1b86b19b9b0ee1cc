/* replay.c -- the plain driver of a fuzz target: built with the ordinary
 * compiler (no libFuzzer), it runs LLVMFuzzerTestOneInput over every file
 * of the directories or files given, or of the target's seed corpus
 * (FUZZ_CORPUS, compiled in) when none are, and reports in cmocka's summary
 * form so `make test` counts one test per input. A finding aborts. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX_INPUT (1u << 22) /* seeds are small; a bigger file is a mistake */

static int run_file(const char *path, unsigned char *buf)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t n = fread(buf, 1, REPLAY_MAX_INPUT, f);
    int big = !feof(f) && fgetc(f) != EOF;
    fclose(f);
    if (big) {
        fprintf(stderr, "replay: %s: more than %u bytes\n", path, REPLAY_MAX_INPUT);
        return -1;
    }
    /* an exact-size copy, so ASan sees reads past the end */
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy)
        return -1;
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

static int run_path(const char *path, unsigned char *buf, unsigned *ok, unsigned *bad)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "replay: no such file or directory: %s\n", path);
        (*bad)++;
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (run_file(path, buf) == 0)
            (*ok)++;
        else
            (*bad)++;
        return 0;
    }
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) {
        (*bad)++;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, ents[i]->d_name);
            if (run_file(p, buf) == 0)
                (*ok)++;
            else
                (*bad)++;
        }
        free(ents[i]);
    }
    free(ents);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned ok = 0, bad = 0;
    unsigned char *buf = malloc(REPLAY_MAX_INPUT);
    if (!buf)
        return 1;
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            run_path(argv[i], buf, &ok, &bad);
    else
        run_path(FUZZ_CORPUS, buf, &ok, &bad);
    free(buf);
    if (ok + bad == 0)
        bad = 1; /* an empty corpus is a mistake too */
    printf("[==========] replay %s: %u input(s) run.\n", FUZZ_NAME, ok + bad);
    printf("[  PASSED  ] %u test(s).\n", ok);
    if (bad)
        printf("[  FAILED  ] %u test(s), listed below:\n", bad);
    return bad ? 1 : 0;
}
