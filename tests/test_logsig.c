/* test_logsig.c -- logs become signals: the syslog (RFC 5424 / 3164 examples),
 * JSON (field mapping) and text formats, the per-interval counts checked by
 * hand, the RFC 6587 framer at every split, the checkpoint round trip of the
 * log context (and hostile checkpoints), the incident annotation, and
 * `mend replay` over a log split in two with the state carried in the
 * checkpoint (byte-identical scores). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest_collect.h"
#include "mend/engine.h"
#include "mend/format.h"
#include "mend/incident.h"
#include "mend/input.h"
#include "mend/loop.h"
#include "mend/ingest.h"
#include "mend/logs.h"
#include "mend/logsig.h"

#define S 1000000000LL
#define T0 1700000040LL /* 2023-11-14T22:14:00Z, a multiple of 60 s */

static struct mend_logsig *ctx_new(int64_t interval_s, uint32_t idle)
{
    struct mend_logsig_conf c;
    struct mend_logsig *ls;
    mend_logsig_conf_defaults(&c);
    c.interval_ns = interval_s * S;
    c.idle_intervals = idle;
    c.year = 2003;
    c.json_message = "msg";
    c.json_level = "lvl";
    c.json_time = "t";
    c.json_entity = "svc";
    assert_int_equal(mend_logsig_new(&c, &ls, NULL, 0), MEND_OK);
    return ls;
}

static struct mend_parser *parser(enum mend_format f, struct mend_logsig *ls)
{
    struct mend_ingest_opts o;
    struct mend_parser *p;
    mend_ingest_opts_defaults(&o);
    o.logs = ls;
    assert_int_equal(mend_parser_new(f, &o, &p), MEND_OK);
    return p;
}

static void feed(struct mend_parser *p, struct collect *c, const char *text)
{
    struct mend_sink k = {collect_point, on_error, c};
    assert_int_equal(mend_parser_feed(p, text, strlen(text), &k), MEND_OK);
}

static void flush(struct mend_parser *p, struct collect *c, int64_t now)
{
    struct mend_sink k = {collect_point, on_error, c};
    assert_int_equal(mend_parser_flush(p, now, &k), MEND_OK);
}

/* The annotation of "logs,host=H,template=ID count". */
static void note_of(struct mend_logsig *ls, const char *key, char *tmpl, char *ex)
{
    const char *t, *e;
    size_t tl, el;
    assert_int_equal(mend_logsig_annotate(ls, key, strlen(key), &t, &tl, &e, &el), 1);
    snprintf(tmpl, 512, "%.*s", (int)tl, t);
    snprintf(ex, 512, "%.*s", (int)el, e);
}

/* ---- counts per interval, by hand ------------------------------------------ */

