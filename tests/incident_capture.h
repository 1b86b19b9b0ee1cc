/* incident_capture.h -- a test output of the incident set: keeps each JSON
 * line and its status (up to 64), and fails the test on a line that is not
 * valid JSON. Include after cmocka.h and jansson.h. */
#ifndef MEND_TEST_INCIDENT_CAPTURE_H
#define MEND_TEST_INCIDENT_CAPTURE_H

#include <string.h>

#include "mend/incident.h"

struct capture {
    char lines[64][2048];
    char status[64][8];
    int n;
};

static __attribute__((unused)) void cap_emit(void *ctx, const char *status, const struct mend_incident *inc,
                                             const char *json, size_t len)
{
    (void)inc;
    struct capture *c = ctx;
    assert_true(c->n < 64);
    assert_true(len < sizeof c->lines[0]);
    memcpy(c->lines[c->n], json, len);
    c->lines[c->n][len] = '\0';
    snprintf(c->status[c->n], sizeof c->status[0], "%s", status);
    json_error_t e;
    json_t *j = json_loadb(json, len, 0, &e);
    if (!j)
        fail_msg("not valid JSON (%s): %s", e.text, c->lines[c->n]);
    json_decref(j);
    c->n++;
}

#endif
