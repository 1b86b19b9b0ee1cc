/* cmd_templates.c -- `mend templates`: the template miner over a file.
 *
 * Reads one message per line (a file, or stdin) and writes, for each input
 * line in order, `ID<TAB>TEMPLATE`: the id of the template the line joined
 * and that template as it stands after the line (parameters `<*>`). Ids are
 * stable (a template generalised later keeps its id), so grouping lines by
 * the printed id gives the miner's final grouping; this is what
 * `make eval-logs` scores. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mend/logs.h"
#include "mend/template.h"

#define TEMPLATES_MAX_MESSAGES 20 /* cut-line messages before only counting */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mend templates [--set KEY=VALUE]... [--stats] [FILE]\n\n"
            "Mines log templates from one message per line (FILE or stdin) and writes, for\n"
            "each line in order, ID<TAB>TEMPLATE: the template's id (stable: a template that\n"
            "later messages generalise keeps it) and the template after this line, with\n"
            "parameters written <*>. Numbers, hex, ids and addresses are masked first.\n\n"
            "options:\n"
            "  --set KEY=VALUE  set one miner option (repeatable), KEY as below or logs.KEY\n"
            "  --stats          print the miner's counters on stderr at the end\n"
            "  --help           this text\n\n"
            "miner options (default):\n");
    const char *key, *help;
    char def[32];
    for (size_t i = 0; mend_tmpl_conf_describe(i, &key, def, sizeof def, &help); i++)
        fprintf(f, "  %-14s %-9s %s\n", key, def, help);
}

/* cut: lines the splitter cut before the miner saw them (counted with the
 * miner's own long_lines). */
static void print_stats(const struct mend_tmpl *m, const char *name, uint64_t cut)
{
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    s.long_lines += cut;
    fprintf(stderr,
            "mend templates: %s: messages=%llu templates=%llu created=%llu generalised=%llu "
            "evicted=%llu leaf_evicted=%llu child_overflow=%llu long_lines=%llu "
            "token_overflow=%llu long_tokens=%llu control_bytes=%llu empty=%llu\n",
            name, (unsigned long long)s.messages, (unsigned long long)s.templates,
            (unsigned long long)s.created, (unsigned long long)s.generalised,
            (unsigned long long)s.evicted, (unsigned long long)s.leaf_evicted,
            (unsigned long long)s.child_overflow, (unsigned long long)s.long_lines,
            (unsigned long long)s.token_overflow, (unsigned long long)s.long_tokens,
            (unsigned long long)s.control_bytes, (unsigned long long)s.empty);
}

int mend_cmd_templates(int argc, char **argv)
{
    struct mend_tmpl_conf conf;
    const char *path = NULL;
    int stats = 0;
    char err[256];

    mend_tmpl_conf_defaults(&conf);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return MEND_EXIT_OK;
        } else if (!strcmp(a, "--set")) {
            char kv[256];
            char *eq;
            if (!v || strlen(v) >= sizeof kv || !(eq = strchr(strcpy(kv, v), '='))) {
                fprintf(stderr, "mend templates: --set needs KEY=VALUE\n");
                return MEND_EXIT_USAGE;
            }
            *eq = '\0';
            if (mend_tmpl_conf_set(&conf, kv, eq + 1, err, sizeof err)) {
                fprintf(stderr, "mend templates: %s\n", err);
                return MEND_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "mend templates: unknown option '%s' (see mend templates --help)\n", a);
            return MEND_EXIT_USAGE;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "mend templates: one input file at most ('%s')\n", a);
            return MEND_EXIT_USAGE;
        }
    }
    if (mend_tmpl_conf_check(&conf, err, sizeof err)) {
        fprintf(stderr, "mend templates: %s\n", err);
        return MEND_EXIT_USAGE;
    }

    int fd = 0;
    const char *name = "<stdin>";
    if (path && strcmp(path, "-")) {
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            fprintf(stderr, "mend templates: %s: %s\n", path, strerror(errno));
            return MEND_EXIT_USAGE; /* an input that cannot be opened: 2 in every command */
        }
        name = path;
    }
    struct mend_tmpl *m = NULL;
    struct mend_loglines lines;
    int rc = mend_loglines_init(&lines, conf.max_line);
    if (rc == 0)
        rc = mend_tmpl_new(&conf, &m);
    if (rc) {
        fprintf(stderr, "mend templates: cannot set up the miner: %s\n", mend_strerror(rc));
        mend_loglines_fini(&lines);
        if (fd)
            close(fd);
        return MEND_EXIT_RUNTIME;
    }
    /* setvbuf before any output: one short row per input line */
    char *obuf = malloc(1u << 16);
    if (obuf)
        setvbuf(stdout, obuf, _IOFBF, 1u << 16);

    const char *line;
    size_t len;
    int cut, got;
    uint64_t lineno = 0;
    while ((got = mend_loglines_next(&lines, fd, &line, &len, &cut)) == 1) {
        lineno++;
        if (cut && lines.long_lines <= TEMPLATES_MAX_MESSAGES)
            fprintf(stderr, "mend templates: %s:%llu: line longer than %u bytes, mined cut%s\n",
                    name, (unsigned long long)lineno, conf.max_line,
                    lines.long_lines == TEMPLATES_MAX_MESSAGES ? " (further ones only counted)"
                                                               : "");
        struct mend_tmpl_match mt;
        rc = mend_tmpl_add(m, line, len, &mt);
        if (rc) {
            fprintf(stderr, "mend templates: %s:%llu: %s\n", name, (unsigned long long)lineno,
                    mend_strerror(rc));
            break;
        }
        printf("%llu\t%.*s\n", (unsigned long long)mt.id, (int)mt.len, mt.text);
    }
    if (got < 0) {
        fprintf(stderr, "mend templates: %s: read error: %s\n", name, strerror(errno));
        rc = MEND_EIO;
    }
    int werr = fflush(stdout) || ferror(stdout);
    int saved = errno;
    setvbuf(stdout, NULL, _IOLBF, 0); /* stop using obuf before freeing it */
    free(obuf);
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    if (stats || s.evicted || s.leaf_evicted || s.child_overflow || s.token_overflow ||
        s.long_tokens || lines.long_lines)
        print_stats(m, name, lines.long_lines);
    mend_tmpl_free(m);
    mend_loglines_fini(&lines);
    if (fd)
        close(fd);
    if (werr) {
        fprintf(stderr, "mend templates: write error: %s\n", strerror(saved));
        return MEND_EXIT_RUNTIME;
    }
    return rc ? MEND_EXIT_RUNTIME : MEND_EXIT_OK;
}
