/* bench_cluster.c -- `make bench`'s cluster line: samples per second
 * through JetStream into one `mend cluster` engine and into three, beside
 * `mend replay` of the same data in the same run, and the time for the
 * partitions of a kill -9'd engine to be owned again.
 *
 *   bench_cluster MEND_BIN [SAMPLES]
 *
 * Starts its own nats-server (JetStream, loopback, temporary store, the
 * partition() subject mapping), publishes a fleet recording (64 hosts, two
 * fields, 100 lines a message) before the engines start, then times each
 * engine set from its start until the engines' /metrics say every sample
 * is in the state of a partition (mend_samples_total summed; startup --
 * connect, leases, consumers -- included). Not "until nothing is pending":
 * the consumers hand messages to a fetch queue faster than the engine
 * scores them, so that timed fetching, not scoring. Prints
 *   bench cluster engines=3 samples_per_s=N scale=R takeover_s=T
 * where scale is three engines' rate over one's. */
#include "../tests/nats_harness.h"

#include <math.h>

#define HOSTS 64
#define PARTS 8
#define PER_MSG 100

static char dir[64];
static int port;
static jsCtx *js;

static void gen(const char *path, long samples)
{
    FILE *f = fopen(path, "w");
    long steps = samples / (HOSTS * 2);
    uint32_t x = 7;
    for (long s = 0; s < steps; s++)
        for (int h = 0; h < HOSTS; h++) {
            x = x * 1103515245u + 12345u;
            double noise = (double)(x >> 16 & 0x7fff) / 32768.0 - 0.5;
            fprintf(f, "app,host=h%d cpu=%.3f,latency=%.3f %lld\n", h, 40 + h % 7 + 3 * sin((double)s / 30) + noise,
                    20 + noise, 1700000000000000000LL + s * 10000000000LL);
        }
    fclose(f);
}

/* Publishes the file to PREFIX.raw.HOST, PER_MSG lines of one host a
 * message, asynchronously. Returns messages. */
static long publish(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "r");
    static char buf[HOSTS][PER_MSG * 96];
    size_t len[HOSTS] = {0};
    int lines[HOSTS] = {0};
    char line[256], subj[64];
    long msgs = 0;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    for (;;) {
        char *l = fgets(line, sizeof line, f);
        int h = l ? atoi(strstr(line, "host=h") + 6) : -1;
        for (int k = 0; k < HOSTS; k++) {
            if (!(l ? (k == h && lines[k] == PER_MSG - 1) : lines[k] > 0))
                continue;
            if (l) {
                memcpy(buf[k] + len[k], line, strlen(line));
                len[k] += strlen(line);
            }
            snprintf(subj, sizeof subj, "%s.raw.h%d", prefix, k);
            while (js_PublishAsync(js, subj, buf[k], (int)len[k], &po) != NATS_OK)
                js_PublishAsyncComplete(js, NULL);
            msgs++;
            len[k] = 0;
            lines[k] = 0;
            if (l)
                h = -1;
        }
        if (!l)
            break;
        if (h >= 0) {
            memcpy(buf[h] + len[h], line, strlen(line));
            len[h] += strlen(line);
            lines[h]++;
        }
    }
    fclose(f);
    js_PublishAsyncComplete(js, NULL);
    return msgs;
}

static int mport[3]; /* each engine's /metrics */

/* mend_samples_total of the engine on 127.0.0.1:p (one plain HTTP GET), or
 * -1 when it does not answer yet. */
static double samples_of(int p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)p)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static char buf[1 << 16];
    size_t n = 0;
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return -1;
    }
    for (ssize_t r; n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0;)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    const char *m = strstr(buf, "\nmend_samples_total ");
    return m ? strtod(m + 20, NULL) : -1;
}

static pid_t engine(const char *bin, const char *prefix, const char *name, int i)
{
    char cmd[2048];
    mport[i] = nh_free_port();
    snprintf(cmd, sizeof cmd,
             "exec %s cluster --checkpoint %s/%s-ck --incidents /dev/null "
             "--set cluster.servers=127.0.0.1:%d --set cluster.stream=%s --set cluster.subject_prefix=%s.in "
             "--set cluster.bucket=%s-leases --set cluster.partitions=%d --set cluster.lease_ttl=1s "
             "--set metrics.listen=127.0.0.1:%d --set cluster.name=%s 2> %s/%s-%s.log",
             bin, dir, prefix, port, prefix, prefix, prefix, PARTS, mport[i], name, dir, prefix, name);
    char *argv[] = {"sh", "-c", cmd, NULL};
    return nh_spawn(argv, NULL);
}

/* Seconds from starting n engines on a published stream until the total
 * samples are in their partitions' state. */
static double timed(const char *bin, const char *prefix, int n, pid_t *pids, long total)
{
    char names[3][4] = {"a", "b", "c"};
    double t0 = nh_now();
    for (int i = 0; i < n; i++)
        pids[i] = engine(bin, prefix, names[i], i);
    for (;;) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double v = samples_of(mport[i]);
            sum += v > 0 ? v : 0;
        }
        if (sum >= (double)total)
            break;
        if (nh_now() - t0 > 120)
            return -1;
        nats_Sleep(5);
    }
    return nh_now() - t0;
}

/* Partitions that engine n1 or n2 (NULL: none) owns by its own log
 * three-NAME.log: "owns partition P" sets P, "lost partition P" and
 * "handed partition P" clear it, in the order of that log. */