static void test_counts_by_hand(void **state)
{
    (void)state;
    struct mend_logsig *ls = ctx_new(60, 2);
    struct mend_parser *p = parser(MEND_FMT_SYSLOG, ls);
    struct collect *c = calloc(1, sizeof *c);
    /* interval [T0, T0+60): err x1 (template 1), info x2 (template 2) */
    feed(p, c, "<11>1 2023-11-14T22:14:00Z a app - - - disk full on sda1\n"
               "<14>1 2023-11-14T22:14:10Z a app - - - user 17 logged in\n"
               "<14>1 2023-11-14T22:14:20Z a app - - - user 23 logged in\n");
    assert_int_equal(c->len, 0); /* nothing closed yet */
    /* T0+70 closes the first interval, stamped T0+60 */
    feed(p, c, "<14>1 2023-11-14T22:15:10Z a app - - - user 5 logged in\n");
    char want[4096];
    snprintf(want, sizeof want,
             "logs,host=a messages|a|%lld|3\n"
             "logs,host=a new_templates|a|%lld|2\n"
             "logs,host=a,severity=err count|a|%lld|1\n"
             "logs,host=a,severity=info count|a|%lld|2\n"
             "logs,host=a,template=1 count|a|%lld|1\n"
             "logs,host=a,template=2 count|a|%lld|2\n",
             (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S);
    assert_string_equal(c->buf, want);
    c->len = 0;
    c->buf[0] = 0;
    /* T0+250: closes [T0+60,+120) and fills two empty intervals with zeros;
     * a series empty for idle_intervals (2) intervals stops */
    feed(p, c, "<8>1 2023-11-14T22:18:10Z a app - - - kernel panic now\n");
    const long long t2 = (T0 + 120) * S, t3 = (T0 + 180) * S, t4 = (T0 + 240) * S;
    snprintf(want, sizeof want,
             "logs,host=a messages|a|%lld|1\n"
             "logs,host=a new_templates|a|%lld|0\n"
             "logs,host=a,severity=err count|a|%lld|0\n"
             "logs,host=a,severity=info count|a|%lld|1\n"
             "logs,host=a,template=1 count|a|%lld|0\n"
             "logs,host=a,template=2 count|a|%lld|1\n"
             "logs,host=a messages|a|%lld|0\n"
             "logs,host=a new_templates|a|%lld|0\n"
             "logs,host=a,severity=err count|a|%lld|0\n"
             "logs,host=a,severity=info count|a|%lld|0\n"
             "logs,host=a,template=1 count|a|%lld|0\n"
             "logs,host=a,template=2 count|a|%lld|0\n"
             "logs,host=a messages|a|%lld|0\n"
             "logs,host=a new_templates|a|%lld|0\n"
             "logs,host=a,severity=info count|a|%lld|0\n"
             "logs,host=a,template=2 count|a|%lld|0\n",
             t2, t2, t2, t2, t2, t2, t3, t3, t3, t3, t3, t3, t4, t4, t4, t4);
    assert_string_equal(c->buf, want);
    c->len = 0;
    c->buf[0] = 0;
    /* the format's flush closes the open interval [T0+240, T0+300) */
    flush(p, c, (T0 + 300) * S);
    const long long t5 = (T0 + 300) * S;
    snprintf(want, sizeof want,
             "logs,host=a messages|a|%lld|1\n"
             "logs,host=a new_templates|a|%lld|1\n"
             "logs,host=a,severity=emerg count|a|%lld|1\n"
             "logs,host=a,template=3 count|a|%lld|1\n",
             t5, t5, t5, t5);
    assert_string_equal(c->buf, want);
    struct mend_logsig_stats st;
    mend_logsig_stats(ls, &st);
    assert_int_equal(st.messages, 5);
    assert_int_equal(st.entities, 1);
    assert_int_equal(st.intervals, 5);
    assert_int_equal(st.late, 0);
    /* a late line counts in the open interval, and in late */
    feed(p, c, "<14>1 2023-11-14T22:14:00Z a app - - - user 1 logged in\n");
    mend_logsig_stats(ls, &st);
    assert_int_equal(st.late, 1);
    mend_parser_free(p);
    mend_logsig_free(ls);
    free(c);
}

/* ---- caps and configuration ----------------------------------------------------- */

static void test_caps_and_conf(void **state)
{
    (void)state;
    struct mend_logsig_conf c;
    struct mend_logsig *ls;
    char err[256];
    mend_logsig_conf_defaults(&c);
    c.interval_ns = 0;
    assert_int_equal(mend_logsig_new(&c, &ls, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "logs.interval"));
    mend_logsig_conf_defaults(&c);
    c.idle_intervals = 100;
    assert_int_equal(mend_logsig_new(&c, &ls, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "logs.max_per_entity"));
    mend_logsig_conf_defaults(&c);
    c.tmpl.sim = 2;
    assert_int_equal(mend_logsig_new(&c, &ls, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "logs.sim"));

    mend_logsig_conf_defaults(&c);
    c.interval_ns = 60 * S;
    c.idle_intervals = 0;
    c.max_entities = 2;
    c.max_per_entity = 2;
    assert_int_equal(mend_logsig_new(&c, &ls, NULL, 0), MEND_OK);
    struct collect *col = calloc(1, sizeof *col);
    const char *msgs[] = {"alpha one", "beta two three", "gamma four five six"};
    for (int i = 0; i < 3; i++) {
        struct mend_logmsg m = {msgs[i], strlen(msgs[i]), NULL, 0, "h", 1, T0 * S, 6};
        assert_int_equal(mend_logsig_add(ls, &m, NULL, collect_point, col, NULL), MEND_OK);
    }
    /* a third entity: the one with the oldest interval (h, at T0) goes */
    struct mend_logmsg m2 = {"x", 1, NULL, 0, "i", 1, (T0 + 60) * S, 6};
    struct mend_logmsg m3 = {"x", 1, NULL, 0, "j", 1, (T0 + 120) * S, 6};
    assert_int_equal(mend_logsig_add(ls, &m2, NULL, collect_point, col, NULL), MEND_OK);
    assert_int_equal(mend_logsig_add(ls, &m3, NULL, collect_point, col, NULL), MEND_OK);
    struct mend_logsig_stats st;
    mend_logsig_stats(ls, &st);
    assert_int_equal(st.other, 1);
    assert_int_equal(st.entity_evicted, 1);
    assert_int_equal(st.entities, 2);
    assert_int_equal(col->len, 0); /* h was dropped with its open interval */
    assert_int_equal(mend_logsig_flush(ls, (T0 + 600) * S, "svc", collect_point, col), MEND_OK);
    char want[1024];
    snprintf(want, sizeof want,
             "logs,svc=i messages|i|%lld|1\n"
             "logs,svc=i new_templates|i|%lld|1\n"
             "logs,severity=info,svc=i count|i|%lld|1\n"
             "logs,svc=i,template=4 count|i|%lld|1\n"
             "logs,svc=j messages|j|%lld|1\n"
             "logs,svc=j new_templates|j|%lld|0\n"
             "logs,severity=info,svc=j count|j|%lld|1\n"
             "logs,svc=j,template=4 count|j|%lld|1\n",
             (T0 + 120) * S, (T0 + 120) * S, (T0 + 120) * S, (T0 + 120) * S, (T0 + 180) * S,
             (T0 + 180) * S, (T0 + 180) * S, (T0 + 180) * S);
    assert_string_equal(col->buf, want);
    /* template=other under the per-entity cap */
    struct mend_logsig *ls2;
    assert_int_equal(mend_logsig_new(&c, &ls2, NULL, 0), MEND_OK);
    col->len = 0;
    col->buf[0] = 0;
    for (int i = 0; i < 3; i++) {
        struct mend_logmsg m = {msgs[i], strlen(msgs[i]), NULL, 0, "h", 1, T0 * S, -1};
        assert_int_equal(mend_logsig_add(ls2, &m, NULL, collect_point, col, NULL), MEND_OK);
    }
    assert_int_equal(mend_logsig_flush(ls2, (T0 + 60) * S, NULL, collect_point, col), MEND_OK);
    assert_non_null(strstr(col->buf, "logs,host=h,template=other count|h|"));
    mend_logsig_free(ls2);
    mend_logsig_free(ls);
    free(col);
}

/* ---- syslog: the RFC examples -------------------------------------------------- */

static void test_rfc5424_examples(void **state)
{
    (void)state;
    struct mend_logsig *ls = ctx_new(60, 0);
    struct mend_parser *p = parser(MEND_FMT_SYSLOG, ls);
    struct collect *c = calloc(1, sizeof *c);
    char t[512], e[512];
    /* RFC 5424 6.5, example 1 (BOM before MSG) */
    const char *ex1 = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                      "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8";
    feed(p, c, ex1);
    feed(p, c, "\n");
    flush(p, c, INT64_C(1065910500) * S); /* 2003-10-11T22:15:00Z */
    assert_string_equal(c->buf, "logs,host=mymachine.example.com messages|mymachine.example.com|1065910500000000000|1\n"
                                "logs,host=mymachine.example.com new_templates|mymachine.example.com|1065910500000000000|1\n"
                                "logs,host=mymachine.example.com,severity=crit count|mymachine.example.com|1065910500000000000|1\n"
                                "logs,host=mymachine.example.com,template=1 count|mymachine.example.com|1065910500000000000|1\n");
    note_of(ls, "logs,host=mymachine.example.com,template=1 count", t, e);
    assert_string_equal(t, "'su root' failed for lonvick on <*>");
    assert_string_equal(e, ex1);
    c->len = 0;
    c->buf[0] = 0;
    /* example 2: a zone offset, fraction of microseconds, severity notice */
    feed(p, c, "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.\n");
    flush(p, c, INT64_C(1061730000) * S); /* 2003-08-24T12:20:00Z: its interval [12:14, 12:15) */
    assert_non_null(strstr(c->buf, "logs,host=192.0.2.1,severity=notice count|192.0.2.1|1061727300000000000|1\n"));
    note_of(ls, "logs,host=192.0.2.1,template=2 count", t, e);
    assert_string_equal(t, "%% It's time to make the do-nuts.");
    c->len = 0;
    c->buf[0] = 0;
    /* examples 3 and 4: structured data (two elements, quoted values) */
    feed(p, c, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
               "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
               "\xEF\xBB\xBF" "An application event log entry...\n"
               "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
               "[exampleSDID@32473 iut=\"3\" eventSource=\"Appli] \\\"cation\" eventID=\"1011\"]"
               "[examplePriority@32473 class=\"high\"]\n");
    assert_string_equal(c->buf, "");
    note_of(ls, "logs,host=mymachine.example.com,template=3 count", t, e);
    assert_string_equal(t, "An application event log entry...");
    note_of(ls, "logs,host=mymachine.example.com,template=4 count", t, e);
    assert_string_equal(t, ""); /* no MSG */
    /* RFC 3164 4.3: the same event as example 1 joins its template */
    feed(p, c, "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8\n");
    feed(p, c, "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!\n");
    feed(p, c, "Nov 30 02:17:20 web-1 sshd[123]: Accepted publickey for root\n");
    flush(p, c, INT64_C(1080000000) * S);
    assert_non_null(strstr(c->buf, "logs,host=mymachine,template=1 count|mymachine|1065910500000000000|1\n"));
    assert_non_null(strstr(c->buf, "logs,host=10.0.0.99,severity=notice count|10.0.0.99|1044466380000000000|1\n"));
    /* no PRI: no severity series, entity from HOSTNAME, 2003 from logs.year */
    assert_non_null(strstr(c->buf, "logs,host=web-1 messages|web-1|1070158680000000000|1\n"));
    assert_null(strstr(c->buf, "host=web-1,severity"));
    note_of(ls, "logs,host=10.0.0.99,template=5 count", t, e);
    assert_string_equal(t, "Use the BFG!");
    /* errors: named, counted, nothing emitted */
    c->len = 0;
    c->buf[0] = 0;
    feed(p, c, "<192>1 2003-10-11T22:14:15Z h a - - - x\n"
               "<34>1 yesterday h a - - - x\n"
               "<34>1 2003-10-11T22:14:15Z h a - - [unclosed x=\"]\"\n"
               "<34 no end\n");
    assert_string_equal(c->buf, "E 8:2 bad PRI: expected <0..191>\n"
                                "E 9:7 RFC 5424: bad TIMESTAMP\n"
                                "E 10:51 RFC 5424: STRUCTURED-DATA not closed\n"
                                "E 11:2 bad PRI: expected <0..191>\n");
    mend_parser_free(p);
    mend_logsig_free(ls);
    free(c);
}

static void test_syslog_app_entity_and_guess(void **state)
{
    (void)state;
    struct mend_logsig_conf cf;
    struct mend_logsig *ls;
    mend_logsig_conf_defaults(&cf);
    cf.syslog_entity_app = 1;
    assert_int_equal(mend_logsig_new(&cf, &ls, NULL, 0), MEND_OK);
    struct mend_parser *p = parser(MEND_FMT_SYSLOG, ls);
    struct collect *c = calloc(1, sizeof *c);
    feed(p, c, "<14>1 2023-11-14T22:14:00Z web-1 nginx - - - GET / 200\n");
    flush(p, c, (T0 + 60) * S);
    assert_non_null(strstr(c->buf, "logs,host=nginx messages|nginx|"));
    mend_parser_free(p);
    mend_logsig_free(ls);
    free(c);

    enum mend_format f;
    const char *h1 = "<34>1 2003-10-11T22:14:15.003Z m su - - - x\n";
    const char *h2 = "Nov 30 02:17:20 web-1 sshd[123]: Accepted\n";
    const char *h3 = "{\"msg\":\"x\"}\n";
    assert_int_equal(mend_format_guess(NULL, h1, strlen(h1), &f), 0);
    assert_int_equal(f, MEND_FMT_SYSLOG);
    assert_int_equal(mend_format_guess(NULL, h2, strlen(h2), &f), 0);
    assert_int_equal(f, MEND_FMT_SYSLOG);
    assert_int_equal(mend_format_guess(NULL, h3, strlen(h3), &f), 0);
    assert_int_equal(f, MEND_FMT_JSON);
    assert_int_equal(mend_format_guess("x.jsonl", NULL, 0, &f), 0);
    assert_int_equal(f, MEND_FMT_JSON);
    assert_int_equal(mend_format_guess(NULL, "just words\n", 11, &f), MEND_ENOTFOUND);
    assert_int_equal(mend_format_parse("text", &f), 0);
    assert_int_equal(f, MEND_FMT_TEXT);
    assert_int_equal(mend_format_parse("rfc5424", &f), 0);
    assert_int_equal(f, MEND_FMT_SYSLOG);
}

/* ---- json ------------------------------------------------------------------------ */

static void test_json_fields(void **state)
{
    (void)state;
    struct mend_logsig *ls = ctx_new(60, 0);
    struct mend_parser *p = parser(MEND_FMT_JSON, ls);
    struct collect *c = calloc(1, sizeof *c);
    feed(p, c,
         "{\"t\":\"2023-11-14T22:14:01Z\",\"svc\":\"api\",\"lvl\":\"WARN\",\"msg\":\"slow request 120 ms\"}\n"
         "{\"t\":1700000045,\"svc\":\"api\",\"lvl\":50,\"msg\":\"upstream 10.0.0.7 failed\"}\n"
         "{\"t\":1700000046123,\"svc\":\"api\",\"lvl\":3,\"msg\":\"upstream 10.0.0.8 failed\"}\n"
         "{\"svc\":\"api\",\"lvl\":\"info\",\"msg\":\"no time: the one before it\"}\n"
         "{\"t\":\"2023-11-14T22:14:02Z\",\"svc\":7,\"msg\":\"numeric entity\",\"message\":\"ignored\"}\n"
         "{\"t\":\"2023-11-14T22:14:02Z\",\"message\":\"only the default name\"}\n"
         "[1,2]\n"
         "{\"t\":\"2023-11-14T22:14:02Z\",\"msg\":\"x\",\"msg\":\"dup\"}\n"
         "{\"t\":\"soon\",\"msg\":\"x\"}\n"
         "{\"msg\": 5}\n"
         "{\"t\":\"2023-11-14T22:14:02Z\", \"msg\": \"unterminated\n"
         "\n");
    flush(p, c, (T0 + 60) * S);
    const char *want_err = "E 6:1 JSON: no message field (logs.json_message)\n"
                           "E 7:1 JSON: a log line must be an object\n";
    assert_true(strncmp(c->buf, want_err, strlen(want_err)) == 0);
    assert_non_null(strstr(c->buf, "E 8:"));   /* duplicate key */
    assert_non_null(strstr(c->buf, "E 9:1 JSON: bad time field (RFC 3339 text or epoch number)\n"));
    assert_non_null(strstr(c->buf, "E 10:1 JSON: message field is not a string\n"));
    assert_non_null(strstr(c->buf, "E 11:"));
    char want[256];
    snprintf(want, sizeof want, "logs,host=api messages|api|%lld|4\n", (T0 + 60) * S);
    assert_non_null(strstr(c->buf, want));
    snprintf(want, sizeof want, "logs,host=api,severity=warning count|api|%lld|1\n", (T0 + 60) * S);
    assert_non_null(strstr(c->buf, want));
    snprintf(want, sizeof want, "logs,host=api,severity=err count|api|%lld|2\n", (T0 + 60) * S);
    assert_non_null(strstr(c->buf, want)); /* bunyan 50 and syslog 3 */
    snprintf(want, sizeof want, "logs,host=api,severity=info count|api|%lld|1\n", (T0 + 60) * S);
    assert_non_null(strstr(c->buf, want));
    snprintf(want, sizeof want, "logs,host=api,template=2 count|api|%lld|2\n", (T0 + 60) * S);
    assert_non_null(strstr(c->buf, want)); /* both "upstream <*> failed" */
    snprintf(want, sizeof want, "logs,host=7 messages|7|%lld|1\n", (T0 + 60) * S);
    assert_non_null(strstr(c->buf, want));
    char t[512], e[512];
    note_of(ls, "logs,host=api,template=2 count", t, e);
    assert_string_equal(t, "upstream <*> failed");
    assert_string_equal(e, "{\"t\":1700000045,\"svc\":\"api\",\"lvl\":50,\"msg\":\"upstream 10.0.0.7 failed\"}");
    struct mend_parse_stats ps;
    mend_parser_stats(p, &ps);
    assert_int_equal(ps.errors, 6);
    mend_parser_free(p);
    mend_logsig_free(ls);
    free(c);
}

/* ---- text ------------------------------------------------------------------------ */

static void test_text_lines(void **state)
{
    (void)state;
    struct mend_logsig *ls = ctx_new(60, 0);
    struct mend_parser *p = parser(MEND_FMT_TEXT, ls);
    struct collect *c = calloc(1, sizeof *c);
    feed(p, c, "continuation with nothing before it\n"
               "2023-11-14 22:14:05,123 ERROR [main] Connection refused to 10.1.2.3\n"
               "    at Foo.bar(Foo.java:12)\n"
               "2023-11-14T22:14:30.5Z [warn] disk 91% full\n"
               "Nov 14 22:14:40 INFO: started worker 3\n");
    flush(p, c, (T0 + 60) * S);
    char want[1024];
    snprintf(want, sizeof want,
             "E 1:1 no timestamp (and none before it in the stream)\n"
             "logs messages|-|%lld|4\n"
             "logs new_templates|-|%lld|4\n"
             "logs,severity=err count|-|%lld|1\n"
             "logs,severity=warning count|-|%lld|1\n"
             "logs,severity=info count|-|%lld|1\n"
             "logs,template=1 count|-|%lld|1\n"
             "logs,template=2 count|-|%lld|1\n"
             "logs,template=3 count|-|%lld|1\n"
             "logs,template=4 count|-|%lld|1\n",
             (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S,
             (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S);
    /* "Nov 14" takes logs.year (2003 here): a much older interval, so
     * it is counted late into the open one */
    assert_string_equal(c->buf, want);
    char t[512], e[512];
    note_of(ls, "logs,template=1 count", t, e);
    assert_string_equal(t, "ERROR [main] Connection refused to <*>");
    mend_parser_free(p);
    mend_logsig_free(ls);
    free(c);
}

/* ---- framing ---------------------------------------------------------------------- */

struct fout {
    char buf[4096];
    size_t len;
};

static int fout_cb(void *ctx, const char *p, size_t n)
{
    struct fout *o = ctx;
    assert_true(o->len + n < sizeof o->buf);
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = 0;
    return 0;
}

/* Frames in at every split into two feeds, and byte by byte: always want. */
static void frame_all_splits(const char *in, const char *want, uint64_t bad)
{
    size_t n = strlen(in);
    for (size_t cut = 0; cut <= n + 1; cut++) {
        struct mend_syslog_frame f;
        struct fout o = {{0}, 0};
        mend_syslog_frame_init(&f, 0);
        if (cut <= n) {
            assert_int_equal(mend_syslog_frame_feed(&f, in, cut, fout_cb, &o), 0);
            assert_int_equal(mend_syslog_frame_feed(&f, in + cut, n - cut, fout_cb, &o), 0);
        } else {
            for (size_t i = 0; i < n; i++)
                assert_int_equal(mend_syslog_frame_feed(&f, in + i, 1, fout_cb, &o), 0);
        }
        assert_string_equal(o.buf, want);
        assert_int_equal(f.bad, bad);
    }
}

static void test_framing(void **state)
{
    (void)state;
    /* octet counting, with an LF inside a message and one after a frame */
    frame_all_splits("11 <13>1 - a b\n12 <13>1 - x\ny \n5 <1>ab",
                     "<13>1 - a b\n<13>1 - x y \n<1>ab\n", 0);
    /* newline framing passes through */
    frame_all_splits("<13>1 - a\n<13>1 - b\n", "<13>1 - a\n<13>1 - b\n", 0);
    /* leading blank lines do not decide */
    frame_all_splits("\r\n 3 abc", "abc\n", 0);
    /* a bad length: newline framing from there on, the digits as text */
    frame_all_splits("3 abc12x rest\nmore\n", "abc\n12x rest\nmore\n", 1);
    frame_all_splits("123456789 x\n", "12345678" "9 x\n", 1); /* more than 8 digits */
    frame_all_splits("3 abc0 x\n", "abc\n0 x\n", 1);            /* a zero length */
    /* datagrams: one message each, trailing LF/CR/NUL dropped, inner LF flattened */
    struct mend_syslog_frame f;
    struct fout o = {{0}, 0};
    mend_syslog_frame_init(&f, 1);
    assert_int_equal(mend_syslog_frame_feed(&f, "<13>1 - a\nb\r\n\0", 14, fout_cb, &o), 0);
    assert_string_equal(o.buf, "<13>1 - a b");
    assert_int_equal(f.frames, 0);
}

/* ---- checkpoint ------------------------------------------------------------------- */

static void gen_line(char *b, size_t n, int i)
{
    char ts[40];
    long long t = T0 + i * 7;
    /* RFC 3339 from epoch seconds */
    long long d = t / 86400, s = t % 86400;
    long long z = d + 719468, era = z / 146097, doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153, dd = doy - (153 * mp + 2) / 5 + 1;
    long long mm = mp < 10 ? mp + 3 : mp - 9;
    y += mm <= 2;
    snprintf(ts, sizeof ts, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", y, mm, dd, s / 3600,
             s / 60 % 60, s % 60);
    if (i % 3 == 0)
        snprintf(b, n, "<14>1 %s web-%d sshd - - - Accepted password for user%d from 10.0.%d.1 port 22",
                 ts, i % 4, i % 11, i % 7);
    else if (i % 3 == 1)
        snprintf(b, n, "<11>1 %s web-%d kernel - - - I/O error on dev sd%d sector %d", ts, i % 4,
                 i % 11, i % 7);
    else
        snprintf(b, n, "<12>1 %s web-%d app - - - request took %d ms for job %d", ts, i % 4, i % 11,
                 i % 7);
    strcat(b, "\n");
}

static void run_lines(struct mend_parser *p, struct collect *c, int from, int to)
{
    char line[256];
    for (int i = from; i < to; i++) {
        gen_line(line, sizeof line, i);
        feed(p, c, line);
    }
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    struct collect *whole = calloc(1, sizeof *whole), *split = calloc(1, sizeof *split);
    struct mend_logsig *a = ctx_new(60, 3);
    struct mend_parser *pa = parser(MEND_FMT_SYSLOG, a);
    run_lines(pa, whole, 0, 400);

    struct mend_logsig *b1 = ctx_new(60, 3);
    struct mend_parser *pb1 = parser(MEND_FMT_SYSLOG, b1);
    run_lines(pb1, split, 0, 200);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_logsig_save(b1, &w), MEND_OK);
    mend_parser_free(pb1);
    mend_logsig_free(b1);

    /* every truncation is refused, and leaves a usable fresh context */
    for (size_t n = 0; n < w.len; n += 1 + n / 16) {
        struct mend_logsig *bad = ctx_new(60, 3);
        struct mend_rbuf r;
        mend_rbuf_init(&r, w.data, n);
        assert_true(mend_logsig_load(bad, &r) < 0);
        struct mend_logmsg m = {"x 1", 3, NULL, 0, "h", 1, T0 * S, 3};
        assert_int_equal(mend_logsig_add(bad, &m, NULL, NULL, NULL, NULL), MEND_OK);
        mend_logsig_free(bad);
    }
    /* another interval is another meaning: refused */
    struct mend_logsig *other = ctx_new(30, 3);
    struct mend_rbuf r;
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_logsig_load(other, &r), MEND_EVERSION);
    mend_logsig_free(other);

    struct mend_logsig *b2 = ctx_new(60, 3);
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_logsig_load(b2, &r), MEND_OK);
    assert_int_equal(r.off, w.len);
    struct mend_rbuf r2;
    mend_rbuf_init(&r2, w.data, w.len);
    assert_int_equal(mend_logsig_load(b2, &r2), MEND_EINVAL); /* not fresh */
    struct mend_parser *pb2 = parser(MEND_FMT_SYSLOG, b2);
    run_lines(pb2, split, 200, 400);
    assert_true(whole->len > 1000);
    assert_string_equal(whole->buf, split->buf);
    /* and the examples came along */
    char t1[512], e1[512], t2[512], e2[512];
    note_of(a, "logs,host=web-1,template=1 count", t1, e1);
    note_of(b2, "logs,host=web-1,template=1 count", t2, e2);
    assert_string_equal(t1, t2);
    assert_string_equal(e1, e2);
    mend_wbuf_fini(&w);
    mend_parser_free(pa);
    mend_parser_free(pb2);
    mend_logsig_free(a);
    mend_logsig_free(b2);
    free(whole);
    free(split);
}

