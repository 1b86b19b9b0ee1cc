/* ydoc.h -- a small reader over one libyaml document for the rules file and
 * the executor's allowlist: look a key up in a mapping, read typed scalars,
 * and report every problem as "file:line:col: reason" through one sink, so
 * `mend check-rules` can list all errors of a file instead of the first.
 * Internal to src/act and src/exec (not a public header). */
#ifndef MEND_ACT_YDOC_H
#define MEND_ACT_YDOC_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "mend/act.h"

struct ydoc {
    yaml_document_t doc;
    int loaded;
    const char *name;              /* file name for messages, borrowed */
    const struct mend_act_errs *errs;
    uint32_t n_errors;
};

/* Parses buf; a syntax error is reported (and counted) and returns
 * MEND_EPARSE. Returns 0 with the document loaded, or MEND_ENOMEM. */
int ydoc_load(struct ydoc *d, const char *name, const char *buf, size_t len,
              const struct mend_act_errs *errs);
void ydoc_fini(struct ydoc *d);
yaml_node_t *ydoc_root(struct ydoc *d);
yaml_node_t *ydoc_node(struct ydoc *d, yaml_node_item_t i);
/* Reports at node n (NULL: line 1 col 1) and counts. */
void ydoc_err(struct ydoc *d, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of key in mapping m, or NULL. */
yaml_node_t *ydoc_get(struct ydoc *d, yaml_node_t *m, const char *key);
/* Reports every key of m that is not in the NULL-terminated list allowed. */
void ydoc_check_keys(struct ydoc *d, yaml_node_t *m, const char *const *allowed, const char *what);
/* Scalar readers: on a wrong shape or value they report and leave *out as
 * it was. A missing node (NULL) leaves *out alone silently. */
void ydoc_str(struct ydoc *d, yaml_node_t *n, char *out, size_t cap, const char *key);
void ydoc_dur(struct ydoc *d, yaml_node_t *n, int64_t *out, const char *key);
void ydoc_f64(struct ydoc *d, yaml_node_t *n, double *out, double min, double max, const char *key);
void ydoc_u32(struct ydoc *d, yaml_node_t *n, uint32_t *out, uint32_t min, uint32_t max,
              const char *key);
void ydoc_i64(struct ydoc *d, yaml_node_t *n, int64_t *out, int64_t min, int64_t max,
              const char *key);
void ydoc_bool(struct ydoc *d, yaml_node_t *n, int *out, const char *key);

#endif
