/* checkpoint.h -- durable, self-checking storage for a serialised state blob.
 *
 * The engine serialises its state into a struct mend_wbuf and hands the bytes
 * here. A checkpoint file is, all integers little-endian:
 *
 *   offset  size  field
 *        0     8  magic "MENDCKPT"
 *        8     4  file-format version (MEND_CKPT_FORMAT)
 *       12     4  kind tag: which program/state wrote it (MEND_CKPT_KIND)
 *       16     4  payload version, chosen by the writer of the payload
 *       20     8  payload length in bytes
 *       28   len  payload
 *   28+len    32  SHA-256 over every byte before it
 *
 * Writes are atomic: the bytes go to a temporary file in the target's
 * directory, which is fsync'ed and renamed over the target, and then the
 * directory is fsync'ed, so a crash leaves either the old or the new file,
 * never a mix. Reads never half-load: the whole file is read and verified
 * before the payload is handed over.
 *
 * Error messages are written to err (NUL-terminated, truncated to errlen;
 * err may be NULL when errlen is 0) and always name the path. */
#ifndef MEND_CHECKPOINT_H
#define MEND_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define MEND_CKPT_MAGIC "MENDCKPT"
#define MEND_CKPT_FORMAT 1u
#define MEND_CKPT_HEADER_LEN 28u
#define MEND_CKPT_DIGEST_LEN 32u
/* Default cap on the payload size, both when writing and reading. */
#define MEND_CKPT_MAX_DEFAULT ((size_t)1 << 30)

/* Builds a kind tag from four characters, e.g. MEND_CKPT_KIND('E','N','G','1'),
 * so a hex dump of the file shows who wrote it. */
#define MEND_CKPT_KIND(a, b, c, d) \
    ((uint32_t)(unsigned char)(a) | ((uint32_t)(unsigned char)(b) << 8) | \
     ((uint32_t)(unsigned char)(c) << 16) | ((uint32_t)(unsigned char)(d) << 24))

/* Atomically replaces path with a checkpoint holding payload (borrowed; may
 * be NULL when len is 0). Returns 0, MEND_EINVAL (bad arguments),
 * MEND_ECAP (len above MEND_CKPT_MAX_DEFAULT), MEND_ENOMEM or MEND_EIO. On
 * MEND_EIO before the rename the old file at path, if any, is untouched and
 * the temporary file (path + ".tmp.XXXXXX") is removed; only a failed fsync
 * of the directory after the rename leaves the new file in place with its
 * durability unconfirmed (err says so). The file is created with mode 0600
 * (mkstemp): state may hold data from the input. */
int mend_ckpt_write(const char *path, uint32_t kind, uint32_t version,
                    const void *payload, size_t len, char *err, size_t errlen);

/* Reads and verifies the checkpoint at path. The file must carry exactly the
 * given kind and payload version. On success *payload is a fresh heap buffer
 * of *len bytes (never NULL, even when *len is 0) that the caller owns and
 * releases with free(). On failure *payload is NULL, *len is 0 and:
 *   MEND_ENOTFOUND  no file at path (the caller starts fresh)
 *   MEND_EIO        the file exists but could not be opened or read
 *   MEND_ECORRUPT   not a mend checkpoint, truncated, trailing bytes,
 *                   checksum mismatch
 *   MEND_EVERSION   foreign kind, unsupported file-format or payload version
 *   MEND_ECAP       payload larger than MEND_CKPT_MAX_DEFAULT
 *   MEND_ENOMEM, MEND_EINVAL */
int mend_ckpt_read(const char *path, uint32_t kind, uint32_t version,
                   unsigned char **payload, size_t *len, char *err, size_t errlen);

/* Same as mend_ckpt_read with an explicit cap on the payload size (bytes). */
int mend_ckpt_read_max(const char *path, uint32_t kind, uint32_t version,
                       size_t max_len, unsigned char **payload, size_t *len,
                       char *err, size_t errlen);

#endif
