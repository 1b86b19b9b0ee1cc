/* fuzz_state.c -- the checkpoint file reader (src/state/state.c, state.h):
 * any file is refused or opened; the sections of an opened one read to
 * their end and check out exactly. The input goes to a temporary file (the
 * reader takes a path) in $TMPDIR, one per process. When the input's last
 * byte is odd its trailing 32 bytes are replaced by the SHA-256 of the rest
 * first, so mutated structures get past the checksum and into the section
 * reader instead of all failing on it. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "mend/state.h"

#define FUZZ_KIND 0x5a5a5546u /* "FUZZ": the kind the seeds are written with */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/mend-fuzz-state-%ld.ckpt", tmp && *tmp ? tmp : "/tmp",
                 (long)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t w = fwrite(data, 1, size, f);
    if (size > 32 && (data[size - 1] & 1)) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (EVP_Digest(data, size - 32, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32 &&
            fseek(f, (long)(size - 32), SEEK_SET) == 0)
            w = w == size && fwrite(md, 1, 32, f) == 32 ? size : 0;
    }
    fclose(f);
    if (w != size)
        return 0;
    struct mend_state_reader *r;
    char err[256];
    int rc = mend_state_read_open(path, FUZZ_KIND, &r, err, sizeof err);
    if (rc == MEND_OK) {
        uint32_t n = mend_state_read_count(r), seen = 0, tag, ver;
        struct mend_rbuf *rb;
        while (mend_state_read_section(r, &tag, &ver, &rb) == MEND_OK) {
            FUZZ_CHECK(tag != 0);
            seen++;
            unsigned char buf[4096];
            if (seen % 2) { /* read every other section whole, skip the rest */
                uint64_t left = mend_rbuf_remaining(rb);
                while (left) {
                    size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
                    FUZZ_CHECK(mend_rbuf_bytes(rb, buf, k) == MEND_OK);
                    left -= k;
                }
                FUZZ_CHECK(mend_state_read_done(r, err, sizeof err) == MEND_OK);
            }
        }
        FUZZ_CHECK(seen == n);
        mend_state_read_close(r);
    } else {
        FUZZ_CHECK(err[0] != 0);
    }
    unlink(path);
    return 0;
}