static int owned_in_logs(const char *n1, const char *n2)
{
    int own[PARTS] = {0};
    const char *names[2] = {n1, n2};
    for (int i = 0; i < 2; i++) {
        if (!names[i])
            continue;
        int mine[PARTS] = {0};
        char path[128], line[512];
        snprintf(path, sizeof path, "%s/three-%s.log", dir, names[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            unsigned p;
            if (sscanf(line, "mend cluster: %*s owns partition %u", &p) == 1 && p < PARTS)
                mine[p] = 1;
            else if ((sscanf(line, "mend cluster: %*s lost partition %u", &p) == 1 ||
                      sscanf(line, "mend cluster: %*s handed partition %u", &p) == 1) &&
                     p < PARTS)
                mine[p] = 0;
        }
        fclose(f);
        for (int p = 0; p < PARTS; p++)
            own[p] |= mine[p];
    }
    int n = 0;
    for (int p = 0; p < PARTS; p++)
        n += own[p];
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cluster MEND_BIN [SAMPLES]\n");
        return 2;
    }
    const char *bin = argv[1];
    long samples = argc > 2 ? atol(argv[2]) : 1000000;
    snprintf(dir, sizeof dir, "/tmp/mend-bench-cl-XXXXXX");
    if (!mkdtemp(dir) || (port = nh_free_port()) < 0)
        return 1;
    char conf[128], data[128];
    snprintf(conf, sizeof conf, "%s/nats.conf", dir);
    snprintf(data, sizeof data, "%s/fleet.lp", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "listen: 127.0.0.1:%d\njetstream { store_dir: \"%s/js\" }\nmappings = {\n"
            "  \"one.raw.*\": \"one.in.{{partition(%d,1)}}\"\n  \"three.raw.*\": \"three.in.{{partition(%d,1)}}\"\n}\n",
            port, dir, PARTS, PARTS);
    fclose(f);
    char *sargv[] = {"nats-server", "-c", conf, NULL};
    pid_t srv = nh_spawn(sargv, NULL);
    natsConnection *nc = nh_connect(port);
    if (!nc || natsConnection_JetStream(&js, nc, NULL) != NATS_OK || nh_stream(js, "one", "one.in.*", 1) ||
        nh_stream(js, "three", "three.in.*", 1)) {
        fprintf(stderr, "bench cluster: no nats-server\n");
        nh_stop(srv, SIGKILL);
        return 1;
    }
    gen(data, samples);
    long total = samples / (HOSTS * 2) * HOSTS * 2;
    double t0 = nh_now();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s replay --quiet --incidents /dev/null %s", bin, data);
    int rc = system(cmd);
    double t_replay = nh_now() - t0;
    t0 = nh_now();
    long msgs = publish(data, "one");
    publish(data, "three");
    double t_pub = (nh_now() - t0) / 2;
    pid_t one[1], three[3];
    double t1 = timed(bin, "one", 1, one, total);
    nh_stop(one[0], SIGTERM);
    double t3 = timed(bin, "three", 3, three, total);
    /* takeover: kill -9 one of the three, then time until its partitions are
     * owned again (the other two log "owns partition" with a higher epoch) */
    double tk = -1;
    nats_Sleep(1500); /* shares settle (2, 1, 1 or 2, 2, 0: a share is ceil(partitions / 3)) */
    /* the victim is the engine that owns the most: killing one that owns
     * nothing would time nothing */
    const char *names[3] = {"a", "b", "c"};
    int victim = 1, most = -1;
    for (int i = 0; i < 3; i++) {
        int n = owned_in_logs(names[i], NULL);
        if (n > most)
            most = n, victim = i;
    }
    t0 = nh_now();
    nh_stop(three[victim], SIGKILL);
    for (;;) {
        /* partitions owned by one of the survivors, each engine's log read
         * on its own (a partition handed from one to the other is owned by
         * whichever says so last in its own log) */
        if (owned_in_logs(names[victim == 0 ? 1 : 0], names[victim == 2 ? 1 : 2]) == PARTS) {
            tk = nh_now() - t0;
            break;
        }
        if (nh_now() - t0 > 30)
            break;
        nats_Sleep(20);
    }
    nh_stop(three[victim == 0 ? 1 : 0], SIGTERM);
    nh_stop(three[victim == 2 ? 1 : 2], SIGTERM);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nh_stop(srv, SIGTERM);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!getenv("MEND_KEEP") && system(cmd) != 0)
        fprintf(stderr, "bench cluster: could not remove %s\n", dir);
    if (rc != 0 || t1 <= 0 || t3 <= 0) {
        printf("bench cluster: failed (replay %d, one engine %.1f s, three %.1f s)\n", rc, t1, t3);
        return 1;
    }
    printf("bench cluster: %ld samples in %ld messages of %d lines, %d partitions by host; publish %.0f samples/s; "
           "times include engine start (connect, leases, consumers)\n",
           total, msgs, PER_MSG, PARTS, (double)total / t_pub);
    printf("bench cluster replay samples_per_s=%.0f\n", (double)total / t_replay);
    printf("bench cluster engines=1 samples_per_s=%.0f\n", (double)total / t1);
    printf("bench cluster engines=3 samples_per_s=%.0f scale=%.2f takeover_s=%.2f\n", (double)total / t3, t1 / t3,
           tk);
    return 0;
}
