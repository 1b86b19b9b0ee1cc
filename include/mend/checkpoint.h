/* checkpoint.h -- the checkpoint file's constants and the one-blob API.
 *
 * Checkpoint files are streams of sections (state.h has the layout, the
 * streaming writer and reader, the background writer and the clean-up of
 * stale temporary files). The functions here are the older interface, kept
 * while callers move to sections: a payload held in memory is stored as one
 * section tagged MEND_CKPT_BLOB_TAG whose section version is the payload
 * version. They share the format's guarantees (atomic replace, mode 0600,
 * SHA-256 checked before anything is handed over) but hold the whole
 * payload in memory, hence the cap.
 *
 * Format history: 1 = one header, one payload, SHA-256 (until issue 5);
 * 2 = sections. A format-1 file is refused with MEND_EVERSION.
 *
 * Error messages are written to err (NUL-terminated, truncated to errlen;
 * err may be NULL when errlen is 0) and always name the path. */
#ifndef MEND_CHECKPOINT_H
#define MEND_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define MEND_CKPT_MAGIC "MENDCKPT"
#define MEND_CKPT_FORMAT 2u
#define MEND_CKPT_DIGEST_LEN 32u
/* Cap on a payload held in memory by the one-blob API (reading and
 * writing); the section API has none. */
#define MEND_CKPT_MAX_DEFAULT ((size_t)1 << 30)

/* Builds a kind or section tag from four characters, e.g.
 * MEND_CKPT_KIND('E','N','G','1'), so a hex dump of the file shows who wrote
 * it. */
#define MEND_CKPT_KIND(a, b, c, d) \
    ((uint32_t)(unsigned char)(a) | ((uint32_t)(unsigned char)(b) << 8) | \
     ((uint32_t)(unsigned char)(c) << 16) | ((uint32_t)(unsigned char)(d) << 24))

/* The section the one-blob API stores its payload in. */
#define MEND_CKPT_BLOB_TAG MEND_CKPT_KIND('B', 'L', 'O', 'B')

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
 * given kind and one blob section of the given payload version. On success
 * *payload is a fresh heap buffer of *len bytes (never NULL, even when *len
 * is 0) that the caller owns and releases with free(). On failure *payload
 * is NULL, *len is 0 and:
 *   MEND_ENOTFOUND  no file at path (the caller starts fresh)
 *   MEND_EIO        the file exists but could not be opened or read
 *   MEND_ECORRUPT   not a mend checkpoint, truncated, trailing bytes,
 *                   checksum mismatch, not exactly one blob section
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