/* ---- the engine's extra checkpoint sections ----------------------------------------- */

static int ls_save(const void *ctx, struct mend_wbuf *w)
{
    return mend_logsig_save(ctx, w);
}

static int ls_load(void *ctx, struct mend_rbuf *r)
{
    return mend_logsig_load(ctx, r);
}

static struct mend_engine *engine_with(struct mend_logsig *ls, uint32_t tag, uint32_t version)
{
    struct mend_engine_conf ec;
    struct mend_engine *e;
    mend_engine_conf_defaults(&ec);
    assert_int_equal(mend_engine_new(&ec, NULL, NULL, &e), MEND_OK);
    if (ls) {
        struct mend_engine_section sec = {tag, version, ls_save, ls_load, ls};
        assert_int_equal(mend_engine_add_section(e, &sec), MEND_OK);
        assert_int_equal(mend_engine_add_section(e, &sec), MEND_EINVAL); /* taken */
    }
    return e;
}

static void test_engine_section(void **state)
{
    (void)state;
    char path[] = "/tmp/mend-logsig-ckpt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[512];
    struct mend_logsig *a = ctx_new(60, 2);
    struct mend_logmsg m = {"disk 3 failed", 13, NULL, 0, "h", 1, T0 * S, 3};
    assert_int_equal(mend_logsig_add(a, &m, NULL, NULL, NULL, NULL), MEND_OK);
    struct mend_engine *e = engine_with(a, MEND_LOGSIG_TAG, MEND_LOGSIG_VERSION);
    struct mend_point p = {.key = "cpu,host=h usage", .key_len = 16, .entity = "h", .entity_len = 1,
                           .time_ns = T0 * S, .has_time = 1, .value = 1.0};
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
    struct mend_engine_section zero = {0, 1, ls_save, ls_load, a};
    assert_int_equal(mend_engine_add_section(e, &zero), MEND_EINVAL);
    assert_int_equal(mend_engine_checkpoint(e, path, err, sizeof err), MEND_OK);
    mend_engine_free(e);

    /* restored with the section registered: the miner and counts come back */
    struct mend_logsig *b = ctx_new(60, 2);
    e = engine_with(b, MEND_LOGSIG_TAG, MEND_LOGSIG_VERSION);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_OK);
    struct mend_tmpl_stats ts;
    mend_tmpl_get_stats(mend_logsig_miner(b), &ts);
    assert_int_equal(ts.created, 1);
    struct mend_logsig_stats st;
    mend_logsig_stats(b, &st);
    assert_int_equal(st.entities, 1);
    mend_engine_free(e);
    /* without it registered: skipped, the engine still restores */
    e = engine_with(NULL, 0, 0);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_OK);
    mend_engine_free(e);
    /* another version of the section: refused, named */
    struct mend_logsig *c = ctx_new(60, 2);
    e = engine_with(c, MEND_LOGSIG_TAG, MEND_LOGSIG_VERSION + 1);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_EVERSION);
    assert_non_null(strstr(err, "another version"));
    mend_engine_free(e);
    /* another interval: the section's load refuses, the restore says so */
    struct mend_logsig *d = ctx_new(30, 2);
    e = engine_with(d, MEND_LOGSIG_TAG, MEND_LOGSIG_VERSION);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_EVERSION);
    assert_non_null(strstr(err, "configuration differs"));
    mend_engine_free(e);
    unlink(path);
    mend_logsig_free(a);
    mend_logsig_free(b);
    mend_logsig_free(c);
    mend_logsig_free(d);
}

/* ---- incident annotation ------------------------------------------------------------ */

struct cap {
    char last[8192];
};

static void cap_emit(void *ctx, const char *status, const struct mend_incident *inc, const char *json,
                     size_t len)
{
    (void)status;
    (void)inc;
    struct cap *c = ctx;
    snprintf(c->last, sizeof c->last, "%.*s", (int)len, json);
}

static int note_cb(void *ctx, const char *key, size_t key_len, const char **tmpl, size_t *tmpl_len,
                   const char **example, size_t *example_len)
{
    return mend_logsig_annotate(ctx, key, key_len, tmpl, tmpl_len, example, example_len);
}

static void test_incident_annotation(void **state)
{
    (void)state;
    struct mend_logsig *ls = ctx_new(60, 0);
    struct mend_parser *p = parser(MEND_FMT_SYSLOG, ls);
    struct collect *c = calloc(1, sizeof *c);
    feed(p, c, "<10>1 2023-11-14T22:14:00Z db-1 postgres - - - out of \"memory\" in worker 42\n");
    struct mend_incident_conf ic;
    mend_incident_conf_defaults(&ic);
    struct cap cap = {{0}};
    struct mend_incident_out out = {cap_emit, &cap};
    struct mend_incidents *inc;
    assert_int_equal(mend_incidents_new(&ic, &out, &inc), MEND_OK);
    struct mend_incident_signal_note an = {note_cb, ls};
    mend_incidents_set_signal_note(inc, &an);
    const char *k1 = "logs,host=db-1,template=1 count";
    struct mend_anomaly a = {.kind = MEND_ANOM_SCORE, .series_id = 0, .entity_id = 1, .key = k1,
                             .key_len = strlen(k1), .entity = "db-1", .entity_len = 4, .t_ns = T0 * S,
                             .score = 0.9, .value = 5, .expected = 0.1};
    assert_int_equal(mend_incidents_add(inc, &a), MEND_OK);
    assert_non_null(strstr(cap.last, "\"key\":\"logs,host=db-1,template=1 count\",\"kind\":\"score\""));
    assert_non_null(strstr(cap.last,
                           ",\"log\":{\"template\":\"out of \\\"memory\\\" in worker <*>\","
                           "\"example\":\"<10>1 2023-11-14T22:14:00Z db-1 postgres - - - out of "
                           "\\\"memory\\\" in worker 42\"},\"events\":1}"));
    /* a metric signal, a severity series and an unknown template: no annotation */
    const char *k2 = "cpu,host=db-1 usage", *k3 = "logs,host=db-1,severity=crit count",
               *k4 = "logs,host=db-1,template=99 count";
    struct mend_anomaly b = a;
    b.series_id = 1;
    b.key = k2;
    b.key_len = strlen(k2);
    assert_int_equal(mend_incidents_add(inc, &b), MEND_OK);
    b.series_id = 2;
    b.key = k3;
    b.key_len = strlen(k3);
    assert_int_equal(mend_incidents_add(inc, &b), MEND_OK);
    b.series_id = 3;
    b.key = k4;
    b.key_len = strlen(k4);
    assert_int_equal(mend_incidents_add(inc, &b), MEND_OK);
    const char *q = cap.last, *hit;
    int notes = 0;
    while ((hit = strstr(q, "\"log\":{")) != NULL) {
        notes++;
        q = hit + 1;
    }
    assert_int_equal(notes, 1);
    /* without an annotator: none */
    mend_incidents_set_signal_note(inc, NULL);
    b.series_id = 0;
    b.key = k1;
    b.key_len = strlen(k1);
    b.score = 0.99;
    assert_int_equal(mend_incidents_add(inc, &b), MEND_OK);
    assert_null(strstr(cap.last, "\"log\":{"));
    mend_incidents_free(inc);
    mend_parser_free(p);
    mend_logsig_free(ls);
    free(c);
}

/* ---- syslog listeners: TCP (both framings, told per connection) and UDP ---- */

struct live {
    struct collect *c;
    struct mend_logsig *ls;
    size_t errors;
};

static int live_point(void *ctx, const struct mend_point *p)
{
    return collect_point(((struct live *)ctx)->c, p);
}

static void live_error(void *ctx, const char *stream, uint64_t nth, uint64_t line, uint32_t col,
                       const char *why)
{
    (void)stream, (void)nth, (void)line, (void)col, (void)why;
    ((struct live *)ctx)->errors++;
}

static void send_all(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

static int connect_to(int type, int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Turns the loop until the context has counted n messages (about 2 s). */
static void drive_until(struct mend_loop *loop, struct mend_inputs *in, struct mend_logsig *ls, uint64_t n)
{
    for (int i = 0; i < 400; i++) {
        struct mend_logsig_stats st;
        mend_logsig_stats(ls, &st);
        if (st.messages >= n)
            return;
        assert_true(mend_inputs_step(in, 4096) >= 0);
        assert_true(mend_loop_run_once(loop, 5) >= 0);
    }
    fail_msg("messages not reached");
}

static void test_syslog_listeners(void **state)
{
    (void)state;
    struct live lv = {calloc(1, sizeof(struct collect)), ctx_new(60, 0), 0};
    struct mend_loop *loop;
    struct mend_inputs *in;
    struct mend_input_conf conf;
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &loop), 0);
    mend_input_conf_defaults(&conf);
    conf.format = "lp"; /* the syslog+ scheme wins over input.format */
    conf.ingest.logs = lv.ls;
    struct mend_input_host h = {live_point, live_error, &lv};
    assert_int_equal(mend_inputs_new(&conf, loop, &h, &in), 0);
    assert_int_equal(mend_inputs_add(in, "syslog+tcp://127.0.0.1:0", NULL, 0), 0);
    assert_int_equal(mend_inputs_add(in, "syslog+udp://127.0.0.1:0", NULL, 0), 0);
    int tport, uport;
    assert_int_equal(mend_inputs_port(in, 0, &tport), 0);
    assert_int_equal(mend_inputs_port(in, 1, &uport), 0);

    /* octet counting, a frame cut across sends, an LF inside a message */
    int t1 = connect_to(SOCK_STREAM, tport);
    send_all(t1, "55 <14>1 2023-11-14T22:14:01Z a app - - - user 1 logged in");
    send_all(t1, "55 <14>1 2023-11-14T22:14:02Z a app - - - user 2 logged");
    send_all(t1, " in56 <11>1 2023-11-14T22:14:03Z a app - - - disk\nfull on sda1");
    /* newline framing on another connection */
    int t2 = connect_to(SOCK_STREAM, tport);
    send_all(t2, "<14>1 2023-11-14T22:14:04Z a app - - - user 3 logged in\n"
                 "<14>1 2023-11-14T22:14:05Z a app - - - user 4 ");
    send_all(t2, "logged in\n");
    /* UDP: one message per datagram, trailing LF and NUL dropped */
    int u = connect_to(SOCK_DGRAM, uport);
    send_all(u, "<14>1 2023-11-14T22:14:06Z a app - - - user 5 logged in\n");
    assert_int_equal(send(u, "<14>1 2023-11-14T22:14:07Z a app - - - user 6 logged in\0", 57, 0), 57);
    drive_until(loop, in, lv.ls, 7);
    assert_int_equal(lv.c->len, 0);
    /* the next interval's first message closes this one */
    send_all(u, "<14>1 2023-11-14T22:15:00Z a app - - - user 7 logged in");
    drive_until(loop, in, lv.ls, 8);
    char want[512];
    snprintf(want, sizeof want,
             "logs,host=a messages|a|%lld|7\n"
             "logs,host=a new_templates|a|%lld|2\n"
             "logs,host=a,severity=err count|a|%lld|1\n"
             "logs,host=a,severity=info count|a|%lld|6\n"
             "logs,host=a,template=1 count|a|%lld|6\n"
             "logs,host=a,template=2 count|a|%lld|1\n",
             (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S, (T0 + 60) * S);
    assert_string_equal(lv.c->buf, want);
    assert_int_equal(lv.errors, 0);
    char t[512], e[512];
    note_of(lv.ls, "logs,host=a,template=2 count", t, e);
    assert_string_equal(e, "<11>1 2023-11-14T22:14:03Z a app - - - disk full on sda1");
    close(t1);
    close(t2);
    close(u);
    mend_inputs_free(in);
    mend_loop_free(loop);
    mend_logsig_free(lv.ls);
    free(lv.c);
}

/* ---- mend replay split in two, state carried in the checkpoint --------------------- */

static const char *mend_bin(void)
{
    const char *b = getenv("MEND_BIN");
    return b && *b ? b : "./bin/mend";
}

static void write_lines(const char *path, int from, int to)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    char line[256];
    for (int i = from; i < to; i++) {
        gen_line(line, sizeof line, i);
        fputs(line, f);
    }
    fclose(f);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = malloc(1 << 22);
    assert_non_null(b);
    *n = fread(b, 1, (1 << 22) - 1, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

static void test_replay_split_checkpoint(void **state)
{
    (void)state;
    char dir[] = "/tmp/mend-logsig-XXXXXX", cmd[2048];
    assert_non_null(mkdtemp(dir));
    char whole[300], p1[300], p2[300], ck[300], sa[300], sb[300], ia[300], ib[300];
    snprintf(whole, sizeof whole, "%s/whole.log", dir);
    snprintf(p1, sizeof p1, "%s/p1.log", dir);
    snprintf(p2, sizeof p2, "%s/p2.log", dir);
    snprintf(ck, sizeof ck, "%s/state.ckpt", dir);
    snprintf(sa, sizeof sa, "%s/a.csv", dir);
    snprintf(sb, sizeof sb, "%s/b.csv", dir);
    snprintf(ia, sizeof ia, "%s/a.jsonl", dir);
    snprintf(ib, sizeof ib, "%s/b.jsonl", dir);
    write_lines(whole, 0, 3000);
    write_lines(p1, 0, 1300);
    write_lines(p2, 1300, 3000);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --scores %s --incidents %s %s 2>/dev/null", mend_bin(), sa, ia, whole);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --checkpoint %s --scores %s --incidents %s %s 2>/dev/null",
             mend_bin(), ck, sb, ib, p1);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --checkpoint %s --scores %s --incidents %s %s 2>/dev/null",
             mend_bin(), ck, sb, ib, p2);
    assert_int_equal(system(cmd), 0);
    size_t na, nb;
    char *a = slurp(sa, &na), *b = slurp(sb, &nb);
    assert_true(na > 10000);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    assert_non_null(strstr(a, "\"logs,host=web-1,template=1 count\","));
    free(a);
    free(b);
    a = slurp(ia, &na);
    b = slurp(ib, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_by_hand),
        cmocka_unit_test(test_caps_and_conf),
        cmocka_unit_test(test_rfc5424_examples),
        cmocka_unit_test(test_syslog_app_entity_and_guess),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_text_lines),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_incident_annotation),
        cmocka_unit_test(test_engine_section),
        cmocka_unit_test(test_replay_split_checkpoint),
        cmocka_unit_test(test_syslog_listeners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
